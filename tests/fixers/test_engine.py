"""The engine with the real scanner: batch verification, recovery, dedup, and what it reports."""
from __future__ import annotations

import re

import dataclasses
import shutil
from pathlib import Path

from bot.local_scan import scan_directory
from fixers.catalog import load_catalog
from fixers.engine import CLEARED, FIXED, UNFIXED, remediate
from tests.paths import REPO

FIXTURES = REPO / "tests" / "fixtures" / "engine"
SAMPLE = REPO / "examples" / "sample-repo"


def run(scanner, root: Path, findings=None):
    if findings is None:
        findings, _ = scan_directory(scanner, root)
    return remediate(root, findings, scanner.scan_texts, load_catalog())


def statuses(report) -> dict[tuple[str, str], str]:
    return {(a.finding.rule_id, a.finding.resource): a.status for a in report.attempts}


def test_a_patch_that_makes_another_rule_fail_is_dropped_and_the_rest_kept(scanner):
    report = run(scanner, FIXTURES / "recovery")
    by_rule = statuses(report)
    # Secure boot creates shielded_instance_config, which CKV_GCP_72 then inspects and fails.
    assert by_rule[("CKV_GCP_68", "google_container_node_pool.pool")] == UNFIXED
    dropped = next(a for a in report.attempts if a.finding.rule_id == "CKV_GCP_68")
    assert "CKV_GCP_72" in dropped.reason and "dropped on re-scan" in dropped.reason
    # Patches on the same block and in the same file that verify are kept.
    assert by_rule[("CKV_GCP_9", "google_container_node_pool.pool")] == FIXED
    assert by_rule[("CKV_AWS_3", "aws_ebs_volume.data")] == FIXED
    (before, after), = report.changes.values()
    assert "shielded_instance_config" not in after and re.search(r"encrypted +\= true", after)


def test_report_covers_every_finding_once_and_changes_only_fixed_files(scanner):
    findings, _ = scan_directory(scanner, SAMPLE)
    report = run(scanner, SAMPLE, findings)
    assert sorted((f.rule_id, f.file, f.resource) for f in findings) == sorted(
        (a.finding.rule_id, a.finding.file, a.finding.resource) for a in report.attempts)
    changed_files = {a.finding.file for a in report.attempts if a.status == FIXED}
    assert set(report.changes) == changed_files
    assert all(a.fixer and a.summary and a.location for a in report.attempts if a.status == FIXED)
    # dropping ALL capabilities for one rule also clears the other capability rule
    assert CLEARED in {a.status for a in report.attempts}


def test_findings_repeated_through_module_callers_are_fixed_once(scanner, tmp_path):
    shutil.copytree(SAMPLE, tmp_path / "repo")
    root = tmp_path / "repo"
    findings, _ = scan_directory(scanner, root)
    ebs = next(f for f in findings if f.rule_id == "CKV_AWS_3")
    via_callers = [dataclasses.replace(ebs, resource=f"module.{name}.{ebs.resource}") for name in ("a", "b")]
    report = run(scanner, root, [ebs, *via_callers])
    assert [a.status for a in report.attempts] == [FIXED]


def test_a_file_that_vanished_is_reported_not_fatal(scanner, tmp_path):
    shutil.copytree(SAMPLE, tmp_path / "repo")
    root = tmp_path / "repo"
    findings, _ = scan_directory(scanner, root)
    (root / "k8s" / "web.yaml").unlink()
    report = run(scanner, root, findings)
    gone = [a for a in report.attempts if a.finding.file == "k8s/web.yaml"]
    assert gone and all(a.status == UNFIXED and "file not found" in a.reason for a in gone)
    assert "terraform/main.tf" in report.changes


def test_a_patch_whose_rule_still_fails_is_dropped_with_that_reason(scanner):
    report = run(scanner, FIXTURES / "still-failing")
    dropped = next(a for a in report.attempts if a.finding.rule_id == "CKV_AZURE_65")
    assert dropped.status == UNFIXED
    assert dropped.reason == "patch dropped on re-scan: the rule still fails after the patch"
    assert all(a.status != FIXED or a.finding.rule_id != "CKV_AZURE_65" for a in report.attempts)
    fixed = [a for a in report.attempts if a.status == FIXED]
    assert fixed, "other rules on the same resource are still fixed"
    assert set(report.changes) == {"app.tf"}
    assert "detailed_error_messages" not in report.changes["app.tf"][1]
