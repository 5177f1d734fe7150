"""Locate a Terraform finding: from checkov's resource address and lines to the block in the file.

checkov names a resource `type.name`, `module.m.type.name`, with `[0]` or `["key"]` for count and
for_each instances; data sources come without their `data.` prefix. The block's own literal is
the layer we edit; when the inspected value is computed (var.x, local.y, a function...), the value
lives in another layer that is not followed yet, and the fixer says so.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from lark import Tree

from fixers.edit.hcl import Block, HclEditError, top_level_blocks
from fixers.models import Finding, Location

_INSTANCE_KEY = re.compile(r'\[(?:\d+|"(?:[^"\\]|\\.)*")\]$')


@dataclass(frozen=True)
class Address:
    kind: str            # "resource", "data", "module", "provider"
    labels: tuple[str, ...]


def parse_address(resource: str) -> Address | None:
    """checkov's resource string without module path and instance key."""
    parts = _split_address(resource)
    while len(parts) > 2 and parts[0] == "module":
        parts = parts[2:]
    if len(parts) == 3 and parts[0] == "data":
        return Address("data", tuple(parts[1:]))
    if len(parts) == 2 and parts[0] == "module":
        return Address("module", (parts[1],))
    if len(parts) == 2:
        return Address("resource", tuple(parts))
    if len(parts) == 1:
        return Address("module", (parts[0],))  # checkov names module calls by their bare name
    return None


def _split_address(resource: str) -> list[str]:
    """Split on dots outside ["..."] keys and drop instance keys."""
    parts = re.findall(r'(?:[^.\["]|\[(?:\d+|"(?:[^"\\]|\\.)*")\])+', resource)
    return [_INSTANCE_KEY.sub("", p) for p in parts]


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _candidates(tree: Tree, address: Address) -> list[Block]:
    blocks = top_level_blocks(tree)
    if address.kind == "module":
        return [b for b in blocks if b.type == "module" and b.labels == address.labels]
    if address.kind == "data":
        return [b for b in blocks if b.type == "data" and b.labels == address.labels]
    # checkov drops `data.` for data-source checks, so a two-part name may be either kind.
    exact = [b for b in blocks if b.type == "resource" and b.labels == address.labels]
    return exact or [b for b in blocks if b.type == "data" and b.labels == address.labels]


def find_finding_block(text: str, tree: Tree, finding: Finding) -> Block:
    """The finding's block; the line range breaks ties and rescues odd addresses."""
    address = parse_address(finding.resource)
    candidates = _candidates(tree, address) if address else []
    if len(candidates) == 1:
        return candidates[0]
    by_line = [b for b in (candidates or top_level_blocks(tree)) if _line_of(text, b.start) == finding.line_start]
    if len(by_line) == 1:
        return by_line[0]
    raise HclEditError(f"could not find {finding.resource} in {finding.file}"
                       + (f" at line {finding.line_start}" if finding.line_start else ""))


def locate(text: str, tree: Tree, finding: Finding) -> Location:
    block = find_finding_block(text, tree, finding)
    return Location(
        file=finding.file, start=block.start, end=block.end, layer="resource",
        why=f"the value is a literal of {finding.resource} in {finding.file}",
    )


def non_literal_reason(name: str, expression: str) -> str:
    """Why a computed value cannot be edited in the resource, naming where it comes from."""
    text = " ".join(expression.split())
    reference = re.fullmatch(r"(var|local)\.([A-Za-z0-9_-]+)", text)
    if reference:
        kind = "variables" if reference.group(1) == "var" else "locals"
        return f"the value of {name} comes from {text}; following {kind} is not supported yet"
    shown = text if len(text) <= 60 else text[:57] + "..."
    return (f"the value of {name} comes from the expression `{shown}`, not a literal; "
            "following expressions is not supported yet")
