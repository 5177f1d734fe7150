"""`iacbot policy check | explain | simulate`, in-process through bot.cli.main, on real policy files,
PR bodies made by bot.github.pr_body, and a small fixture repository."""
from __future__ import annotations

import contextlib
import json
import re
import shutil
from pathlib import Path

import pytest

from bot.cli import main
from bot.github import pr_body
from fixers import registry
from fixers.catalog import load_catalog
from fixers.engine import FIXED, Attempt
from fixers.models import Finding
from policies.facts import fix_facts
from tests.paths import REPO

DEFAULTS = REPO / "policies" / "defaults"
LOW_RISK = DEFAULTS / "low-risk-outside-prod.yml"
MERGE_NOTHING = DEFAULTS / "default.yml"
MALFORMED = REPO / "tests" / "fixtures" / "policies" / "malformed"
SIMULATE = REPO / "tests" / "fixtures" / "policy_simulate"
EXPECT = re.compile(r"# expect: (\d+):(\d+) (.+)")
# Wednesday 2 December 2026, 10:00 in Berlin: inside the shipped example's window; a Saturday is not.
WEEKDAY, SATURDAY = "2026-12-02T10:00:00+01:00", "2026-12-05T10:00:00+01:00"

ALL_AUTOMERGE = """\
version: 1
automerge:
  required_checks: [{name: test, app: github-actions}]
rules:
  - name: all
    match: {}
    action: automerge
"""


@pytest.fixture
def run(capsys):
    """The CLI in-process; (exit code, stdout, stderr). A scanner is never started here."""
    def invoke(*argv: str) -> tuple[int, str, str]:
        def no_scanner():
            raise AssertionError("this command must not start the scanner")
        code = main(["--no-color", *argv], open_scanner=no_scanner)
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return invoke


@pytest.fixture
def all_automerge(tmp_path) -> Path:
    path = tmp_path / "all.yml"
    path.write_text(ALL_AUTOMERGE)
    return path


def attempt_for(rule_id: str, file: str, resource: str) -> Attempt:
    """A fixed attempt as the engine makes it: the registry's fixer and fix class."""
    catalog = load_catalog()
    finding = Finding(rule_id, file, resource, 1, 9, severity="LOW", message="a finding")
    finding = Finding(**{**finding.__dict__, "fix_class": registry.fix_class(finding, catalog)})
    return Attempt(finding, FIXED, fixer=registry.fixer_for(rule_id, catalog), summary="the fix")


def write_pr_body(tmp_path: Path, attempt: Attempt, old: str, new: str, name: str = "body.md") -> Path:
    fix = fix_facts(attempt, "acme/infra", attempt.finding.file, old, new)
    path = tmp_path / name
    path.write_text(pr_body.body(attempt, "a" * 40, "re-scan: passes", None, fix))
    return path


NETWORK = attempt_for("CKV_AWS_23", "envs/dev/net.tf", "aws_security_group.api")      # tf.sg-descriptions
LOW_RISK_FIX = attempt_for("CKV_K8S_20", "envs/dev/api.yaml", "Deployment.dev.api")   # k8s.allow-privilege-escalation
OLD, NEW = "a\nb\n", "a\nb\nc\nd\n"    # two lines added


# -- check ------------------------------------------------------------------------------------

def test_check_accepts_the_shipped_policies(run):
    code, out, err = run("policy", "check", str(LOW_RISK), str(MERGE_NOTHING))
    assert code == 0, out + err
    assert f"{LOW_RISK}: valid central policy, 3 rules" in out
    assert f"{MERGE_NOTHING}: valid central policy" in out


def _malformed():
    for path in sorted(MALFORMED.glob("*.yml")):
        m = EXPECT.match(path.read_text().splitlines()[0])
        yield pytest.param(path, int(m.group(1)), int(m.group(2)), m.group(3), id=path.stem)


@pytest.mark.parametrize("path,line,column,fragment", list(_malformed()))
def test_check_names_the_line_and_column_of_every_malformed_policy(run, path, line, column, fragment):
    flags = ["--repo-policy"] if path.name.startswith("repo-") else []
    code, out, _ = run("policy", "check", *flags, str(path))
    assert code == 2
    problems = [l for l in out.splitlines() if re.match(r".+:\d+:\d+: ", l)]
    assert any(l.startswith(f"{path}:{line}:{column}: ") and fragment in l for l in problems), out


def test_check_of_many_files_exits_2_when_one_is_invalid_and_reports_each(run):
    bad = MALFORMED / "unknown-action.yml"
    code, out, _ = run("policy", "check", str(LOW_RISK), str(bad))
    assert code == 2
    assert f"{LOW_RISK}: valid central policy" in out and f"{bad}: central policy cannot be used: 1 problem" in out
    assert f"{bad}:6:13: rules[0].action: 'merge'" in out


def test_lint_findings_are_errors(run, tmp_path):
    shadowed = tmp_path / "shadowed.yml"
    shadowed.write_text(ALL_AUTOMERGE.replace("rules:\n", "rules:\n  - name: first\n    match: {}\n"
                                                          "    action: pull_request\n"))
    code, out, _ = run("policy", "check", str(shadowed))
    assert code == 2, out
    assert re.search(rf"^{re.escape(str(shadowed))}:8:5: rule 'all': can never match: the earlier rule 'first'", out, re.M), out
    assert "loads, but has problems" in out


def test_a_file_named_iacbot_yml_is_read_as_a_repository_policy(run, tmp_path):
    repo = tmp_path / ".github"
    repo.mkdir()
    policy = repo / "iacbot.yml"
    policy.write_text("version: 1\nrepository_policy: {may_disable: true}\nrules: []\n")
    code, out, _ = run("policy", "check", str(policy))
    assert code == 2 and f"{policy}:2:1: " in out and "unknown key 'repository_policy'" in out
    code, out, _ = run("policy", "check", "--central", str(policy))
    assert code == 0 and "valid central policy" in out


def test_a_missing_or_unreadable_policy_is_a_problem_at_1_1(run, tmp_path):
    code, out, _ = run("policy", "check", str(tmp_path / "nope.yml"), str(tmp_path))
    assert code == 2
    assert f"{tmp_path / 'nope.yml'}:1:1: no such file" in out
    assert f"{tmp_path}:1:1: is a directory, not a policy file" in out


def test_a_policy_over_the_size_limit_is_not_read(run, tmp_path):
    big = tmp_path / "big.yml"
    big.write_bytes(b"#" * (300 * 1024))
    code, out, _ = run("policy", "check", str(big))
    assert code == 2 and f"{big}:1:1: larger than 262144 bytes" in out


def test_check_escapes_control_characters_from_the_file(run, tmp_path):
    hostile = tmp_path / "hostile.yml"
    # YAML's "\e" is ESC: the loaded value holds a terminal escape sequence, which the message quotes.
    hostile.write_text('version: 1\nrules:\n  - name: ok\n    match: {}\n    action: "\\e[2Jmerge"\n')
    code, out, _ = run("policy", "check", str(hostile))
    assert code == 2 and "\x1b" not in out and "\\x1b" in out


# -- explain ----------------------------------------------------------------------------------

def test_explain_a_network_fix_waits_for_review_under_the_most_permissive_policy(run, tmp_path, all_automerge):
    body = write_pr_body(tmp_path, NETWORK, OLD, NEW)
    code, out, err = run("policy", "explain", "--policy", str(all_automerge), "--pr-body", str(body), "--at", WEEKDAY)
    assert code == 0, err
    assert "When published, at 2026-12-02T10:00:00+01:00: pull_request" in out
    assert "central rule: all" in out
    assert "category-network (network): network changes always wait for a person" in out
    assert re.search(r"guardrails that applied: .*category-network\(network\)", out)
    assert "fixer tf.sg-descriptions: category network, risk low" in out and "2 changed lines" in out
    assert "decide_publish" in out and "--merge-facts" in out

    code, out, _ = run("policy", "explain", "--policy", str(all_automerge), "--pr-body", str(body), "--json",
                       "--at", WEEKDAY)
    data = json.loads(out)
    assert data["publish"]["action"] == "pull_request" and data["publish"]["rule"] == "all"
    assert {"reason": "category-network", "subject": "network"} in data["publish"]["guardrails"]
    assert data["fix"]["changed_lines"] == 2 and data["fix"]["repository"] == "acme/infra"
    assert data["merge"] is None and "decide_publish" in data["note"]


def test_explain_a_low_risk_fix_automerges_in_the_window_and_not_outside(run, tmp_path):
    body = write_pr_body(tmp_path, LOW_RISK_FIX, OLD, NEW)
    code, out, _ = run("policy", "explain", "--policy", str(LOW_RISK), "--pr-body", str(body), "--at", WEEKDAY)
    assert code == 0
    assert ": automerge" in out and "central rule: low-risk-outside-prod" in out
    assert "guardrails that applied: none" in out

    code, out, _ = run("policy", "explain", "--policy", str(LOW_RISK), "--pr-body", str(body), "--at", SATURDAY,
                       "--json")
    data = json.loads(out)
    assert data["publish"]["action"] == "pull_request"
    assert [g["reason"] for g in data["publish"]["guardrails"]] == ["outside-window"]


def test_explain_prod_path_is_reviewed_and_says_what_would_block_an_automerge(run, tmp_path):
    prod = attempt_for("CKV_AWS_23", "envs/prod/net.tf", "aws_security_group.api")
    body = write_pr_body(tmp_path, prod, OLD, NEW)
    code, out, _ = run("policy", "explain", "--policy", str(LOW_RISK), "--pr-body", str(body), "--at", WEEKDAY)
    assert code == 0 and "central rule: prod-is-reviewed" in out and "guardrails that applied: none" in out
    tail = out.split("Whatever a rule says")[1]
    assert "category-network" in tail and "assumed-value" in tail and "impact-not-named (availability)" in tail


def test_explain_reads_labels_from_the_registry_not_from_the_pr_body(run, tmp_path, all_automerge):
    """Anyone who can edit a PR body can write "hardening" in its block: the registry decides."""
    body = write_pr_body(tmp_path, NETWORK, OLD, NEW)
    text = body.read_text()
    block = pr_body.read_provenance(text)
    forged = {**block, "category": "hardening", "risk": "low", "confidence": "safe-default", "impact": []}
    body.write_text(text.replace(pr_body.provenance_block(block), pr_body.provenance_block(forged)))
    code, out, _ = run("policy", "explain", "--policy", str(all_automerge), "--pr-body", str(body), "--json",
                       "--at", WEEKDAY)
    data = json.loads(out)
    assert data["fix"]["category"] == "network" and data["publish"]["action"] == "pull_request"
    assert any("the block says category 'hardening', the registry says 'network'" in n for n in data["notes"])


def test_explain_a_pr_body_without_facts_fails_closed_on_size(run, tmp_path, all_automerge):
    """A body from before the facts were added (no changed_lines): a size-limited rule does not match."""
    limited = tmp_path / "limited.yml"
    limited.write_text(ALL_AUTOMERGE.replace("match: {}", "match: {max_changed_lines: 5}"))
    body = tmp_path / "old.md"
    body.write_text(pr_body.body(LOW_RISK_FIX, "a" * 40, "re-scan: passes"))
    assert "changed_lines" not in pr_body.read_provenance(body.read_text())
    code, out, _ = run("policy", "explain", "--policy", str(limited), "--pr-body", str(body), "--json", "--at", WEEKDAY)
    data = json.loads(out)
    assert code == 0 and data["blast_radius_measured"] is False and data["fix"]["changed_lines"] is None
    assert data["publish"]["reasons"] == [{"reason": "no-rule-matched", "subject": ""}]


def test_explain_a_finding_from_the_json_report_ignores_its_labels(run, tmp_path, all_automerge):
    finding = {"fingerprint": "0" * 16, "rule_id": "CKV_K8S_20", "fix_class": "whatever", "source": "checkov",
               "file": "envs/dev/api.yaml", "resource": "Deployment.dev.api", "lines": [2, 20], "severity": "HIGH",
               "message": "Containers should not run with allowPrivilegeEscalation", "changed_lines": 2}
    path = tmp_path / "finding.json"
    path.write_text(json.dumps(finding))
    code, out, err = run("policy", "explain", "--policy", str(LOW_RISK), "--finding", str(path), "--json",
                         "--repository", "acme/infra", "--at", WEEKDAY)
    assert code == 0, err
    data = json.loads(out)
    assert data["fix"]["fingerprint"] == LOW_RISK_FIX.finding.fingerprint() and data["fix"]["severity"] == "HIGH"
    assert data["publish"]["action"] == "automerge"

    claims = {**finding, "rule_id": "CKV_AWS_23", "file": "envs/dev/net.tf", "resource": "aws_security_group.api",
              "fixer": {"id": "tf.sg-descriptions", "category": "hardening", "risk": "low", "confidence": "safe-default"}}
    path.write_text(json.dumps(claims))
    code, out, _ = run("policy", "explain", "--policy", str(all_automerge), "--finding", str(path), "--at", WEEKDAY)
    assert code == 0 and ": pull_request" in out and "category-network" in out
    assert "note: the file says category 'hardening'; the registry's label is used" in out


def test_explain_an_entry_of_the_fix_report_decides_its_whole_fix(run, tmp_path):
    from bot.report_json import attempt_record
    one = attempt_for("CKV_K8S_37", "envs/dev/api.yaml", "Deployment.dev.api")       # k8s.drop-capabilities
    other = Finding(**{**one.finding.__dict__, "rule_id": "CKV_K8S_28"})
    entry = attempt_record(Attempt(one.finding, FIXED, fixer=one.fixer, findings=(one.finding, other)))
    path = tmp_path / "entry.json"
    path.write_text(json.dumps(entry))
    code, out, err = run("policy", "explain", "--policy", str(LOW_RISK), "--finding", str(path), "--json", "--at", WEEKDAY)
    assert code == 0, err
    data = json.loads(out)
    assert data["fix"]["rule_ids"] == ["CKV_K8S_37", "CKV_K8S_28"] and data["fix"]["fix_class"] == "k8s.drop-capabilities"
    assert data["publish"]["rule"] == "review-the-rest"
    assert {g["reason"] for g in data["if_automerge"]["guardrails"]} == {"risk-not-low", "assumed-value",
                                                                           "impact-not-named"}


def test_explain_with_merge_facts_applies_the_merge_time_guardrails(run, tmp_path):
    body = write_pr_body(tmp_path, LOW_RISK_FIX, OLD, NEW)
    sha = "b" * 40
    facts = {"pr_open": True, "pr_by_iacbot": True, "mergeable": True, "base_ref": "main", "head_sha": sha,
             "decided_head_sha": sha,
             "commits": [{"sha": sha, "recorded_by_iacbot": True, "author_is_iacbot": True, "committer_is_iacbot": True}],
             "files": [{"path": "envs/dev/api.yaml", "changed_lines": 2}],
             "checks": [{"name": "test", "head_sha": sha, "status": "completed", "conclusion": "success",
                         "app_slug": "github-actions"}]}
    path = tmp_path / "merge.json"
    path.write_text(json.dumps(facts))
    argv = ["policy", "explain", "--policy", str(LOW_RISK), "--pr-body", str(body), "--merge-facts", str(path),
            "--at", WEEKDAY, "--json"]
    code, out, err = run(*argv)
    assert code == 0, err
    assert json.loads(out)["merge"]["action"] == "automerge"

    facts["commits"][0]["committer_is_iacbot"] = False
    facts["checks"][0]["app_slug"] = "someone-else"
    path.write_text(json.dumps(facts))
    code, out, _ = run(*argv)
    merge = json.loads(out)["merge"]
    assert merge["action"] == "pull_request"
    assert {g["reason"] for g in merge["guardrails"]} == {"foreign-committer", "check-wrong-app"}


def test_explain_input_errors_exit_2_with_a_clear_message(run, tmp_path):
    body = tmp_path / "plain.md"
    body.write_text("Just a description, no provenance.")
    code, _, err = run("policy", "explain", "--policy", str(LOW_RISK), "--pr-body", str(body))
    assert code == 2 and "no iacbot provenance block" in err

    finding = tmp_path / "f.json"
    finding.write_text(json.dumps({"rule_id": ["CKV_K8S_20"], "file": "a.yaml"}))
    code, _, err = run("policy", "explain", "--policy", str(LOW_RISK), "--finding", str(finding))
    assert code == 2 and "field 'rule_id' is not a non-empty string" in err

    finding.write_text("{not json")
    code, _, err = run("policy", "explain", "--policy", str(LOW_RISK), "--finding", str(finding))
    assert code == 2 and "invalid JSON at line 1" in err

    code, _, err = run("policy", "explain", "--policy", str(LOW_RISK), "--finding", str(tmp_path / "none.json"))
    assert code == 2 and "no such file" in err

    finding.write_text(json.dumps({"rule_id": "CKV_K8S_20", "file": "a.yaml"}))
    code, _, err = run("policy", "explain", "--policy", str(MALFORMED / "unknown-action.yml"), "--finding", str(finding))
    assert code == 2 and f"{MALFORMED / 'unknown-action.yml'}:6:13: " in err and "fails closed" in err

    code, _, err = run("policy", "explain", "--policy", str(LOW_RISK), "--finding", str(finding),
                       "--at", "2026-12-02T10:00:00")
    assert code == 2 and "has no UTC offset" in err

    merge = tmp_path / "merge.json"
    merge.write_text("{}")   # checked after: the missing size is the first thing wrong
    code, _, err = run("policy", "explain", "--policy", str(LOW_RISK), "--finding", str(finding),
                       "--merge-facts", str(merge))
    assert code == 2 and "changed lines are not known" in err


@pytest.mark.parametrize("argv", [
    ["policy"],
    ["policy", "check"],
    ["policy", "explain", "--policy", "p.yml"],                                        # neither input
    ["policy", "explain", "--policy", "p.yml", "--pr-body", "b", "--finding", "f"],    # both
    ["policy", "simulate", "."],                                                       # no --policy
    ["policy", "simulate", "--policy", "p.yml", ".", "--labels-only", "--measure-all"],
])
def test_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as exited:
        main(["--no-color", *argv])
    assert exited.value.code == 2


# -- simulate ---------------------------------------------------------------------------------

def simulate(run, tmp_path, *extra: str, policy: Path = LOW_RISK) -> tuple[int, str, str, dict]:
    out_json = tmp_path / "simulation.json"
    code, out, err = run("policy", "simulate", "--policy", str(policy), "--findings", str(SIMULATE / "findings.json"),
                         str(SIMULATE / "repo"), "--json", str(out_json), *extra)
    return code, out, err, json.loads(out_json.read_text()) if out_json.exists() else {}


def by_place(document: dict) -> dict[tuple[str, str], dict]:
    return {(e["rule_id"], e["file"]): e for e in document["findings"]}


def test_simulate_lists_every_finding_with_its_decision(run, tmp_path):
    code, out, err, document = simulate(run, tmp_path, "--at", WEEKDAY)
    assert code == 0, err
    entries = by_place(document)
    assert len(document["findings"]) == 40 == len(entries)
    for entry in document["findings"]:
        assert {"fingerprint", "rule_id", "category", "risk", "confidence", "action", "reasons"} <= set(entry)
    dev, prod = entries[("CKV_K8S_20", "envs/dev/api.yaml")], entries[("CKV_K8S_20", "envs/prod/api.yaml")]
    assert dev["action"] == "automerge" and dev["reasons"] == [{"reason": "rule-matched",
                                                                "subject": "low-risk-outside-prod"}]
    assert dev["changed_lines"] == 2 and dev["patch"] == "patch"     # measured: the decision depends on it
    assert prod["action"] == "pull_request" and prod["rule"] == "prod-is-reviewed"
    assert prod["changed_lines"] is None and prod["patch"] == "not-needed"
    network = entries[("CKV_AWS_23", "envs/dev/net.tf")]
    assert network["category"] == "network" and network["action"] == "pull_request"
    assert entries[("CKV2_AWS_5", "envs/dev/net.tf")]["patch"] == "no-fixer"
    assert document["summary"] == {"automerge": 4, "pull_request": 36}
    assert re.search(r"^│ [0-9a-f]{16} │ CKV_K8S_20 .*│ 2 +│ automerge +│ rule-matched\(low-risk-outside-prod\)", out, re.M)
    assert "40 findings in 30 fixes at 2026-12-02T10:00:00+01:00: automerge 4, pull_request 36" in out


def test_simulate_window_is_reproducible_with_at(run, tmp_path):
    _, _, _, document = simulate(run, tmp_path, "--at", SATURDAY)
    dev = by_place(document)[("CKV_K8S_20", "envs/dev/api.yaml")]
    assert dev["action"] == "pull_request"
    assert [r["reason"] for r in dev["reasons"]] == ["rule-matched", "outside-window"]
    assert document["at"] == SATURDAY


def test_simulate_compare_lists_only_what_changes_old_to_new(run, tmp_path):
    code, out, err, document = simulate(run, tmp_path, "--compare", str(MERGE_NOTHING), "--at", WEEKDAY)
    assert code == 0, err
    changed = [e for e in document["findings"] if e["changed"]]
    assert len(document["findings"]) == 40 and changed
    dev = by_place(document)[("CKV_K8S_20", "envs/dev/api.yaml")]
    assert dev["compared"]["action"] == "pull_request" and dev["action"] == "automerge" and dev["changed"]
    rows = [l for l in out.splitlines() if re.match(r"│ [0-9a-f]{16} ", l)]
    assert len(rows) == len(changed)
    assert any("pull_request -> automerge" in r and "CKV_K8S_20" in r for r in rows)
    assert f"{len(changed)} of 40 findings change between {MERGE_NOTHING} (old) and {LOW_RISK} (new)" in out

    _, out, _, document = simulate(run, tmp_path, "--compare", str(LOW_RISK), "--at", WEEKDAY)
    assert not any(e["changed"] for e in document["findings"])
    assert "0 of 40 findings change" in out

    _, out, _, _ = simulate(run, tmp_path, "--compare", str(MERGE_NOTHING), "--action-changes", "--at", WEEKDAY)
    rows = [l for l in out.splitlines() if re.match(r"│ [0-9a-f]{16} ", l)]
    assert len(rows) == 4 and all("pull_request -> automerge" in r for r in rows)
    assert "4 of 40 findings change their action" in out


def test_simulate_labels_only_fails_closed_on_size(run, tmp_path):
    _, out, _, document = simulate(run, tmp_path, "--labels-only", "--at", WEEKDAY)
    entries = by_place(document)
    dev = entries[("CKV_K8S_20", "envs/dev/api.yaml")]
    assert dev["changed_lines"] is None and dev["action"] == "pull_request" and dev["rule"] == "review-the-rest"
    assert dev["patch"] == "not-measured" and entries[("CKV_K8S_20", "envs/prod/api.yaml")]["patch"] == "not-needed"
    assert document["blast_radius_measured"] is False
    assert "--labels-only): 4 findings ('?') would be decided otherwise" in out


def test_simulate_measure_all_measures_every_fix_with_a_fixer(run, tmp_path):
    _, _, _, document = simulate(run, tmp_path, "--measure-all", "--at", WEEKDAY)
    patches = {e["patch"] for e in document["findings"]}
    assert patches <= {"patch", "no-fixer", "no-change", "refused"} and "patch" in patches
    assert by_place(document)[("CKV_K8S_20", "envs/prod/api.yaml")]["changed_lines"] == 2


def test_simulate_a_repository_policy_only_tightens(run, tmp_path):
    repo_policy = tmp_path / "iacbot.yml"
    repo_policy.write_text("version: 1\nrules:\n  - name: dev-reviewed-too\n    match: {paths: ['envs/dev/**']}\n"
                           "    action: pull_request\n")
    _, _, _, document = simulate(run, tmp_path, "--repo-policy", str(repo_policy), "--at", WEEKDAY)
    dev = by_place(document)[("CKV_K8S_20", "envs/dev/api.yaml")]
    assert dev["action"] == "pull_request" and dev["repo_rule"] == "dev-reviewed-too"
    assert {"reason": "repo-rule-tightened", "subject": "dev-reviewed-too"} in dev["reasons"]
    assert document["summary"] == {"pull_request": 40}


def test_simulate_usage_errors_exit_2(run, tmp_path):
    code, _, err = run("policy", "simulate", "--policy", str(LOW_RISK))
    assert code == 2 and "needs a repository PATH to scan, or --findings FILE" in err
    code, _, err = run("policy", "simulate", "--policy", str(LOW_RISK), "--findings", str(tmp_path / "none.json"))
    assert code == 2 and "no such file" in err
    code, _, err = run("policy", "simulate", "--policy", str(LOW_RISK), str(tmp_path), "--action-changes")
    assert code == 2 and "--action-changes needs --compare" in err
    code, _, err = run("policy", "simulate", "--policy", str(LOW_RISK), str(tmp_path / "nothing"))
    assert code == 2 and "not a directory" in err
    code, _, err = run("policy", "simulate", "--policy", str(MALFORMED / "yaml-syntax.yml"), str(tmp_path))
    assert code == 2 and f"{MALFORMED / 'yaml-syntax.yml'}:4:1: not valid YAML" in err
    code, _, err = run("policy", "simulate", "--policy", str(LOW_RISK), str(tmp_path), "--json",
                       str(tmp_path / "missing-dir" / "x.json"))
    assert code == 2 and "does not exist" in err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"results": {"failed_checks": [{"check_id": "CKV_K8S_20"}]}}))
    code, _, err = run("policy", "simulate", "--policy", str(LOW_RISK), "--findings", str(bad), str(tmp_path))
    assert code == 2 and "missing or empty field 'file_path'" in err


def test_simulate_scans_a_path_with_the_scanner(scanner, capsys, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(SIMULATE / "repo", repo)
    out_json = tmp_path / "scanned.json"
    code = main(["--no-color", "policy", "simulate", "--policy", str(LOW_RISK), str(repo), "--at", WEEKDAY,
                 "--json", str(out_json)], open_scanner=lambda: contextlib.nullcontext(scanner))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    scanned = json.loads(out_json.read_text())
    assert scanned["summary"] == {"automerge": 4, "pull_request": 36}
    given = json.loads((SIMULATE / "findings.json").read_text())
    assert len(scanned["findings"]) == len(given["results"]["failed_checks"])


def test_the_table_folds_its_last_column_to_fit_a_terminal():
    import io

    from rich.console import Console
    from rich.text import Text

    from bot.policy_table import print_table
    out = io.StringIO()
    console = Console(file=out, width=60, force_terminal=True, color_system=None, highlight=False)
    reasons = "rule-matched(low-risk-outside-prod) category-network(network) assumed-value(tf.sg-descriptions)"
    print_table(console, "2 findings", ["fingerprint", "rule", "reasons"],
                [[Text("a" * 16), Text("CKV_AWS_23"), Text(reasons)], [Text("b" * 16), Text("CKV_K8S_20"), Text("x")]])
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 60 for line in lines), lines
    assert lines[0] == "2 findings" and lines[2].startswith("┃ fingerprint")
    body = [line for line in lines if line.startswith("│")]
    assert body[0].startswith("│ aaaaaaaaaaaaaaaa │ CKV_AWS_23 │ ") and body[1].startswith("│                  │            │ ")
    assert "".join(line.split("│")[3].strip() for line in body[:-1]).replace(" ", "") == reasons.replace(" ", "")
    assert body[-1].startswith("│ bbbbbbbbbbbbbbbb │ CKV_K8S_20 │ x ")


def test_explain_refuses_a_pr_body_whose_block_is_nested_too_deeply(run, tmp_path):
    body = tmp_path / "deep.md"
    body.write_text("<!-- iacbot:provenance {\"a\": " + "[" * 100_000 + "]" * 100_000 + "} -->")
    code, _, err = run("policy", "explain", "--policy", str(LOW_RISK), "--pr-body", str(body))
    assert code == 2 and "no iacbot provenance block" in err


def test_measuring_in_forked_workers_gives_what_measuring_here_gives(monkeypatch):
    from datetime import datetime, timezone

    from bot import policy_simulate
    from bot.findings import load_findings_file
    from policies.load import load_policy
    from policies.model import PolicySet
    root = SIMULATE / "repo"
    findings, _ = load_findings_file(SIMULATE / "findings.json", root)
    policies = PolicySet(load_policy(LOW_RISK.read_bytes(), str(LOW_RISK)))
    now = datetime(2026, 12, 2, 9, tzinfo=timezone.utc)

    def run_with(threshold: int) -> list[dict]:
        monkeypatch.setattr(policy_simulate, "PARALLEL_FROM", threshold)
        return policy_simulate.to_json(policy_simulate.simulate(findings, policies, now, "", load_catalog(), root,
                                                                measure_all=True))
    here, forked = run_with(10**9), run_with(1)
    assert here == forked and sum(1 for e in here if e["patch"] == "patch") >= 20
