"""The scan cost pre-check (scanner/iacbot_scanner/limits.py), a pure function: bytes + limits ->
None or the bound a file exceeds. It is imported here through the repository root (the module
needs only the standard library and PyYAML, which both environments have)."""
from __future__ import annotations

import pytest

from scanner.iacbot_scanner.limits import Bound, ScanLimits, hcl_depth, limits_from_env, precheck
from tests.paths import REPO

HOSTILE = REPO / "tests" / "fixtures" / "hostile"
LIMITS = ScanLimits()

MANIFEST_WITH_ANCHORS = b"""\
x-defaults: &defaults
  resources:
    limits: {cpu: 500m, memory: 256Mi}
    requests: {cpu: 100m, memory: 128Mi}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: &labels {app: web, tier: front}}
spec:
  selector: {matchLabels: *labels}
  template:
    metadata: {labels: *labels}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        <<: *defaults
      - name: sidecar
        image: envoy:1.30
        <<: *defaults
"""


def test_the_billion_laughs_is_refused_for_its_expansion():
    data = (HOSTILE / "billion-laughs.yaml").read_bytes()
    assert len(data) < 1024
    refusal = precheck("k8s/bomb.yaml", data, LIMITS)
    assert refusal is not None and refusal.bound is Bound.YAML_EXPANSION
    assert "200000 nodes" in refusal.detail


def test_the_expansion_is_counted_exactly():
    million = (HOSTILE / "million-laughs.yaml").read_bytes()
    # anchors a..f stand for 11, 111, ..., 1111111 nodes (each list and what it holds), each
    # written once; with the 17 nodes around them (keys, maps, the first scalars) that is:
    nodes = sum(int("1" * k) for k in range(2, 8)) + 17
    assert precheck("m.yaml", million, ScanLimits(max_yaml_nodes=nodes)) is None
    assert precheck("m.yaml", million, ScanLimits(max_yaml_nodes=nodes - 1)).bound is Bound.YAML_EXPANSION


def test_a_normal_manifest_with_a_few_anchors_passes():
    assert precheck("k8s/web.yaml", MANIFEST_WITH_ANCHORS, LIMITS) is None
    assert precheck("k8s/web.yaml", MANIFEST_WITH_ANCHORS, ScanLimits(max_yaml_nodes=40)).bound is Bound.YAML_EXPANSION


@pytest.mark.parametrize("path,data", [
    ("deep.yaml", b"a:\n" + b"".join(b"  " * i + b"- \n" for i in range(1, 200))),
    ("deep.json", b"[" * 100_000 + b"]" * 100_000),
    ("deep.yaml", b"x: " + b"{a: " * 150 + b"1" + b"}" * 150),
    ("deep.tf", b'locals {\n  x = ' + b"[" * 150 + b"]" * 150 + b"\n}\n"),
])
def test_deep_nesting_is_refused(path, data):
    refusal = precheck(path, data, LIMITS)
    assert refusal is not None and refusal.bound is Bound.NESTING_DEPTH, refusal


def test_aliases_count_for_depth_too():
    # Each level is shallow on the page, but the document it stands for is 150 deep.
    lines = [b"l0: &l0 [1]"] + [b"l%d: &l%d [*l%d]" % (i, i, i - 1) for i in range(1, 150)]
    assert precheck("a.yaml", b"\n".join(lines), LIMITS).bound is Bound.NESTING_DEPTH


def test_a_big_file_is_refused_for_its_size():
    data = b"# padding\n" * (LIMITS.max_file_bytes // 10 + 1)
    refusal = precheck("huge.tf", data, LIMITS)
    assert refusal is not None and refusal.bound is Bound.FILE_SIZE and str(len(data)) in refusal.detail


def test_hcl_depth_ignores_strings_comments_and_heredocs():
    text = b"""resource "aws_iam_policy" "p" {
  name = "{{{[[["   # {{{{ not code
  /* [[[[ [[[[ */
  policy = <<EOF
{"Statement": [{"Effect": [[[[[[[[[[[[["Allow"]]]]]]]]]]]]]}]}
EOF
  tags = { a = [1] }
}
"""
    assert hcl_depth(text) == 3


def test_text_pyyaml_cannot_parse_is_left_to_checkov():
    assert precheck("broken.yaml", b"apiVersion: v1\nkind: Pod\nspec: [\n", LIMITS) is None


def test_limits_come_from_the_environment_and_malformed_ones_are_named():
    assert limits_from_env({"IACBOT_SCAN_MAX_YAML_NODES": "5", "IACBOT_SCAN_TIMEOUT_SECONDS": "1.5"}) == \
        ScanLimits(max_yaml_nodes=5, timeout_seconds=1.5)
    with pytest.raises(ValueError, match="IACBOT_SCAN_MEMORY_BYTES"):
        limits_from_env({"IACBOT_SCAN_MEMORY_BYTES": "lots"})
