"""Format-preserving HCL edits: read positions from python-hcl2's tree, splice text, re-parse.

HCL is never written back with hcl2's reconstruct/dumps (they drop comments and layout).
Every edit replaces or inserts text at exact character offsets, so every byte outside the
edited region stays as the user wrote it. Edits raise HclEditError with a reason a person
understands; fixers turn it into Unknown.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator, Sequence, Union

import hcl2
from lark import Token, Tree

from fixers.edit.hcl_valid import violation


class HclEditError(Exception):
    """An edit that cannot be made safely; str(error) is the reason shown to the user."""


# ---------------------------------------------------------------- reading the tree

@lru_cache(maxsize=32)
def parse_tree(text: str) -> Tree:
    """Cached: a fix's re-parsed output is the next fix's input, and parsing dominates the run.
    Callers only read the tree. Shapes the grammar takes and HCL does not are refused too (hcl_valid)."""
    try:
        tree = hcl2.parses_to_tree(text)
    except Exception as error:  # lark raises many kinds; all mean "not HCL we can read"
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise HclEditError(f"the file does not parse as HCL ({first_line})") from None
    broken = violation(tree, text)
    if broken:
        raise HclEditError(f"the file does not parse as HCL ({broken})")
    return tree


def parses(text: str) -> bool:
    try:
        parse_tree(text)
    except HclEditError:
        return False
    return True


def _tokens(node: Tree | Token) -> Iterator[Token]:
    if isinstance(node, Token):
        yield node
    else:
        for child in node.children:
            yield from _tokens(child)


def _span(node: Tree | Token) -> tuple[int, int]:
    tokens = list(_tokens(node))
    return tokens[0].start_pos, tokens[-1].end_pos


def _name_of(node: Tree) -> str:
    """The identifier (or keyword such as for_each) naming an attribute or block."""
    return str(next(_tokens(node.children[0])))


def _label_text(node: Tree | Token) -> str:
    if isinstance(node, Tree) and node.data == "string":
        return "".join(str(t) for t in _tokens(node) if t.type != "DBLQUOTE")
    return str(next(_tokens(node)))


@dataclass(frozen=True)
class Block:
    node: Tree
    type: str
    labels: tuple[str, ...]
    start: int       # offset of the block's first character
    lbrace: int
    rbrace: int

    @property
    def end(self) -> int:
        return self.rbrace + 1

    def items(self) -> list[Tree]:
        body = next((c for c in self.node.children if isinstance(c, Tree) and c.data == "body"), None)
        if body is None:
            return []
        return [c for c in body.children if isinstance(c, Tree) and c.data in ("attribute", "block")]


@dataclass(frozen=True)
class Attribute:
    name: str
    start: int
    value_start: int
    value_end: int
    expression: Tree

    def value_text(self, text: str) -> str:
        return text[self.value_start:self.value_end]


def _block(node: Tree) -> Block:
    braces = [c for c in node.children if isinstance(c, Token) and c.type in ("LBRACE", "RBRACE")]
    labels = tuple(_label_text(c) for c in node.children[1:] if not (isinstance(c, Token) or c.data == "body"))
    return Block(node, _name_of(node), labels, _span(node.children[0])[0], braces[0].start_pos, braces[-1].start_pos)


def _attribute(node: Tree) -> Attribute:
    expression = node.children[-1]
    start, end = _span(expression)
    return Attribute(_name_of(node), _span(node.children[0])[0], start, end, expression)


def top_level_blocks(tree: Tree) -> list[Block]:
    body = tree.children[0] if tree.children else None
    if not isinstance(body, Tree):
        return []
    return [_block(c) for c in body.children if isinstance(c, Tree) and c.data == "block"]


def find_block(tree: Tree, block_type: str, labels: Sequence[str]) -> Block | None:
    return next((b for b in top_level_blocks(tree) if b.type == block_type and b.labels == tuple(labels)), None)


def nested_blocks(block: Block, name: str | None = None) -> list[Block]:
    found = [_block(n) for n in block.items() if n.data == "block"]
    return [b for b in found if name is None or b.type == name]


def dynamic_block(block: Block, name: str) -> Block | None:
    return next((b for b in nested_blocks(block, "dynamic") if b.labels == (name,)), None)


def find_attribute(block: Block, name: str) -> Attribute | None:
    return next((_attribute(n) for n in block.items() if n.data == "attribute" and _name_of(n) == name), None)


# ---------------------------------------------------------------- literal values

_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_LIST_ITEM = re.compile(r'(?:"(?:[^"\\]|\\.)*"|[^,"])+')
_SIMPLE_STRING = re.compile(r'"(?:[^"\\$%]|\\.|\$(?!\{)|%(?!\{))*"')


class NotLiteral(Exception):
    """The expression is computed (variable, local, function, interpolation...), not a literal."""


def literal_value(expression_text: str) -> object:
    """The Python value of a literal HCL expression; NotLiteral for anything computed."""
    text = expression_text.strip()
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if _NUMBER.fullmatch(text):
        return float(text) if any(c in text for c in ".eE") else int(text)
    if _SIMPLE_STRING.fullmatch(text):
        try:
            return json.loads(text)
        except ValueError:
            raise NotLiteral(text) from None
    if text.startswith("[") and text.endswith("]"):
        # Flat lists of scalars only: split on commas outside quoted strings.
        parts = [p.strip() for p in _LIST_ITEM.findall(text[1:-1]) if p.strip()]
        return [literal_value(part) for part in parts]
    raise NotLiteral(text)


def render_value(value: object) -> str:
    """HCL source for a JSON-like value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        # "${" and "%{" start templates; HCL escapes them by doubling, but python-hcl2 cannot read
        # the escapes back, so such a value could not be verified: refuse it.
        if "${" in value or "%{" in value:
            raise HclEditError(f"cannot write {value!r}: it contains a template marker ('${{' or '%{{')")
        return json.dumps(value)  # JSON escapes are HCL escapes
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(render_value(v) for v in value) + "]"
    raise HclEditError(f"cannot write a value of type {type(value).__name__} as HCL")


# ---------------------------------------------------------------- layout of the file

def newline_of(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _leading_whitespace(text: str, pos: int) -> str:
    start = _line_start(text, pos)
    line = text[start:pos]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _indent_unit(text: str) -> str:
    return "\t" if re.search(r"^\t", text, re.MULTILINE) else "  "


def _inner_indent(text: str, block: Block) -> str:
    """Indentation of the block's own statements, or the block's indentation plus one unit."""
    for item in block.items():
        start = _span(item)[0]
        if not text[_line_start(text, start):start].strip(" \t"):
            return text[_line_start(text, start):start]
    return _leading_whitespace(text, block.start) + _indent_unit(text)


# A statement to render: an attribute (name, HCL value text) or a nested block (name, statements).
Statement = tuple[str, Union[str, "list[Statement]"]]


def _leading_run(statements: Sequence[Statement]) -> list[str]:
    """Names of the attributes before the first nested block: they join the lines above them."""
    names = []
    for name, value in statements:
        if not isinstance(value, str):
            break
        names.append(name)
    return names


def render_statements(statements: Sequence[Statement], indent: str, unit: str, nl: str,
                      first_run_width: int = 0) -> str:
    """Statements as text lines at `indent`, each ending with `nl`, aligned as `terraform fmt` aligns.

    fmt pads the names of a run of consecutive one-line attributes (no blank line, comment or
    block between them) so that their `=` share a column. Every value written here is one line,
    so each run of attribute statements is padded to its longest name; the first run is padded to
    at least `first_run_width` (the width of the run it continues in the file).
    """
    out = []
    width = 0
    for position, (name, value) in enumerate(statements):
        if isinstance(value, str):
            if not width:
                rest = _leading_run(statements[position:])
                width = max([len(n) for n in rest] + [first_run_width if position == 0 else 0])
            out.append(f"{indent}{name.ljust(width)} = {value}{nl}")
        else:
            width = 0
            out.append(f"{indent}{name} {{{nl}")
            out.append(render_statements(value, indent + unit, unit, nl))
            out.append(f"{indent}}}{nl}")
    return "".join(out)


def render_top_level_block(header: str, statements: Sequence[Statement], indent: str, unit: str, nl: str) -> str:
    """`header {` ... `}` without a final newline, e.g. header = 'resource "t" "n"'."""
    return f"{indent}{header} {{{nl}{render_statements(statements, indent + unit, unit, nl)}{indent}}}"


# ---------------------------------------------------------------- edits

def _splice(text: str, start: int, end: int, replacement: str) -> str:
    return text[:start] + replacement + text[end:]


def _checked(text: str) -> str:
    if not parses(text):
        raise HclEditError("the edit would leave a file that does not parse; nothing was changed")
    return text


def _run_above(text: str, block: Block, line_start: int) -> list[Attribute]:
    """The run of one-line attributes that ends on the line just above `line_start`.

    terraform fmt aligns the `=` of consecutive lines that each hold a whole attribute; a blank
    line, a comment line, a nested block or an attribute whose value spans lines ends the run.
    """
    one_line = [a for a in (_attribute(n) for n in block.items() if n.data == "attribute")
                if "\n" not in text[a.start:a.value_end]]
    by_line_start = {_line_start(text, a.start): a for a in one_line}
    run: list[Attribute] = []
    line = line_start
    while line > 0:
        above = _line_start(text, line - 1)
        attribute = by_line_start.get(above)
        if attribute is None or above <= block.lbrace:
            break
        run.insert(0, attribute)
        line = above
    return run


def _continue_run(text: str, block: Block, line_start: int, indent: str, names: Sequence[str],
                  padded: bool = False) -> tuple[int, bool]:
    """How new attribute lines inserted at `line_start` keep `terraform fmt` from touching other lines.

    Returns (width to pad the new names to, whether to start a new run after a blank line). A new
    name that fits the run above takes the run's `=` column; a longer one would make fmt move every
    `=` of the run, so the new lines start their own run after a blank line instead.
    """
    run = _run_above(text, block, line_start)
    if not run or not names:
        return 0, False
    column = max(a.start - _line_start(text, a.start) + len(a.name) for a in run)
    if len(indent) + max(len(n) for n in names) > column:
        return (0, False) if padded else (0, True)
    return column - len(indent), False


def insert_statements(text: str, block: Block, statements: Sequence[Statement], _padded_run: bool = False) -> str:
    """Add statements at the end of the block's body, at the body's own indentation.

    (_padded_run: internal, the run above was just padded for these statements' names.)
    """
    _refuse_redefinition(block, statements)
    nl = newline_of(text)
    indent = _inner_indent(text, block)
    unit = _indent_unit(text)
    if "\t" in indent and unit != "\t":
        unit = "\t"
    brace_line = _line_start(text, block.rbrace)
    if not text[brace_line:block.rbrace].strip(" \t") and brace_line > block.lbrace:
        # The closing brace sits on its own line: new lines go right above it, continuing the
        # run of one-line attributes that ends there (see _run_above).
        width, separate = _continue_run(text, block, brace_line, indent, _leading_run(statements), _padded_run)
        rendered = (nl if separate else "") + render_statements(statements, indent, unit, nl, width)
        return _checked(_splice(text, brace_line, brace_line, rendered))
    # One-line block such as `{}` or `{ a = 1 }`, or a brace after the last statement: open it
    # up first (existing content on its own line, the brace on its own line), then insert as above.
    # Terraform allows a statement after `{` only in the one-line form.
    cut = block.rbrace
    while cut > block.lbrace + 1 and text[cut - 1] in " \t":
        cut -= 1
    block_indent = _leading_whitespace(text, block.start)
    text = _splice(text, cut, block.rbrace, nl + block_indent)
    content = block.lbrace + 1
    while content < cut and text[content] in " \t":
        content += 1
    moved = content < cut and text[content] not in "\r\n"
    if moved:
        text = _splice(text, block.lbrace + 1, content, nl + indent)
    opened = _block_starting_at(parse_tree(_checked(text)), block.start)
    if opened is None:
        raise HclEditError("the block could not be found again after opening it; nothing was changed")
    names = _leading_run(statements)
    if moved and names and len(opened.items()) == 1 and opened.items()[0].data == "attribute":
        # The one attribute a one-line block holds was moved to its own line by this edit, so it
        # may be padded too: the new lines then continue its run instead of starting their own.
        text = _pad_name(text, _attribute(opened.items()[0]), max(len(n) for n in names))
        opened = _block_starting_at(parse_tree(_checked(text)), block.start)
        return insert_statements(text, opened, statements, _padded_run=True)
    return insert_statements(text, opened, statements)


def _refuse_redefinition(block: Block, statements: Sequence[Statement]) -> None:
    """An attribute written twice in one block is an error to Terraform ("Attribute redefined")."""
    names = [name for name, value in statements if isinstance(value, str)]
    taken = {_name_of(n) for n in block.items() if n.data == "attribute"}
    for position, name in enumerate(names):
        if name in taken or name in names[:position]:
            raise HclEditError(f"`{name}` is already set in the block; setting it again would redefine it")
    for name, value in statements:
        if not isinstance(value, str):
            _refuse_redefinition_in_new(name, value)


def _refuse_redefinition_in_new(name: str, statements: Sequence[Statement]) -> None:
    names = [n for n, v in statements if isinstance(v, str)]
    if len(names) != len(set(names)):
        raise HclEditError(f"the new `{name}` block would set an attribute twice")
    for child, value in statements:
        if not isinstance(value, str):
            _refuse_redefinition_in_new(child, value)


def _pad_name(text: str, attribute: Attribute, width: int) -> str:
    """Pad the attribute's name so that its `=` sits where a run `width` names wide puts it."""
    name_end = attribute.start + len(attribute.name)
    equals = text.index("=", name_end)
    if text[name_end:equals].strip(" \t") or width <= len(attribute.name):
        return text
    return _splice(text, name_end, equals, " " * (width - len(attribute.name) + 1))


def _block_starting_at(tree: Tree, start: int) -> Block | None:
    pending = top_level_blocks(tree)
    while pending:
        block = pending.pop()
        if block.start == start:
            return block
        pending.extend(nested_blocks(block))
    return None


def set_attribute(text: str, block: Block, name: str, value_text: str) -> str:
    """Set `name = value_text` in the block: replace the value in place, or add a new line."""
    existing = find_attribute(block, name)
    if existing is None:
        return insert_statements(text, block, [(name, value_text)])
    if existing.value_text(text) == value_text:
        return text
    return _checked(_splice(text, existing.value_start, existing.value_end, value_text))


@dataclass(frozen=True)
class PathStep:
    """Where a nested path leads in a block: the deepest existing block and what is missing."""

    block: Block
    remaining: tuple[str, ...]   # names still to walk from `block`; the last is the attribute


def walk_path(block: Block, path: Sequence[str]) -> PathStep:
    """Follow nested block names (first block of each name) as far as they exist."""
    current = block
    for depth, name in enumerate(path[:-1]):
        children = nested_blocks(current, name)
        if not children:
            if find_attribute(current, name) is not None:
                raise HclEditError(f"`{name}` is set as an attribute expression, not a nested block; "
                                   "editing inside expressions is not supported")
            if dynamic_block(current, name) is not None:
                raise HclEditError(f"`{name}` is generated by a dynamic block; editing dynamic blocks "
                                   "is not supported yet")
            return PathStep(current, tuple(path[depth:]))
        current = children[0]
    return PathStep(current, (path[-1],))


def set_path(text: str, block: Block, path: Sequence[str], value_text: str) -> str:
    """Set the attribute at `path` (nested block names, then the attribute), creating blocks as needed."""
    step = walk_path(block, path)
    if len(step.remaining) == 1:
        return set_attribute(text, step.block, step.remaining[0], value_text)
    statement: Statement = (step.remaining[-1], value_text)
    for name in reversed(step.remaining[:-1]):
        statement = (name, [statement])
    return insert_statements(text, step.block, [statement])


def read_path(block: Block, path: Sequence[str]) -> Attribute | None:
    """The attribute at `path` if every block on the way exists, else None."""
    step = walk_path(block, path)
    if len(step.remaining) != 1:
        return None
    return find_attribute(step.block, step.remaining[0])


def append_block_after(text: str, anchor: Block, header: str, statements: Sequence[Statement]) -> str:
    """Add a new top-level block after `anchor` (after the rest of its closing line), one blank line between."""
    nl = newline_of(text)
    indent = _leading_whitespace(text, anchor.start)
    new_block = render_top_level_block(header, statements, indent, _indent_unit(text), nl)
    line_end = text.find("\n", anchor.end)
    if line_end == -1:
        insert_at = len(text)
    else:
        insert_at = line_end - 1 if text[line_end - 1:line_end] == "\r" and line_end > anchor.end else line_end
    return _checked(_splice(text, insert_at, insert_at, nl + nl + new_block))
