"""policies.rollback: each verdict and reason, the cap, the opt-out marker, and a repository
policy that can only tighten the rollback settings."""
from __future__ import annotations

import dataclasses

import pytest

from policies.facts import CheckFacts
from policies.lint import lint
from policies.load import load_policy, load_repo_policy
from policies.model import PolicyError, PolicyProblem, PolicySet
from policies.reasons import Reason
from policies.rollback import (
    NO_AUTO_REVERT_MARKER,
    Effective,
    Recheck,
    RollbackDecision,
    RollbackFacts,
    Verdict,
    decide,
    effective,
    opted_out,
)

CENTRAL = "version: 1\nrules: []\n"
SHA_P, SHA_M = "p" * 40, "m" * 40


def run(name, conclusion="success", sha=SHA_M, app="ci", status="completed", kind="check_run"):
    return CheckFacts(name, sha, status, conclusion if status == "completed" else None, app, kind)


def facts(**kw) -> RollbackFacts:
    base = dict(pr_number=7, recheck=Recheck.CLEARED, finding="CKV_K8S_20 on Deployment.shop.web",
                parent_checks=(run("test", sha=SHA_P),), merge_checks=(run("test"),), opted_out=False,
                settings=Effective(), reverts_today=0)
    return RollbackFacts(**{**base, **kw})


def reasons(decision: RollbackDecision) -> list[Reason]:
    return [b.reason for b in decision.reasons]


def test_a_fix_that_cleared_its_finding_and_kept_every_check_green_is_verified():
    d = decide(facts())
    assert d.verdict is Verdict.VERIFIED
    assert reasons(d) == [Reason.FINDING_CLEARED, Reason.NO_CHECK_TURNED_RED]
    assert d.reasons[1].subject == "1 compared"


def test_the_finding_still_present_reverts_even_while_checks_run():
    d = decide(facts(recheck=Recheck.STILL_FAILING, merge_checks=(run("test", status="in_progress"),)))
    assert d.verdict is Verdict.REVERT and reasons(d) == [Reason.FINDING_STILL_PRESENT]
    assert d.reasons[0].subject == "CKV_K8S_20 on Deployment.shop.web"
    assert d.evidence() == d.reasons


@pytest.mark.parametrize("conclusion", ["failure", "timed_out", "action_required", "error", "startup_failure"])
def test_a_check_green_on_the_parent_and_red_on_the_merge_commit_reverts(conclusion):
    d = decide(facts(merge_checks=(run("test", conclusion),)))
    assert d.verdict is Verdict.REVERT and reasons(d) == [Reason.CHECK_TURNED_RED]
    assert d.reasons[0].subject == f"test (ci): {conclusion}"


def test_both_kinds_of_evidence_are_named():
    d = decide(facts(recheck=Recheck.STILL_FAILING, merge_checks=(run("test", "failure"),)))
    assert reasons(d) == [Reason.FINDING_STILL_PRESENT, Reason.CHECK_TURNED_RED]


@pytest.mark.parametrize("parent, merge", [
    ((run("test", "failure", sha=SHA_P),), (run("test", "failure"),)),      # red before the fix too
    ((run("test", "neutral", sha=SHA_P),), (run("test", "failure"),)),      # not green on the parent
    ((), (run("test", "failure"),)),                                         # the parent had no such check
    ((run("test", sha=SHA_P),), (run("test", "cancelled"),)),               # superseded, not failed
    ((run("test", sha=SHA_P),), (run("test", "skipped"),)),
    ((run("test", sha=SHA_P, app="ci"),), (run("test", "failure", app="copycat"), run("test"))),  # another App
    ((run("test", sha=SHA_P, kind="status", app=None),), (run("test", "failure"), run("test", kind="status", app=None))),
])
def test_only_a_check_that_passed_on_the_parent_and_fails_as_itself_is_evidence(parent, merge):
    assert decide(facts(parent_checks=parent, merge_checks=merge)).verdict is Verdict.VERIFIED


def test_a_check_still_running_or_missing_waits():
    d = decide(facts(merge_checks=(run("test", status="in_progress"),)))
    assert d.verdict is Verdict.WAIT and reasons(d) == [Reason.CHECK_STILL_RUNNING]
    d = decide(facts(merge_checks=()))
    assert d.verdict is Verdict.WAIT and d.reasons[0].subject == "test (ci)"


def test_a_finding_not_rechecked_yet_waits_and_a_blind_recheck_holds():
    assert reasons(decide(facts(recheck=Recheck.PENDING))) == [Reason.FINDING_NOT_RECHECKED]
    assert decide(facts(recheck=Recheck.PENDING)).verdict is Verdict.WAIT
    d = decide(facts(recheck=Recheck.BLIND, recheck_subject="k8s/web.yaml"))
    assert d.verdict is Verdict.HOLD and d.reasons[0] .reason is Reason.FINDING_RECHECK_BLIND
    assert d.reasons[0].subject == "k8s/web.yaml"


def test_an_expired_watch_proves_nothing_it_did_not_see():
    d = decide(facts(merge_checks=(), watch_expired=True))
    assert d.verdict is Verdict.HOLD and reasons(d) == [Reason.CHECK_NEVER_COMPLETED]
    d = decide(facts(recheck=Recheck.PENDING, watch_expired=True))
    assert d.verdict is Verdict.HOLD and reasons(d) == [Reason.FINDING_NOT_RECHECKED]
    # Evidence seen before the end still reverts.
    assert decide(facts(merge_checks=(run("test", "failure"),), watch_expired=True)).verdict is Verdict.REVERT


def test_the_cap_holds_at_its_limit_and_not_below():
    failing = dict(recheck=Recheck.STILL_FAILING)
    assert decide(facts(**failing, reverts_today=2)).verdict is Verdict.REVERT
    d = decide(facts(**failing, reverts_today=3))
    assert d.verdict is Verdict.HOLD
    assert reasons(d) == [Reason.FINDING_STILL_PRESENT, Reason.REVERT_CAP_REACHED]
    assert d.reasons[-1].subject == "3 of at most 3"
    d = decide(facts(**failing, settings=Effective(max_reverts_per_day=0)))
    assert d.verdict is Verdict.HOLD and d.reasons[-1].subject == "0 of at most 0"


def test_the_marker_opts_out_of_reverting_but_not_out_of_being_verified():
    body = f"Fix it\n\n{NO_AUTO_REVERT_MARKER}\n"
    assert opted_out(body) and not opted_out("<!-- iacbot:no-auto-revert") and not opted_out(None)
    d = decide(facts(recheck=Recheck.STILL_FAILING, opted_out=True))
    assert d.verdict is Verdict.HOLD
    assert reasons(d) == [Reason.FINDING_STILL_PRESENT, Reason.NO_AUTO_REVERT_MARKER]
    assert d.reasons[-1].subject == "#7"
    assert decide(facts(opted_out=True)).verdict is Verdict.VERIFIED


def test_decisions_round_trip_as_json():
    d = decide(facts(recheck=Recheck.STILL_FAILING, opted_out=True))
    assert RollbackDecision.from_json(d.to_json()) == d


# -- the settings ---------------------------------------------------------------------------------

def policies(central: str | None = CENTRAL, repo: str | None = None) -> PolicySet:
    return PolicySet(load_policy(central, "central.yml") if central else None,
                     load_repo_policy(repo, ".github/iacbot.yml") if repo else None)


def test_the_defaults_revert_three_a_day_and_never_merge_a_revert():
    for found in (policies(), policies(None)):
        s = effective(found)
        assert (s.auto_revert, s.max_reverts_per_day, s.automerge_reverts, s.disabled_by) == (True, 3, False, ())


def test_the_central_policy_sets_them():
    s = effective(policies("version: 1\nrollback: {max_reverts_per_day: 1, automerge_reverts: true}\nrules: []\n"))
    assert (s.auto_revert, s.max_reverts_per_day, s.automerge_reverts) == (True, 1, True)
    s = effective(policies("version: 1\nrollback: {auto_revert: false, automerge_reverts: true}\nrules: []\n"))
    assert not s.auto_revert and not s.automerge_reverts
    d = decide(facts(recheck=Recheck.STILL_FAILING, settings=s))
    assert d.verdict is Verdict.HOLD and d.reasons[-1].reason is Reason.AUTO_REVERT_DISABLED
    assert d.reasons[-1].subject == "central policy"


@pytest.mark.parametrize("repo, expected", [
    ("rollback: {auto_revert: false}", (False, 3, False)),
    ("rollback: {max_reverts_per_day: 1}", (True, 1, True)),
    ("rollback: {max_reverts_per_day: 50}", (True, 3, True)),        # higher: no effect
    ("rollback: {automerge_reverts: false}", (True, 3, False)),
])
def test_a_repository_only_tightens(repo, expected):
    central = "version: 1\nrollback: {automerge_reverts: true}\nrules: []\n"
    s = effective(policies(central, f"version: 1\n{repo}\n"))
    assert (s.auto_revert, s.max_reverts_per_day, s.automerge_reverts) == expected


def test_a_repository_cannot_turn_on_what_the_central_policy_turned_off():
    central = "version: 1\nrollback: {auto_revert: false, max_reverts_per_day: 1}\nrules: []\n"
    s = effective(policies(central, "version: 1\nrollback: {auto_revert: true, max_reverts_per_day: 9, "
                                    "automerge_reverts: true}\n"))
    assert (s.auto_revert, s.max_reverts_per_day, s.automerge_reverts) == (False, 1, False)


def test_a_policy_that_cannot_be_read_reverts_nothing():
    bad = PolicyProblem(".github/iacbot.yml", 3, 5, "nope")
    s = effective(PolicySet(load_policy(CENTRAL, "c"), None, (), (bad,)))
    assert not s.auto_revert
    d = decide(facts(recheck=Recheck.STILL_FAILING, settings=s))
    assert d.verdict is Verdict.HOLD
    assert [(b.reason, b.subject) for b in d.reasons[1:]] == [(Reason.REPO_POLICY_INVALID, ".github/iacbot.yml:3:5")]
    s = effective(PolicySet(None, None, (PolicyProblem("central.yml", 1, 1, "bad"),)))
    assert not s.auto_revert and s.disabled_by[0][0] is Reason.POLICY_INVALID


@pytest.mark.parametrize("text", [
    "version: 1\nrollback: {max_reverts_per_day: 101}\nrules: []\n",
    "version: 1\nrollback: {max_reverts_per_day: -1}\nrules: []\n",
    "version: 1\nrollback: {auto_revert: maybe}\nrules: []\n",
    "version: 1\nrollback: {revert: true}\nrules: []\n",
])
def test_the_schema_refuses_what_is_not_a_setting(text):
    with pytest.raises(PolicyError) as caught:
        load_policy(text, "c.yml")
    assert "rollback" in str(caught.value)


def test_lint_names_settings_that_do_nothing():
    central = load_policy("version: 1\nrollback:\n  auto_revert: false\n  automerge_reverts: true\nrules: []\n", "c.yml")
    found = [p.text() for p in lint(central, frozenset(), frozenset())]
    assert found == ["c.yml:4:22: rollback.automerge_reverts has no effect: auto_revert is false"]
    zero = load_policy("version: 1\nrollback: {max_reverts_per_day: 0}\nrules: []\n", "c.yml")
    assert [p.line for p in lint(zero, frozenset(), frozenset())] == [2]
    repo = load_repo_policy("version: 1\nrollback:\n  auto_revert: true\n  automerge_reverts: true\n", "r.yml")
    found = [p.text() for p in lint(repo, frozenset(), frozenset(), repository=True)]
    assert [f.split(":")[1] for f in found] == ["3", "4"], found
    fine = load_repo_policy("version: 1\nrollback: {auto_revert: false}\n", "r.yml")
    assert lint(fine, frozenset(), frozenset(), repository=True) == ()


def test_facts_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts().reverts_today = 9
