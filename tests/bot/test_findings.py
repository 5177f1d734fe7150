"""Normalizers: checkov JSON and SARIF in, Findings out; bad entries named, the rest kept."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.findings import load_findings_file

FIXTURES = Path(__file__).parents[1] / "fixtures" / "findings"
SAMPLE = Path(__file__).parents[2] / "examples" / "sample-repo"


def test_checkov_json_normalizes_and_names_bad_entries():
    findings, problems = load_findings_file(FIXTURES / "checkov.json", SAMPLE)
    assert [(f.rule_id, f.file, f.resource, f.line_start, f.line_end) for f in findings] == [
        ("CKV_K8S_20", "k8s/web.yaml", "Deployment.shop.web", 2, 22),
        ("CKV_AWS_3", "terraform/main.tf", "aws_ebs_volume.data", 11, 15),
    ]
    assert findings[0].evaluated_keys == ("spec/template/spec/containers/[0]/securityContext/allowPrivilegeEscalation",)
    assert findings[1].severity == "HIGH"
    messages = [str(p) for p in problems]
    assert any("failed_checks[1]" in m and "outside the repository" in m for m in messages), messages
    assert any("failed_checks[2]" in m and "'check_id'" in m for m in messages), messages


def test_sarif_normalizes_and_names_bad_results():
    findings, problems = load_findings_file(FIXTURES / "results.sarif", SAMPLE)
    assert [(f.rule_id, f.file, f.line_start, f.line_end, f.source) for f in findings] == [
        ("CKV_AWS_3", "terraform/main.tf", 11, 15, "sarif:checkov"),
        ("CKV_K8S_20", "k8s/web.yaml", 2, 2, "sarif:checkov"),
    ]
    assert findings[0].severity == "HIGH"          # from security-severity 7.5
    assert findings[1].severity == "MEDIUM"        # from the rule's default level
    assert findings[1].resource == "Deployment.shop.web"
    assert findings[0].resource == ""              # SARIF had none: the engine finds it by line
    messages = [str(p) for p in problems]
    assert any("results[2]" in m and "outside the repository" in m for m in messages), messages
    assert any("results[3]" in m and "ruleId" in m for m in messages), messages


def test_wrongly_typed_fields_are_named_and_the_rest_is_kept(tmp_path):
    (tmp_path / "bad.sarif").write_text(
        '{"version": "2.1.0", "runs": [{"tool": "x", "results": ['
        '{"ruleId": "CKV_K8S_20", "locations": [{"physicalLocation": {"artifactLocation": {"uri": "k8s/web.yaml"},'
        ' "region": {"startLine": "abc"}}}]},'
        '{"ruleId": 123, "message": "text, not an object"},'
        '{"ruleId": "CKV_K8S_20", "message": "m", "locations": [{"physicalLocation": {"artifactLocation":'
        ' {"uri": "k8s/web.yaml"}, "region": {"startLine": "2", "endLine": 4}}}]}]}]}')
    findings, problems = load_findings_file(tmp_path / "bad.sarif", SAMPLE)
    assert [(f.rule_id, f.line_start, f.line_end, f.source, f.message) for f in findings] == [
        ("CKV_K8S_20", 2, 4, "sarif:sarif", "")]
    assert [str(p).split(": ", 1)[1] for p in problems] == [
        "runs[0].results[0]: field 'locations[0].physicalLocation.region.startLine' is not a line number ('abc')",
        "runs[0].results[1]: field 'ruleId' is not a string (123)"]

    (tmp_path / "bad.json").write_text(
        '{"results": {"failed_checks": [{"check_id": "CKV_K8S_20", "file_path": "/k8s/web.yaml",'
        ' "resource": "Deployment.shop.web", "file_line_range": [2, "b"]}]}}')
    findings, problems = load_findings_file(tmp_path / "bad.json", SAMPLE)
    assert findings == [] and [p.what for p in problems] == ["field 'file_line_range[1]' is not a line number ('b')"]


@pytest.mark.parametrize("content, expected", [
    (b"{not json", "invalid JSON at line 1"),
    (b"\xff\xfe", "not UTF-8"),
    (b'{"hello": 1}', "neither SARIF"),
])
def test_unreadable_findings_files_are_named(tmp_path, content, expected):
    path = tmp_path / "findings.json"
    path.write_bytes(content)
    findings, problems = load_findings_file(path, SAMPLE)
    assert findings == []
    assert len(problems) == 1 and str(path) in str(problems[0]) and expected in str(problems[0])


def test_missing_findings_file(tmp_path):
    findings, problems = load_findings_file(tmp_path / "nope.json", SAMPLE)
    assert not findings and "file not found" in str(problems[0])


def test_fingerprint_is_stable_and_depends_on_class_resource_file():
    findings, _ = load_findings_file(FIXTURES / "checkov.json", SAMPLE)
    again, _ = load_findings_file(FIXTURES / "checkov.json", SAMPLE)
    assert findings[0].fingerprint() == again[0].fingerprint()
    assert findings[0].fingerprint() != findings[1].fingerprint()
