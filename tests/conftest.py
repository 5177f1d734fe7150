"""Shared test settings."""
import os

from hypothesis import settings

# CI runs the property tests deterministically (a red CI must be reproducible); local runs
# explore new examples each time. IACBOT_HYPOTHESIS=deep searches much longer.
settings.register_profile("ci", derandomize=True, max_examples=300, deadline=None)
settings.register_profile("deep", max_examples=3000, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("IACBOT_HYPOTHESIS") or ("ci" if os.environ.get("CI") else "dev"))
