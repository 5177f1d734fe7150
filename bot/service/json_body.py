"""Parsing a request body as JSON with its nesting bounded first, shared by both endpoints. Pure.

``json.loads`` recurses once per level (RecursionError near 1,000 levels on CPython, and
whatever walks the result recurses again): a body nested 100k deep must be refused as a bad
request before either runs. :func:`exceeds_depth` counts ``[``/``{`` outside strings in a few
passes over the bytes (see :func:`exceeds_depth`) without building anything.
"""
from __future__ import annotations

import json
import re
from typing import Any

#: Deepest nesting accepted. SARIF from real scanners stays under 15 levels; 64 leaves room and is
#: far below what json.loads or a walk over the document could not survive.
MAX_JSON_DEPTH = 64

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_INNERMOST = re.compile(rb"\[\]|\{\}")


class TooDeep(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"JSON nested deeper than {limit} levels")
        self.limit = limit


def exceeds_depth(body: bytes, limit: int) -> bool:
    """True when ``[``/``{`` nest deeper than ``limit`` in ``body``, outside string literals.

    C-speed passes only: drop the strings, keep the brackets, refuse a run of more than
    ``limit`` openers at once, else strip the innermost pairs up to ``limit`` times (each pass
    lowers a balanced document's depth by one) and measure what is left, stopping early.
    """
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    passes = 0
    while brackets and passes < limit:
        if re.search(rb"[\[{]{%d}" % (limit - passes + 1), brackets):
            return True
        brackets, removed = _INNERMOST.subn(b"", brackets)
        if not removed:
            break  # unbalanced: not JSON, measured below
        passes += 1
    return _deeper_than(brackets, limit - passes)


def _deeper_than(brackets: bytes, limit: int) -> bool:
    depth = 0
    for byte in brackets:
        depth = depth + 1 if byte in b"[{" else max(depth - 1, 0)
        if depth > limit:
            return True
    return False


def loads_bounded(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads(body)``, or TooDeep before parsing when the nesting passes ``max_depth``.
    Other failures are json.loads' own (ValueError, UnicodeDecodeError)."""
    if exceeds_depth(body, max_depth):
        raise TooDeep(max_depth)
    return json.loads(body)
