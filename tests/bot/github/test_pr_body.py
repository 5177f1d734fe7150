"""The PR's text: what set the fix off is named for reviewers and kept in the provenance block."""
from __future__ import annotations

import dataclasses

from bot.github import pr_body
from bot.provenance import commit_message
from tests.bot.github.fixes import VERIFICATION, attempt

BASE = "a" * 40


def test_without_a_trigger_the_body_and_block_say_nothing_of_one():
    text = pr_body.body(attempt(), BASE, VERIFICATION)
    assert "Found through" not in text and "trigger" not in pr_body.read_provenance(text)


def test_each_trigger_is_named_and_kept_in_the_provenance_block():
    cases = {
        "- Found through: code scanning alert `12`, webhook delivery `d-1`":
            {"event": "code_scanning_alert", "delivery_id": "d-1", "alert_number": 12},
        "- Found through: findings submitted by `acme-ci` (submission `sub-9`)":
            {"event": "findings_api", "submission_id": "sub-9", "tenant": "acme-ci"},
        "- Found through: push of `bbbbbbbbbbbb`, webhook delivery `d-2`":
            {"event": "push", "delivery_id": "d-2", "head_sha": "b" * 40},
    }
    for line, trigger in cases.items():
        text = pr_body.body(attempt(), BASE, VERIFICATION, trigger)
        assert line in text.splitlines(), text
        assert pr_body.read_provenance(text)["trigger"] == trigger


def test_a_fix_of_several_findings_lists_each_in_title_body_provenance_and_trailers():
    one = attempt()
    other = dataclasses.replace(one.finding, rule_id="CKV2_AWS_6", message="S3 bucket has no public access block")
    fix = dataclasses.replace(one, findings=(one.finding, other))
    text = pr_body.body(fix, BASE, VERIFICATION)
    assert "- **`CKV_AWS_20`**: S3 bucket has an ACL defined which allows public access" in text.splitlines()
    assert "- **`CKV2_AWS_6`**: S3 bucket has no public access block" in text.splitlines()
    assert pr_body.title(fix).endswith("(CKV_AWS_20, CKV2_AWS_6)")
    provenance = pr_body.read_provenance(text)
    assert provenance["rule"] == "CKV_AWS_20" and provenance["rules"] == ["CKV_AWS_20", "CKV2_AWS_6"]
    message = commit_message(fix, VERIFICATION).splitlines()
    assert [line for line in message if line.startswith("Iacbot-Rule:")] == ["Iacbot-Rule: CKV_AWS_20",
                                                                              "Iacbot-Rule: CKV2_AWS_6"]
    assert message.count(f"Iacbot-Finding: {one.finding.fingerprint()}") == 1
