"""From a checkov Kubernetes finding to the workload object, its pod spec and its containers.

A finding names its resource "Kind.namespace.name" and the lines of its document. The object
may be a document of a multi-document file or an item of a `kind: List`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fixers.edit.yaml_nodes import YamlEditError, compose_documents, load_documents
from fixers.models import Finding, Location, Unknown

# Where each workload kind keeps its pod spec, from the object's root.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}

CONTAINER_LISTS = ("containers", "initContainers")


@dataclass(frozen=True)
class Container:
    path: tuple           # from the document root
    list_name: str        # "containers" or "initContainers"
    name: str
    data: dict


@dataclass(frozen=True)
class Workload:
    doc_index: int
    path: tuple           # from the document root to the object: () or ("items", i)
    kind: str
    name: str
    data: dict
    pod_spec_path: tuple  # from the document root
    pod_spec: dict
    containers: tuple[Container, ...]
    location: Location

    def containers_in(self, lists: tuple[str, ...] = CONTAINER_LISTS) -> list[Container]:
        return [c for c in self.containers if c.list_name in lists]


@dataclass(frozen=True)
class _Candidate:
    doc_index: int
    path: tuple
    data: dict
    node: Any


def parse_resource(resource: str) -> tuple[str, str, str] | None:
    parts = resource.split(".", 2)  # names may contain dots; kinds and namespaces cannot
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def locate_workload(text: str, finding: Finding) -> Workload | Unknown:
    address = parse_resource(finding.resource)
    if address is None:
        return Unknown(f"resource {finding.resource!r} is not of the form Kind.namespace.name")
    kind, namespace, name = address
    try:
        nodes = compose_documents(text)
        docs = load_documents(text)
    except YamlEditError as exc:
        return Unknown(str(exc))
    if len(nodes) != len(docs):
        return Unknown("the file's documents could not be matched up; not editing it")
    matches = [c for c in _objects(nodes, docs) if _address_of(c.data) == (kind, namespace, name)]
    if not matches:
        return Unknown(f"no {kind} named {name!r} in namespace {namespace!r} found in {finding.file}")
    found = _closest_to_lines(matches, finding)
    if kind not in POD_SPEC_PATHS:
        return Unknown(f"{kind} {name!r} is not a workload with a pod spec (looked for {', '.join(POD_SPEC_PATHS)})")
    return _workload(found, kind, name, finding)


def _objects(nodes: list, docs: list) -> list[_Candidate]:
    found = []
    for index, (node, data) in enumerate(zip(nodes, docs)):
        if not isinstance(data, dict):
            continue
        if data.get("kind") == "List" and isinstance(data.get("items"), list):
            items_node = next((v for k, v in node.value if getattr(k, "value", None) == "items"), None)
            for i, item in enumerate(data["items"]):
                if isinstance(item, dict) and items_node is not None and i < len(items_node.value):
                    found.append(_Candidate(index, ("items", i), item, items_node.value[i]))
        else:
            found.append(_Candidate(index, (), data, node))
    return found


def _address_of(data: dict) -> tuple[str, str, str] | None:
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        return None
    return (str(data.get("kind")), str(metadata.get("namespace") or "default"), str(metadata.get("name")))


def _closest_to_lines(matches: list[_Candidate], finding: Finding) -> _Candidate:
    """Two objects with one address (a copy-paste slip) are told apart by the finding's lines."""
    if len(matches) == 1 or not finding.line_start:
        return matches[0]

    def distance(c: _Candidate) -> int:
        first = c.node.start_mark.line + 1
        return abs(first - finding.line_start)

    return min(matches, key=distance)


def _workload(found: _Candidate, kind: str, name: str, finding: Finding) -> Workload | Unknown:
    relative = POD_SPEC_PATHS[kind]
    spec: Any = found.data
    for step in relative:
        spec = spec.get(step) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        return Unknown(f"{kind} {name!r} has no pod spec at {'.'.join(relative)}")
    spec_path = found.path + relative
    containers = []
    for list_name in CONTAINER_LISTS:
        items = spec.get(list_name)
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(c, dict) for c in items):
            return Unknown(f"{kind} {name!r}: {list_name} is not a list of containers")
        for i, item in enumerate(items):
            containers.append(Container(spec_path + (list_name, i), list_name, str(item.get("name", f"#{i}")), item))
    location = Location(
        file=finding.file,
        start=found.node.start_mark.index,
        end=found.node.end_mark.index,
        layer="manifest",
        why=f"the {kind} manifest itself sets its pod spec ({'.'.join(relative)})",
    )
    return Workload(found.doc_index, found.path, kind, name, found.data, spec_path, spec, tuple(containers), location)
