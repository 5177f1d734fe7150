"""Under ANY policy (central and repository, drawn at random and loaded from text), no decision is
AUTOMERGE while a guardrail fact is violated. The violations are computed here, independently of
policies.guardrails, from the facts alone."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixers.models import Category, Confidence, Risk
from policies.decide import decide_merge, decide_publish
from policies.load import load_policy, load_repo_policy
from policies.model import PolicyError, PolicySet
from policies.reasons import BLOCKING, Action
from tests.policies.policy_strategies import central_policy, fix_facts, merge_facts, publish_facts, repo_policy

UNSAFE_CATEGORIES = {Category.IDENTITY, Category.NETWORK, Category.SECRET}
PROTECTED_PREFIXES = (".github/", ".circleci/", ".buildkite/")
PROTECTED_NAMES = {"CODEOWNERS", "Jenkinsfile", "iacbot-policy.yml", ".iacbot.yml", ".gitlab-ci.yml", ".travis.yml"}


def _load(central, repo) -> PolicySet | None:
    try:
        c = load_policy(json.dumps(central), "central.json")
        r = load_repo_policy(json.dumps(repo), "repo.json") if repo is not None else None
    except PolicyError:
        return None          # a drawn policy may be invalid (e.g. duplicate days): fail-closed is tested elsewhere
    return PolicySet(c, r)


def _protected(path: str) -> bool:
    return path.startswith(PROTECTED_PREFIXES) or path.rsplit("/", 1)[-1] in PROTECTED_NAMES


def _fix_violations(policies: PolicySet, fix, decision, now, global_kill, repo_kill) -> list[str]:
    out = []
    if fix.category is None or fix.risk is None or fix.confidence is None:
        out.append("labels")
    if fix.category in UNSAFE_CATEGORIES:
        out.append("category")
    if fix.risk is not None and fix.risk is not Risk.LOW:
        out.append("risk")
    if fix.confidence is Confidence.ASSUMED_VALUE:
        out.append("assumed")
    rule = next((r for r in policies.central.rules if r.name == decision.rule), None)
    if fix.impact and (rule is None or rule.match.impact is None or not fix.impact <= rule.match.impact):
        out.append("impact")
    if any(_protected(p) for p in fix.paths):
        out.append("protected fix path")
    if global_kill or repo_kill:
        out.append("kill switch")
    windows = [policies.central.window] + ([rule.match.window] if rule is not None else [])
    if any(w is not None and not w.contains(now) for w in windows):
        out.append("window")
    checks = policies.central.required_checks + (policies.repo.required_checks if policies.repo else ())
    if not checks:
        out.append("no checks")
    return out


def _merge_violations(policies: PolicySet, fix, facts) -> list[str]:
    out = []
    if facts.merges_last_hour >= policies.central.max_automerges_per_hour:
        out.append("hourly")
    if facts.merge_in_progress or not facts.pr_open or not facts.pr_by_iacbot or facts.mergeable is not True:
        out.append("pr state")
    if facts.decided_base_ref != facts.base_ref:
        out.append("base")
    if facts.decided_head_sha != facts.head_sha or facts.decided_head_sha is None:
        out.append("head")
    if not facts.commits or not all(c.recorded_by_iacbot and c.author_is_iacbot and c.committer_is_iacbot
                                    for c in facts.commits):
        out.append("commits")
    if not facts.files or any(f.path not in fix.paths for f in facts.files) or \
            sum(f.changed_lines for f in facts.files) > fix.changed_lines:
        out.append("diff")
    if any(_protected(f.path) for f in facts.files):
        out.append("protected file")
    checks = policies.central.required_checks + (policies.repo.required_checks if policies.repo else ())
    for required in checks:
        reports = [c for c in facts.checks if c.head_sha == facts.head_sha and c.name == required.name
                   and (required.app is None or c.app_slug == required.app)]
        if not reports or not all(c.status == "completed" and c.conclusion == "success" for c in reports):
            out.append(f"check {required.name}")
    return out


def _consistent(decision) -> None:
    if decision.action is Action.AUTOMERGE:
        assert not any(b.reason in BLOCKING for b in decision.reasons)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(central_policy, st.none() | repo_policy, fix_facts, publish_facts)
def test_no_automerge_at_publish_while_a_guardrail_is_violated(central, repo, fix, facts):
    policies = _load(central, repo)
    if policies is None:
        return
    d = decide_publish(policies, fix, facts)
    _consistent(d)
    violations = _fix_violations(policies, fix, d, facts.now, facts.global_kill_switch, facts.repo_kill_switch)
    assert not (violations and d.action is Action.AUTOMERGE), violations


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(central_policy, st.none() | repo_policy, fix_facts, st.data())
def test_no_automerge_at_merge_while_a_guardrail_is_violated(central, repo, fix, data):
    policies = _load(central, repo)
    if policies is None:
        return
    facts = data.draw(merge_facts(fix))
    d = decide_merge(policies, fix, facts)
    _consistent(d)
    violations = _fix_violations(policies, fix, d, facts.now, facts.global_kill_switch, facts.repo_kill_switch)
    violations += _merge_violations(policies, fix, facts)
    assert not (violations and d.action is Action.AUTOMERGE), violations


@settings(max_examples=150, deadline=None)
@given(central_policy, repo_policy, fix_facts, publish_facts)
def test_a_repository_policy_never_loosens(central, repo, fix, facts):
    policies = _load(central, repo)
    if policies is None:
        return
    from policies.reasons import STRICTNESS
    alone = decide_publish(PolicySet(policies.central), fix, facts)
    both = decide_publish(policies, fix, facts)
    assert STRICTNESS[both.action] >= STRICTNESS[alone.action]
    if not policies.central.repo_may_disable:
        assert STRICTNESS[both.action] <= max(STRICTNESS[alone.action], STRICTNESS[Action.PULL_REQUEST])


def test_the_property_can_see_an_automerge():
    """The strategies reach AUTOMERGE at all (else the properties above would hold vacuously)."""
    seen = []

    @settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(central_policy, fix_facts, st.data())
    def run(central, fix, data):
        policies = _load(central, None)
        if policies is not None:
            seen.append(decide_merge(policies, fix, data.draw(merge_facts(fix))).action)

    run()
    assert Action.AUTOMERGE in seen
