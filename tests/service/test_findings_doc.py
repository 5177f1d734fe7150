"""The findings API's document reader: bytes in, findings and named problems out, no filesystem.
Whatever JSON arrives, it raises nothing but DocumentError."""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.service.findings_doc import DocumentError, read_document, repo_path
from tests.strategies import JSON


@pytest.mark.parametrize("reported, bases, uri, expected", [
    ("k8s/a.yaml", (), False, ("k8s/a.yaml", "")),
    ("/k8s/a.yaml", (), False, ("k8s/a.yaml", "")),            # checkov: relative to the scan root
    ("./k8s//a.yaml", (), False, ("k8s/a.yaml", "")),
    ("file:///src/repo/k8s/a.yaml", ("/src/repo/",), True, ("k8s/a.yaml", "")),
    ("k8s/a%20b.yaml", (), True, ("k8s/a b.yaml", "")),
    ("../etc/passwd", (), False, (None, "'../etc/passwd' leaves the repository ('..')")),
    ("file:///etc/passwd", (), True,
     (None, "absolute path 'file:///etc/passwd': give paths relative to the repository root")),
    ("https://example.com/a.tf", (), True, (None, "'https://example.com/a.tf' is not a file path or file URI")),
    ("k8s\\a.yaml", (), False, (None, "'k8s\\a.yaml' is not a POSIX path")),
])
def test_repo_path(reported, bases, uri, expected):
    assert repo_path(reported, bases, uri) == expected


def test_typed_fields_are_judged_by_the_shared_normalizer():
    doc = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "tfsec"}}, "results": [
        {"ruleId": "R1", "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a.tf"},
                                                            "region": {"startLine": "x"}}}]},
        {"ruleId": "R2", "message": {"text": "ok"},
         "locations": [{"physicalLocation": {"artifactLocation": {"uri": "../x.tf"}}}]},
        {"ruleId": "R3", "message": {"text": "ok"},
         "locations": [{"physicalLocation": {"artifactLocation": {"uri": "b.tf"}, "region": {"startLine": 4}}}]},
    ]}]}
    findings, problems = read_document(json.dumps(doc).encode())
    assert [(f.rule_id, f.file, f.line_start, f.source) for f in findings] == [("R3", "b.tf", 4, "sarif:tfsec")]
    assert problems == [
        "body: runs[0].results[1]: field 'locations[0].physicalLocation.artifactLocation.uri': "
        "'../x.tf' leaves the repository ('..')",
        "body: runs[0].results[0]: field 'locations[0].physicalLocation.region.startLine' is not a line number ('x')",
    ]


@given(doc=JSON, results=st.lists(JSON, max_size=4), records=st.lists(JSON, max_size=4))
def test_any_json_gives_findings_or_a_document_error(doc, results, records):
    bodies = [doc, {"version": "2.1.0", "runs": [{"results": results}]}, {"results": {"failed_checks": records}},
              {"findings": results}]
    for body in bodies:
        try:
            findings, problems = read_document(json.dumps(body).encode())
        except DocumentError:
            continue
        assert all(isinstance(p, str) and p.startswith("body") for p in problems)
        assert all(".." not in f.file.split("/") and not f.file.startswith("/") for f in findings)
