"""Liveness and readiness probes: a TCP check on the port the container declares."""
from __future__ import annotations

from fixers.kubernetes.base import SetValue, per_container_plan, workload_fixer
from fixers.locate.kubernetes import Container
from fixers.models import Category, Confidence, Finding, Impact, Risk, Unknown

PROBE_KEYS = {"CKV_K8S_8": "livenessProbe", "CKV_K8S_9": "readinessProbe"}


def declared_port(container: Container) -> int | None:
    ports = container.data.get("ports")
    if not isinstance(ports, list):
        return None
    for port in ports:
        number = port.get("containerPort") if isinstance(port, dict) else None
        if isinstance(number, int) and not isinstance(number, bool) and 0 < number < 65536:
            if str(port.get("protocol", "TCP")).upper() == "TCP":
                return number
    return None


def _edits(container: Container, finding: Finding):
    port = declared_port(container)
    key = PROBE_KEYS[finding.rule_id]
    if port is None:
        return Unknown(f"container {container.name} declares no TCP containerPort, so there is nothing to probe for its {key}")
    return [SetValue(container.path + (key, "tcpSocket", "port"), port)]


# checkov checks probes only on regular containers (init containers cannot have them).
PROBES = workload_fixer(
    "k8s.probes",
    tuple(PROBE_KEYS),
    per_container_plan(
        ("containers",),
        lambda c, f: not c.data.get(PROBE_KEYS[f.rule_id]),
        _edits,
        "add a tcpSocket probe on the declared containerPort",
    ),
    "Containers get a liveness/readiness probe: a TCP check on their declared port. Whether the port "
    "answering means healthy is an assumption a reviewer confirms; with the default timings a slow-starting "
    "container is restarted by its liveness probe.",
    category=Category.AVAILABILITY,
    risk=Risk.MEDIUM,
    confidence=Confidence.ASSUMED_VALUE,
    impact=frozenset({Impact.AVAILABILITY}),
)

FIXERS = [PROBES]
