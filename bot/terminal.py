"""Outside strings (file names, messages, rule ids, problems, file content) made safe to print.

A file name can hold terminal escape sequences, and rich reads "[bold]" in a plain string as
markup. Everything the CLI prints that came from outside goes through `shown`: control characters
become visible escapes, and the result is a rich Text, which is never read as markup.
"""
from __future__ import annotations

import re

from rich.text import Text

# C0 controls except tab, DEL, C1 controls, and the Unicode line separators and bidirectional
# overrides that can make a terminal line read differently from what it holds.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\x1b": "\\x1b"}


def escape_controls(value: object) -> str:
    """`value` as text with every unsafe character written as a visible escape (\\x1b, \\n, \\u202e)."""
    return _UNSAFE.sub(_escape_one, str(value))


def shown(value: object, style: str = "") -> Text:
    """An outside string as the terminal shows it: escaped, in `style`, never markup."""
    return Text(escape_controls(value), style=style)


def _escape_one(match: re.Match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
