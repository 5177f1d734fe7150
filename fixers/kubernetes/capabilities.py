"""Linux capabilities: drop ALL, and take away added ones."""
from __future__ import annotations

from fixers.kubernetes.base import AppendItem, RemoveItem, per_container_plan, security_context, workload_fixer
from fixers.locate.kubernetes import CONTAINER_LISTS, Container
from fixers.models import Confidence, Finding, Impact, Risk

# What each rule accepts in capabilities.drop (checkov matches substrings of each item).
_ACCEPTED_DROPS = {"CKV_K8S_37": ("ALL", "all"), "CKV_K8S_28": ("ALL", "all", "NET_RAW")}


def _capabilities(container: Container) -> dict:
    value = security_context(container.data).get("capabilities")
    return value if isinstance(value, dict) else {}


def _misses_drop(container: Container, finding: Finding) -> bool:
    accepted = _ACCEPTED_DROPS.get(finding.rule_id, _ACCEPTED_DROPS["CKV_K8S_37"])
    drops = _capabilities(container).get("drop") or []
    return not any(isinstance(d, str) and any(a in d for a in accepted) for d in drops)


DROP_CAPABILITIES = workload_fixer(
    "k8s.drop-capabilities",
    ("CKV_K8S_37", "CKV_K8S_28"),
    per_container_plan(
        CONTAINER_LISTS,
        _misses_drop,
        lambda c, f: [AppendItem(c.path + ("securityContext", "capabilities", "drop"), "ALL")],
        "add ALL to securityContext.capabilities.drop",
    ),
    "Containers drop every Linux capability (ALL covers NET_RAW); added ones stay as declared. Images "
    "that bind low ports, chown or switch user at start (nginx, postgres) need some added back.",
    risk=Risk.MEDIUM,
    confidence=Confidence.ASSUMED_VALUE,
    impact=frozenset({Impact.COMPATIBILITY}),
)


def _added(container: Container, finding: Finding) -> list[str]:
    adds = _capabilities(container).get("add") or []
    if not isinstance(adds, list):
        return []
    if finding.rule_id == "CKV_K8S_39":
        return [a for a in adds if a == "SYS_ADMIN"]
    return [a for a in adds if isinstance(a, str)]


# Taking a capability away can break a workload that really uses it: medium risk, a reviewer confirms.
ADDED_CAPABILITIES = workload_fixer(
    "k8s.added-capabilities",
    ("CKV_K8S_25", "CKV_K8S_39"),
    per_container_plan(
        CONTAINER_LISTS,
        lambda c, f: bool(_added(c, f)),
        lambda c, f: [RemoveItem(c.path + ("securityContext", "capabilities", "add"), cap) for cap in _added(c, f)],
        "remove added capabilities from securityContext.capabilities.add",
    ),
    "Containers do not add Linux capabilities (CKV_K8S_39: SYS_ADMIN only).",
    risk=Risk.MEDIUM,
    confidence=Confidence.ASSUMED_VALUE,
    impact=frozenset({Impact.COMPATIBILITY}),
)

FIXERS = [DROP_CAPABILITIES, ADDED_CAPABILITIES]
