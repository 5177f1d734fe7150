"""policies.load: the schema, the bounds on hostile files, and a line and column for every problem."""
from __future__ import annotations

import hashlib
import json
import re
import time as clock
from datetime import time
from pathlib import Path

import jsonschema
import pytest

from fixers.models import Category, Confidence, Impact, Risk
from policies import facts
from policies.load import MAX_BYTES, MAX_RULES, load_policy, load_repo_policy, policy_digest, schema
from policies.model import END_OF_DAY, Action, PolicyError, RequiredCheck
from policies.reasons import Action as ReasonsAction

MALFORMED = Path(__file__).parents[1] / "fixtures" / "policies" / "malformed"
DEFAULTS = Path(__file__).parents[2] / "policies" / "defaults"
EXPECT = re.compile(r"# expect: (\d+):(\d+) (.+)")


def _cases():
    for path in sorted(MALFORMED.glob("*.yml")):
        m = EXPECT.match(path.read_text().splitlines()[0])
        assert m, f"{path.name}: the first line names the expected LINE:COL and message"
        yield pytest.param(path, int(m.group(1)), int(m.group(2)), m.group(3), id=path.stem)


def test_at_least_twelve_malformed_policies_are_kept():
    assert len(list(_cases())) >= 12


@pytest.mark.parametrize("path,line,column,fragment", list(_cases()))
def test_every_malformed_policy_names_its_line_and_column(path, line, column, fragment):
    load = load_repo_policy if path.name.startswith("repo-") else load_policy
    with pytest.raises(PolicyError) as raised:
        load(path.read_bytes(), f"policies/{path.name}")
    problems = raised.value.problems
    assert problems, "a PolicyError names at least one problem"
    found = [p for p in problems if (p.line, p.column) == (line, column) and fragment in p.message]
    assert found, "\n".join(p.text() for p in problems)
    assert found[0].text().startswith(f"policies/{path.name}:{line}:{column}: ")
    assert f"policies/{path.name}:{line}:{column}: " in str(raised.value)


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def _objects(node):
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)


def test_every_object_in_the_schema_refuses_unknown_keys():
    objects = list(_objects(schema()))
    assert len(objects) >= 9
    assert all(o.get("additionalProperties") is False for o in objects)


def test_the_schema_enums_are_the_fixers_enums():
    match = schema()["$defs"]["match"]["properties"]
    for key, enum in (("categories", Category), ("risk", Risk), ("confidence", Confidence), ("impact", Impact)):
        assert match[key]["items"]["enum"] == [m.value for m in enum], key
    assert match["severity"]["items"]["enum"] == list(facts._SEVERITY_ORDER)
    assert schema()["$defs"]["rule"]["properties"]["action"]["enum"] == [a.value for a in ReasonsAction]
    assert Action is ReasonsAction


CENTRAL = """\
version: 1
automerge:
  required_checks: [{name: test, app: github-actions}, {name: lint}]
  max_per_hour: 3
  window: {days: [mon, friday], hours: "22:00-06:00", timezone: Europe/Berlin}
repository_policy: {may_disable: true}
declines: {expire_after_days: 30}
rules:
  - name: low-risk
    match:
      rule_ids: ["CKV_K8S_*"]
      fix_classes: ["k8s.*"]
      categories: [hardening]
      risk: [low]
      confidence: [safe-default]
      impact: [cost]
      severity: [LOW, MEDIUM]
      repositories: ["acme/*"]
      paths: ["envs/dev/**"]
      not_paths: ["envs/prod/**"]
      max_files: 1
      max_changed_lines: 10
      max_resources: 1
      window: {timezone: UTC}
    action: automerge
  - name: rest
    match: {}
    action: pull_request
"""


def test_a_full_central_policy_loads_into_the_model():
    p = load_policy(CENTRAL, "central.yml")
    assert p.version == 1 and p.source == "central.yml"
    assert p.digest == hashlib.sha256(CENTRAL.encode()).hexdigest() == policy_digest(CENTRAL.encode())
    assert p.required_checks == (RequiredCheck("test", "github-actions"), RequiredCheck("lint", None))
    assert (p.max_automerges_per_hour, p.repo_may_disable, p.decline_expiry_days) == (3, True, 30)
    assert p.window.days == frozenset({0, 4}) and (p.window.start, p.window.end) == (time(22), time(6))
    first, second = p.rules
    assert (first.name, first.action, first.line, first.column) == ("low-risk", Action.AUTOMERGE, 9, 5)
    assert (second.name, second.action, second.line) == ("rest", Action.PULL_REQUEST, 26)
    m = first.match
    assert m.rule_ids == ("CKV_K8S_*",) and m.fix_classes == ("k8s.*",)
    assert m.categories == {Category.HARDENING} and m.risk == {Risk.LOW}
    assert m.confidence == {Confidence.SAFE_DEFAULT} and m.impact == {Impact.COST}
    assert m.severity == {"LOW", "MEDIUM"} and m.repositories == ("acme/*",)
    assert m.paths == ("envs/dev/**",) and m.not_paths == ("envs/prod/**",)
    assert (m.max_files, m.max_changed_lines, m.max_resources) == (1, 10, 1)
    assert m.window.days == frozenset(range(7)) and (m.window.start, m.window.end) == (time(0), END_OF_DAY)
    assert second.match.is_empty() and not first.match.is_empty()


def test_defaults_when_the_optional_sections_are_absent():
    p = load_policy(b"version: 1\nrules: []\n", "p.yml")
    assert (p.required_checks, p.max_automerges_per_hour, p.window, p.repo_may_disable,
            p.decline_expiry_days) == ((), 5, None, False, 90)


def test_a_repository_policy_holds_rules_and_added_checks_only():
    p = load_repo_policy("version: 1\nautomerge:\n  required_checks: [{name: e2e}]\n"
                         "rules:\n  - {name: r, match: {}, action: pull_request}\n", ".github/iacbot.yml")
    assert p.required_checks == (RequiredCheck("e2e"),) and p.rules[0].name == "r"
    assert load_repo_policy("version: 1\n", ".github/iacbot.yml").rules == ()
    for loosening in ("version: 1\nautomerge: {max_per_hour: 50}\n", "version: 1\nautomerge: {window: {timezone: UTC}}\n",
                      "version: 1\ndeclines: {expire_after_days: 3650}\n"):
        with pytest.raises(PolicyError, match="unknown key"):
            load_repo_policy(loosening, ".github/iacbot.yml")


def test_a_central_policy_needs_rules():
    with pytest.raises(PolicyError, match=r"p.yml:1:1: the policy: missing required key 'rules'"):
        load_policy("version: 1\n", "p.yml")


def test_every_problem_is_reported_not_only_the_first():
    text = ("version: 1\nrules:\n  - name: a\n    match: {risk: [lo]}\n    action: automerge\n"
            "  - name: b\n    match: {max_files: x}\n    action: nope\n")
    with pytest.raises(PolicyError) as raised:
        load_policy(text, "p.yml")
    assert [(p.line, p.column) for p in raised.value.problems] == [(4, 20), (7, 24), (8, 13)]


def test_a_file_over_the_size_limit_is_refused_before_parsing():
    text = "version: 1\nrules: []\n" + "#" * MAX_BYTES
    with pytest.raises(PolicyError, match=r"p.yml:1:1: the file is \d+ bytes; a policy file is at most 262144"):
        load_policy(text, "p.yml")


def test_more_than_500_rules_is_a_problem():
    assert schema()["$defs"]["rules"]["maxItems"] == MAX_RULES == 500
    rules = "".join(f"  - {{name: r{i}, match: {{}}, action: ignore}}\n" for i in range(501))
    with pytest.raises(PolicyError, match=r"p.yml:3:3: rules: must list at most 500 item\(s\), has 501"):
        load_policy("version: 1\nrules:\n" + rules, "p.yml")


def test_an_alias_bomb_costs_nothing():
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 12)]
    start = clock.monotonic()
    with pytest.raises(PolicyError, match="anchors"):
        load_policy("\n".join(lines) + "\nrules: []\n", "p.yml")
    assert clock.monotonic() - start < 1.0


def test_deep_nesting_is_refused_at_its_place():
    with pytest.raises(PolicyError, match=r"p.yml:1:21: nested deeper than 20 levels"):
        load_policy("[" * 5000 + "]" * 5000, "p.yml")
    with pytest.raises(PolicyError, match="nested deeper"):
        load_policy("a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 30)), "p.yml")


def test_not_utf8_names_the_byte():
    with pytest.raises(PolicyError, match=r"p.yml:2:9: the file is not UTF-8 text"):
        load_policy(b"version: 1\nrules: [\xff]\n", "p.yml")


def test_a_number_too_long_for_python_is_a_problem_not_a_crash():
    with pytest.raises(PolicyError, match=r"p.yml:\d+:\d+: "):
        load_policy("version: 1\nrules:\n  - {name: a, match: {max_files: " + "9" * 5000 + "}, action: ignore}\n", "p.yml")


def test_keys_must_be_text():
    with pytest.raises(PolicyError, match=r"p.yml:3:3: a key must be text, not a list"):
        load_policy("version: 1\nrules: []\n? [a, b]\n: 1\n", "p.yml")


def test_a_message_never_echoes_a_long_value():
    with pytest.raises(PolicyError) as raised:
        load_policy("version: 1\nrules:\n  - {name: a, match: {}, action: " + "x" * 5000 + "}\n", "p.yml")
    assert all(len(p.message) < 300 for p in raised.value.problems)


@pytest.mark.parametrize("hours,start,end", [("09:00-17:00", time(9), time(17)), ("22:30-02:15", time(22, 30), time(2, 15)),
                                             ("00:00-24:00", time(0), END_OF_DAY)])
def test_hours(hours, start, end):
    p = load_policy(f'version: 1\nautomerge: {{window: {{hours: "{hours}", timezone: UTC}}}}\nrules: []\n', "p.yml")
    assert (p.window.start, p.window.end) == (start, end)


@pytest.mark.parametrize("hours", ["9:00-17:00", "24:00-01:00", "10:60-11:00", "10:00-24:01", "10:00", "x"])
def test_bad_hours(hours):
    with pytest.raises(PolicyError, match="is not HH:MM-HH:MM"):
        load_policy(f'version: 1\nautomerge: {{window: {{hours: "{hours}", timezone: UTC}}}}\nrules: []\n', "p.yml")


@pytest.mark.parametrize("zone", ["../../etc/passwd", "/etc/localtime", "Europe", "", "Europe/Berlin/x", "utc "])
def test_timezones_that_are_not_zone_names(zone):
    with pytest.raises(PolicyError):
        load_policy(f'version: 1\nautomerge: {{window: {{timezone: "{zone}"}}}}\nrules: []\n', "p.yml")


@pytest.mark.parametrize("glob", ["a/../b", "./a", "a//b"])
def test_path_globs_are_plain_relative_paths(glob):
    with pytest.raises(PolicyError, match="no empty, '.' or '..' parts"):
        load_policy(f'version: 1\nrules: [{{name: a, match: {{paths: ["{glob}"]}}, action: ignore}}]\n', "p.yml")


def test_the_shipped_policies_load():
    for path in DEFAULTS.glob("*.yml"):
        load_policy(path.read_bytes(), str(path))


def test_loading_hostile_json_never_crashes_with_anything_but_policy_error():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from tests.strategies import JSON

    @settings(max_examples=200, deadline=None)
    @given(st.one_of(JSON, st.fixed_dictionaries({"version": st.just(1), "rules": st.lists(JSON, max_size=3)})))
    def run(value):
        try:
            load_policy(json.dumps(value), "p.json")
        except PolicyError as e:
            assert all(p.line >= 1 and p.column >= 1 for p in e.problems)

    run()


def test_loading_hostile_yaml_text_never_crashes_with_anything_but_policy_error():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    pieces = st.sampled_from(["version: 1\n", "rules:\n", "  - ", "name: a", "match: {}", "action: automerge",
                              "&a ", "*a", "!!str ", "? ", ": ", "[", "]", "{", "}", ", ", "\n", "  ", "- ", "'",
                              '"', "#", "---\n", "%YAML 1.1\n", "<<: ", "\t", "\ufeff", "window: ", "timezone: X"])
    text = st.lists(pieces | st.text(max_size=3), max_size=40).map("".join)

    @settings(max_examples=300, deadline=None)
    @given(text)
    def run(value):
        try:
            load_policy(value, "p.yml")
        except PolicyError as e:
            assert e.problems and all(p.line >= 1 and p.column >= 1 for p in e.problems)

    run()
