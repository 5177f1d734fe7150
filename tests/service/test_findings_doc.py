"""The findings API's document reader: bytes in, findings and named problems out, no filesystem.
Whatever JSON arrives, it raises nothing but DocumentError."""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.service.findings_doc import (
    MAX_SUBMISSION_FILES,
    MAX_SUBMISSION_FINDINGS,
    DocumentError,
    read_document,
    repo_path,
    within_caps,
)
from bot.service.json_body import MAX_JSON_DEPTH, TooDeep, exceeds_depth, loads_bounded
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


def _iacbot(files):
    return json.dumps({"findings": [{"rule_id": "CKV_AWS_20", "file": f} for f in files]}).encode()


def test_submission_naming_100k_files_keeps_the_cap_and_names_the_rest():
    """100k findings on 100k files: the first MAX_SUBMISSION_FILES files are taken, the rest refused
    with one problem that counts them and names the first left out, never silently."""
    files = [f"m/{i:06d}.tf" for i in range(100_000)]
    findings, problems = read_document(_iacbot(files))
    assert [f.file for f in findings] == files[:MAX_SUBMISSION_FILES]
    [problem] = problems
    assert problem.startswith(f"body: {100_000 - MAX_SUBMISSION_FILES} findings refused, over the caps of "
                              f"{MAX_SUBMISSION_FINDINGS} findings and {MAX_SUBMISSION_FILES} files")
    assert f"'{files[MAX_SUBMISSION_FILES]}'" in problem and "more files" in problem


def test_caps_count_findings_and_distinct_files_apart():
    findings, problems = read_document(_iacbot(["a.tf"] * (MAX_SUBMISSION_FINDINGS + 5)))
    assert len(findings) == MAX_SUBMISSION_FINDINGS and "5 findings refused" in problems[0]
    findings, problems = read_document(_iacbot(["a.tf", "b.tf", "c.tf", "a.tf"]))
    assert len(findings) == 4 and problems == []
    kept, over = within_caps(read_document(_iacbot(["a.tf", "b.tf", "c.tf", "a.tf", "d.tf"]))[0], max_files=2)
    assert [f.file for f in kept] == ["a.tf", "b.tf", "a.tf"] and "2 findings refused" in over[0]
    assert "'c.tf', 'd.tf'" in over[0]


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000,
                                  b'{"runs": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001,
                                  b"[" * 100_000])
def test_deep_nesting_is_a_document_error_naming_the_limit(body):
    with pytest.raises(DocumentError, match=f"nested deeper than {MAX_JSON_DEPTH} levels"):
        read_document(body)


def _nest(depth, inner=b"1"):
    return b"[" * depth + inner + b"]" * depth


def test_depth_limit_is_exact_and_ignores_brackets_in_strings():
    assert loads_bounded(_nest(MAX_JSON_DEPTH)) is not None
    with pytest.raises(TooDeep):
        loads_bounded(_nest(MAX_JSON_DEPTH + 1))
    assert loads_bounded(_nest(3, b'"[[[[[[\\\"{{{{"'), 3) == [[["[[[[[[\"{{{{"]]]
    with pytest.raises(TooDeep):
        loads_bounded(b'[{"a": [' + b'"]]]", ' + b'{}]}]', 2)


def _depth(value):
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@given(doc=JSON, limit=st.integers(0, 6))
def test_depth_measure_agrees_with_the_recursive_definition(doc, limit):
    assert exceeds_depth(json.loads(json.dumps(doc)), limit) == (_depth(doc) > limit)


def test_security_hub_findings_are_refused_by_name_not_as_an_unknown_format():
    body = json.dumps({"Findings": [{"SchemaVersion": "2018-10-08", "Resources": [{"Id": "arn:aws:s3:::b"}]}]})
    with pytest.raises(DocumentError, match=r"Security Hub findings \(ASFF\).*--state"):
        read_document(body.encode())
