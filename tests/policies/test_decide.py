"""policies.decide: under the most permissive policy anyone can write, each guardrail on its own
blocks the automatic merge with its own reason; a repository policy only tightens; a missing or
invalid policy fails closed."""
from __future__ import annotations

from datetime import timedelta

import pytest

from fixers.models import Category, Confidence, Impact, Risk
from policies.decide import decide_merge, decide_publish
from policies.facts import ChangedFile, CommitFacts
from policies.load import load_policy
from policies.model import PolicyProblem, PolicySet
from policies.reasons import BLOCKING, Action, Reason
from tests.policies.factories import HEAD, NOW, PERMISSIVE, fix, green_check, merge, policies, publish


def reasons(decision):
    return [(b.reason, b.subject) for b in decision.reasons]


def test_everything_green_auto_merges_under_the_permissive_policy():
    p = policies()
    d = decide_merge(p, fix(), merge())
    assert d.action is Action.AUTOMERGE
    assert reasons(d) == [(Reason.RULE_MATCHED, "all")]
    assert d.rule == "all" and d.policy_digest == p.central.digest and d.repo_policy_digest is None
    assert decide_publish(p, fix(), publish()).action is Action.AUTOMERGE


# (what is changed, the reason and subject it must give) -- each alone, all else green.
FIX_GUARDRAILS = [
    (dict(category=Category.IDENTITY), Reason.CATEGORY_IDENTITY, "identity"),
    (dict(category=Category.NETWORK), Reason.CATEGORY_NETWORK, "network"),
    (dict(category=Category.SECRET), Reason.CATEGORY_SECRET, "secret"),
    (dict(risk=Risk.MEDIUM), Reason.RISK_NOT_LOW, "medium"),
    (dict(risk=Risk.HIGH), Reason.RISK_NOT_LOW, "high"),
    (dict(confidence=Confidence.ASSUMED_VALUE), Reason.ASSUMED_VALUE, "k8s.container-security-context"),
    (dict(impact=frozenset({Impact.COST})), Reason.IMPACT_NOT_NAMED, "cost"),
    (dict(impact=frozenset({Impact.AVAILABILITY})), Reason.IMPACT_NOT_NAMED, "availability"),
    (dict(impact=frozenset({Impact.OPERATIONS})), Reason.IMPACT_NOT_NAMED, "operations"),
    (dict(category=None), Reason.NO_FIXER_LABELS, "k8s.container-security-context"),
    (dict(risk=None), Reason.NO_FIXER_LABELS, "k8s.container-security-context"),
    (dict(confidence=None), Reason.NO_FIXER_LABELS, "k8s.container-security-context"),
    (dict(paths=(".github/workflows/ci.yml",)), Reason.PROTECTED_PATH, ".github/workflows/ci.yml"),
]


@pytest.mark.parametrize("change,reason,subject", FIX_GUARDRAILS)
def test_each_fix_guardrail_blocks_on_its_own(change, reason, subject):
    f = fix(**change)
    files = tuple(ChangedFile(p, 2) for p in f.paths)
    for d in (decide_publish(policies(), f, publish()), decide_merge(policies(), f, merge(files=files))):
        assert d.action is Action.PULL_REQUEST
        assert reasons(d) == [(Reason.RULE_MATCHED, "all"), (reason, subject)]
        assert d.blocked_by() == (d.reasons[1],)


# (what is changed in the merge facts, the reasons and subjects it must give)
MERGE_GUARDRAILS = [
    (dict(global_kill_switch=True), [(Reason.KILL_SWITCH_GLOBAL, "")]),
    (dict(repo_kill_switch=True), [(Reason.KILL_SWITCH_REPOSITORY, "")]),
    (dict(merges_last_hour=5), [(Reason.HOURLY_LIMIT, "5 of at most 5")]),
    (dict(merge_in_progress=True), [(Reason.MERGE_IN_PROGRESS, "main")]),
    (dict(pr_open=False), [(Reason.PR_NOT_OPEN, "")]),
    (dict(pr_by_iacbot=False), [(Reason.PR_NOT_IACBOT, "")]),
    (dict(mergeable=False), [(Reason.NOT_MERGEABLE, "false")]),
    (dict(mergeable=None), [(Reason.NOT_MERGEABLE, "unknown")]),
    (dict(decided_head_sha=None), [(Reason.HEAD_NOT_IACBOT_COMMIT, HEAD)]),
    (dict(decided_head_sha="b" * 40), [(Reason.HEAD_NOT_IACBOT_COMMIT, HEAD)]),
    (dict(commits=(CommitFacts("c" * 40, True, True, True), CommitFacts(HEAD, False, True, True))),
     [(Reason.COMMIT_NOT_RECORDED, HEAD)]),
    (dict(commits=(CommitFacts("c" * 40, True, False, True), CommitFacts(HEAD, True, True, True))),
     [(Reason.FOREIGN_AUTHOR, "c" * 40)]),
    (dict(commits=(CommitFacts(HEAD, True, True, False),)), [(Reason.FOREIGN_COMMITTER, HEAD)]),
    (dict(commits=()), [(Reason.HEAD_NOT_IACBOT_COMMIT, HEAD), (Reason.COMMIT_NOT_RECORDED, "no commits between base and head")]),
    (dict(files=(ChangedFile("k8s/app.yaml", 2), ChangedFile("k8s/other.yaml", 1))),
     [(Reason.DIFF_OUTSIDE_FIX, "k8s/other.yaml"), (Reason.DIFF_OUTSIDE_FIX, "3 changed lines, the fix has 2")]),
    (dict(files=(ChangedFile("k8s/app.yaml", 3),)), [(Reason.DIFF_OUTSIDE_FIX, "3 changed lines, the fix has 2")]),
    (dict(files=()), [(Reason.DIFF_OUTSIDE_FIX, "the pull request changes no file")]),
    (dict(files=(ChangedFile("k8s/app.yaml", 1), ChangedFile("CODEOWNERS", 1))),
     [(Reason.DIFF_OUTSIDE_FIX, "CODEOWNERS"), (Reason.PROTECTED_PATH, "CODEOWNERS")]),
    (dict(checks=()), [(Reason.CHECK_MISSING, "test (from github-actions)")]),
    (dict(checks=(green_check(sha="b" * 40),)), [(Reason.CHECK_MISSING, "test (from github-actions)")]),
    (dict(checks=(green_check(name="tests"),)), [(Reason.CHECK_MISSING, "test (from github-actions)")]),
    (dict(checks=(green_check(app="evil-app"),)), [(Reason.CHECK_WRONG_APP, "test: evil-app")]),
    (dict(checks=(green_check(app=None),)), [(Reason.CHECK_WRONG_APP, "test: a commit status")]),
    (dict(checks=(green_check(status="in_progress", conclusion=None),)), [(Reason.CHECK_PENDING, "test")]),
    (dict(checks=(green_check(status="queued", conclusion=None),)), [(Reason.CHECK_PENDING, "test")]),
    (dict(checks=(green_check(status="completed", conclusion=None),)), [(Reason.CHECK_PENDING, "test")]),
    (dict(checks=(green_check(conclusion="neutral"),)), [(Reason.CHECK_NOT_SUCCESSFUL, "test: neutral")]),
    (dict(checks=(green_check(conclusion="skipped"),)), [(Reason.CHECK_NOT_SUCCESSFUL, "test: skipped")]),
    (dict(checks=(green_check(conclusion="stale"),)), [(Reason.CHECK_NOT_SUCCESSFUL, "test: stale")]),
    (dict(checks=(green_check(conclusion="cancelled"),)), [(Reason.CHECK_NOT_SUCCESSFUL, "test: cancelled")]),
    (dict(checks=(green_check(conclusion="failure"),)), [(Reason.CHECK_NOT_SUCCESSFUL, "test: failure")]),
    (dict(checks=(green_check(conclusion="action_required"),)), [(Reason.CHECK_NOT_SUCCESSFUL, "test: action_required")]),
    (dict(checks=(green_check(), green_check(conclusion="failure"))), [(Reason.CHECK_NOT_SUCCESSFUL, "test: failure")]),
    (dict(checks=(green_check(), green_check(status="in_progress", conclusion=None))), [(Reason.CHECK_PENDING, "test")]),
]


@pytest.mark.parametrize("change,expected", MERGE_GUARDRAILS)
def test_each_merge_guardrail_blocks_on_its_own(change, expected):
    d = decide_merge(policies(), fix(), merge(**change))
    assert d.action is Action.PULL_REQUEST
    assert reasons(d) == [(Reason.RULE_MATCHED, "all")] + expected
    assert all(b.reason in BLOCKING for b in d.reasons[1:])


def test_a_check_from_the_required_app_beside_one_from_another_is_enough():
    d = decide_merge(policies(), fix(), merge(checks=(green_check(app="evil-app", conclusion="failure"), green_check())))
    assert d.action is Action.AUTOMERGE


def test_without_an_app_any_poster_counts_but_every_report_must_be_green():
    central = PERMISSIVE.replace("{name: test, app: github-actions}", "{name: test}")
    assert decide_merge(policies(central), fix(), merge(checks=(green_check(app=None),))).action is Action.AUTOMERGE
    d = decide_merge(policies(central), fix(), merge(checks=(green_check(app=None), green_check(conclusion="skipped"))))
    assert reasons(d)[1:] == [(Reason.CHECK_NOT_SUCCESSFUL, "test: skipped")]


def test_no_required_check_blocks_at_publish_and_at_merge():
    central = "version: 1\nrules: [{name: all, match: {}, action: automerge}]\n"
    for d in (decide_publish(policies(central), fix(), publish()), decide_merge(policies(central), fix(), merge())):
        assert reasons(d) == [(Reason.RULE_MATCHED, "all"), (Reason.NO_REQUIRED_CHECKS, "")]
        assert d.action is Action.PULL_REQUEST


def test_a_rule_that_names_the_impact_lets_it_through():
    central = PERMISSIVE.replace("match: {}", "match: {impact: [cost]}")
    f = fix(impact=frozenset({Impact.COST}))
    assert decide_merge(policies(central), f, merge()).action is Action.AUTOMERGE
    both = fix(impact=frozenset({Impact.COST, Impact.AVAILABILITY}))
    central2 = PERMISSIVE.replace("match: {}", "match: {impact: [cost, availability]}")
    assert decide_merge(policies(central2), both, merge()).action is Action.AUTOMERGE


def test_every_guardrail_that_applies_is_listed_not_only_the_first():
    f = fix(category=Category.NETWORK, risk=Risk.HIGH, confidence=Confidence.ASSUMED_VALUE,
            impact=frozenset({Impact.COST, Impact.OPERATIONS}))
    d = decide_merge(policies(), f, merge(global_kill_switch=True, repo_kill_switch=True, merges_last_hour=9,
                                          checks=(), pr_by_iacbot=False))
    got = {b.reason for b in d.reasons}
    assert got >= {Reason.CATEGORY_NETWORK, Reason.RISK_NOT_LOW, Reason.ASSUMED_VALUE, Reason.IMPACT_NOT_NAMED,
                   Reason.KILL_SWITCH_GLOBAL, Reason.KILL_SWITCH_REPOSITORY, Reason.HOURLY_LIMIT,
                   Reason.CHECK_MISSING, Reason.PR_NOT_IACBOT}
    assert [b.subject for b in d.reasons if b.reason is Reason.IMPACT_NOT_NAMED] == ["cost", "operations"]


WINDOWED = """\
version: 1
automerge:
  required_checks: [{name: test}]
  window: {days: [mon, tue, wed, thu, fri], hours: "09:00-17:00", timezone: Europe/Berlin}
rules:
  - name: all
    match: {window: {days: [wed], hours: "10:30-12:00", timezone: UTC}}
    action: automerge
"""


def test_windows_of_the_rule_and_the_policy():
    p = policies(WINDOWED)
    wednesday_11_utc = NOW + timedelta(hours=1)         # 12:00 Berlin, 11:00 UTC: both open
    assert decide_merge(p, fix(), merge(now=wednesday_11_utc)).action is Action.AUTOMERGE
    d = decide_merge(p, fix(), merge(now=NOW))          # 10:00 UTC: the rule's window is shut
    assert reasons(d)[1:] == [(Reason.OUTSIDE_WINDOW, "wed 10:30-12:00 UTC")]
    d = decide_publish(p, fix(), publish(now=NOW + timedelta(days=3, hours=1)))   # Saturday: both shut
    assert reasons(d)[1:] == [(Reason.OUTSIDE_WINDOW, "wed 10:30-12:00 UTC"),
                              (Reason.OUTSIDE_WINDOW, "mon,tue,wed,thu,fri 09:00-17:00 Europe/Berlin")]
    assert d.action is Action.PULL_REQUEST and d.rule == "all", "outside its window the rule still owns the fix"


def test_the_hourly_limit_comes_from_the_policy():
    central = PERMISSIVE.replace("rules:", "  max_per_hour: 2\nrules:")
    assert decide_merge(policies(central), fix(), merge(merges_last_hour=1)).action is Action.AUTOMERGE
    assert reasons(decide_merge(policies(central), fix(), merge(merges_last_hour=2)))[1:] == [
        (Reason.HOURLY_LIMIT, "2 of at most 2")]
    zero = PERMISSIVE.replace("rules:", "  max_per_hour: 0\nrules:")
    assert decide_merge(policies(zero), fix(), merge()).action is Action.PULL_REQUEST


@pytest.mark.parametrize("path", [".github/workflows/x.yml", ".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS",
                                  ".iacbot.yml", "iacbot-policy.yml", "policies/iacbot-policy.yml", ".gitlab-ci.yml",
                                  "Jenkinsfile", "ci/Jenkinsfile", ".circleci/config.yml", "azure-pipelines.yml",
                                  ".buildkite/pipeline.yml", ".travis.yml", "bitbucket-pipelines.yml",
                                  ".GitHub/workflows/x.yml", "codeowners", "./CODEOWNERS", "k8s/../.github/x.yml"])
def test_protected_paths(path):
    f = fix(paths=(path,))
    d = decide_merge(policies(), f, merge(files=(ChangedFile(path, 2),)))
    assert (Reason.PROTECTED_PATH, path) in reasons(d) and d.action is Action.PULL_REQUEST


@pytest.mark.parametrize("path", ["k8s/app.yaml", "src/CODEOWNERS.md", "github/x.yml", "envs/prod/main.tf"])
def test_ordinary_paths_are_not_protected(path):
    f = fix(paths=(path,))
    assert decide_merge(policies(), f, merge(files=(ChangedFile(path, 2),))).action is Action.AUTOMERGE


# -- the rules ----------------------------------------------------------------------------------

ORDERED = """\
version: 1
automerge:
  required_checks: [{name: test, app: github-actions}]
rules:
  - {name: prod, match: {paths: ["envs/prod/**"]}, action: pull_request}
  - {name: noisy, match: {rule_ids: ["CKV_NOISY_*"]}, action: ignore}
  - {name: low, match: {risk: [low]}, action: automerge}
"""


def test_the_first_matching_rule_decides_and_none_means_pull_request():
    p = policies(ORDERED)
    d = decide_merge(p, fix(paths=("envs/prod/a.tf",)), merge(files=(ChangedFile("envs/prod/a.tf", 2),)))
    assert (d.action, d.rule, reasons(d)) == (Action.PULL_REQUEST, "prod", [(Reason.RULE_MATCHED, "prod")])
    d = decide_publish(p, fix(rule_ids=("CKV_NOISY_1",)), publish())
    assert (d.action, d.rule) == (Action.IGNORE, "noisy")
    d = decide_publish(p, fix(risk=Risk.HIGH), publish())
    assert (d.action, d.rule, reasons(d)) == (Action.PULL_REQUEST, None, [(Reason.NO_RULE_MATCHED, "")])


def test_guardrails_are_not_consulted_when_the_rule_does_not_automerge():
    p = policies(ORDERED)
    d = decide_publish(p, fix(rule_ids=("CKV_NOISY_1",), category=Category.NETWORK), publish(global_kill_switch=True))
    assert reasons(d) == [(Reason.RULE_MATCHED, "noisy")]


# -- the repository's policy only tightens -------------------------------------------------------

def test_a_repository_rule_tightens_automerge_to_pull_request():
    repo = "version: 1\nrules:\n  - {name: careful, match: {}, action: pull_request}\n"
    p = policies(repo=repo)
    d = decide_merge(p, fix(), merge())
    assert (d.action, d.rule, d.repo_rule) == (Action.PULL_REQUEST, "all", "careful")
    assert reasons(d) == [(Reason.RULE_MATCHED, "all"), (Reason.REPO_RULE_TIGHTENED, "careful")]
    assert d.repo_policy_digest == p.repo.digest


def test_a_repository_rule_cannot_loosen():
    central = ORDERED
    repo = "version: 1\nrules:\n  - {name: yolo, match: {}, action: automerge}\n"
    d = decide_merge(policies(central, repo), fix(paths=("envs/prod/a.tf",)), merge(files=(ChangedFile("envs/prod/a.tf", 2),)))
    assert d.action is Action.PULL_REQUEST
    assert reasons(d) == [(Reason.RULE_MATCHED, "prod"), (Reason.REPO_MAY_NOT_LOOSEN, "yolo")]
    d = decide_merge(policies(central, repo), fix(risk=Risk.HIGH), merge())
    assert d.action is Action.PULL_REQUEST and (Reason.REPO_MAY_NOT_LOOSEN, "yolo") in reasons(d)


def test_a_repository_may_not_disable_fixes_unless_the_central_policy_allows_it():
    repo = "version: 1\nrules:\n  - {name: off, match: {}, action: ignore}\n"
    d = decide_publish(policies(repo=repo), fix(), publish())
    assert d.action is Action.PULL_REQUEST
    assert reasons(d) == [(Reason.RULE_MATCHED, "all"), (Reason.REPO_MAY_NOT_DISABLE, "off")]
    allowed = PERMISSIVE.replace("rules:", "repository_policy: {may_disable: true}\nrules:")
    d = decide_publish(policies(allowed, repo), fix(), publish())
    assert d.action is Action.IGNORE and reasons(d)[1:] == [(Reason.REPO_RULE_TIGHTENED, "off")]
    recommend = "version: 1\nrules:\n  - {name: later, match: {}, action: recommend}\n"
    assert decide_publish(policies(repo=recommend), fix(), publish()).action is Action.PULL_REQUEST


def test_a_repository_rule_window_narrows_but_never_widens():
    repo = ("version: 1\nrules:\n  - name: nights-only\n    match: {window: {hours: \"22:00-06:00\", timezone: UTC}}\n"
            "    action: automerge\n")
    d = decide_merge(policies(repo=repo), fix(), merge())          # 10:00 UTC
    assert reasons(d) == [(Reason.RULE_MATCHED, "all"), (Reason.OUTSIDE_WINDOW, "mon,tue,wed,thu,fri,sat,sun 22:00-06:00 UTC")]
    d = decide_merge(policies(WINDOWED, repo), fix(), merge(now=NOW + timedelta(hours=1)))
    assert d.action is Action.PULL_REQUEST and d.has(Reason.OUTSIDE_WINDOW)


def test_repository_checks_are_added_to_the_central_ones():
    repo = "version: 1\nautomerge:\n  required_checks: [{name: e2e, app: buildkite}]\n"
    p = policies(repo=repo)
    d = decide_merge(p, fix(), merge())
    assert reasons(d)[1:] == [(Reason.CHECK_MISSING, "e2e (from buildkite)")]
    ok = merge(checks=(green_check(), green_check(name="e2e", app="buildkite")))
    assert decide_merge(p, fix(), ok).action is Action.AUTOMERGE
    # A repository's checks alone do not satisfy "the policy names a check": only the central ones
    # make a fix eligible, or a repository could loosen a central policy that names none.
    central = "version: 1\nrules: [{name: all, match: {}, action: automerge}]\n"
    alone = decide_merge(policies(central, repo), fix(), ok)
    assert alone.action is Action.PULL_REQUEST and alone.has(Reason.NO_REQUIRED_CHECKS)


def test_an_invalid_repository_policy_blocks_automerge_but_not_pull_requests():
    problem = PolicyProblem(".github/iacbot.yml", 3, 5, "unknown key 'x'")
    p = PolicySet(load_policy(PERMISSIVE, "central.yml"), None, repo_problems=(problem,))
    d = decide_merge(p, fix(), merge())
    assert d.action is Action.PULL_REQUEST
    assert reasons(d) == [(Reason.RULE_MATCHED, "all"), (Reason.REPO_POLICY_INVALID, ".github/iacbot.yml:3:5")]
    assert decide_publish(policies(ORDERED), fix(rule_ids=("CKV_NOISY_1",)), publish()).action is Action.IGNORE


def test_a_str_policy_with_lone_surrogates_is_a_problem_not_a_crash():
    import pytest as _pytest

    from policies.model import PolicyError
    with _pytest.raises(PolicyError, match="not UTF-8"):
        load_policy("version: 1\nrules: []\n# \udcff\n", "central.yml")


# -- fail closed -----------------------------------------------------------------------------------

def test_a_missing_central_policy_fails_closed():
    d = decide_merge(PolicySet(None), fix(), merge())
    assert (d.action, reasons(d), d.rule, d.policy_digest) == (
        Action.PULL_REQUEST, [(Reason.POLICY_MISSING, "central policy")], None, None)
    repo = "version: 1\nrules:\n  - {name: off, match: {}, action: ignore}\n"
    assert decide_publish(policies(None, repo), fix(), publish()).action is Action.PULL_REQUEST


def test_an_invalid_central_policy_fails_closed_naming_where():
    problems = (PolicyProblem("central.yml", 4, 7, "x"), PolicyProblem("central.yml", 9, 1, "y"))
    d = decide_publish(PolicySet(None, central_problems=problems), fix(), publish())
    assert d.action is Action.PULL_REQUEST
    assert reasons(d) == [(Reason.POLICY_INVALID, "central.yml:4:7"), (Reason.POLICY_INVALID, "central.yml:9:1")]
    # Problems win over a policy object handed in beside them.
    d = decide_merge(PolicySet(load_policy(PERMISSIVE, "c.yml"), central_problems=problems), fix(), merge())
    assert d.action is Action.PULL_REQUEST and d.has(Reason.POLICY_INVALID)


def test_decisions_round_trip_through_json():
    d = decide_merge(policies(repo="version: 1\nrules: [{name: r, match: {}, action: pull_request}]\n"), fix(), merge())
    assert type(d).from_json(d.to_json()) == d


def test_the_shipped_low_risk_policy_decides_as_documented():
    from pathlib import Path
    text = (Path(__file__).parents[2] / "policies" / "defaults" / "low-risk-outside-prod.yml").read_text()
    p = policies(text)
    berlin_wednesday_11 = NOW
    assert decide_merge(p, fix(), merge(now=berlin_wednesday_11)).action is Action.AUTOMERGE
    prod = fix(paths=("envs/prod/k8s/app.yaml",))
    d = decide_merge(p, prod, merge(files=(ChangedFile("envs/prod/k8s/app.yaml", 2),)))
    assert (d.action, d.rule) == (Action.PULL_REQUEST, "prod-is-reviewed")
    d = decide_merge(p, fix(), merge(now=NOW + timedelta(hours=7)))      # 18:00 Berlin
    assert d.action is Action.PULL_REQUEST and d.has(Reason.OUTSIDE_WINDOW)
    assert decide_publish(p, fix(category=Category.AVAILABILITY), publish()).rule == "review-the-rest"
    default = (Path(__file__).parents[2] / "policies" / "defaults" / "default.yml").read_text()
    assert decide_merge(policies(default), fix(), merge()).action is Action.PULL_REQUEST

