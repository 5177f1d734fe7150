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
def run(scanner, capsys):
    """Run the CLI in-process against the shared scanner; returns (exit code, stdout, stderr)."""
    def invoke(*argv: str) -> tuple[int, str, str]:
        code = main(["--no-color", *argv], open_scanner=lambda: contextlib.nullcontext(scanner))
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return invoke


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
    assert {"CKV_K8S_20", "CKV_AWS_3"} <= {f["rule_id"] for f in document["findings"]}
    assert all(f["file"] in {"k8s/web.yaml", "terraform/main.tf"} for f in document["findings"])


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
