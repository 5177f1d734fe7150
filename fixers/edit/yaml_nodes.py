"""Reading YAML text as positioned nodes, and the file's own layout habits.

ruamel.yaml's composer gives every node character offsets into the original string (CRLF and a
BOM included), which is what lets edits be spliced into the text instead of dumping it again.
"""
from __future__ import annotations

import copy
import io
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

PathStep = str | int
Path = Sequence[PathStep]

NULL_TAG = "tag:yaml.org,2002:null"
MERGE_KEY = "<<"


class YamlEditError(Exception):
    """An edit that cannot be made safely; the message is shown to a person as-is."""


def _without_inner_tabs(text: str) -> str:
    """Tabs after a line's first token become spaces: same length, so every offset still holds.

    YAML allows tabs as separators there, but ruamel's scanner rejects them. Tabs used for
    indentation are left alone: they are invalid YAML and must still fail to parse.
    """
    if "\t" not in text:
        return text
    lines = text.splitlines(keepends=True)
    out = []
    for line in lines:
        body = line.lstrip(" \t")
        out.append(line[: len(line) - len(body)] + body.replace("\t", " "))
    return "".join(out)


# Parsing dominates a run: one fix's checked output is the next fix's input, so both readers
# are cached by text. Nodes are only read; loaded data is copied because callers modify it.

def compose_documents(text: str) -> list[Node]:
    return list(_compose_cached(text))


@lru_cache(maxsize=64)
def _compose_cached(text: str) -> tuple[Node, ...]:
    try:
        return tuple(doc for doc in YAML().compose_all(io.StringIO(_without_inner_tabs(text))) if doc is not None)
    except Exception as exc:  # ruamel raises many error types; all mean "not YAML we can edit"
        raise YamlEditError(f"the file does not parse as YAML: {_first_line(exc)}") from None


def load_documents(text: str) -> list[Any]:
    """Plain data of every document, through the safe loader (what a scanner would see)."""
    return copy.deepcopy(list(load_cached(text)))


@lru_cache(maxsize=64)
def load_cached(text: str) -> tuple[Any, ...]:
    try:
        loaded = YAML(typ="safe", pure=True).load_all(io.StringIO(_without_inner_tabs(text)))
        return tuple(doc for doc in loaded if doc is not None)
    except Exception as exc:
        raise YamlEditError(f"the file does not parse as YAML: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def newline_of(text: str) -> str:
    """The file's line terminator: CRLF files get CRLF in inserted lines."""
    first = text.find("\n")
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


def mapping_get(node: MappingNode, key: str) -> tuple[ScalarNode, Node] | None:
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return key_node, value_node
    return None


def has_merge_key(node: MappingNode) -> bool:
    return any(isinstance(k, ScalarNode) and k.value == MERGE_KEY for k, _ in node.value)


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == NULL_TAG


def content_end(node: Node) -> int:
    """Offset just past the last character that belongs to the node's content.

    Block collections' own end marks run on over trailing comments and blank lines, so the end
    is taken from their last child instead.
    """
    if isinstance(node, (MappingNode, SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        return content_end(last[1] if isinstance(node, MappingNode) else last)
    return node.end_mark.index


def line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def after_line(text: str, index: int) -> int:
    """Offset of the start of the line after the one holding `index` (len(text) at the end)."""
    if index > 0 and text[index - 1] == "\n":
        return index  # a block scalar's end already sits at a line start
    found = text.find("\n", index)
    return len(text) if found < 0 else found + 1


def line_end(text: str, index: int) -> int:
    """Offset of the line terminator ending the line that holds `index` (before any CR)."""
    found = text.find("\n", index)
    if found < 0:
        return len(text)
    return found - 1 if found > 0 and text[found - 1] == "\r" else found


def dash_column(text: str, item: Node) -> int:
    """Column of the `-` that introduces a block sequence item."""
    position = item.start_mark.index - 1
    while position >= 0 and text[position] == " ":
        position -= 1
    if position < 0 or text[position] != "-" or line_start(text, position) != line_start(text, item.start_mark.index):
        raise YamlEditError("a sequence item is laid out in a way this editor does not handle")
    return position - line_start(text, position)


@dataclass(frozen=True)
class Layout:
    """How the file indents: the step for nested mappings, and where `- ` sits under its key."""

    step: int = 2
    sequence_offset: int = 2  # columns between a key and its sequence's dashes (0 or the step)


def detect_layout(text: str, root: Node) -> Layout:
    steps: Counter[int] = Counter()
    offsets: Counter[int] = Counter()

    def walk(node: Node) -> None:
        if isinstance(node, MappingNode) and not node.flow_style:
            for key, value in node.value:
                if isinstance(value, MappingNode) and not value.flow_style and value.value:
                    child = value.value[0][0].start_mark
                    if child.line > key.start_mark.line:
                        steps[child.column - key.start_mark.column] += 1
                if isinstance(value, SequenceNode) and not value.flow_style and value.value:
                    try:
                        offsets[dash_column(text, value.value[0]) - key.start_mark.column] += 1
                    except YamlEditError:
                        pass
                walk(value)
        elif isinstance(node, SequenceNode):
            for item in node.value:
                walk(item)

    walk(root)
    step = next((s for s, _ in steps.most_common() if s > 0), 2)
    offset = next((o for o, _ in offsets.most_common() if o >= 0), step)
    return Layout(step=step, sequence_offset=offset)
