"""A Terraform state as `terraform show -json` prints it, reduced to what runtime mapping needs. Pure.

Read: ``values.root_module.resources[]`` and ``child_modules[]`` (recursively), each resource's
``address``, ``mode``, ``type``, ``name``, ``index`` and ``values.arn`` / ``id`` / ``bucket`` /
``name`` / ``tags``. Everything else (attribute values, sensitive values, outputs) is ignored.

Hostile input is bounded: the caller refuses a file over MAX_STATE_BYTES before parsing;
modules nested deeper than MAX_MODULE_DEPTH, resources beyond MAX_STATE_RESOURCES and tags beyond
MAX_TAGS per resource are refused with a StateError or skipped with a problem naming them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_STATE_BYTES = 32 * 1024 * 1024
MAX_MODULE_DEPTH = 16
MAX_STATE_RESOURCES = 50_000
MAX_TAGS = 50          # AWS allows 50 user tags per resource
MAX_IDENTIFIER = 2048  # an ARN is at most 2048 characters

_MODULE_STEP = re.compile(r'module\.([A-Za-z0-9_-]+)(\[(?:\d+|"(?:[^"\\]|\\.)*")\])?\.')


class StateError(ValueError):
    """The state as a whole is unusable; the message says why."""


@dataclass(frozen=True)
class StateResource:
    address: str                    # as terraform prints it: module.x["a"].aws_s3_bucket.y[0]
    module_calls: tuple[str, ...]   # ("x",): the module call names from the root, keys dropped
    type: str
    name: str
    arn: str = ""
    id: str = ""
    names: tuple[str, ...] = ()     # bucket / name: what a cloud tool may call the resource
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def block(self) -> str:
        """The declaring block as it reads in its file: aws_s3_bucket.y."""
        return f"{self.type}.{self.name}"


@dataclass(frozen=True)
class State:
    resources: tuple[StateResource, ...]
    problems: tuple[str, ...] = ()

    def root_declarations(self) -> set[tuple[str, str]]:
        """What the root module must declare: ("resource", type.name) and ("module", name)."""
        found: set[tuple[str, str]] = set()
        for r in self.resources:
            found.add(("module", r.module_calls[0]) if r.module_calls else ("resource", r.block))
        return found


def parse_state(raw: Any) -> State:
    """StateError when `raw` is not a `terraform show -json` document."""
    if not isinstance(raw, dict) or not isinstance(raw.get("values"), dict):
        raise StateError("not a `terraform show -json` document (no 'values' object)")
    root = raw["values"].get("root_module")
    if not isinstance(root, dict):
        raise StateError("no 'values.root_module' object")
    resources: list[StateResource] = []
    problems: list[str] = []
    stack: list[tuple[dict, int, str]] = [(root, 0, "root_module")]
    while stack:
        module, depth, where = stack.pop()
        if depth > MAX_MODULE_DEPTH:
            raise StateError(f"{where}: modules nested deeper than {MAX_MODULE_DEPTH} levels; refused")
        entries = module.get("resources") or []
        for i, entry in enumerate(entries if isinstance(entries, list) else []):
            if len(resources) >= MAX_STATE_RESOURCES:
                raise StateError(f"more than {MAX_STATE_RESOURCES} resources; refused")
            resource, why = _resource(entry)
            if resource is None:
                problems.append(f"state {where}.resources[{i}]: {why}")
            elif resource is not _SKIP:
                resources.append(resource)
        children = module.get("child_modules") or []
        for i, child in enumerate(children if isinstance(children, list) else []):
            if isinstance(child, dict):
                stack.append((child, depth + 1, f"{where}.child_modules[{i}]"))
    return State(tuple(resources), tuple(problems))


_SKIP = StateResource("", (), "", "")


def _resource(entry: Any) -> tuple[StateResource | None, str]:
    if not isinstance(entry, dict):
        return None, "not an object"
    address, rtype, name = entry.get("address"), entry.get("type"), entry.get("name")
    if not all(isinstance(v, str) and v and len(v) <= MAX_IDENTIFIER for v in (address, rtype, name)):
        return None, "missing or oversized 'address', 'type' or 'name'"
    if entry.get("mode", "managed") != "managed":
        return _SKIP, ""  # a data source describes something declared elsewhere: never a fix target
    calls = tuple(m.group(1) for m in _MODULE_STEP.finditer(_module_prefix(address)))
    values = entry.get("values") if isinstance(entry.get("values"), dict) else {}
    tags = values.get("tags_all") if isinstance(values.get("tags_all"), dict) else values.get("tags")
    tag_items = _tags(tags)
    if tag_items is None:
        return None, f"more than {MAX_TAGS} tags; refused"
    names = tuple(v for v in (values.get("bucket"), values.get("name"))
                  if isinstance(v, str) and v and len(v) <= MAX_IDENTIFIER)
    return StateResource(address=address, module_calls=calls, type=rtype, name=name,
                         arn=_text(values.get("arn")), id=_text(values.get("id")),
                         names=names, tags=tag_items), ""


def _module_prefix(address: str) -> str:
    """The `module.a.module.b["k"].` part of an address (resource name and key dropped)."""
    end = 0
    for match in _MODULE_STEP.finditer(address):
        if match.start() != end:
            break
        end = match.end()
    return address[:end]


def _tags(tags: Any) -> tuple[tuple[str, str], ...] | None:
    if not isinstance(tags, dict):
        return ()
    if len(tags) > MAX_TAGS:
        return None
    return tuple(sorted((k, v) for k, v in tags.items() if isinstance(k, str) and isinstance(v, str)))


def _text(value: Any) -> str:
    return value if isinstance(value, str) and len(value) <= MAX_IDENTIFIER else ""
