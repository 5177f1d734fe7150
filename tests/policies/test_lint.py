"""policies.lint: what a valid policy still gets wrong, each at its rule's line and column."""
from __future__ import annotations

from pathlib import Path

import pytest

from fixers.catalog import load_catalog
from fixers.labels import label_rows
from policies.lint import lint, match_covers, path_glob_covers
from policies.load import load_policy
from policies.model import Match

KNOWN_IDS = frozenset({"CKV_K8S_20", "CKV_K8S_28", "CKV_AWS_19", "CKV2_AWS_6"})
KNOWN_CLASSES = frozenset({"k8s.allow-privilege-escalation", "terraform.s3-encryption"})
HEAD = "version: 1\nautomerge:\n  required_checks: [{name: test}]\nrules:\n"


def problems(rules: str, head: str = HEAD, ids=KNOWN_IDS, classes=KNOWN_CLASSES):
    return [p.text() for p in lint(load_policy(head + rules, "p.yml"), ids, classes)]


def test_a_clean_policy_has_no_problems():
    assert problems("  - {name: a, match: {rule_ids: [CKV_K8S_*], risk: [low]}, action: automerge}\n"
                    "  - {name: b, match: {}, action: pull_request}\n") == []


def test_unknown_rule_ids_and_fix_classes():
    assert problems("  - {name: a, match: {rule_ids: [ckv_k8s_*, CKV_K8S_20], fix_classes: [k8s.nope*]}, action: ignore}\n") == [
        "p.yml:5:5: rule 'a': fix class glob 'k8s.nope*' matches no known fix class",
        "p.yml:5:5: rule 'a': rule id glob 'ckv_k8s_*' matches no known rule id"]
    assert problems("  - {name: a, match: {rule_ids: [ckv_*]}, action: ignore}\n", ids=frozenset()) == []


@pytest.mark.parametrize("match,why", [
    ("{max_files: 0}", "max_files: 0"),
    ("{max_resources: 0}", "max_resources: 0"),
    ('{paths: ["envs/prod/**"], not_paths: ["envs/**"]}', "its not_paths exclude"),
    ('{paths: ["a/*.tf", "b/x.tf"], not_paths: ["**/*.tf"]}', "its not_paths exclude"),
    ('{paths: ["k8s/**"], not_paths: ["**"]}', "its not_paths exclude"),
])
def test_rules_that_can_never_match(match, why):
    out = problems(f"  - {{name: a, match: {match}, action: pull_request}}\n")
    assert len(out) == 1 and out[0].startswith("p.yml:5:5: rule 'a': can never match: ") and why in out[0]


def test_paths_that_do_not_exclude_each_other_are_fine():
    assert problems('  - {name: a, match: {paths: ["envs/**"], not_paths: ["envs/prod/**"]}, action: ignore}\n') == []


@pytest.mark.parametrize("first,second", [
    ("{}", "{risk: [low]}"),
    ("{risk: [low, medium]}", "{risk: [low]}"),
    ("{rule_ids: [CKV_K8S_*]}", "{rule_ids: [CKV_K8S_20], risk: [low]}"),
    ("{rule_ids: ['CKV_*']}", "{rule_ids: ['CKV_K8S_*']}"),
    ('{paths: ["envs/**"]}', '{paths: ["envs/dev/**", "envs/test/*.tf"]}'),
    ("{max_files: 3}", "{max_files: 1, categories: [logging]}"),
    ("{impact: [cost, availability]}", "{impact: [cost]}"),
    ("{repositories: [ACME/*]}", "{repositories: [acme/app]}"),
    ('{not_paths: ["envs/prod/**"]}', '{not_paths: ["envs/**"]}'),
    ("{risk: [low]}", "{risk: [low], window: {timezone: UTC}}"),
])
def test_a_rule_shadowed_by_an_earlier_rule(first, second):
    out = problems(f"  - {{name: a, match: {first}, action: pull_request}}\n"
                   f"  - {{name: b, match: {second}, action: ignore}}\n")
    shadowed = "p.yml:6:5: rule 'b': can never match: the earlier rule 'a' (line 5) matches every fix it matches"
    assert shadowed in out and [p for p in out if "can never match" in p] == [shadowed]


@pytest.mark.parametrize("first,second", [
    ("{risk: [low]}", "{}"),
    ("{risk: [low]}", "{risk: [low, medium]}"),
    ("{rule_ids: [CKV_K8S_20]}", "{rule_ids: [CKV_K8S_*]}"),
    ('{paths: ["envs/dev/**"]}', '{paths: ["envs/**"]}'),
    ('{paths: ["envs/*/main.tf"]}', '{paths: ["envs/**/main.tf"]}'),
    ("{max_files: 1}", "{max_files: 2}"),
    ("{impact: [cost]}", "{}"),
    ('{not_paths: ["envs/**"]}', '{not_paths: ["envs/prod/**"]}'),
    ("{max_files: 1}", "{}"),
])
def test_a_rule_not_shadowed(first, second):
    assert problems(f"  - {{name: a, match: {first}, action: pull_request}}\n"
                    f"  - {{name: b, match: {second}, action: ignore}}\n") == []


@pytest.mark.parametrize("match,guardrail", [
    ("{categories: [network]}", "guardrail category-network"),
    ("{categories: [identity, secret]}", "guardrail category-identity"),
    ("{risk: [medium, high]}", "guardrail risk-not-low"),
    ("{confidence: [assumed-value]}", "guardrail assumed-value"),
    ('{paths: [".github/**", "CODEOWNERS"]}', "guardrail protected-path"),
    ("{window: {days: [], timezone: UTC}}", "its window never opens (no days)"),
    ('{window: {hours: "10:00-10:00", timezone: UTC}}', "its window never opens (its start is its end)"),
])
def test_automerge_rules_a_guardrail_always_blocks(match, guardrail):
    out = problems(f"  - {{name: a, match: {match}, action: automerge}}\n")
    assert any(p.startswith("p.yml:5:5: rule 'a': can never auto-merge: ") and guardrail in p for p in out), out


def test_an_automerge_rule_without_any_required_check():
    out = problems("  - {name: a, match: {}, action: automerge}\n", head="version: 1\nrules:\n")
    assert out == ["p.yml:3:5: rule 'a': can never auto-merge: guardrail no-required-checks "
                   "(automerge.required_checks names none)"]


def test_a_repository_policy_needs_no_required_checks_of_its_own():
    from policies.load import load_repo_policy
    repo = load_repo_policy("version: 1\nrules:\n  - {name: a, match: {}, action: automerge}\n", ".github/iacbot.yml")
    assert lint(repo, KNOWN_IDS, KNOWN_CLASSES, repository=True) == ()
    assert len(lint(repo, KNOWN_IDS, KNOWN_CLASSES)) == 1


def test_a_mixed_category_rule_can_still_auto_merge():
    assert problems("  - {name: a, match: {categories: [network, logging]}, action: automerge}\n") == []


def test_a_window_on_a_rule_that_does_not_automerge_has_no_effect():
    out = problems("  - {name: a, match: {window: {timezone: UTC}}, action: pull_request}\n")
    assert out == ["p.yml:5:5: rule 'a': window has no effect: a rule's window limits when it may auto-merge, "
                   "and this rule's action is pull_request"]


def test_a_policy_window_that_never_opens():
    head = 'version: 1\nautomerge:\n  required_checks: [{name: test}]\n  window: {days: [], timezone: UTC}\nrules: []\n'
    assert problems("", head=head) == [
        "p.yml:4:11: automerge.window never opens (no days): nothing merges automatically"]


def test_match_covers_is_reflexive_on_loaded_rules():
    p = load_policy((Path(__file__).parents[2] / "policies/defaults/low-risk-outside-prod.yml").read_text(), "x")
    for rule in p.rules:
        assert match_covers(rule.match, rule.match)
    assert match_covers(Match(), Match(risk=frozenset()))


@pytest.mark.parametrize("a,b,expected", [
    ("envs/**", "envs/prod/**", True), ("envs/prod/**", "envs/**", False), ("**", "a/b.tf", True),
    ("**/prod/**", "envs/prod/**", True), ("**/*.tf", "a/**/c.tf", True), ("a/*/c", "a/**/c", False),
    ("**/x", "**", False), ("*.tf", "main.tf", True), ("*.tf", "*.yaml", False),
])
def test_path_glob_covers(a, b, expected):
    assert path_glob_covers(a, b) is expected


def test_the_shipped_policies_lint_clean_against_the_real_catalog():
    catalog = load_catalog()
    ids = frozenset(catalog)
    classes = frozenset(r.fixer for r in label_rows(catalog)) | ids
    for path in sorted((Path(__file__).parents[2] / "policies" / "defaults").glob("*.yml")):
        assert lint(load_policy(path.read_bytes(), path.name), ids, classes) == (), path.name


def test_check_policy_gives_load_errors_or_lint_findings():
    from policies.check import check_policy
    bad = check_policy("version: 1\nrules: [{name: a, match: {max_filez: 1}, action: ignore}]\n", "p.yml",
                       KNOWN_IDS, KNOWN_CLASSES)
    assert [p.text() for p in bad] == ["p.yml:2:27: rules[0].match: unknown key 'max_filez'; did you mean 'max_files'?"]
    meaning = check_policy("version: 1\nrules: [{name: a, match: {max_files: 0}, action: ignore}]\n", "p.yml",
                           KNOWN_IDS, KNOWN_CLASSES)
    assert [p.text() for p in meaning] == ["p.yml:2:9: rule 'a': can never match: max_files: 0 (every fix changes a file)"]
    assert check_policy("version: 1\n", ".github/iacbot.yml", KNOWN_IDS, KNOWN_CLASSES, repository=True) == ()
