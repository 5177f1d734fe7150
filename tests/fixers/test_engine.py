"""The engine with the real scanner: batch verification, recovery, dedup, and what it reports."""
from __future__ import annotations

import re

import dataclasses
import shutil
from pathlib import Path

import pytest

from bot.findings import load_findings_file
from bot.local_scan import scan_directory
from fixers.catalog import load_catalog
from fixers.engine import CLEARED, FIXED, UNFIXED, Attempt, _Checker, fix_alone, one_per_fix, remediate, repo_facts
from fixers.models import Finding
from fixers.verify import Blind, failed_keys, scan_key
from tests.paths import REPO

FIXTURES = REPO / "tests" / "fixtures" / "engine"
SAMPLE = REPO / "examples" / "sample-repo"


def run(scanner, root: Path, findings=None):
    if findings is None:
        findings, _ = scan_directory(scanner, root)
    return remediate(root, findings, scanner.scan_texts, load_catalog())


def statuses(report) -> dict[tuple[str, str], str]:
    return {(f.rule_id, f.resource): a.status for f, a in report.outcomes()}


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
        (f.rule_id, f.file, f.resource) for f, _ in report.outcomes())
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


def test_the_findings_of_one_fingerprint_are_one_fix_verified_together(scanner):
    """Issue 7 item 9: a container with no resources fails CKV_K8S_10..13, one fix class (k8s.resources)."""
    root = FIXTURES / "one-fix"
    report = run(scanner, root)
    [fix] = [a for a in report.by_status(FIXED) if a.fixer.info.id == "k8s.resources"]
    assert fix.rule_ids == ("CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13")
    assert len({f.fingerprint() for f in fix.findings}) == 1 and fix.finding is fix.findings[0]
    assert not [f for f, a in report.outcomes() if f.rule_id in fix.rule_ids and a is not fix]
    assert len(report.by_status(FIXED)) == len({a.fingerprint for a in report.by_status(FIXED)})

    alone = fix_alone(root, fix, scanner.scan_texts, load_catalog(), scanner.ping(), repo_facts(root))
    assert alone.attempt.rule_ids == fix.rule_ids and alone.left == ()
    for value in ("cpu: 100m", "memory: 128Mi", "cpu: 500m", "memory: 512Mi"):
        assert value in alone.new_text
    assert "CKV_K8S_10, CKV_K8S_11, CKV_K8S_12, CKV_K8S_13 pass on Deployment.shop.web" in alone.verification
    # Verified together: the branch text passes all four rules and fails nothing the original did not.
    after = failed_keys(scanner.scan_texts({"app.yaml": alone.new_text}).failed)
    before = failed_keys(scanner.scan_texts({"app.yaml": (root / "app.yaml").read_text()}).failed)
    assert after < before and not {k for k in after if k[0] in fix.rule_ids}


def test_one_per_fix_merges_fixed_and_cleared_findings_of_a_fingerprint_and_keeps_those_left():
    base = Finding("CKV_K8S_10", "a.yaml", "Deployment.d.web", fix_class="k8s.resources")
    second, third, fourth = (dataclasses.replace(base, rule_id=r) for r in ("CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13"))
    other = dataclasses.replace(base, rule_id="CKV_K8S_20", fix_class="k8s.allow-privilege-escalation")
    merged = one_per_fix([Attempt(third, CLEARED, "already set"), Attempt(base, FIXED, summary="set requests"),
                          Attempt(fourth, UNFIXED, "not a quantity"), Attempt(second, FIXED, summary="set requests"),
                          Attempt(other, FIXED, summary="set ape")])
    by_status = {(a.status, a.rule_ids) for a in merged}
    assert by_status == {(FIXED, ("CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12")), (UNFIXED, ("CKV_K8S_13",)),
                         (FIXED, ("CKV_K8S_20",))}
    [fix] = [a for a in merged if len(a.findings) == 3]
    assert fix.summary == "set requests" and fix.finding == base


def test_an_attempt_covers_one_fingerprint_with_its_primary_finding_first():
    finding = Finding("CKV_K8S_10", "a.yaml", "Deployment.d.web", fix_class="k8s.resources")
    assert Attempt(finding, FIXED).findings == (finding,)
    with pytest.raises(ValueError):
        Attempt(finding, FIXED, findings=(dataclasses.replace(finding, rule_id="CKV_K8S_11"), finding))
    with pytest.raises(ValueError):
        Attempt(finding, FIXED, findings=(finding, dataclasses.replace(finding, resource="Deployment.d.api")))


BLIND = FIXTURES / "checkov-blind"


def test_a_patch_on_a_file_checkov_cannot_parse_or_skips_is_not_verified(scanner):
    """Issue 7 item 8: the re-scan proves nothing for a file checkov does not read (fixture README)."""
    findings, problems = load_findings_file(BLIND / "findings.sarif", BLIND)
    assert not problems and {f.file for f in findings} == {"tf/main.tf", "k8s/web.yaml"}
    report = run(scanner, BLIND, findings)
    reasons = {a.finding.file: (a.status, a.reason) for a in report.attempts}
    assert reasons == {
        "tf/main.tf": (UNFIXED, "patch not verified: checkov cannot parse tf/main.tf: the re-scan proves nothing"),
        "k8s/web.yaml": (UNFIXED, "patch not verified: checkov ran no check on k8s/web.yaml (it skips or cannot "
                                  "read the file): the re-scan proves nothing")}
    assert report.changes == {}


def test_checkov_failing_to_parse_the_patched_text_or_the_original_proves_nothing(scanner):
    """The judgement itself, on real checkov scans: before or after the patch."""
    original = (BLIND / "tf" / "main.tf").read_text()
    readable = original.replace("2e1", "20")
    target = scan_key("CKV_AWS_3", "main.tf", "aws_ebs_volume.data")
    patched = readable.replace("size              = 40\n", "size              = 40\n  encrypted         = true\n")
    # after: the patch brings in what checkov cannot parse
    checker = _Checker({"main.tf": readable}, scanner.scan_texts, {target})
    verdict, _ = checker.judge({"main.tf": patched.replace("= 20", "= 2e1")}, {target})
    assert verdict.blind == {"main.tf": Blind.CANNOT_PARSE} and not verdict.clean
    assert checker.judge({"main.tf": patched}, {target})[0].clean
    # before: checkov could not parse the original, so the failures after (CKV_AWS_189 and more,
    # which the findings do not list) cannot be judged new or not
    verdict, rescan = _Checker({"main.tf": original}, scanner.scan_texts, {target}).judge({"main.tf": patched}, {target})
    assert rescan.failed - {target} and verdict.blind == {"main.tf": Blind.CANNOT_PARSE}, verdict


def _already_satisfied_blind_repo(tmp_path: Path) -> Path:
    """The checkov-blind fixture with each finding's fix already in place: the fixers find nothing to change."""
    root = tmp_path / "repo"
    shutil.copytree(BLIND, root)
    tf, k8s = root / "tf" / "main.tf", root / "k8s" / "web.yaml"
    tf.write_text(tf.read_text().replace("size              = 40\n", "size              = 40\n  encrypted         = true\n"))
    k8s.write_text(k8s.read_text().replace("privileged: true", "privileged: false"))
    return root


def test_nothing_to_change_on_a_file_checkov_cannot_parse_or_skips_is_not_cleared(scanner, tmp_path):
    """An absent failure on a file checkov does not read proves nothing: not "cleared", left with the Blind reason."""
    root = _already_satisfied_blind_repo(tmp_path)
    findings, _ = load_findings_file(root / "findings.sarif", root)
    report = run(scanner, root, findings)
    reasons = {a.finding.file: (a.status, a.reason) for a in report.attempts}
    assert reasons == {
        "tf/main.tf": (UNFIXED, "fixer found nothing to change (encrypted already satisfies CKV_AWS_3), not verified: "
                                "checkov cannot parse tf/main.tf: the re-scan proves nothing"),
        "k8s/web.yaml": (UNFIXED, "fixer found nothing to change (Deployment 'web' already satisfies CKV_K8S_16), not "
                                  "verified: checkov ran no check on k8s/web.yaml (it skips or cannot read the file): "
                                  "the re-scan proves nothing")}
    assert report.changes == {}


def test_a_verified_patch_beside_a_file_checkov_cannot_parse_does_not_clear_findings_there(scanner, tmp_path):
    """One Terraform scope: the readable sibling's patch verifies; the blind file's finding stays unproven."""
    root = _already_satisfied_blind_repo(tmp_path)
    (root / "tf" / "logs.tf").write_text('resource "aws_ebs_volume" "logs" {\n  availability_zone = "us-east-1a"\n'
                                         '  size              = 10\n}\n')
    findings = [Finding("CKV_AWS_3", "tf/main.tf", "aws_ebs_volume.data", 1, 4),
                Finding("CKV_AWS_3", "tf/logs.tf", "aws_ebs_volume.logs", 1, 4)]
    report = run(scanner, root, findings)
    assert statuses(report) == {("CKV_AWS_3", "aws_ebs_volume.logs"): FIXED, ("CKV_AWS_3", "aws_ebs_volume.data"): UNFIXED}
    [left] = report.by_status(UNFIXED)
    assert left.reason.endswith("not verified: checkov cannot parse tf/main.tf: the re-scan proves nothing")
    assert set(report.changes) == {"tf/logs.tf"}
