"""A code-scanning alert as GitHub's API returns it (rendered by the GitHub double) -> one Finding."""
from __future__ import annotations

import pytest

from tests.github_double import render
from tests.github_double.state import CodeScanningAlert, World
from workers.code_scanning import alert_commit, finding_from_alert


@pytest.fixture
def alert_json():
    world = World()
    repo = world.create_repo("octo/a", {"k8s/web.yaml": "a: 1\n"}, "main", True)

    def make(with_instance: bool = True, **changes) -> dict:
        alert = CodeScanningAlert(7, "CKV_K8S_16", "checkov", "k8s/web.yaml", 3, 9,
                                  "Container should not be privileged", "error", repo.refs["refs/heads/main"],
                                  "refs/heads/main")
        data = render.code_scanning_alert(repo, alert, with_instance)
        data.update(changes)
        return data
    return make


def test_an_open_alert_becomes_its_finding(alert_json):
    data = alert_json()
    finding = finding_from_alert(data)
    assert (finding.rule_id, finding.file, finding.line_start, finding.line_end) == ("CKV_K8S_16", "k8s/web.yaml", 3, 9)
    assert finding.resource == ""  # the engine finds the block at those lines
    assert finding.source == "code-scanning:checkov" and finding.severity == "HIGH"
    assert finding.message == "Container should not be privileged"
    assert alert_commit(data) == data["most_recent_instance"]["commit_sha"]


@pytest.mark.parametrize("changes, reason", [
    ({"state": "dismissed"}, "alert 7 is dismissed: nothing to fix"),
    ({"state": "fixed"}, "alert 7 is fixed: nothing to fix"),
    ({"rule": {"id": None}}, "alert 7 names no rule id"),
])
def test_an_alert_without_work_says_why(alert_json, changes, reason):
    assert finding_from_alert(alert_json(**changes)) == reason


def test_an_alert_without_a_location_says_why(alert_json):
    data = alert_json(with_instance=False)
    assert finding_from_alert(data) == "alert 7 (CKV_K8S_16) has no file location"
    assert alert_commit(data) is None
