"""Whatever JSON a scanner hands over, the normalizers never raise: each unreadable entry becomes a
problem naming it, and well-formed entries beside it still become findings."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.findings import checkov_json, sarif
from tests.strategies import JSON

GOOD_RESULT = {"ruleId": "CKV_K8S_16", "message": {"text": "privileged"},
               "locations": [{"physicalLocation": {"artifactLocation": {"uri": "k8s/a.yaml"},
                                                   "region": {"startLine": 3, "endLine": 9}}}]}
GOOD_RECORD = {"check_id": "CKV_K8S_16", "file_path": "/k8s/a.yaml", "resource": "Pod.default.a",
               "file_line_range": [3, 9]}


@given(tool=JSON, results=st.lists(JSON, max_size=5))
def test_sarif_never_raises_and_keeps_the_good_result(tmp_path_factory, tool, results):
    root = tmp_path_factory.getbasetemp()
    doc = {"version": "2.1.0", "runs": [{"tool": tool, "results": [*results, GOOD_RESULT]}]}
    findings, problems = sarif.parse(doc, root, "scan.sarif")
    assert [(f.rule_id, f.file, f.line_start, f.line_end) for f in findings][-1] == ("CKV_K8S_16", "k8s/a.yaml", 3, 9)
    assert all(p.where.startswith("scan.sarif: runs[0].results[") for p in problems)
    assert all(f.line_start <= f.line_end for f in findings)


@given(records=st.lists(JSON, max_size=5), report=JSON)
def test_checkov_json_never_raises_and_keeps_the_good_record(tmp_path_factory, records, report):
    root = tmp_path_factory.getbasetemp()
    (root / "k8s").mkdir(exist_ok=True)
    (root / "k8s" / "a.yaml").write_text("kind: Pod\n")
    findings, problems = checkov_json.parse([report, {"results": {"failed_checks": [*records, GOOD_RECORD]}}],
                                            root, "checkov.json")
    assert (findings[-1].rule_id, findings[-1].file, findings[-1].line_end) == ("CKV_K8S_16", "k8s/a.yaml", 9)
    assert all(p.where.startswith("checkov.json: report ") for p in problems)
