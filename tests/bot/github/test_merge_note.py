"""bot.github.merge_note: which reasons are worth a comment, and that outside subjects are quoted."""
from __future__ import annotations

from bot.github.merge_note import MARKER, blocked_note, lasting_reasons
from policies.decision import Because, Decision
from policies.reasons import Action, Reason


def decision(*reasons: Because, action: Action = Action.PULL_REQUEST) -> Decision:
    return Decision(action, (Because(Reason.RULE_MATCHED, "low-risk"), *reasons), rule="low-risk")


def test_the_normal_wait_is_no_news():
    waiting = decision(Because(Reason.CHECK_PENDING, "test"), Because(Reason.CHECK_MISSING, "lint"),
                       Because(Reason.MERGE_IN_PROGRESS, "main"))
    assert lasting_reasons(waiting) == []


def test_lasting_reasons_are_compared_by_reason_and_subject_but_a_count_without_its_number():
    first = decision(Because(Reason.CHECK_NOT_SUCCESSFUL, "test: failure"), Because(Reason.HOURLY_LIMIT, "5 of at most 5"))
    later = decision(Because(Reason.HOURLY_LIMIT, "6 of at most 5"), Because(Reason.CHECK_NOT_SUCCESSFUL, "test: failure"))
    assert lasting_reasons(first) == lasting_reasons(later) == [["check-not-successful", "test: failure"],
                                                                ["hourly-limit", ""]]
    other = decision(Because(Reason.CHECK_NOT_SUCCESSFUL, "test: timed_out"), Because(Reason.HOURLY_LIMIT, "5 of 5"))
    assert lasting_reasons(other) != lasting_reasons(first)


def test_without_a_blocking_reason_the_rule_that_asked_for_review_is_the_news():
    assert lasting_reasons(decision()) == [["rule-matched", "low-risk"]]


def test_a_subject_from_the_repository_is_quoted():
    hostile = "x` @admin <!-- #1 https://evil.example"
    text = blocked_note(decision(Because(Reason.PROTECTED_PATH, hostile)), [["protected-path", hostile]])
    assert text.startswith(MARKER)
    assert "@admin" not in text and "<!-- #1" not in text and "https://evil" not in text
    assert "touches policy, .github/, CODEOWNERS or CI files" in text
