"""Undo one change to a file that others may have edited since: a line-level three-way revert. Pure.

The change is the diff ``before -> after`` (bot.line_diff). The file is now ``current``. Each of
the change's hunks is undone on ``current`` only when it can be found there without guessing:

* the lines the change wrote are all still there, unchanged and in one piece;
* the CONTEXT_LINES lines on each side of them are too, with nothing inserted in between (an edit
  that touches the change conflicts with it, as in git's merge), and at the file's start or end
  when the change was there;
* those lines, with their surroundings, occur exactly once in ``current``: the diff of ``after``
  against ``current`` could have matched a copy, so a second occurrence is ambiguous.

Then every hunk is replaced by what ``before`` had there, and everybody else's edits stay. When
any hunk fails, nothing is undone and each failed hunk is named with why (a closed set), so a
person can be told what to revert by hand. Works on bytes, line by line (``\\n``, ``\\r\\n`` or
``\\r`` endings kept), so the result is byte for byte; content with a NUL byte is not text and is
refused, as git's merge refuses binary files.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Sequence

from bot.line_diff import line_opcodes

#: Unchanged lines needed on each side of a hunk (1: a touching edit conflicts, as in git's merge).
CONTEXT_LINES = 1


class Why(enum.Enum):
    """Why one hunk of the change cannot be undone on the file as it is now."""

    BINARY = "the file is not text (it holds a NUL byte), so it cannot be merged line by line"
    CHANGED = "the lines the fix wrote were changed since"
    SURROUNDINGS = "the lines next to the fix's change were edited since"
    AMBIGUOUS = "the fix's lines and their surroundings now occur more than once, so which to revert is a guess"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Hunk:
    """One change of the fix: ``before[before_start:before_end]`` became
    ``after[after_start:after_end]`` (0-based line indices, ends excluded)."""

    before_start: int
    before_end: int
    after_start: int
    after_end: int

    def describe(self) -> str:
        """Where the hunk is, in 1-based lines of the file as the fix left it."""
        if self.after_start == self.after_end:
            return (f"the {_lines(self.before_end - self.before_start)} the fix removed after line "
                    f"{self.after_start}")
        first, last = self.after_start + 1, self.after_end
        span = f"line {first}" if first == last else f"lines {first}-{last}"
        removed = self.before_end - self.before_start
        return f"{span} as the fix left them" + (f" (replacing {_lines(removed)})" if removed else " (added)")


def _lines(n: int) -> str:
    return f"{n} line" if n == 1 else f"{n} lines"


@dataclass(frozen=True)
class Blocked:
    hunk: Hunk
    why: Why

    def __str__(self) -> str:
        return f"{self.hunk.describe()}: {self.why}"


@dataclass(frozen=True)
class Undo:
    """``text``: ``current`` with the change undone (None when it cannot be); ``blocked``: why not."""

    text: bytes | None
    blocked: tuple[Blocked, ...] = ()

    @property
    def clean(self) -> bool:
        return self.text is not None


def split_lines(data: bytes) -> list[bytes]:
    """Lines with their endings kept; joining them gives ``data`` back."""
    return data.splitlines(keepends=True)


def hunks(before: Sequence[bytes], after: Sequence[bytes]) -> list[Hunk]:
    """The change before -> after as hunks (runs of changed lines between unchanged ones)."""
    return [Hunk(i1, i2, j1, j2) for tag, i1, i2, j1, j2 in line_opcodes(before, after) if tag != "equal"]


def undo(before: bytes, after: bytes, current: bytes) -> Undo:
    """Undo the change ``before -> after`` on ``current``. The file unchanged since (``current ==
    after``) gives ``before`` exactly; otherwise see the module's rules."""
    if current == after:
        return Undo(before)
    if b"\0" in before or b"\0" in after or b"\0" in current:
        a = split_lines(after)
        return Undo(None, (Blocked(Hunk(0, len(split_lines(before)), 0, len(a)), Why.BINARY),))
    return reverse_hunks(split_lines(before), split_lines(after), split_lines(current))


def reverse_hunks(before: Sequence[bytes], after: Sequence[bytes], current: Sequence[bytes]) -> Undo:
    """The hunk-by-hunk undo itself (no shortcut for an unchanged file), on lists of lines."""
    where = _mapping(after, current)
    finder = _Finder(current)
    edits: list[tuple[int, int, Sequence[bytes]]] = []
    blocked: list[Blocked] = []
    for h in hunks(before, after):
        placed = _place(h, after, current, where, finder)
        if isinstance(placed, Why):
            blocked.append(Blocked(h, placed))
        else:
            edits.append((placed, placed + (h.after_end - h.after_start), before[h.before_start:h.before_end]))
    if blocked:
        return Undo(None, tuple(blocked))
    out = list(current)
    for start, end, lines in sorted(edits, key=lambda e: e[0], reverse=True):
        out[start:end] = lines
    return Undo(b"".join(out))


def _mapping(after: Sequence[bytes], current: Sequence[bytes]) -> list[int]:
    """For each line of ``after``, its index in ``current`` when the diff keeps it unchanged, else -1."""
    where = [-1] * len(after)
    for tag, i1, i2, j1, _ in line_opcodes(after, current):
        if tag == "equal":
            for k in range(i2 - i1):
                where[i1 + k] = j1 + k
    return where


def _place(h: Hunk, after: Sequence[bytes], current: Sequence[bytes], where: list[int],
           finder: "_Finder") -> int | Why:
    """Where in ``current`` the hunk's lines start, or why it cannot be placed."""
    j1, j2 = h.after_start, h.after_end
    lo, hi = max(0, j1 - CONTEXT_LINES), min(len(after), j2 + CONTEXT_LINES)
    if any(where[k] < 0 for k in range(j1, j2)) or any(where[k + 1] != where[k] + 1 for k in range(j1, j2 - 1)):
        return Why.CHANGED
    if lo == hi:  # the fix emptied the file: it must still be empty
        return 0 if not current else Why.SURROUNDINGS
    if any(where[k] < 0 for k in range(lo, hi)) or any(where[k + 1] != where[k] + 1 for k in range(lo, hi - 1)):
        return Why.SURROUNDINGS
    at_start, at_end = j1 - CONTEXT_LINES < 0, j2 + CONTEXT_LINES > len(after)
    if (at_start and where[lo] != 0) or (at_end and where[hi - 1] != len(current) - 1):
        return Why.SURROUNDINGS  # something was added before the file's first or after its last line
    if not (at_start or at_end) and finder.count(after[lo:hi], limit=2) != 1:
        return Why.AMBIGUOUS
    return where[lo] + (j1 - lo)


class _Finder:
    """Counts occurrences of a run of lines in a file in linear time: each distinct line becomes a
    4-byte code whose first byte (0xFF) no other byte of a code can be, so a byte search for a
    run's codes can only match at line boundaries (bytes.find, no quadratic scan on repeated lines)."""

    def __init__(self, lines: Sequence[bytes]) -> None:
        self._ids: dict[bytes, int] = {}
        self._text = b"".join(self._code(line) for line in lines)

    def _code(self, line: bytes) -> bytes:
        n = self._ids.setdefault(line, len(self._ids))
        if n >= 255 ** 3:
            raise ValueError("too many distinct lines")
        return bytes((0xFF, n // 65025, n // 255 % 255, n % 255))

    def count(self, run: Sequence[bytes], limit: int) -> int:
        if any(line not in self._ids for line in run):
            return 0
        pattern = b"".join(self._code(line) for line in run)
        found, start = 0, 0
        while found < limit:
            at = self._text.find(pattern, start)
            if at < 0:
                break
            found, start = found + 1, at + 4  # overlapping occurrences count too
        return found
