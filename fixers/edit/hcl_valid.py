"""What HCL rejects that python-hcl2's grammar accepts, read from the grammar's parse tree.

python-hcl2 8.x matches a quoted string's text with `[^"\\]`, which takes newlines too, and its
body rule lets items follow each other with no line break; it keeps the last of two attributes of
one name. Terraform rejects each (the names below are its error summaries), so a patch of that
shape must not pass as "re-parses". Checked on every parse (fixers/edit/hcl.py parse_tree).
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from enum import Enum

from lark import Token, Tree

_STRING_TEXT = {"STRING_CHARS", "ESCAPED_INTERPOLATION", "ESCAPED_DIRECTIVE"}  # a quoted string's literal parts
_HEREDOCS = {"HEREDOC_TEMPLATE", "HEREDOC_TEMPLATE_TRIM"}                        # each ends with its newline


class Invalid(str, Enum):
    MULTI_LINE_STRING = "Invalid multi-line string"      # a real newline inside "..." (write \n or a heredoc)
    UNTERMINATED_HEREDOC = "Unterminated template string"  # closing marker at the end of the file, no newline
    ATTRIBUTE_REDEFINED = "Attribute redefined"          # two attributes of one name in one body
    MISSING_NEWLINE = "Missing newline"                  # two arguments or blocks on one line


@dataclass(frozen=True)
class Violation:
    rule: Invalid
    line: int
    detail: str

    def __str__(self) -> str:
        return f"{self.rule.value} at line {self.line}: {self.detail}"


def violation(tree: Tree, text: str) -> Violation | None:
    """The first HCL rule `tree` (python-hcl2's parse of `text`) breaks, or None."""
    tokens = list(tree.scan_values(lambda v: isinstance(v, Token)))
    for token in tokens:
        if token.type in _STRING_TEXT and ("\n" in token or "\r" in token):
            return Violation(Invalid.MULTI_LINE_STRING, token.line, "a quoted string cannot span lines")
        if token.type in _HEREDOCS and token.end_pos > len(text):  # python-hcl2 appends the newline it lacks
            return Violation(Invalid.UNTERMINATED_HEREDOC, token.line, "the heredoc's closing marker ends the "
                                                                       "file without a newline")
    breaks = sorted([t.start_pos for t in tokens if t.type == "NL_OR_COMMENT" and not t.startswith("/*")]
                    + [t.end_pos - 1 for t in tokens if t.type in _HEREDOCS])
    for body in tree.find_data("body"):
        found = _redefined(body) or _missing_newline(body, breaks)
        if found:
            return found
    return None


def _significant(node: Tree) -> list[Token]:
    """The item's own tokens: a line break is a separator wherever the grammar attaches it."""
    return [t for t in node.scan_values(lambda v: isinstance(v, Token)) if t.type != "NL_OR_COMMENT"]


def _items(body: Tree) -> list[Tree]:
    return [c for c in body.children if isinstance(c, Tree) and c.data in ("attribute", "block")]


def _name(item: Tree) -> Token:
    return next(item.children[0].scan_values(lambda v: isinstance(v, Token)))


def _redefined(body: Tree) -> Violation | None:
    seen: dict[str, Token] = {}
    for item in _items(body):
        if item.data == "attribute":
            name = _name(item)
            if str(name) in seen:
                return Violation(Invalid.ATTRIBUTE_REDEFINED, name.line,
                                 f"`{name}` was already set at line {seen[str(name)].line}")
            seen[str(name)] = name
    return None


def _missing_newline(body: Tree, breaks: list[int]) -> Violation | None:
    """Each argument or block ends its line (a line comment or a heredoc ends it too; /* */ does not)."""
    # A heredoc's token takes the newline after its closing marker: that newline ends the item's line.
    spans = [(min(t.start_pos for t in ts), max(t.end_pos - (t.type in _HEREDOCS) for t in ts), ts[0].line)
             for ts in map(_significant, _items(body)) if ts]
    for (_, end, _), (start, _, line) in zip(spans, spans[1:]):
        at = bisect_left(breaks, end)
        if at == len(breaks) or breaks[at] >= start:
            return Violation(Invalid.MISSING_NEWLINE, line, "an argument or block starts on the line where "
                                                            "the one before it ends")
    return None
