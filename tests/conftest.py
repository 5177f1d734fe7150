"""Shared test settings and fixtures."""
import os

import pytest
from hypothesis import settings

from fixers.scanner import Scanner
from tests import signing

# The machine's Redis (127.0.0.1:6379) has no persistence, so receivers the tests build on it say
# so explicitly (README, IACBOT_BROKER_DURABILITY); the durability tests set their own value.
os.environ.setdefault("IACBOT_BROKER_DURABILITY", "volatile-allowed")
# The service signs every PR it opens and refuses to publish without a key: the session's own key
# (tests/signing.py) for every in-process publish; tests/celery_worker.py gives it to the workers.
os.environ.setdefault(signing.ENV, str(signing.private_key_file()))

# CI runs the property tests deterministically (a red CI must be reproducible); local runs
# explore new examples each time. IACBOT_HYPOTHESIS=deep searches much longer.
settings.register_profile("ci", derandomize=True, max_examples=300, deadline=None)
settings.register_profile("deep", max_examples=3000, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("IACBOT_HYPOTHESIS") or ("ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session")
def scanner():
    """One real checkov scanner process for the tests that only use it (starting one costs ~3.5 s).
    tests/test_scanner.py, which kills and restarts processes, keeps its own."""
    with Scanner() as running:
        yield running
