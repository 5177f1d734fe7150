"""Shared by the worker tests: the GitHub App's private key, as the file the workers are given.
A module may define its own (test_reliability.py makes one per test)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.github_double import new_app_key_pem


@pytest.fixture(scope="module")
def private_key(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("key") / "app.pem"
    path.write_text(new_app_key_pem())
    return path
