"""Container-level securityContext settings and imagePullPolicy, mirroring checkov's predicates."""
from __future__ import annotations

import re

from fixers.kubernetes.base import SetValue, per_container_plan, security_context, workload_fixer
from fixers.locate.kubernetes import CONTAINER_LISTS, Container
from fixers.models import Confidence, Finding, Impact, Risk, Unknown


def _sc_path(container: Container, key: str) -> tuple:
    return container.path + ("securityContext", key)


# CKV_K8S_20 passes only on an explicit `allowPrivilegeEscalation: false`.
ALLOW_PRIVILEGE_ESCALATION = workload_fixer(
    "k8s.allow-privilege-escalation",
    ("CKV_K8S_20",),
    per_container_plan(
        CONTAINER_LISTS,
        lambda c, f: security_context(c.data).get("allowPrivilegeEscalation") is not False,
        lambda c, f: [SetValue(_sc_path(c, "allowPrivilegeEscalation"), False)],
        "set securityContext.allowPrivilegeEscalation: false",
    ),
    "Containers must not gain more privileges than their parent process.",
)

# CKV_K8S_16 fails on any truthy `privileged`; absent passes, so only a set value changes. That
# value was written on purpose (CNI, CSI and node agents need it): a reviewer confirms.
PRIVILEGED = workload_fixer(
    "k8s.privileged",
    ("CKV_K8S_16",),
    per_container_plan(
        CONTAINER_LISTS,
        lambda c, f: bool(security_context(c.data).get("privileged")),
        lambda c, f: [SetValue(_sc_path(c, "privileged"), False)],
        "set securityContext.privileged: false",
    ),
    "Containers must not run privileged (only containers that set privileged: true are changed; "
    "node agents that need it break).",
    risk=Risk.MEDIUM,
    confidence=Confidence.ASSUMED_VALUE,
    impact=frozenset({Impact.COMPATIBILITY}),
)

# The root filesystem turning read-only breaks images that write outside volumes: a reviewer confirms.
READ_ONLY_ROOT_FILESYSTEM = workload_fixer(
    "k8s.read-only-root-filesystem",
    ("CKV_K8S_22",),
    per_container_plan(
        CONTAINER_LISTS,
        lambda c, f: not security_context(c.data).get("readOnlyRootFilesystem"),
        lambda c, f: [SetValue(_sc_path(c, "readOnlyRootFilesystem"), True)],
        "set securityContext.readOnlyRootFilesystem: true",
    ),
    "Containers get a read-only root filesystem (the app must write only to volumes).",
    risk=Risk.MEDIUM,
    confidence=Confidence.ASSUMED_VALUE,
    impact=frozenset({Impact.COMPATIBILITY}),
)

# CKV_K8S_30 wants a non-empty securityContext; allowPrivilegeEscalation: false is the setting
# that is safe for every workload, so it is what fills an absent or empty one.
CONTAINER_SECURITY_CONTEXT = workload_fixer(
    "k8s.container-security-context",
    ("CKV_K8S_30",),
    per_container_plan(
        CONTAINER_LISTS,
        lambda c, f: not c.data.get("securityContext"),
        lambda c, f: [SetValue(_sc_path(c, "allowPrivilegeEscalation"), False)],
        "add a securityContext with allowPrivilegeEscalation: false",
    ),
    "Every container declares a securityContext.",
)


_IMAGE = re.compile(r"^(?:[^/]+/)*[^:/@]+(?::(?P<tag>[\w][\w.-]*))?$")


def _pull_policy_violates(container: Container, finding: Finding) -> bool:
    """checkov CKV_K8S_15: without a policy, only a pinned non-latest tag without digest fails."""
    data = container.data
    image = data.get("image")
    if not image:
        return True
    if not isinstance(image, str) or "@" in image:
        return False
    if "imagePullPolicy" not in data:
        match = _IMAGE.match(image.strip())
        return bool(match and match.group("tag") not in (None, "", "latest"))
    return data["imagePullPolicy"] != "Always"


def _pull_policy_edits(container: Container, finding: Finding):
    if not container.data.get("image"):
        return Unknown(f"container {container.name} has no image; nothing to pull")
    return [SetValue(container.path + ("imagePullPolicy",), "Always")]


IMAGE_PULL_POLICY = workload_fixer(
    "k8s.image-pull-policy",
    ("CKV_K8S_15",),
    per_container_plan(CONTAINER_LISTS, _pull_policy_violates, _pull_policy_edits, "set imagePullPolicy: Always"),
    "Images are pulled on every start, so a moved tag cannot serve a stale or planted image; a registry "
    "outage or rate limit then keeps pods from starting.",
    confidence=Confidence.ASSUMED_VALUE,
    impact=frozenset({Impact.AVAILABILITY}),
)

FIXERS = [ALLOW_PRIVILEGE_ESCALATION, PRIVILEGED, READ_ONLY_ROOT_FILESYSTEM, CONTAINER_SECURITY_CONTEXT, IMAGE_PULL_POLICY]
