"""Shared verification re-scans (fixers/scan_batch.py): each scope's share of a batched checkov
run is what checkov says about it alone, and scopes that can see each other never share."""
import threading

import pytest

from fixers.scan_batch import ScanBatcher, _Request, compatible, connection_pairs, profile, split

POD = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  containers:
  - name: c
    image: nginx:1.25
"""
NETPOL = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny
spec:
  podSelector: {}
  policyTypes: [Ingress]
"""
ROLE_AND_BINDING = """apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: b
subjects:
- kind: ServiceAccount
  name: s
roleRef:
  kind: Role
  name: r
  apiGroup: rbac.authorization.k8s.io
"""
TF = 'resource "aws_s3_bucket" "b" {\n  bucket = "b"\n}\n'
TF_CALLER = 'module "m" {\n  source = "../mod"\n}\n'


def keys(result):
    return (sorted((r.check_id, r.file, r.resource) for r in result.failed),
            sorted((r.check_id, r.file, r.resource) for r in result.passed),
            sorted(result.parsing_errors))


@pytest.fixture(scope="module")
def pairs(scanner):
    return connection_pairs(scanner.graph_connections())


def test_the_scanner_reports_the_connections_its_kubernetes_graph_checks_follow(pairs):
    assert ("Pod", "NetworkPolicy") in pairs and ("NetworkPolicy", "Pod") in pairs
    assert ("RoleBinding", "Role") in pairs
    assert ("Pod", "Pod") not in pairs


def test_a_pod_and_a_network_policy_never_share_a_scan(pairs):
    pod, netpol = profile({"a.yaml": POD.format(name="a")}), profile({"n.yaml": NETPOL})
    assert not compatible(pod, netpol, pairs)
    assert compatible(pod, profile({"b.yaml": POD.format(name="b")}), pairs)
    # nested kinds count: the roleRef names a Role
    assert not compatible(profile({"rb.yaml": ROLE_AND_BINDING}),
                          profile({"r.yaml": "kind: Role\nmetadata:\n  name: r\n"}), pairs)


def test_terraform_with_a_module_call_and_templates_scan_alone(pairs):
    assert profile({"envs/prod/main.tf": TF_CALLER}).alone
    assert profile({"chart/templates/p.yaml": "kind: Pod\nmetadata:\n  name: {{ .Release.Name }}\n"}).alone
    assert compatible(profile({"a/main.tf": TF}), profile({"b/main.tf": TF}), pairs)
    assert not compatible(profile({"a.yaml": POD}), profile({"a.yaml": POD}), pairs)  # same path


def test_each_share_of_a_batched_scan_is_what_the_scope_alone_reports(scanner, pairs):
    scopes = [{"a.yaml": POD.format(name="a")}, {"sub/b.yaml": POD.format(name="b")},
              {"x/main.tf": TF}, {"y/main.tf": TF}]
    together = scanner.scan_texts({p: t for s in scopes for p, t in s.items()})
    shares = split(together, [frozenset(s) for s in scopes])
    assert shares is not None
    for scope, share in zip(scopes, shares):
        assert keys(share) == keys(scanner.scan_texts(scope))
        assert keys(share)[0], "each scope has failures of its own, so the comparison means something"


def test_a_pod_scanned_beside_a_network_policy_would_differ(scanner):
    """Why the connection rule exists: CKV2_K8S_6 passes for a pod only with a NetworkPolicy in
    the same run. If this stops holding, the rule is stale, not wrong."""
    pod = {"a.yaml": POD.format(name="a")}
    alone = {k[0] for k in keys(scanner.scan_texts(pod))[0]}
    beside = split(scanner.scan_texts({**pod, "n.yaml": NETPOL}), [frozenset(pod), frozenset({"n.yaml"})])
    assert "CKV2_K8S_6" in alone
    assert "CKV2_K8S_6" not in {k[0] for k in keys(beside[0])[0]}


def test_waiting_requests_share_one_run_and_get_their_own_results(scanner, pairs):
    calls = []
    gate = threading.Event()

    def scan_texts(files):
        calls.append(sorted(files))
        gate.wait(timeout=30)
        return scanner.scan_texts(files)

    batcher = ScanBatcher(scan_texts, pairs)
    scopes = [{"first.yaml": POD.format(name="f")}] + [{f"p{i}.yaml": POD.format(name=f"p{i}")} for i in range(5)] \
        + [{"n.yaml": NETPOL}]
    results = [None] * len(scopes)

    def ask(index):
        results[index] = batcher(scopes[index])

    threads = [threading.Thread(target=ask, args=(0,))]
    threads[0].start()
    while not calls:  # the first request holds the scanner; the others queue behind it
        threading.Event().wait(0.01)
    for group in (range(1, len(scopes) - 1), [len(scopes) - 1]):   # the pods queue first, then the policy
        for index in group:
            threads.append(threading.Thread(target=ask, args=(index,)))
            threads[-1].start()
        while len(batcher._queue) < index:
            threading.Event().wait(0.01)
    gate.set()
    for thread in threads:
        thread.join(timeout=60)
    assert calls[0] == ["first.yaml"]
    assert calls[1] == sorted(f"p{i}.yaml" for i in range(5))   # one run for the five pods
    assert calls[2] == ["n.yaml"]                              # the NetworkPolicy on its own
    for scope, result in zip(scopes, results):
        assert keys(result) == keys(scanner.scan_texts(scope))


def test_a_failed_batch_is_scanned_scope_by_scope_so_the_error_reaches_its_owner(pairs):
    def scan_texts(files):
        if "bad.yaml" in files:
            raise RuntimeError("scanner refused bad.yaml")
        return "ok:" + ",".join(sorted(files))

    batcher = ScanBatcher(scan_texts, pairs)
    good, bad = {"good.yaml": POD}, {"bad.yaml": POD}
    requests = [_Request(good, profile(good)), _Request(bad, profile(bad))]
    batcher._run(requests)
    assert requests[0].result == "ok:good.yaml" and requests[0].error is None
    assert isinstance(requests[1].error, RuntimeError)


def test_a_run_with_shared_rescans_and_forked_proposals_reports_what_a_plain_run_does(scanner, tmp_path):
    """The engine's fast path (remediate with graph_connections) against its plain path, on a
    repository of several scopes: same attempts, same reasons, same changed texts."""
    from bot.local_scan import scan_directory
    from fixers.catalog import load_catalog
    from fixers.engine import remediate

    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.yaml").write_text(POD.format(name=name))
    (tmp_path / "policy.yaml").write_text(NETPOL)
    for directory in ("x", "y"):
        (tmp_path / directory).mkdir()
        (tmp_path / directory / "main.tf").write_text(
            'resource "aws_instance" "i" {\n  ami           = "ami-1"\n  instance_type = "t3.micro"\n}\n')
        (tmp_path / directory / "other.tf").write_text(
            'resource "aws_ebs_volume" "v" {\n  availability_zone = "a"\n  size              = 1\n}\n')
    findings, _ = scan_directory(scanner, tmp_path)
    catalog = load_catalog()
    plain = remediate(tmp_path, findings, scanner.scan_texts, catalog)
    fast = remediate(tmp_path, findings, scanner.scan_texts, catalog, graph_connections=scanner.graph_connections())

    def shape(report):
        return ([(a.status, a.reason, a.rule_ids, a.summary, a.fixer.info.id if a.fixer else None) for a in report.attempts],
                report.changes)

    assert plain.changes, "something was fixed, so the comparison means something"
    assert shape(fast) == shape(plain)
