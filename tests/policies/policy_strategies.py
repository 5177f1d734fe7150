"""Hypothesis strategies for policies and the facts decisions are made from (tests/strategies.py
style): arbitrary, but drawn from small pools so that rules often match and checks often agree."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from hypothesis import strategies as st

from fixers.models import Category, Confidence, Impact, Risk
from policies.facts import ChangedFile, CheckFacts, CommitFacts, FixFacts, MergeFacts, PublishFacts

SHAS = ["a" * 40, "b" * 40, "c" * 40]
PATHS = ["k8s/app.yaml", "envs/prod/main.tf", "envs/dev/main.tf", ".github/workflows/ci.yml", "CODEOWNERS",
         "modules/x/main.tf", "Jenkinsfile", "iacbot-policy.yml"]
PATH_GLOBS = ["**", "envs/**", "envs/prod/**", "**/prod/**", "k8s/*.yaml", "**/*.tf", ".github/**", "*"]
RULE_GLOBS = ["*", "CKV_*", "CKV_K8S_*", "CKV_AWS_1?", "CKV2_*"]
CLASS_GLOBS = ["*", "k8s.*", "terraform.*", "k8s.privileged"]
CHECK_NAMES = ["test", "lint"]
APPS = ["github-actions", "evil-app", None]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

enum_values = lambda e: st.lists(st.sampled_from([m.value for m in e]), min_size=1, max_size=len(e), unique=True)  # noqa: E731

window = st.fixed_dictionaries({"timezone": st.sampled_from(ZONES)}, optional={
    "days": st.lists(st.sampled_from(DAYS), max_size=7, unique=True),
    "hours": st.tuples(st.integers(0, 23), st.integers(0, 24)).map(lambda h: f"{h[0]:02d}:00-{h[1]:02d}:00"),
})

MATCH_VALUES = {
    "rule_ids": st.lists(st.sampled_from(RULE_GLOBS), min_size=1, max_size=2),
    "fix_classes": st.lists(st.sampled_from(CLASS_GLOBS), min_size=1, max_size=2),
    "categories": enum_values(Category), "risk": enum_values(Risk), "confidence": enum_values(Confidence),
    "impact": enum_values(Impact),
    "severity": st.lists(st.sampled_from(["LOW", "MEDIUM", "HIGH"]), min_size=1, max_size=3, unique=True),
    "repositories": st.lists(st.sampled_from(["acme/*", "*", "other/x"]), min_size=1, max_size=2),
    "paths": st.lists(st.sampled_from(PATH_GLOBS), min_size=1, max_size=3),
    "not_paths": st.lists(st.sampled_from(PATH_GLOBS), min_size=1, max_size=2),
    "max_files": st.integers(0, 3), "max_changed_lines": st.integers(0, 20), "max_resources": st.integers(0, 3),
    "window": window,
}


@st.composite
def match(draw):
    """A match constraining at most three things (an empty one a third of the time), so rules match often."""
    keys = draw(st.lists(st.sampled_from(sorted(MATCH_VALUES)), max_size=3, unique=True) | st.just([]))
    return {k: draw(MATCH_VALUES[k]) for k in keys}


ACTIONS = ["automerge", "pull_request", "recommend", "ignore"]


def _rules(actions=ACTIONS, max_size=4):
    return st.lists(st.fixed_dictionaries({"match": match(), "action": st.sampled_from(actions)}), max_size=max_size).map(
        lambda rules: [{"name": f"r{i}", **r} for i, r in enumerate(rules)])


required_check = st.builds(lambda name, app: {"name": name, **({"app": app} if app else {})},
                           st.sampled_from(CHECK_NAMES), st.sampled_from(APPS))

any_central_policy = st.fixed_dictionaries({"version": st.just(1), "rules": _rules()}, optional={
    "automerge": st.fixed_dictionaries({"required_checks": st.lists(required_check, max_size=2)}, optional={
        "max_per_hour": st.integers(0, 6), "window": window}),
    "repository_policy": st.fixed_dictionaries({"may_disable": st.booleans()}),
})

#: The most permissive policy anyone can write, with one or two required checks.
permissive_policy = st.builds(lambda checks: {"version": 1, "automerge": {"required_checks": checks},
                                              "rules": [{"name": "all", "match": {}, "action": "automerge"}]},
                              st.lists(required_check, min_size=1, max_size=2))

central_policy = permissive_policy | any_central_policy

repo_policy = st.fixed_dictionaries({"version": st.just(1)}, optional={
    "rules": _rules(max_size=2),
    "automerge": st.fixed_dictionaries({"required_checks": st.lists(required_check, max_size=2)}),
})

any_fix = st.builds(
    FixFacts,
    fingerprint=st.just("0123456789abcdef"),
    repository=st.sampled_from(["acme/app", "other/x"]),
    rule_ids=st.lists(st.sampled_from(["CKV_K8S_20", "CKV_AWS_19", "CKV2_AWS_5"]), min_size=1, max_size=2).map(tuple),
    fix_class=st.sampled_from(["k8s.privileged", "terraform.s3-encryption", "CKV_AWS_19"]),
    category=st.none() | st.sampled_from(Category), risk=st.none() | st.sampled_from(Risk),
    confidence=st.none() | st.sampled_from(Confidence),
    impact=st.frozensets(st.sampled_from(Impact), max_size=2),
    severity=st.none() | st.sampled_from(["LOW", "MEDIUM", "HIGH"]),
    paths=st.lists(st.sampled_from(PATHS), min_size=1, max_size=2, unique=True).map(tuple),
    changed_lines=st.integers(0, 10), resources=st.integers(1, 3),
)

safe_fix = st.builds(
    FixFacts, fingerprint=st.just("0123456789abcdef"), repository=st.just("acme/app"),
    rule_ids=st.just(("CKV_K8S_20",)), fix_class=st.just("k8s.privileged"),
    category=st.sampled_from([Category.HARDENING, Category.LOGGING, Category.ENCRYPTION]), risk=st.just(Risk.LOW),
    confidence=st.just(Confidence.SAFE_DEFAULT), paths=st.just(("k8s/app.yaml",)), changed_lines=st.integers(0, 10))

fix_facts = safe_fix | any_fix

instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31),
                        timezones=st.just(timezone.utc)) | st.just(datetime(2026, 12, 2, 10, tzinfo=timezone.utc))

publish_facts = st.builds(PublishFacts, now=instants, global_kill_switch=st.booleans(), repo_kill_switch=st.booleans())

check = st.builds(CheckFacts, name=st.sampled_from(CHECK_NAMES), head_sha=st.sampled_from(SHAS),
                  status=st.sampled_from(["completed", "completed", "in_progress", "queued"]),
                  conclusion=st.sampled_from(["success", "success", "failure", "neutral", "skipped", "stale", None]),
                  app_slug=st.sampled_from(APPS))
commit = st.builds(CommitFacts, sha=st.sampled_from(SHAS), recorded_by_iacbot=st.booleans(),
                   author_is_iacbot=st.booleans(), committer_is_iacbot=st.booleans())
changed_file = st.builds(ChangedFile, path=st.sampled_from(PATHS), changed_lines=st.integers(0, 6))


def _green(now, fix: FixFacts, head: str, merges: int) -> MergeFacts:
    return MergeFacts(now=now, pr_open=True, pr_by_iacbot=True, mergeable=True, base_ref="main", decided_base_ref="main", head_sha=head,
                      decided_head_sha=head, commits=(CommitFacts(head, True, True, True),),
                      files=tuple(ChangedFile(p, 0) for p in fix.paths),
                      checks=tuple(CheckFacts(n, head, "completed", "success", a) for n in CHECK_NAMES for a in APPS),
                      merges_last_hour=merges)


def _break(draw, facts: MergeFacts) -> MergeFacts:
    """One guardrail fact of otherwise green merge facts, broken."""
    other = next(s for s in SHAS if s != facts.head_sha)
    kind = draw(st.sampled_from(range(14)))
    if kind == 0:
        return replace(facts, global_kill_switch=True)
    if kind == 1:
        return replace(facts, repo_kill_switch=True)
    if kind == 2:
        return replace(facts, merges_last_hour=draw(st.integers(5, 1000)))
    if kind == 3:
        return replace(facts, merge_in_progress=True)
    if kind == 4:
        return replace(facts, **draw(st.sampled_from([{"pr_open": False}, {"pr_by_iacbot": False},
                                                      {"mergeable": None}, {"mergeable": False}])))
    if kind == 5:
        return replace(facts, **draw(st.sampled_from([{"decided_head_sha": None}, {"decided_head_sha": other},
                                                      {"decided_base_ref": None}, {"decided_base_ref": "release"}])))
    if kind == 6:
        flags = draw(st.sampled_from([(False, True, True), (True, False, True), (True, True, False)]))
        foreign = CommitFacts(draw(st.sampled_from(SHAS)), *flags)
        return replace(facts, commits=tuple(draw(st.permutations(facts.commits + (foreign,)))))
    if kind == 7:
        return replace(facts, files=facts.files + (ChangedFile(draw(st.sampled_from(PATHS)), draw(st.integers(0, 3))),))
    if kind == 8:
        return replace(facts, files=tuple(replace(f, changed_lines=f.changed_lines + 100) for f in facts.files))
    if kind == 9:
        return replace(facts, checks=())
    # a report of a check: pending, not successful, on another commit, or from another App
    name, app = draw(st.sampled_from(CHECK_NAMES)), draw(st.sampled_from(APPS))
    if kind == 10:
        bad = CheckFacts(name, facts.head_sha, draw(st.sampled_from(["queued", "in_progress"])), None, app)
        return replace(facts, checks=facts.checks + (bad,))
    if kind == 11:
        bad = CheckFacts(name, facts.head_sha, "completed",
                         draw(st.sampled_from(["failure", "neutral", "skipped", "stale", "cancelled", None])), app)
        return replace(facts, checks=tuple(draw(st.permutations(facts.checks + (bad,)))))
    if kind == 12:   # the green reports of one name are on another commit only
        return replace(facts, checks=tuple(replace(c, head_sha=other) if c.name == name else c for c in facts.checks))
    # only other Apps' reports of one name remain
    return replace(facts, checks=tuple(c for c in facts.checks if c.name != name or c.app_slug == app))


@st.composite
def merge_facts(draw, fix: FixFacts):
    """Merge facts for ``fix``: all green, green with one or two facts broken, or anything at all."""
    head = draw(st.sampled_from(SHAS))
    shape = draw(st.sampled_from(["green", "broken", "broken", "broken", "random"]))
    if shape != "random":
        facts = _green(draw(instants), fix, head, draw(st.just(0) | st.integers(0, 6)))
        if shape == "broken":
            for _ in range(draw(st.integers(1, 2))):
                facts = _break(draw, facts)
        return facts
    return MergeFacts(
        now=draw(instants), pr_open=draw(st.booleans()), pr_by_iacbot=draw(st.booleans()),
        mergeable=draw(st.none() | st.booleans()), base_ref="main", head_sha=head,
        decided_base_ref=draw(st.none() | st.sampled_from(["main", "release"])),
        decided_head_sha=draw(st.none() | st.sampled_from(SHAS)), commits=tuple(draw(st.lists(commit, max_size=3))),
        files=tuple(draw(st.lists(changed_file, max_size=3))), checks=tuple(draw(st.lists(check, max_size=5))),
        global_kill_switch=draw(st.booleans()), repo_kill_switch=draw(st.booleans()),
        merges_last_hour=draw(st.integers(0, 6)), merge_in_progress=draw(st.booleans()))
