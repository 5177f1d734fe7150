"""The CLI end to end on a copy of the sample repository, with the real scanner process."""
from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.cli import main
from tests.paths import REPO

SAMPLE = REPO / "examples" / "sample-repo"
FINDINGS = REPO / "tests" / "fixtures" / "findings"


@pytest.fixture
def repo(tmp_path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(SAMPLE, copy)
    return copy


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts}


def test_dry_run_shows_diffs_and_summary_and_writes_nothing(run, repo):
    before = snapshot(repo)
    code, out, _ = run("fix", str(repo))
    assert code == 0
    assert "--- a/k8s/web.yaml" in out and "+++ b/terraform/main.tf" in out
    assert "+            privileged: false   # copied from an old example" in out
    assert "dry run" in out
    assert snapshot(repo) == before


def test_write_applies_verified_fixes_and_keeps_the_rest(run, repo, tmp_path):
    original = (repo / "k8s" / "web.yaml").read_text()
    code, _, _ = run("fix", str(repo), "--write", "--json", str(tmp_path / "report.json"))
    assert code == 0
    fixed = (repo / "k8s" / "web.yaml").read_text()
    assert fixed != original
    # Every line the user wrote is still there, in order, except the one value that changed.
    kept = [line for line in original.splitlines() if "privileged: true" not in line]
    remaining = iter(fixed.splitlines())
    assert all(any(line == other for other in remaining) for line in kept)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["mode"] == "write" and report["summary"]["files_changed"] == 2

    code, _, _ = run("fix", str(repo), "--json", str(tmp_path / "again.json"))
    again = json.loads((tmp_path / "again.json").read_text())
    assert code == 0
    assert again["summary"]["files_changed"] == 0, "a second run must find nothing more to change"
    assert all(entry["status"] == "unfixed" for entry in again["unfixed"])


def test_json_report_explains_every_fix_and_every_finding_left(run, repo, tmp_path):
    run("fix", str(repo), "--json", str(tmp_path / "report.json"))
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["mode"] == "dry-run" and report["scanner"]
    assert report["fixes"] and report["unfixed"]
    for fix in report["fixes"]:
        assert fix["status"] in {"fixed", "cleared"} and fix["fixer"]["category"] and len(fix["fingerprint"]) == 16
    for fixed in (f for f in report["fixes"] if f["status"] == "fixed"):
        assert fixed["summary"] and fixed["location"]["file"] == fixed["file"]
    assert all(entry["reason"] for entry in report["unfixed"])
    assert {c["file"] for c in report["changes"]} == {"k8s/web.yaml", "terraform/main.tf"}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def test_branch_commits_one_fix_per_branch_and_leaves_the_checkout_alone(run, repo):
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "initial")
    before = snapshot(repo)
    code, out, _ = run("fix", str(repo), "--branch")
    assert code == 0
    branches = [b for b in _git(repo, "branch", "--format=%(refname:short)").split() if b.startswith("iacbot/")]
    assert len(branches) >= 5
    assert _git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert snapshot(repo) == before and _git(repo, "status", "--porcelain") == ""
    for branch in branches:
        message = _git(repo, "log", "-1", "--format=%B", branch)
        for trailer in ("Iacbot-Finding:", "Iacbot-Rule:", "Iacbot-Fixer:", "Iacbot-Verification:"):
            assert trailer in message
        changed = _git(repo, "diff", "--name-only", "main", branch).split()
        assert len(changed) == 1, f"{branch} changes {changed}"
    code, out, _ = run("fix", str(repo), "--branch")
    assert "already exists; left untouched" in out


def test_findings_from_sarif_are_located_by_line(run, repo, tmp_path):
    code, out, _ = run("fix", str(repo), "--findings", str(FINDINGS / "results.sarif"), "--json", str(tmp_path / "r.json"))
    assert code == 0
    report = json.loads((tmp_path / "r.json").read_text())
    ebs = [f for f in report["fixes"] if f["rule_id"] == "CKV_AWS_3"]
    assert ebs and ebs[0]["resource"] == "aws_ebs_volume.data"
    assert any("outside the repository" in p for p in report["problems"])


def test_bad_files_are_named_and_the_run_goes_on(run, repo, tmp_path):
    (repo / "k8s" / "binary.yaml").write_bytes(b"apiVersion: v1\0\0\x01")
    (repo / "k8s" / "latin1.yaml").write_bytes("apiVersion: v1\nkind: Pod\nmetadata:\n  name: caf\xe9\n".encode("latin-1"))
    (repo / "k8s" / "broken.yaml").write_text("apiVersion: v1\nkind: Pod\nspec: [\n")
    (repo / "terraform" / "broken.tf").write_text('resource "aws_ebs_volume" "x" {\n  encrypted = \n')
    findings = [
        {"check_id": "CKV_K8S_20", "file_path": f"/k8s/{name}", "file_line_range": [1, 3], "resource": "Pod.default.p"}
        for name in ("binary.yaml", "latin1.yaml", "broken.yaml")
    ] + [{"check_id": "CKV_AWS_3", "file_path": "/terraform/broken.tf", "file_line_range": [1, 2], "resource": "aws_ebs_volume.x"},
         {"check_id": "CKV_AWS_3", "file_path": "/terraform/main.tf", "file_line_range": [11, 15], "resource": "aws_ebs_volume.data"},
         {"check_id": "CKV_AWS_3", "file_path": "/../elsewhere/main.tf", "file_line_range": [1, 2], "resource": "aws_ebs_volume.y"}]
    findings_file = tmp_path / "findings.json"
    findings_file.write_text(json.dumps({"results": {"failed_checks": findings}}))
    code, out, _ = run("fix", str(repo), "--findings", str(findings_file), "--json", str(tmp_path / "r.json"))
    assert code == 0
    report = json.loads((tmp_path / "r.json").read_text())
    reasons = {(u["file"], u["reason"]) for u in report["unfixed"]}
    problems = "\n".join(report["problems"])
    assert "k8s/binary.yaml: binary file" in problems
    assert "k8s/latin1.yaml: not UTF-8" in problems
    assert "outside the repository" in problems
    assert any(file == "k8s/broken.yaml" and "invalid YAML at line" in reason for file, reason in reasons)
    assert any(file == "terraform/broken.tf" and "invalid HCL" in reason for file, reason in reasons)
    assert [f["resource"] for f in report["fixes"]] == ["aws_ebs_volume.data"]
    assert "binary.yaml" in out  # named for the person too


def test_own_scan_names_files_checkov_cannot_parse(run, repo):
    (repo / "terraform" / "broken.tf").write_text('resource "aws_ebs_volume" "x" {\n  encrypted = \n')
    code, out, _ = run("fix", str(repo))
    assert code == 0
    assert "terraform/broken.tf" in out
    assert "+++ b/terraform/main.tf" in out


def test_usage_and_input_errors_exit_2(run, repo, tmp_path):
    assert run("fix", str(repo / "no-such-dir"))[0] == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    code, _, err = run("fix", str(repo), "--findings", str(bad))
    assert code == 2 and "bad.json" in err and "invalid JSON" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["fix"])
    assert exit_info.value.code == 2


def test_scan_lists_findings_with_their_fixer(run, repo):
    code, out, _ = run("scan", str(repo))
    assert code == 0
    assert "CKV_K8S_20" in out and "k8s.allow-privilege-escalation" in out


def test_write_goes_through_links_and_never_outside_the_repository(run, repo, tmp_path):
    outside = tmp_path / "outside.yaml"
    shutil.copy(repo / "k8s" / "web.yaml", outside)
    (repo / "k8s" / "web.yaml").rename(repo / "k8s" / "real.yaml")
    (repo / "k8s" / "web.yaml").symlink_to("real.yaml")
    (repo / "k8s" / "elsewhere.yaml").symlink_to(outside)
    outside_before = outside.read_bytes()
    code, out, _ = run("fix", str(repo), "--write")
    assert code == 0
    assert (repo / "k8s" / "web.yaml").is_symlink(), "the link itself must stay a link"
    assert b"allowPrivilegeEscalation: false" in (repo / "k8s" / "real.yaml").read_bytes()
    assert outside.read_bytes() == outside_before
    assert out.count("outside the repository") == 1


def test_scan_json_lists_every_finding(run, repo, tmp_path):
    code, _, _ = run("scan", str(repo), "--json", str(tmp_path / "scan.json"))
    document = json.loads((tmp_path / "scan.json").read_text())
    assert code == 0
    failed = document["results"]["failed_checks"]
    assert {"CKV_K8S_20", "CKV_AWS_3"} <= {f["check_id"] for f in failed}
    assert all(f["file_path"] in {"/k8s/web.yaml", "/terraform/main.tf"} for f in failed)


ENGINE_FIXTURES = REPO / "tests" / "fixtures" / "engine"
RESOURCE_RULES = ["CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13"]
RESOURCE_VALUES = ("cpu: 100m", "memory: 128Mi", "cpu: 500m", "memory: 512Mi")


def git_repo_of(fixture: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(fixture, copy)
    _git(copy, "init", "-q", "-b", "main")
    _git(copy, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    _git(copy, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "initial")
    return copy


def resources_fix(report: dict) -> dict:
    [fix] = [f for f in report["fixes"] if f["fixer"]["id"] == "k8s.resources"]
    return fix


def test_branch_holds_every_finding_of_its_fingerprint(run, tmp_path):
    """Issue 7 item 9: four findings, one fix class on one resource: one branch with all four values."""
    repo = git_repo_of(ENGINE_FIXTURES / "one-fix", tmp_path)
    code, out, _ = run("fix", str(repo), "--branch", "--json", str(tmp_path / "r.json"))
    assert code == 0
    assert "already exists" not in out
    [branch] = [b for b in _git(repo, "branch", "--format=%(refname:short)").split() if "k8s.resources" in b]
    diff = _git(repo, "diff", "main", branch)
    assert all(f"+              {value}" in diff for value in RESOURCE_VALUES), diff
    message = _git(repo, "log", "-1", "--format=%B", branch)
    assert [line.split(": ")[1] for line in message.splitlines() if line.startswith("Iacbot-Rule:")] == RESOURCE_RULES
    assert all(f"Finding: {rule}" in message for rule in RESOURCE_RULES)
    assert f"branch {branch}: " in out and "(CKV_K8S_10, CKV_K8S_11, CKV_K8S_12, CKV_K8S_13)" in out
    fix = resources_fix(json.loads((tmp_path / "r.json").read_text()))
    assert fix["rule_ids"] == RESOURCE_RULES and [f["rule_id"] for f in fix["findings"]] == RESOURCE_RULES
    assert {f["fingerprint"] for f in fix["findings"]} == {fix["fingerprint"]} and fix["fingerprint"] in branch
    # Every other fix is one branch too: no fingerprint is made twice.
    branches = [b for b in _git(repo, "branch", "--format=%(refname:short)").split() if b.startswith("iacbot/")]
    assert len(branches) == len({b.rsplit("-", 1)[1] for b in branches})


def test_dry_run_write_and_json_report_list_every_finding_of_a_fix(run, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(ENGINE_FIXTURES / "one-fix", repo)
    code, out, _ = run("fix", str(repo), "--json", str(tmp_path / "dry.json"))
    assert code == 0
    assert "one fix for Deployment.shop.web (app.yaml): CKV_K8S_10, CKV_K8S_11, CKV_K8S_12, CKV_K8S_13" in out
    assert all(f"+              {value}" in out for value in RESOURCE_VALUES)
    dry = json.loads((tmp_path / "dry.json").read_text())
    assert dry["schema_version"] == 2 and resources_fix(dry)["rule_ids"] == RESOURCE_RULES
    listed = [f["rule_id"] for entry in dry["fixes"] + dry["unfixed"] for f in entry["findings"]]
    assert len(listed) == dry["summary"]["findings"] and set(RESOURCE_RULES) <= set(listed)
    assert dry["summary"]["fixes"] == len([f for f in dry["fixes"] if f["status"] == "fixed"])

    code, _, _ = run("fix", str(repo), "--write", "--json", str(tmp_path / "write.json"))
    assert code == 0
    written = (repo / "app.yaml").read_text()
    assert all(value in written for value in RESOURCE_VALUES)
    assert resources_fix(json.loads((tmp_path / "write.json").read_text()))["rule_ids"] == RESOURCE_RULES


def test_a_fix_on_a_file_checkov_cannot_read_is_not_written_and_says_why(run, tmp_path):
    """Issue 7 item 8: tests/fixtures/engine/checkov-blind/README.md says what checkov does not read."""
    repo = tmp_path / "repo"
    shutil.copytree(ENGINE_FIXTURES / "checkov-blind", repo)
    before = snapshot(repo)
    code, out, _ = run("fix", str(repo), "--findings", str(repo / "findings.sarif"), "--write",
                       "--json", str(tmp_path / "r.json"))
    assert code == 0
    assert snapshot(repo) == before
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["fixes"] == [] and report["changes"] == []
    assert {u["file"]: u["reason"] for u in report["unfixed"]} == {
        "tf/main.tf": "patch not verified: checkov cannot parse tf/main.tf: the re-scan proves nothing",
        "k8s/web.yaml": "patch not verified: checkov ran no check on k8s/web.yaml (it skips or cannot read the "
                        "file): the re-scan proves nothing"}
    assert "checkov cannot parse tf/main.tf" in out



# --- exit codes, usage checked before any work (issue 7, item 14) ------------------------------

def _no_scanner():
    raise AssertionError("a usage error must be found before the scanner starts")


def test_branch_outside_a_git_repository_is_a_usage_error_found_first(repo, capsys, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(repo.parent))  # git must not find a repository above
    code = main(["fix", str(repo), "--branch"], open_scanner=_no_scanner)
    err = capsys.readouterr().err
    assert code == 2
    assert "not inside a git repository" in err and "--branch" in err


def test_json_into_a_missing_directory_is_a_usage_error_found_first(repo, tmp_path, capsys):
    target = tmp_path / "missing" / "dir" / "report.json"
    for command in ("fix", "scan"):
        code = main([command, str(repo), "--json", str(target)], open_scanner=_no_scanner)
        err = capsys.readouterr().err
        assert code == 2 and "does not exist" in err and str(target) in err and "Traceback" not in err
    code = main(["fix", str(repo), "--json", str(tmp_path)], open_scanner=_no_scanner)
    assert code == 2 and "is a directory" in capsys.readouterr().err


def test_a_missing_findings_file_is_a_usage_error_found_first(repo, tmp_path, capsys):
    code = main(["fix", str(repo), "--findings", str(tmp_path / "nope.sarif")], open_scanner=_no_scanner)
    assert code == 2 and "nope.sarif" in capsys.readouterr().err


@pytest.mark.parametrize("argv, expected", [
    (["--no-color", "fix", "x"], True),
    (["fix", "x", "--no-color"], True),
    (["fix", "--no-color", "x", "--write"], True),
    (["scan", "x", "--no-color"], True),
    (["fixers", "--no-color"], True),
    (["fix", "x"], False),
])
def test_global_flags_work_before_and_after_the_subcommand(argv, expected):
    from bot.cli import build_parser
    assert build_parser().parse_args(argv).no_color is expected


def test_no_color_after_the_subcommand_runs(scanner, repo, capsys):
    code = main(["fix", str(repo), "--no-color"], open_scanner=lambda: contextlib.nullcontext(scanner))
    assert code == 0 and "+++ b/k8s/web.yaml" in capsys.readouterr().out


def test_piped_output_never_cuts_or_wraps_ids_and_paths(run, repo):
    # Not a terminal (as when piped): a path far wider than any terminal stays on one line.
    deep = repo / "k8s" / ("very-long-directory-name-" * 6).rstrip("-")
    deep.mkdir()
    shutil.copy(repo / "k8s" / "web.yaml", deep / "web-with-a-long-file-name-too.yaml")
    relative = deep.relative_to(repo).as_posix() + "/web-with-a-long-file-name-too.yaml"
    assert len(relative) > 132
    code, out, _ = run("scan", str(repo))
    assert code == 0
    assert relative in out
    code, out, _ = run("fix", str(repo))
    assert code == 0 and f"+++ b/{relative}" in out
    summary_rows = [line for line in out.splitlines() if "CKV_K8S_20" in line]
    assert summary_rows and all("│" in row for row in summary_rows)


# --- scan --json is what fix --findings reads; counts agree or say why (item 16) ---------------

def _fixes(report: dict) -> list[tuple]:
    return sorted((f["fingerprint"], f["rule_id"], f["status"], f.get("summary", "")) for f in report["fixes"])


def test_scan_json_round_trips_through_fix_findings(run, repo, tmp_path):
    code, _, _ = run("scan", str(repo), "--json", str(tmp_path / "scan.json"))
    assert code == 0
    code, _, _ = run("fix", str(repo), "--findings", str(tmp_path / "scan.json"), "--json", str(tmp_path / "given.json"))
    assert code == 0
    code, _, _ = run("fix", str(repo), "--json", str(tmp_path / "own.json"))
    given, own = (json.loads((tmp_path / name).read_text()) for name in ("given.json", "own.json"))
    assert given["problems"] == [] and given["summary"] == own["summary"]
    assert _fixes(given) and _fixes(given) == _fixes(own)
    assert given["changes"] == own["changes"]


MODULE_CALLED_TWICE = {
    "modules/disk/main.tf": 'resource "aws_ebs_volume" "this" {\n  availability_zone = "us-east-1a"\n  size              = 8\n}\n',
    "main.tf": 'module "a" {\n  source = "./modules/disk"\n}\n\nmodule "b" {\n  source = "./modules/disk"\n}\n',
}


def test_scan_and_fix_counts_agree_or_say_why(run, tmp_path):
    # checkov reports a module's resource once per caller: two findings, one place to fix.
    root = tmp_path / "modules-repo"
    for name, text in MODULE_CALLED_TWICE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    code, scan_out, _ = run("scan", str(root), "--json", str(tmp_path / "scan.json"))
    scanned = json.loads((tmp_path / "scan.json").read_text())["results"]["failed_checks"]
    assert code == 0 and len(scanned) == 4
    code, fix_out, _ = run("fix", str(root), "--json", str(tmp_path / "fix.json"))
    report = json.loads((tmp_path / "fix.json").read_text())
    assert code == 0
    set_aside = report["summary"]["set_aside"]
    assert report["summary"]["findings"] + set_aside["findings"] == len(scanned)
    assert set_aside["findings"] == 2 and set_aside["reason"] == "repeated-place"
    assert "module reached through several callers" in set_aside["why"]
    assert "4 failed checks at 2 places; iacbot fix sets 2 aside" in scan_out
    assert "2 more findings set aside" in fix_out


# --- SARIF from another directory (item 17) ----------------------------------------------------

def test_sarif_made_by_checkov_from_another_directory_is_placed(run, repo, tmp_path):
    # tests/fixtures/findings/checkov-from-another-directory.sarif: `checkov -d
    # /tmp/iacbot-elsewhere/sample-repo -o sarif` run in /tmp (uris "iacbot-elsewhere/sample-repo/...").
    sarif_file = FINDINGS / "checkov-from-another-directory.sarif"
    code, out, _ = run("fix", str(repo), "--findings", str(sarif_file), "--json", str(tmp_path / "r.json"))
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 0
    assert "not found" not in out and report["problems"] == []
    assert report["summary"]["findings"] == 28
    assert {c["file"] for c in report["changes"]} == {"k8s/web.yaml", "terraform/main.tf"}


# --- outside strings are escaped, never markup (item 8, third bullet) --------------------------

def test_file_names_with_escapes_and_markup_are_printed_escaped(run, repo, tmp_path):
    name = "evil\x1b[31m[bold]red\x1b[0m.yaml"
    (repo / "k8s" / name).write_bytes((repo / "k8s" / "web.yaml").read_bytes())
    code, out, err = run("fix", str(repo))
    assert code == 0
    assert "\x1b" not in out + err
    assert "+++ b/k8s/evil\\x1b[31m[bold]red\\x1b[0m.yaml" in out   # visible, and [bold] not read as markup
    code, out, err = run("scan", str(repo))
    assert "\x1b" not in out + err and "k8s/evil\\x1b[31m[bold]red\\x1b[0m.yaml" in out

    findings = tmp_path / "f.json"
    findings.write_text(json.dumps({"results": {"failed_checks": [
        {"check_id": "CKV_K8S_20[/bold]\x1b[2J", "file_path": "/../x\x1b[2J[bold].yaml", "resource": "r"},
        {"check_id": "CKV_AWS_3", "file_path": "/terraform/main.tf", "file_line_range": [11, 15], "resource": "aws_ebs_volume.data"}]}}))
    code, out, err = run("fix", str(repo), "--findings", str(findings))
    assert code == 0 and "\x1b" not in out + err and "x\\x1b[2J[bold].yaml" in out


def test_an_alias_bomb_is_named_and_the_other_files_are_fixed(run, repo, tmp_path):
    """A 1 KB YAML alias bomb ("billion laughs") next to the repository's vulnerable files: the
    scanner refuses it before checkov expands it, names it, and fixes the rest."""
    shutil.copy(REPO / "tests" / "fixtures" / "hostile" / "billion-laughs.yaml", repo / "k8s" / "laughs.yaml")
    bound = "k8s/laughs.yaml: refused (YAML alias expansion: expands to more than 200000 nodes); not scanned"
    code, _, err = run("scan", str(repo))
    assert code == 0 and f"problem: {bound}" in " ".join(err.split())
    code, out, err = run("fix", str(repo), "--write", "--json", str(tmp_path / "r.json"))
    assert code == 0
    assert f"problem: {bound}" in " ".join((out + err).split())
    report = json.loads((tmp_path / "r.json").read_text())
    assert bound in report["problems"]
    assert {"k8s/web.yaml", "terraform/main.tf"} <= {f["file"] for f in report["fixes"]}
    assert "privileged: false" in (repo / "k8s" / "web.yaml").read_text()
