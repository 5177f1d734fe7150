"""Every positive golden case, re-scanned by checkov in the scanner process: the rule fails on
the input, passes on the expected output, and nothing that passed on the input fails on it."""
from __future__ import annotations

import pytest

from fixers.verify import failed_keys, finding_key
from tests.golden_cases import golden_cases

POSITIVE = [c for c in golden_cases() if c.expected_path is not None]


@pytest.mark.parametrize("case", POSITIVE, ids=str)
def test_expected_output_passes_the_rule_on_rescan(scanner, case):
    finding, _ = case.finding_and_context()
    name = case.input_path.name
    before = failed_keys(scanner.scan_texts({name: case.read_exact(case.input_path)}).failed)
    after_result = scanner.scan_texts({name: case.read_exact(case.expected_path)})
    after = failed_keys(after_result.failed)
    assert not after_result.parsing_errors
    assert finding_key(finding) in before, f"the input must fail {finding.rule_id} on {finding.resource}: {sorted(before)}"
    assert finding_key(finding) not in after
    assert after <= before, f"newly failing: {sorted(after - before)}"
