"""Parsing a request body as JSON with its nesting bounded, shared by both endpoints. Pure.

``json.loads`` recurses once per level: CPython's C decoder stops a body nested 100k deep with
RecursionError near 1,000 levels, which is a bad request, not a crash. What it accepts is then
measured without recursion (:func:`exceeds_depth`), so nothing that walks the document later can
meet more than MAX_JSON_DEPTH levels. Measuring the parsed value is cheaper than scanning the
bytes first: it touches only the containers, and only of a document that did parse.
"""
from __future__ import annotations

import json
from typing import Any

#: Deepest nesting accepted. SARIF from real scanners stays under 15 levels; 64 leaves room and is
#: far below what json.loads or a walk over the document could not survive.
MAX_JSON_DEPTH = 64


class TooDeep(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"JSON nested deeper than {limit} levels")
        self.limit = limit


def exceeds_depth(value: Any, limit: int) -> bool:
    """True when lists and objects nest deeper than ``limit`` in the parsed ``value`` (a scalar
    is depth 0, ``[]`` depth 1). Iterative, and stops at the first container too deep."""
    stack = [(value, 1)] if isinstance(value, (list, dict)) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (list, dict)))
    return False


def loads_bounded(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads(body)``, or TooDeep when the nesting passes ``max_depth``.
    Other failures are json.loads' own (ValueError, UnicodeDecodeError)."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise TooDeep(max_depth) from None
    if exceeds_depth(value, max_depth):
        raise TooDeep(max_depth)
    return value
