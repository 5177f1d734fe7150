"""`iacbot fix --findings ASFF --state STATE` end to end on a copy of the sample repository, with
the real scanner: the Security Hub findings built from the sample's state fix the right blocks,
the account-level finding is reported, and a state with two matches is reported as ambiguous."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.cli import EXIT_OK, EXIT_USAGE
from tests.paths import REPO

SAMPLE = REPO / "examples" / "sample-repo"
FIXTURES = REPO / "tests" / "fixtures" / "runtime"


@pytest.fixture
def repo(tmp_path) -> Path:
    copy = tmp_path / "examples-copy"
    shutil.copytree(SAMPLE, copy)
    return copy


def test_asff_from_the_sample_state_fixes_the_right_blocks_and_reports_the_account(run, repo, tmp_path):
    out = tmp_path / "out.json"
    code, stdout, stderr = run("fix", str(repo), "--findings", str(FIXTURES / "sample-asff.json"),
                               "--state", str(FIXTURES / "sample-state.json"), "--json", str(out), "--write")
    assert code == EXIT_OK, stderr
    report = json.loads(out.read_text())
    fixed = {(f["rule_id"], f["file"], f["resource"], f["status"], f["source"]) for f in report["fixes"]}
    text = (repo / "terraform" / "main.tf").read_text()
    volume = text[text.index('resource "aws_ebs_volume" "data"'):text.index('resource "aws_security_group"')]
    instance = text[text.index('resource "aws_instance" "app"'):text.index('resource "aws_ebs_volume"')]
    assert "encrypted         = true" in volume
    assert 'http_tokens = "required"' in instance
    assert 'http_tokens' not in text[text.index('resource "aws_security_group"'):]
    assert report["summary"]["findings"] == 2 and report["summary"]["unfixed"] == 0, report["summary"]
    assert fixed == {("CKV_AWS_3", "terraform/main.tf", "aws_ebs_volume.data", "fixed", "asff:Security Hub"),
                     ("CKV_AWS_79", "terraform/main.tf", "aws_instance.app", "fixed", "asff:Security Hub")}
    assert any("Findings[1]: ambiguous-account: IAM.6" in p for p in report["problems"]), report["problems"]
    assert "ambiguous-account: IAM.6" in stdout + stderr


def test_a_finding_that_matches_two_state_resources_is_reported_ambiguous_and_nothing_changes(run, repo, tmp_path):
    state = json.loads((FIXTURES / "sample-state.json").read_text())
    resources = state["values"]["root_module"]["resources"]
    twin = json.loads(json.dumps(resources[1]))  # a second volume with the first one's id (say, a copied state)
    twin.update(address="aws_ebs_volume.copy", name="copy")
    twin["values"]["arn"] = ""
    resources.append(twin)
    (tmp_path / "state.json").write_text(json.dumps(state))
    asff = json.loads((FIXTURES / "sample-asff.json").read_text())
    volume = asff["Findings"][0]
    volume["Resources"][0]["Id"] = "vol-049df61146c4d7901"  # a bare id, matched against values.id
    (tmp_path / "asff.json").write_text(json.dumps({"Findings": [volume]}))
    before = (repo / "terraform" / "main.tf").read_text()
    code, _, stderr = run("fix", str(repo), "--findings", str(tmp_path / "asff.json"),
                          "--state", str(tmp_path / "state.json"), "--write")
    assert code == EXIT_USAGE  # no finding could be mapped: nothing to do, said why
    assert "ambiguous: 2 resources in the state" in stderr and "aws_ebs_volume.copy" in stderr
    assert (repo / "terraform" / "main.tf").read_text() == before


def test_state_without_findings_or_an_unusable_state_is_a_usage_error(run, repo, tmp_path):
    code, _, stderr = run("fix", str(repo), "--state", str(FIXTURES / "sample-state.json"))
    assert code == EXIT_USAGE and "--state maps the findings of --findings" in stderr
    (tmp_path / "bad.json").write_text('{"resources": []}')
    code, _, stderr = run("fix", str(repo), "--findings", str(FIXTURES / "sample-asff.json"),
                          "--state", str(tmp_path / "bad.json"))
    assert code == EXIT_USAGE and "not a `terraform show -json` document" in stderr


def test_asff_on_a_module_instance_and_a_for_each_instance_fixes_the_declaring_blocks(run, tmp_path):
    """modules-repo: envs/prod calls modules/bucket twice and declares a for_each volume."""
    repo = tmp_path / "modules-repo"
    shutil.copytree(FIXTURES / "modules-repo", repo)
    out = tmp_path / "out.json"
    code, _, stderr = run("fix", str(repo), "--findings", str(repo / "asff.json"),
                          "--state", str(repo / "state.json"), "--json", str(out), "--write")
    assert code == EXIT_OK, stderr
    report = json.loads(out.read_text())
    assert {(f["rule_id"], f["file"], f["resource"], f["status"]) for f in report["fixes"]} == {
        ("CKV_AWS_21", "modules/bucket/main.tf", "aws_s3_bucket.this", "fixed"),
        ("CKV_AWS_3", "envs/prod/main.tf", "aws_ebs_volume.disks", "fixed")}
    assert 'resource "aws_s3_bucket_versioning" "this"' in (repo / "modules" / "bucket" / "main.tf").read_text()
    assert "encrypted = true" in (repo / "envs" / "prod" / "main.tf").read_text()
    assert report["problems"] == []
