"""Command-line flags of control-plane containers (kube-apiserver, kubelet, etcd, ...), from a table.

checkov reads only the container's `command` list, and only when it holds the binary's name as
an item. Each rule becomes one action on that list; values that need knowledge of the cluster
(certificate paths, encryption config) are Unknown with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass

from fixers.kubernetes.base import AppendItem, Edit, Plan, RemoveItem, SetValue, workload_fixer
from fixers.locate.kubernetes import Container, Workload
from fixers.models import Confidence, Finding, Impact, Risk, Unknown

APISERVER, KUBELET, ETCD = "kube-apiserver", "kubelet", "etcd"
CONTROLLER, SCHEDULER = "kube-controller-manager", "kube-scheduler"


@dataclass(frozen=True)
class SetFlag:
    binary: str
    flag: str
    value: str


@dataclass(frozen=True)
class ListFlag:
    """A comma-separated flag that must contain `item` (or must not, when remove is set)."""

    binary: str
    flag: str
    item: str
    when_missing: str = ""  # value to use when the flag is absent; "" means add `item` alone
    remove: bool = False


@dataclass(frozen=True)
class DropFlag:
    binary: str
    flag: str


@dataclass(frozen=True)
class NeedsPerson:
    binary: str
    why: str


TABLE: dict[str, SetFlag | ListFlag | DropFlag | NeedsPerson] = {
    # kube-apiserver
    "CKV_K8S_68": SetFlag(APISERVER, "--anonymous-auth", "false"),
    "CKV_K8S_69": DropFlag(APISERVER, "--basic-auth-file"),
    "CKV_K8S_70": DropFlag(APISERVER, "--token-auth-file"),
    # Removed flags: an API server given them does not start.
    "CKV_K8S_71": NeedsPerson(APISERVER, "--kubelet-https was removed in Kubernetes 1.22 (HTTPS to kubelets is "
                                         "unconditional since 1.19); an API server given it does not start"),
    "CKV_K8S_72": NeedsPerson(APISERVER, "--kubelet-client-certificate/--kubelet-client-key need the cluster's certificate paths"),
    "CKV_K8S_74": ListFlag(APISERVER, "--authorization-mode", "AlwaysAllow", remove=True),
    "CKV_K8S_75": ListFlag(APISERVER, "--authorization-mode", "Node", when_missing="Node,RBAC"),
    "CKV_K8S_77": ListFlag(APISERVER, "--authorization-mode", "RBAC", when_missing="Node,RBAC"),
    "CKV_K8S_79": ListFlag(APISERVER, "--enable-admission-plugins", "AlwaysAdmit", remove=True),
    "CKV_K8S_80": ListFlag(APISERVER, "--enable-admission-plugins", "AlwaysPullImages"),
    "CKV_K8S_81": NeedsPerson(APISERVER, "SecurityContextDeny is removed from current Kubernetes; choose Pod Security Admission instead"),
    "CKV_K8S_82": ListFlag(APISERVER, "--enable-admission-plugins", "ServiceAccount"),
    "CKV_K8S_83": ListFlag(APISERVER, "--enable-admission-plugins", "NamespaceLifecycle"),
    "CKV_K8S_84": NeedsPerson(APISERVER, "PodSecurityPolicy was removed in Kubernetes 1.25; enabling it would stop the API server"),
    "CKV_K8S_85": ListFlag(APISERVER, "--enable-admission-plugins", "NodeRestriction"),
    "CKV_K8S_86": DropFlag(APISERVER, "--insecure-bind-address"),
    "CKV_K8S_88": NeedsPerson(APISERVER, "--insecure-port was removed in Kubernetes 1.24 (the insecure port is "
                                         "gone since 1.20); an API server given it does not start"),
    "CKV_K8S_89": NeedsPerson(APISERVER, "--secure-port needs the port the cluster serves on"),
    "CKV_K8S_90": SetFlag(APISERVER, "--profiling", "false"),
    "CKV_K8S_91": NeedsPerson(APISERVER, "--audit-log-path needs a log path and a volume for it"),
    "CKV_K8S_92": SetFlag(APISERVER, "--audit-log-maxage", "30"),
    "CKV_K8S_93": SetFlag(APISERVER, "--audit-log-maxbackup", "10"),
    "CKV_K8S_94": SetFlag(APISERVER, "--audit-log-maxsize", "100"),
    "CKV_K8S_95": NeedsPerson(APISERVER, "--request-timeout depends on the cluster's workload"),
    "CKV_K8S_96": SetFlag(APISERVER, "--service-account-lookup", "true"),
    "CKV_K8S_97": NeedsPerson(APISERVER, "--service-account-key-file needs the path of the cluster's key"),
    "CKV_K8S_99": NeedsPerson(APISERVER, "--etcd-certfile/--etcd-keyfile need the cluster's certificate paths"),
    "CKV_K8S_100": NeedsPerson(APISERVER, "--tls-cert-file/--tls-private-key-file need the cluster's certificate paths"),
    "CKV_K8S_102": NeedsPerson(APISERVER, "--etcd-cafile needs the cluster's CA path"),
    "CKV_K8S_104": NeedsPerson(APISERVER, "--encryption-provider-config needs an encryption configuration file"),
    "CKV_K8S_105": NeedsPerson(APISERVER, "--tls-cipher-suites must match what the cluster's clients support"),
    # kube-controller-manager
    "CKV_K8S_106": SetFlag(CONTROLLER, "--terminated-pod-gc-threshold", "12500"),  # the upstream default, made explicit
    "CKV_K8S_107": SetFlag(CONTROLLER, "--profiling", "false"),
    "CKV_K8S_108": SetFlag(CONTROLLER, "--use-service-account-credentials", "true"),
    "CKV_K8S_110": NeedsPerson(CONTROLLER, "--service-account-private-key-file needs the path of the cluster's key"),
    "CKV_K8S_111": NeedsPerson(CONTROLLER, "--root-ca-file needs the cluster's CA path"),
    "CKV_K8S_113": SetFlag(CONTROLLER, "--bind-address", "127.0.0.1"),
    # kube-scheduler
    "CKV_K8S_114": SetFlag(SCHEDULER, "--profiling", "false"),
    "CKV_K8S_115": SetFlag(SCHEDULER, "--bind-address", "127.0.0.1"),
    # etcd
    "CKV_K8S_116": NeedsPerson(ETCD, "--cert-file/--key-file need the cluster's certificate paths"),
    "CKV_K8S_117": SetFlag(ETCD, "--client-cert-auth", "true"),
    "CKV_K8S_118": SetFlag(ETCD, "--auto-tls", "false"),
    "CKV_K8S_119": NeedsPerson(ETCD, "--peer-cert-file/--peer-key-file need the cluster's certificate paths"),
    # kubelet
    "CKV_K8S_138": SetFlag(KUBELET, "--anonymous-auth", "false"),
    "CKV_K8S_139": ListFlag(KUBELET, "--authorization-mode", "AlwaysAllow", remove=True),
    "CKV_K8S_140": NeedsPerson(KUBELET, "--client-ca-file needs the cluster's CA path"),
    "CKV_K8S_141": SetFlag(KUBELET, "--read-only-port", "0"),
    "CKV_K8S_143": SetFlag(KUBELET, "--streaming-connection-idle-timeout", "5m"),
    "CKV_K8S_144": SetFlag(KUBELET, "--protect-kernel-defaults", "true"),
    "CKV_K8S_145": SetFlag(KUBELET, "--make-iptables-util-chains", "true"),
    "CKV_K8S_146": DropFlag(KUBELET, "--hostname-override"),
    "CKV_K8S_147": SetFlag(KUBELET, "--event-qps", "5"),
    "CKV_K8S_148": NeedsPerson(KUBELET, "--tls-cert-file/--tls-private-key-file need the cluster's certificate paths"),
    "CKV_K8S_149": SetFlag(KUBELET, "--rotate-certificates", "true"),
    "CKV_K8S_151": NeedsPerson(KUBELET, "--tls-cipher-suites must match what the cluster's clients support"),
}


def _flag_of(item: object) -> str:
    return str(item).split("=", 1)[0]


def command_edits(container: Container, action) -> list[Edit] | Unknown:
    """The edits that make one container's command satisfy the action (empty when it already does)."""
    command = container.data.get("command")
    path = container.path + ("command",)
    args = container.data.get("args")
    if isinstance(args, list) and any(_flag_of(a) == action.flag for a in args):
        return Unknown(f"container {container.name} also sets {action.flag} in args, which would override command")
    positions = [i for i, item in enumerate(command) if _flag_of(item) == action.flag]
    if isinstance(action, DropFlag):
        return [RemoveItem(path, command[i]) for i in positions]
    if len(positions) > 1:
        return Unknown(f"container {container.name} sets {action.flag} {len(positions)} times; which one counts is unclear")
    if isinstance(action, SetFlag):
        wanted = f"{action.flag}={action.value}"
        if not positions:
            return [AppendItem(path, wanted)]
        return [] if command[positions[0]] == wanted else [SetValue(path + (positions[0],), wanted)]
    if not positions:
        return [] if action.remove else [AppendItem(path, f"{action.flag}={action.when_missing or action.item}")]
    current = str(command[positions[0]])
    values = [v for v in current.split("=", 1)[1].split(",") if v] if "=" in current else []
    if action.remove:
        kept = [v for v in values if v != action.item]
        if kept == values:
            return []
        if not kept:
            return Unknown(f"removing {action.item} would leave {action.flag} empty; a person must choose its value")
        values = kept
    elif action.item in values:
        return []
    else:
        values.append(action.item)
    return [SetValue(path + (positions[0],), f"{action.flag}={','.join(values)}")]


def _plan(workload: Workload, finding: Finding) -> Plan | Unknown:
    action = TABLE[finding.rule_id]
    targets = [
        c for c in workload.containers
        if isinstance(c.data.get("command"), list) and action.binary in c.data["command"]
    ]
    if isinstance(action, NeedsPerson):
        return Unknown(f"{finding.rule_id}: {action.why}")
    edits: list[Edit] = []
    for container in targets:
        planned = command_edits(container, action)
        if isinstance(planned, Unknown):
            return planned
        edits.extend(planned)
    what = f"remove {action.flag}" if isinstance(action, DropFlag) else (
        f"set {action.flag}={action.value}" if isinstance(action, SetFlag)
        else f"{'remove' if action.remove else 'add'} {action.item} in {action.flag}")
    return Plan(tuple(edits), f"{what} on {action.binary} in {workload.kind} {workload.name}")


# Control-plane flags change how the cluster itself runs, and a wrong one stops the component
# (e.g. --anonymous-auth=false fails kubeadm's unauthenticated liveness probes): a person reviews every one.
CONTROL_PLANE_FLAGS = workload_fixer(
    "k8s.control-plane-flags",
    tuple(TABLE),
    _plan,
    "Sets, adds or removes one command-line flag of a kube-apiserver, kubelet, etcd, controller-manager "
    "or scheduler container, as the CIS benchmark checks in checkov ask.",
    risk=Risk.HIGH,
    confidence=Confidence.ASSUMED_VALUE,
    impact=frozenset({Impact.AVAILABILITY, Impact.COMPATIBILITY}),
)

FIXERS = [CONTROL_PLANE_FLAGS]
