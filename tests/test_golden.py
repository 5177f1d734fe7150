"""Every golden case: exact bytes, Unknown with its reason, and idempotency."""
from __future__ import annotations

import pytest

from fixers.models import NoChange, Patched, Unknown
from fixers.registry import all_fixers, fixer_for
from tests.golden_cases import golden_cases

CASES = golden_cases()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_golden_case(case):
    finding, ctx = case.finding_and_context()
    fixer = fixer_for(finding.rule_id, ctx.catalog)
    assert fixer is not None, f"no fixer registered for {finding.rule_id}"
    assert fixer.info.id == case.fixer_id, "the case's directory names the fixer that must handle it"
    source = case.read_exact(case.input_path)
    outcome = fixer.fix(source, finding, ctx)
    if case.expected_path is None:
        assert isinstance(outcome, Unknown), outcome
        assert case.unknown_path.read_text().strip() in outcome.reason
        return
    assert isinstance(outcome, Patched), outcome
    assert outcome.text == case.read_exact(case.expected_path)
    assert outcome.summary
    again = fixer.fix(outcome.text, finding, ctx)
    assert isinstance(again, NoChange), f"fix applied twice changed the file again: {again}"


REQUIRED_KINDS = {"positive", "formatting", "unknown"}


def test_every_fixer_has_positive_formatting_and_unknown_cases():
    """Case names start with their kind: positive-*, formatting-* (comments and odd layout kept), unknown-*."""
    by_fixer: dict[str, set[str]] = {}
    for case in CASES:
        by_fixer.setdefault(case.fixer_id, set()).add(case.name.split("-")[0])
    missing = {
        f.info.id: REQUIRED_KINDS - by_fixer.get(f.info.id, set())
        for f in all_fixers()
        if REQUIRED_KINDS - by_fixer.get(f.info.id, set())
    }
    assert not missing, f"fixers lacking golden cases: {missing}"
