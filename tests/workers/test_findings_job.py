"""A stored findings submission (the findings API's Redis record) -> the Findings of its job."""
from __future__ import annotations

import dataclasses
import json

from fixers.models import Finding
from workers.submissions import submission_findings

JOB = {"kind": "findings_submitted", "submission_id": "s-1", "tenant": "acme", "installation_id": 5,
       "repository": "octo/a", "commit_sha": None, "delivery_id": "d-1"}
FINDING = Finding(rule_id="CKV_AWS_79", file="infra/main.tf", resource="aws_instance.web", line_start=1,
                  line_end=4, source="sarif:tfsec", evaluated_keys=("metadata_options/[0]/http_tokens",))


def stored(**changes) -> str:
    record = {"tenant": "acme", "installation_id": 5, "repository": "octo/a", "commit_sha": None,
              "findings": [dataclasses.asdict(FINDING)], "problems": ["results[3]: missing field 'ruleId'"]}
    return json.dumps({**record, **changes})


def test_findings_come_back_exactly():
    findings, problems = submission_findings(stored(), JOB)
    assert findings == [FINDING]
    assert problems == ["results[3]: missing field 'ruleId'"]


def test_a_bad_entry_is_a_problem_naming_it_and_the_rest_still_counts():
    findings, problems = submission_findings(stored(findings=[{"rule_id": "X"}, {"nope": 1},
                                                              dataclasses.asdict(FINDING)]), JOB)
    assert findings == [FINDING]
    assert [p.split(" is ")[0] for p in problems[1:]] == ["submission s-1: findings[0]", "submission s-1: findings[1]"]


def test_a_missing_or_foreign_submission_is_refused_with_the_reason():
    assert submission_findings(None, JOB) == "submission s-1 is not in Redis (expired, or never stored)"
    assert submission_findings(b"{", JOB) == "submission s-1 is not JSON"
    assert submission_findings(stored(repository="evil/b"), JOB) == (
        "submission s-1: field 'repository' 'evil/b' does not match the job's 'octo/a'")
    assert "'installation_id'" in submission_findings(stored(installation_id=6), JOB)
