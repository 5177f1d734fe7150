"""Deciding is cheap: `iacbot policy simulate` decides thousands of fixes (measured about 30 µs a
merge decision under the shipped example policy; the bound here leaves room for a loaded machine)."""
from __future__ import annotations

import time
from pathlib import Path

from policies.decide import decide_merge, decide_publish
from tests.policies.factories import fix, merge, policies, publish


def test_two_thousand_decisions_take_well_under_two_seconds():
    p = policies((Path(__file__).parents[2] / "policies" / "defaults" / "low-risk-outside-prod.yml").read_text())
    f, m, pub = fix(), merge(), publish()
    start = time.perf_counter()
    for _ in range(1000):
        decide_publish(p, f, pub)
        decide_merge(p, f, m)
    assert time.perf_counter() - start < 2.0
