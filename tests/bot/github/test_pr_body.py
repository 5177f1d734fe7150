"""The PR's text: what set the fix off is named for reviewers and kept in the provenance block."""
from __future__ import annotations

from bot.github import pr_body
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
