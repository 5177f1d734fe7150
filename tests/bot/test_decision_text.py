"""bot.decision_text and bot.policy_issue (pure): every reason on the PR, subjects quoted; the
Action-required issue names each problem as FILE:LINE:COL and says what to do."""
from __future__ import annotations

from bot import policy_issue
from bot.decision_text import MAX_REASON_LABELS, decision_lines, is_reason_label, reason_labels
from policies.decision import Because, Decision
from policies.model import PolicyProblem
from policies.reasons import EXPLAINED, Action, Reason


def test_the_decision_section_lists_the_action_and_every_reason():
    decision = Decision(Action.PULL_REQUEST, (Because(Reason.RULE_MATCHED, "low-risk"),
                                              Because(Reason.CATEGORY_NETWORK), Because(Reason.RISK_NOT_LOW, "medium")),
                        rule="low-risk", policy_digest="ab" * 32)
    text = "\n".join(decision_lines(decision))
    assert "**pull_request**" in text and "Blocked from merging automatically by 2 reasons" in text
    for b in decision.reasons:
        assert f"`{b.reason.value}`" in text and EXPLAINED[b.reason] in text
    assert "abababababababab" in text


def test_a_rule_name_from_a_policy_file_is_quoted():
    decision = Decision(Action.PULL_REQUEST, (Because(Reason.RULE_MATCHED, "@org/security -->"),), rule="@x")
    text = "\n".join(decision_lines(decision))
    assert "@org" not in text and "-->" not in text and "@x" not in text


def test_the_policy_issue_names_each_problem_and_what_to_do():
    repo = (PolicyProblem(".github/iacbot.yml", 4, 7, "rules[0].action: 'yes' is not one of: ..."),)
    central = tuple(PolicyProblem("central.yml", i, 1, "bad") for i in range(1, 60))
    text = policy_issue.body(central, repo, "main", "octo/security-policy")
    assert text.startswith("<!-- iacbot:issue:policy -->")
    assert "`.github/iacbot.yml:4:7: rules[0].action: 'yes' is not one of: ...`" in text
    assert "`central.yml:50:1: bad`" in text and "central.yml:51:1" not in text and "and 9 more" in text
    assert "default branch `main`" in text and "`octo/security-policy`" in text
    assert "iacbot policy check" in text
    only_repo = policy_issue.body((), repo, "main", None)
    assert "## The central policy" not in only_repo


def test_the_policy_issue_fits_githubs_limit_whatever_the_problems_quote():
    from bot.github.issues import BODY_LIMIT, units
    hostile = tuple(PolicyProblem(".github/iacbot.yml", i, 1, "@-" * 400 + "\U0001F600" * 100) for i in range(1, 200))
    text = policy_issue.body(hostile, hostile, "main", None)
    assert units(text) <= BODY_LIMIT and "more (run `iacbot policy check`" in text


def test_a_pr_is_labelled_with_its_blocking_reasons_from_the_closed_set_only():
    decision = Decision(Action.PULL_REQUEST, (Because(Reason.RULE_MATCHED, "evil label"),
                                              Because(Reason.CATEGORY_NETWORK), Because(Reason.RISK_NOT_LOW, "medium"),
                                              Because(Reason.ASSUMED_VALUE), Because(Reason.IMPACT_NOT_NAMED, "cost")))
    labels = reason_labels(decision)
    assert labels == ("iacbot:category-network", "iacbot:risk-not-low", "iacbot:assumed-value")
    assert len(labels) == MAX_REASON_LABELS and all(is_reason_label(name) for name in labels)
    # No blocking reason: the reason that chose the action; never the rule's (policy-written) name.
    chosen = Decision(Action.PULL_REQUEST, (Because(Reason.RULE_MATCHED, "evil label"),))
    assert reason_labels(chosen) == ("iacbot:rule-matched",)
    assert not is_reason_label("iacbot:evil label") and not is_reason_label("network")
