"""Resource requests and limits: modest assumed values that a reviewer confirms."""
from __future__ import annotations

import re
from decimal import Decimal

from fixers.kubernetes.base import SetValue, per_container_plan, workload_fixer
from fixers.locate.kubernetes import CONTAINER_LISTS, Container
from fixers.models import Category, Confidence, Finding, Impact, Risk, Unknown

DEFAULTS = {
    ("requests", "cpu"): "100m",
    ("requests", "memory"): "128Mi",
    ("limits", "cpu"): "500m",
    ("limits", "memory"): "512Mi",
}
RULES = {
    "CKV_K8S_10": ("requests", "cpu"),
    "CKV_K8S_11": ("limits", "cpu"),
    "CKV_K8S_12": ("requests", "memory"),
    "CKV_K8S_13": ("limits", "memory"),
}

_SUFFIX = {
    "m": Decimal("0.001"), "": Decimal(1),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")


def parse_quantity(value: object) -> Decimal | None:
    """A Kubernetes quantity as a number of base units; None when it is not one we understand."""
    if isinstance(value, bool):
        return None
    match = _QUANTITY.match(str(value).strip())
    return Decimal(match.group(1)) * _SUFFIX[match.group(2) or ""] if match else None


def _section(container: Container, name: str) -> dict:
    resources = container.data.get("resources")
    section = resources.get(name) if isinstance(resources, dict) else None
    return section if isinstance(section, dict) else {}


def choose_value(container: Container, section: str, resource: str) -> str | Unknown:
    """The default, moved so that a limit is never below the request (and a request never above the limit)."""
    default = DEFAULTS[(section, resource)]
    other_name = "requests" if section == "limits" else "limits"
    other = _section(container, other_name).get(resource)
    if other is None:
        return default
    other_amount = parse_quantity(other)
    if other_amount is None:
        return Unknown(f"container {container.name}: {other_name}.{resource} {other!r} is not a quantity this fixer understands")
    mine = parse_quantity(default)
    too_low = section == "limits" and mine < other_amount
    too_high = section == "requests" and mine > other_amount
    return str(other) if too_low or too_high else default


def _edits(container: Container, finding: Finding):
    section, resource = RULES[finding.rule_id]
    value = choose_value(container, section, resource)
    if isinstance(value, Unknown):
        return value
    return [SetValue(container.path + ("resources", section, resource), value)]


def _violates(container: Container, finding: Finding) -> bool:
    section, resource = RULES[finding.rule_id]
    return not _section(container, section).get(resource)


RESOURCES = workload_fixer(
    "k8s.resources",
    tuple(RULES),
    per_container_plan(CONTAINER_LISTS, _violates, _edits, "set the missing resource request or limit (assumed value)"),
    "Containers declare CPU and memory requests and limits: requests 100m/128Mi, limits 500m/512Mi unless "
    "an existing value says otherwise. The numbers are guesses a reviewer must confirm: a memory limit "
    "below real use gets the container OOM-killed, a CPU limit throttles it.",
    category=Category.RESOURCES,
    risk=Risk.MEDIUM,
    confidence=Confidence.ASSUMED_VALUE,
    impact=frozenset({Impact.AVAILABILITY}),
)

FIXERS = [RESOURCES]
