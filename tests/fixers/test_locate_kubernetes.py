"""Locating the workload and its pod spec from a checkov finding."""
from __future__ import annotations

import pytest

from fixers.locate.kubernetes import locate_workload
from fixers.models import Finding, Unknown

MULTI = """# comment first
---
apiVersion: v1
kind: Service
metadata: {name: web}
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: web
  namespace: jobs
spec:
  jobTemplate:
    spec:
      template:
        spec:
          initContainers: [{name: init, image: a}]
          containers:
          - name: main
            image: b
---
kind: List
items:
- kind: Pod
  metadata: {name: p.with.dots}
  spec:
    containers: [{name: c, image: x}]
"""


def finding(resource: str, line: int = 0) -> Finding:
    return Finding(rule_id="CKV_K8S_20", file="a.yaml", resource=resource, line_start=line)


def test_cronjob_in_second_document():
    w = locate_workload(MULTI, finding("CronJob.jobs.web"))
    assert not isinstance(w, Unknown)
    assert w.doc_index == 1
    assert w.pod_spec_path == ("spec", "jobTemplate", "spec", "template", "spec")
    assert [(c.list_name, c.name) for c in w.containers] == [("containers", "main"), ("initContainers", "init")]
    assert MULTI[w.location.start:].startswith("apiVersion: batch/v1") and w.location.layer == "manifest"


def test_list_item_with_dotted_name():
    w = locate_workload(MULTI, finding("Pod.default.p.with.dots"))
    assert not isinstance(w, Unknown)
    assert w.path == ("items", 0) and w.pod_spec_path == ("items", 0, "spec")


@pytest.mark.parametrize("resource, reason", [
    ("Service.default.web", "not a workload"),
    ("Deployment.jobs.web", "no Deployment named 'web'"),
    ("garbage", "Kind.namespace.name"),
])
def test_unknowns_name_what_was_looked_for(resource, reason):
    w = locate_workload(MULTI, finding(resource))
    assert isinstance(w, Unknown) and reason in w.reason


def test_duplicate_address_is_told_apart_by_lines():
    text = "kind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: one}]}\n---\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: two}]}\n"
    w = locate_workload(text, finding("Pod.default.a", line=5))
    assert w.containers[0].name == "two"
