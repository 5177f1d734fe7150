"""Normalizers: checkov JSON and SARIF in, Findings out; bad entries named, the rest kept."""
from __future__ import annotations

import json
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


# --- where a reported file is (issue 7, item 17) -----------------------------------------------

def _sarif(tmp_path, uri, base_id=None, bases=None):
    artifact = {"uri": uri, **({"uriBaseId": base_id} if base_id else {})}
    run = {"tool": {"driver": {"name": "t"}}, "results": [
        {"ruleId": "CKV_K8S_20", "locations": [{"physicalLocation": {"artifactLocation": artifact,
                                                                      "region": {"startLine": 2}}}]}]}
    if bases is not None:
        run["originalUriBaseIds"] = bases
    path = tmp_path / "r.sarif"
    path.write_text(json.dumps({"version": "2.1.0", "runs": [run]}))
    return path


@pytest.fixture
def checkout(tmp_path):
    root = tmp_path / "repo"
    for name in ("k8s/web.yaml", "other/k8s/web.yaml", "terraform/main.tf"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("kind: Pod\n")
    return root


@pytest.mark.parametrize("uri, base_id, bases, expected", [
    # uriBaseId resolved through originalUriBaseIds (SARIF 2.1.0 §3.4.4, §3.14.14)
    ("k8s/web.yaml", "SRCROOT", lambda root: {"SRCROOT": {"uri": root.as_uri() + "/"}}, "k8s/web.yaml"),
    ("../k8s/web.yaml", "SRCROOT", lambda root: {"SRCROOT": {"uri": root.as_uri() + "/terraform/"}}, "k8s/web.yaml"),
    ("repo/k8s/web.yaml", "WS", lambda root: {"WS": {"uri": root.parent.as_uri()}}, "k8s/web.yaml"),
    # a chain: SRC is relative to WS
    ("k8s/web.yaml", "SRC", lambda root: {"SRC": {"uri": "repo/", "uriBaseId": "WS"},
                                          "WS": {"uri": root.parent.as_uri() + "/"}}, "k8s/web.yaml"),
    # the base is the scanner machine's checkout: the uri is read relative to the repository root
    ("other/k8s/web.yaml", "SRCROOT", lambda root: {"SRCROOT": {"uri": "file:///home/ci/checkout/"}}, "other/k8s/web.yaml"),
    # undefined base (%SRCROOT% as GitHub code scanning writes it), and a loop of bases
    ("terraform/main.tf", "%SRCROOT%", lambda root: None, "terraform/main.tf"),
    ("terraform/main.tf", "A", lambda root: {"A": {"uri": "x/", "uriBaseId": "B"}, "B": {"uri": "y/", "uriBaseId": "A"}},
     "terraform/main.tf"),
    ("k8s/my%20web.yaml", "SRCROOT", lambda root: None, "k8s/my web.yaml"),
    # no base at all, as checkov -o sarif writes from another directory: placed by suffix
    ("ci/work/repo/terraform/main.tf", None, lambda root: None, "terraform/main.tf"),
    ("/home/runner/work/x/x/terraform/main.tf", None, lambda root: None, "terraform/main.tf"),
    ("file:///home/runner/work/repo/k8s/web.yaml", None, lambda root: None, "k8s/web.yaml"),  # the root's name decides
])
def test_sarif_uris_are_placed_in_the_repository(tmp_path, checkout, uri, base_id, bases, expected):
    if expected == "k8s/my web.yaml":
        (checkout / expected).write_text("kind: Pod\n")
    findings, problems = load_findings_file(_sarif(tmp_path, uri, base_id, bases(checkout)), checkout)
    assert problems == [] and [f.file for f in findings] == [expected]


def test_a_suffix_that_names_several_files_is_a_problem_naming_them(tmp_path, checkout):
    findings, problems = load_findings_file(_sarif(tmp_path, "/ci/elsewhere/k8s/web.yaml"), checkout)
    assert findings == []
    assert len(problems) == 1 and "2 files end like it: k8s/web.yaml, other/k8s/web.yaml" in problems[0].what


@pytest.mark.parametrize("uri, base_id, bases", [
    ("../elsewhere/k8s/web.yaml", "SRCROOT", lambda root: {"SRCROOT": {"uri": root.as_uri() + "/"}}),
    ("../outside/k8s/web.yaml", None, lambda root: None),
    ("file:///etc/passwd", None, lambda root: None),
])
def test_paths_that_climb_out_are_never_placed_by_suffix(tmp_path, checkout, uri, base_id, bases):
    findings, problems = load_findings_file(_sarif(tmp_path, uri, base_id, bases(checkout)), checkout)
    assert findings == [] and "outside the repository" in problems[0].what


def test_checkov_json_from_another_machine_is_placed_by_suffix(tmp_path, checkout):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"results": {"failed_checks": [
        {"check_id": "CKV_AWS_3", "file_path": "/builds/ci-runner-7/x/terraform/main.tf", "file_abs_path": "/builds/ci-runner-7/x/terraform/main.tf",
         "resource": "aws_ebs_volume.d", "file_line_range": [1, 2]}]}}))
    findings, problems = load_findings_file(path, checkout)
    assert problems == [] and [f.file for f in findings] == ["terraform/main.tf"]
