"""Pod-level settings: host namespaces, pod securityContext, seccomp, service-account token, users."""
from __future__ import annotations

from fixers.kubernetes.base import Edit, Plan, SetValue, security_context, workload_fixer
from fixers.locate.kubernetes import Workload
from fixers.models import Category, Confidence, Finding, Impact, Risk, Unknown

NON_ROOT_UID = 10001  # CKV_K8S_40 wants >= 10000; one above keeps clear of the boundary


def _pod_flag_off(key: str, rule: str, what: str):
    """hostPID/hostIPC/hostNetwork: checkov fails only on a truthy value, so only that value changes.

    A value written on purpose (node agents, monitoring, CNI need the host's namespaces): a reviewer confirms.
    """

    def plan(workload: Workload, finding: Finding) -> Plan:
        if not workload.pod_spec.get(key):
            return Plan((), "")
        return Plan((SetValue(workload.pod_spec_path + (key,), False),), f"set {key}: false on {workload.kind} {workload.name}")

    return workload_fixer(f"k8s.{what}", (rule,), plan,
                          f"The pod does not share the host's {key[4:]} namespace (only an explicit {key}: true "
                          "is changed; agents that need it break).",
                          risk=Risk.MEDIUM, confidence=Confidence.ASSUMED_VALUE, impact=frozenset({Impact.COMPATIBILITY}))


HOST_PID = _pod_flag_off("hostPID", "CKV_K8S_17", "host-pid")
HOST_IPC = _pod_flag_off("hostIPC", "CKV_K8S_18", "host-ipc")
HOST_NETWORK = _pod_flag_off("hostNetwork", "CKV_K8S_19", "host-network")


# checkov's CKV_K8S_31 reads the pod-level profile only for these kinds; for the others it reads
# only the old annotation on the pod template, so those get both.
_SECCOMP_FIELD_KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet", "CronJob")
SECCOMP_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"


def _seccomp_edits(workload: Workload) -> list[Edit] | Unknown:
    edits: list[Edit] = []
    profile = security_context(workload.pod_spec).get("seccompProfile")
    current = profile.get("type") if isinstance(profile, dict) else None
    if current == "Localhost":
        return Unknown(f"{workload.kind} {workload.name} uses a Localhost seccomp profile; replacing a custom profile needs a person")
    if current != "RuntimeDefault":
        edits.append(SetValue(workload.pod_spec_path + ("securityContext", "seccompProfile", "type"), "RuntimeDefault"))
    for container in workload.containers:
        own = security_context(container.data).get("seccompProfile")
        own_type = own.get("type") if isinstance(own, dict) else None
        if own_type == "Localhost":
            return Unknown(f"container {container.name} uses a Localhost seccomp profile; replacing a custom profile needs a person")
        if own_type not in (None, "RuntimeDefault"):  # a container's Unconfined would override the pod's
            edits.append(SetValue(container.path + ("securityContext", "seccompProfile", "type"), "RuntimeDefault"))
    if workload.kind not in _SECCOMP_FIELD_KINDS:
        template = workload.pod_spec_path[:-1]
        edits.append(SetValue(template + ("metadata", "annotations", SECCOMP_ANNOTATION), "runtime/default"))
    return edits


def _seccomp_plan(workload: Workload, finding: Finding) -> Plan | Unknown:
    edits = _seccomp_edits(workload)
    if isinstance(edits, Unknown):
        return edits
    return Plan(tuple(edits), f"set seccompProfile type RuntimeDefault on {workload.kind} {workload.name}")


SECCOMP = workload_fixer(
    "k8s.seccomp-runtime-default",
    ("CKV_K8S_31",),
    _seccomp_plan,
    "The pod runs under the container runtime's default seccomp profile.",
)


def _pod_security_context_plan(workload: Workload, finding: Finding) -> Plan | Unknown:
    # An empty securityContext fails CKV_K8S_29; RuntimeDefault seccomp is the setting safe for all pods.
    if workload.pod_spec.get("securityContext"):
        return Plan((), "")
    edits = _seccomp_edits(workload)
    if isinstance(edits, Unknown):
        return edits
    return Plan(tuple(edits), f"add a pod securityContext (seccompProfile RuntimeDefault) to {workload.kind} {workload.name}")


POD_SECURITY_CONTEXT = workload_fixer(
    "k8s.pod-security-context",
    ("CKV_K8S_29",),
    _pod_security_context_plan,
    "The pod declares a securityContext.",
)


def _automount_plan(workload: Workload, finding: Finding) -> Plan:
    if workload.pod_spec.get("automountServiceAccountToken") is False:
        return Plan((), "")
    return Plan(
        (SetValue(workload.pod_spec_path + ("automountServiceAccountToken",), False),),
        f"set automountServiceAccountToken: false on {workload.kind} {workload.name}",
    )


# Pods that call the Kubernetes API lose their token: low in blast radius, but not invisible.
AUTOMOUNT_SERVICE_ACCOUNT_TOKEN = workload_fixer(
    "k8s.automount-service-account-token",
    ("CKV_K8S_38",),
    _automount_plan,
    "The pod does not mount a service-account token it does not ask for (pods that call the Kubernetes "
    "API lose their credentials).",
    category=Category.IDENTITY,
    risk=Risk.MEDIUM,
    confidence=Confidence.ASSUMED_VALUE,
    impact=frozenset({Impact.COMPATIBILITY}),
)


def _uid_state(context: dict, minimum: int) -> str:
    if "runAsUser" not in context:
        return "absent"
    value = context["runAsUser"]
    return "ok" if isinstance(value, int) and not isinstance(value, bool) and value >= minimum else "low"


def _non_root_plan(workload: Workload, finding: Finding) -> Plan | Unknown:
    """CKV_K8S_23 via pod runAsNonRoot: true, and container overrides that say false flipped."""
    edits: list[Edit] = []
    for container in workload.containers_in(("containers",)):
        context = security_context(container.data)
        if context.get("runAsUser") == 0:
            return Unknown(f"container {container.name} sets runAsUser: 0; it runs as root on purpose and a person must choose its user")
        if "runAsNonRoot" in context and not context["runAsNonRoot"] and _uid_state(context, 1) != "ok":
            edits.append(SetValue(container.path + ("securityContext", "runAsNonRoot"), True))
    pod_context = security_context(workload.pod_spec)
    if not pod_context.get("runAsNonRoot") and (edits or not _all_containers_non_root(workload)):
        edits.insert(0, SetValue(workload.pod_spec_path + ("securityContext", "runAsNonRoot"), True))
    return Plan(tuple(edits), f"set runAsNonRoot: true on {workload.kind} {workload.name}")


def _all_containers_non_root(workload: Workload) -> bool:
    def ok(context: dict) -> bool:
        return bool(context.get("runAsNonRoot")) or _uid_state(context, 1) == "ok"

    pod_ok = ok(security_context(workload.pod_spec))
    return all(pod_ok or ok(security_context(c.data)) for c in workload.containers_in(("containers",)))


RUN_AS_NON_ROOT = workload_fixer(
    "k8s.run-as-non-root",
    ("CKV_K8S_23",),
    _non_root_plan,
    "Containers must not run as root (the image must have a non-root user).",
    risk=Risk.MEDIUM,
    confidence=Confidence.ASSUMED_VALUE,
    impact=frozenset({Impact.COMPATIBILITY}),
)


def _high_uid_plan(workload: Workload, finding: Finding) -> Plan:
    """CKV_K8S_40: pod runAsUser >= 10000, and container values below it raised too."""
    if workload.pod_spec.get("hostUsers") is False:
        return Plan((), "")
    edits: list[Edit] = []
    if _uid_state(security_context(workload.pod_spec), 10000) != "ok":
        edits.append(SetValue(workload.pod_spec_path + ("securityContext", "runAsUser"), NON_ROOT_UID))
    for container in workload.containers_in(("containers",)):
        if _uid_state(security_context(container.data), 10000) == "low":
            edits.append(SetValue(container.path + ("securityContext", "runAsUser"), NON_ROOT_UID))
    return Plan(tuple(edits), f"set runAsUser: {NON_ROOT_UID} on {workload.kind} {workload.name}")


RUN_AS_HIGH_UID = workload_fixer(
    "k8s.run-as-high-uid",
    ("CKV_K8S_40",),
    _high_uid_plan,
    f"Containers run as a high user id ({NON_ROOT_UID}) that cannot collide with host users.",
    risk=Risk.MEDIUM,
    confidence=Confidence.ASSUMED_VALUE,
    impact=frozenset({Impact.COMPATIBILITY}),
)

FIXERS = [
    HOST_PID, HOST_IPC, HOST_NETWORK, SECCOMP, POD_SECURITY_CONTEXT,
    AUTOMOUNT_SERVICE_ACCOUNT_TOKEN, RUN_AS_NON_ROOT, RUN_AS_HIGH_UID,
]
