"""Format-preserving YAML edits: splice text at node positions, never dump the file again.

Every primitive takes the whole text, a document index and a path of keys (str) and sequence
indexes (int) from that document's root, and returns the whole new text (the same text when the
edit is already in place). After splicing, both texts are loaded with the safe loader and the new
data must equal the old data plus exactly the intended change; otherwise YamlEditError is raised
and the caller reports Unknown. Bytes outside the edited lines are never touched.
"""
from __future__ import annotations

import copy
import io
import json
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from fixers.edit.yaml_nodes import (
    Layout,
    Path,
    YamlEditError,
    after_line,
    compose_documents,
    content_end,
    dash_column,
    detect_layout,
    has_merge_key,
    is_null,
    line_end,
    line_start,
    load_documents,
    mapping_get,
    newline_of,
)

__all__ = ["YamlEditError", "set_value", "append_item", "remove_item", "render_scalar", "load_documents"]

Scalar = bool | int | str


# ---------------------------------------------------------------- rendering values


def render_scalar(value: Scalar, quote: str | None = None, in_flow: bool = False) -> str:
    """YAML text for a scalar; strings stay plain unless plain text would read back differently."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if quote == "'" and "'" not in value:
        return f"'{value}'"
    if quote == '"' or not _plain_reads_back(value, in_flow):
        return json.dumps(value)
    return value


def _plain_reads_back(text: str, in_flow: bool) -> bool:
    """Whether `text` written plain is read back as the same string (flow context forbids , [ ] { })."""
    if not text or text != text.strip() or text[0] in ",[]{}#&*!|>'\"%@`" or text.endswith(":"):
        return False
    if text[0] in "-?:" and (len(text) == 1 or text[1] == " "):
        return False
    if ": " in text or " #" in text or "\n" in text or "\t" in text or (in_flow and any(c in text for c in ",[]{}")):
        return False
    try:
        loaded = YAML(typ="safe", pure=True).load(io.StringIO(f"k: {text}\n"))
    except Exception:
        return False
    return isinstance(loaded, dict) and type(loaded.get("k")) is str and loaded["k"] == text


@dataclass(frozen=True)
class _Leaf:
    """What must end up at the path: a scalar value, or an item present in a sequence."""

    value: Scalar
    is_item: bool = False

    def block_lines(self, keys: list[str], indent: int, layout: Layout) -> list[str]:
        lines = [" " * (indent + depth * layout.step) + f"{render_scalar(key)}:" for depth, key in enumerate(keys)]
        if self.is_item:
            dash_indent = indent + (len(keys) - 1) * layout.step + layout.sequence_offset if keys else indent
            return lines + [" " * dash_indent + f"- {render_scalar(self.value)}"]
        last_indent = indent + (len(keys) - 1) * layout.step
        return lines[:-1] + [" " * last_indent + f"{render_scalar(keys[-1])}: {render_scalar(self.value)}"]

    def flow_text(self, keys: list[str]) -> str:
        value = render_scalar(self.value, in_flow=True)
        inner = f"[{value}]" if self.is_item else value
        for key in reversed(keys[1:]):
            inner = f"{{{render_scalar(key, in_flow=True)}: {inner}}}"
        return f"{render_scalar(keys[0], in_flow=True)}: {inner}" if keys else value


# ---------------------------------------------------------------- public primitives


def set_value(text: str, doc_index: int, path: Path, value: Scalar) -> str:
    """Set the scalar at path, creating missing mappings along it."""
    return _edit(text, doc_index, list(path), _Leaf(value))


def append_item(text: str, doc_index: int, path: Path, value: Scalar) -> str:
    """Make the sequence at path contain value (appended last), creating it and its parents if missing."""
    return _edit(text, doc_index, list(path), _Leaf(value, is_item=True))


def remove_item(text: str, doc_index: int, path: Path, value: Scalar) -> str:
    """Remove every item equal to value from the sequence at path; an emptied sequence becomes []."""
    docs = compose_documents(text)
    node, key, consumed, _ = _walk(text, _document(docs, doc_index), list(path))
    if consumed < len(path) or not isinstance(node, SequenceNode):
        return text  # nothing to remove
    doomed = [item for item in node.value if _scalar_equals(item, value)]
    if not doomed:
        return text
    if len(doomed) == len(node.value):
        if node.flow_style:
            new_text = _splice(text, node.start_mark.index, node.end_mark.index, "[]")
        elif key is None:
            raise YamlEditError("cannot empty a sequence that is not the value of a key")
        else:
            start = text.index(":", key.end_mark.index) + 1
            new_text = _splice(text, start, line_end(text, content_end(node)), " []")
    else:
        new_text = text
        for item in reversed(doomed):  # from the end, so earlier offsets stay valid
            new_text = _remove_one(new_text, node, item)
    _verify(text, new_text, doc_index, list(path), lambda seq: [x for x in seq if not _same(x, value)])
    return new_text


# ---------------------------------------------------------------- the one editing routine


def _edit(text: str, doc_index: int, path: list, leaf: _Leaf) -> str:
    docs = compose_documents(text)
    root = _document(docs, doc_index)
    if _already_done(load_documents(text)[doc_index], path, leaf):
        return text
    node, key, consumed, in_flow = _walk(text, root, path)
    missing = path[consumed:]
    if any(not isinstance(step, str) for step in missing):
        raise YamlEditError(f"{_show(path)}: sequence item {missing} does not exist")
    new_text = _splice_change(text, root, node, key, missing, leaf, in_flow)
    _verify(text, new_text, doc_index, path, _expected_change(leaf))
    return new_text


def _splice_change(
    text: str, root: Node, node: Node, key: ScalarNode | None, missing: list[str], leaf: _Leaf, in_flow: bool
) -> str:
    layout = detect_layout(text, root)
    nl = newline_of(text)
    if not missing and not leaf.is_item:
        if not isinstance(node, ScalarNode):
            raise YamlEditError("the key holds a mapping or a list, not a single value")
        if is_null(node) and node.start_mark.index == node.end_mark.index:
            return _fill_empty_value(text, key, [], leaf, layout, nl)
        _refuse_templates(node)
        quote = node.style if isinstance(leaf.value, str) and node.style in ("'", '"') else None
        return _splice(text, node.start_mark.index, node.end_mark.index, render_scalar(leaf.value, quote, in_flow))
    if not missing:  # append to an existing sequence, or fill an empty value with one
        if is_null(node):
            return _fill_empty_value(text, key, [], leaf, layout, nl)
        if not isinstance(node, SequenceNode):
            raise YamlEditError("the key holds a single value or a mapping, not a list")
        return _append_to_sequence(text, node, leaf, nl)
    if is_null(node):
        return _fill_empty_value(text, key, missing, leaf, layout, nl)
    if not isinstance(node, MappingNode):
        raise YamlEditError(f"expected a mapping to add {missing[0]!r} to, found a single value or a list")
    if node.flow_style:
        fragment = leaf.flow_text(missing)
        if not node.value:
            return _splice(text, node.end_mark.index - 1, node.end_mark.index - 1, fragment)
        end = content_end(node.value[-1][1])
        return _splice(text, end, end, f", {fragment}")
    indent = node.value[0][0].start_mark.column
    return _insert_lines(text, after_line(text, content_end(node)), leaf.block_lines(missing, indent, layout), nl)


def _fill_empty_value(text: str, key: ScalarNode | None, missing: list[str], leaf: _Leaf, layout: Layout, nl: str) -> str:
    """`key:` with nothing (or ~/null) after it gets the content."""
    if key is None:
        raise YamlEditError("the document is empty")
    colon = text.index(":", key.end_mark.index)
    rest = text[colon + 1:line_end(text, colon)]
    if rest.strip() and not rest.strip().startswith("#"):
        value_start = colon + 1 + (len(rest) - len(rest.lstrip()))
        token = rest.strip().split()[0]
        return _splice(text, value_start, value_start + len(token), _flow_value(missing, leaf))
    if not missing and not leaf.is_item:
        if rest.strip():
            raise YamlEditError("a comment follows the empty key; not editing around it")
        return _splice(text, colon + 1, colon + 1, f" {render_scalar(leaf.value)}")
    indent = key.start_mark.column + (layout.step if missing else layout.sequence_offset)
    lines = leaf.block_lines(missing, indent, layout)
    return _splice(text, line_end(text, colon), line_end(text, colon), "".join(nl + line for line in lines))


def _flow_value(missing: list[str], leaf: _Leaf) -> str:
    if not missing:
        return leaf.flow_text([]) if not leaf.is_item else f"[{render_scalar(leaf.value)}]"
    return "{" + leaf.flow_text(missing) + "}"


def _append_to_sequence(text: str, node: SequenceNode, leaf: _Leaf, nl: str) -> str:
    rendered = render_scalar(leaf.value, in_flow=bool(node.flow_style))
    if node.flow_style:
        if not node.value:
            return _splice(text, node.end_mark.index - 1, node.end_mark.index - 1, rendered)
        end = content_end(node.value[-1])
        return _splice(text, end, end, f", {rendered}")
    last = node.value[-1]
    line = " " * dash_column(text, last) + f"- {rendered}"
    return _insert_lines(text, after_line(text, content_end(last)), [line], nl)


def _remove_one(text: str, node: SequenceNode, item: Node) -> str:
    # Offsets come from the original composition; items are removed from the end backwards.
    if node.flow_style:
        index = node.value.index(item)
        if index > 0:
            return _splice(text, content_end(node.value[index - 1]), item.end_mark.index, "")
        return _splice(text, item.start_mark.index, node.value[1].start_mark.index, "")
    start = line_start(text, item.start_mark.index)
    dash = start + dash_column(text, item)
    if text[start:dash].strip():
        raise YamlEditError("a list item shares its line with other content")
    return _splice(text, start, after_line(text, content_end(item)), "")


# ---------------------------------------------------------------- walking and checking


def _document(docs: list[Node], doc_index: int) -> Node:
    if not 0 <= doc_index < len(docs):
        raise YamlEditError(f"document {doc_index + 1} does not exist in the file")
    return docs[doc_index]


def _walk(text: str, root: Node, path: list) -> tuple[Node, ScalarNode | None, int, bool]:
    """Deepest existing node along path, the key that holds it, how many steps were found, and
    whether it sits inside a flow collection (where , [ ] { } cannot appear in plain scalars)."""
    node, key, in_flow = root, None, False
    for consumed, step in enumerate(path):
        in_flow = in_flow or bool(getattr(node, "flow_style", False))
        if isinstance(node, MappingNode) and isinstance(step, str):
            if has_merge_key(node):
                raise YamlEditError(f"{_show(path[:consumed]) or 'the document'} uses a merge key (<<); editing it could change other objects")
            found = mapping_get(node, step)
            if found is None:
                return node, key, consumed, in_flow
            key, value = found
            if value.start_mark.index < key.end_mark.index or getattr(value, "anchor", None):
                raise YamlEditError(f"{_show(path[:consumed + 1])} is an alias or anchor shared with other places")
            node = value
        elif isinstance(node, SequenceNode) and isinstance(step, int):
            if not 0 <= step < len(node.value):
                raise YamlEditError(f"{_show(path[:consumed + 1])} does not exist")
            node, key = node.value[step], None
            if getattr(node, "anchor", None):
                raise YamlEditError(f"{_show(path[:consumed + 1])} is an anchor shared with other places")
        else:
            return node, key, consumed, in_flow
    return node, key, len(path), in_flow


def _refuse_templates(node: ScalarNode) -> None:
    if isinstance(node.value, str) and ("{{" in node.value or "${" in node.value):
        raise YamlEditError(f"the current value {node.value!r} is a template; its real value is decided elsewhere")


def _already_done(data: Any, path: list, leaf: _Leaf) -> bool:
    try:
        current = _get(data, path)
    except (KeyError, IndexError, TypeError):
        return False
    if leaf.is_item:
        return isinstance(current, list) and any(_same(x, leaf.value) for x in current)
    return _same(current, leaf.value)


def _expected_change(leaf: _Leaf):
    if leaf.is_item:
        return lambda current: (current if isinstance(current, list) else []) + [leaf.value]
    return lambda current: leaf.value


def _verify(old_text: str, new_text: str, doc_index: int, path: list, change) -> None:
    """The new file must load to the old data with exactly the intended change at path."""
    try:
        expected = copy.deepcopy(load_documents(old_text))
        _set(expected[doc_index], path, change)
    except (KeyError, IndexError, TypeError) as exc:
        raise YamlEditError(f"{_show(path)}: unexpected shape ({exc})") from None
    try:
        actual = load_documents(new_text)
    except YamlEditError:
        raise YamlEditError(f"editing {_show(path)} would break the YAML; left untouched") from None
    if not _deep_same(actual, expected):
        raise YamlEditError(f"editing {_show(path)} would change more than intended; left untouched")


def _get(data: Any, path: list) -> Any:
    for step in path:
        data = data[step]
    return data


def _set(data: Any, path: list, change) -> None:
    for step in path[:-1]:
        if isinstance(step, str) and (step not in data or data[step] is None):
            data[step] = {}
        data = data[step]
    last = path[-1]
    current = data.get(last) if isinstance(data, dict) else data[last]
    data[last] = change(current)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _deep_same(a: Any, b: Any) -> bool:
    # bool is an int in Python: compare types too, so `1` never passes for `true`.
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_deep_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_deep_same(x, y) for x, y in zip(a, b))
    return _same(a, b)


def _scalar_equals(node: Node, value: Scalar) -> bool:
    return isinstance(node, ScalarNode) and node.value == str(value)


def _splice(text: str, start: int, end: int, replacement: str) -> str:
    return text[:start] + replacement + text[end:]


def _insert_lines(text: str, position: int, lines: list[str], nl: str) -> str:
    if position == len(text) and text and not text.endswith("\n"):
        # The file has no final newline: keep it that way, start our lines on a new one.
        return text + "".join(nl + line for line in lines)
    return _splice(text, position, position, "".join(line + nl for line in lines))


def _show(path: list) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")
