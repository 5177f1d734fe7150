"""Line diffs as people and git read them: minimal around the real change, bounded in cost.

difflib's default "autojunk" heuristic ignores lines that make up more than 1% of a file of
200+ lines (`}`, `  }`), so two changes separated only by such lines come out as removed and
added again. Without it, SequenceMatcher is quadratic on files full of repeated lines. So, as
git's patience diff does: match the common head and tail, anchor on lines that occur exactly once
on both sides, and only between anchors run SequenceMatcher without autojunk, on regions small
enough to afford it.
"""
from __future__ import annotations

import bisect
import difflib
from collections import Counter
from typing import Iterator, Sequence

Opcode = tuple[str, int, int, int, int]
Block = tuple[int, int, int]   # (start in before, start in after, length), as difflib's matching blocks

#: Lines before x lines after above which a region with no unique line is left to difflib's
#: fast heuristic (maybe not minimal) rather than its quadratic exact match.
EXACT_REGION_LIMIT = 250_000


def line_opcodes(before: Sequence[str], after: Sequence[str]) -> list[Opcode]:
    """The diff of two line sequences as SequenceMatcher opcodes."""
    codes: list[Opcode] = []
    i = j = 0
    for ai, bj, size in [*_matching_blocks(before, after), (len(before), len(after), 0)]:
        tag = "replace" if i < ai and j < bj else "delete" if i < ai else "insert" if j < bj else ""
        if tag:
            codes.append((tag, i, ai, j, bj))
        i, j = ai + size, bj + size
        if size:
            codes.append(("equal", ai, i, bj, j))
    return codes


def _matching_blocks(a: Sequence[str], b: Sequence[str]) -> list[Block]:
    matched: list[Block] = []
    regions = [(0, len(a), 0, len(b))]
    while regions:  # a stack, not recursion: nesting depth follows the input
        alo, ahi, blo, bhi = regions.pop()
        while alo < ahi and blo < bhi and a[alo] == b[blo]:
            matched.append((alo, blo, 1))
            alo, blo = alo + 1, blo + 1
        while alo < ahi and blo < bhi and a[ahi - 1] == b[bhi - 1]:
            ahi, bhi = ahi - 1, bhi - 1
            matched.append((ahi, bhi, 1))
        if alo == ahi or blo == bhi:
            continue
        anchors = _unique_anchors(a, b, alo, ahi, blo, bhi)
        if anchors:
            for i, j in anchors:
                regions.append((alo, i, blo, j))
                matched.append((i, j, 1))
                alo, blo = i + 1, j + 1
            regions.append((alo, ahi, blo, bhi))
            continue
        exact = (ahi - alo) * (bhi - blo) <= EXACT_REGION_LIMIT
        matcher = difflib.SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=not exact)
        matched += [(alo + i, blo + j, n) for i, j, n in matcher.get_matching_blocks() if n]
    return _merged(sorted(matched))


def _unique_anchors(a: Sequence[str], b: Sequence[str], alo: int, ahi: int, blo: int, bhi: int) -> list[tuple[int, int]]:
    """Lines found exactly once on each side of the region, paired, keeping the longest run that
    is in the same order on both sides (patience sorting)."""
    in_a, in_b = Counter(a[alo:ahi]), Counter(b[blo:bhi])
    where_b = {line: j for j, line in enumerate(b[blo:bhi], blo) if in_b[line] == 1 and in_a[line] == 1}
    pairs = [(i, where_b[line]) for i, line in enumerate(a[alo:ahi], alo) if line in where_b and in_a[line] == 1]
    tails: list[int] = []           # tails[k]: smallest j ending an ordered run of length k + 1
    ends: list[int] = []            # index in pairs of that run's last pair
    previous: list[int] = []        # index in pairs of the pair before it in its run
    for index, (_, j) in enumerate(pairs):
        k = bisect.bisect_left(tails, j)
        previous.append(ends[k - 1] if k else -1)
        if k == len(tails):
            tails.append(j)
            ends.append(index)
        else:
            tails[k], ends[k] = j, index
    run, index = [], ends[-1] if ends else -1
    while index >= 0:
        run.append(pairs[index])
        index = previous[index]
    return run[::-1]


def _merged(blocks: list[Block]) -> list[Block]:
    merged: list[Block] = []
    for i, j, n in blocks:
        if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
            last = merged.pop()
            merged.append((last[0], last[1], last[2] + n))
        else:
            merged.append((i, j, n))
    return merged


def unified_diff(path: str, before: str, after: str, context: int = 3) -> str:
    """`diff -u` of two texts as git prints it (a/ and b/ prefixes, no-newline markers)."""
    a, b = before.splitlines(keepends=True), after.splitlines(keepends=True)
    out: list[str] = []
    for group in _hunks(line_opcodes(a, b), context):
        if not out:
            out += [f"--- a/{path}\n", f"+++ b/{path}\n"]
        (_, i1, _, j1, _), (_, _, i2, _, j2) = group[0], group[-1]
        out.append(f"@@ -{_range(i1, i2)} +{_range(j1, j2)} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [" " + line for line in a[i1:i2]]
                continue
            out += ["-" + line for line in a[i1:i2]]
            out += ["+" + line for line in b[j1:j2]]
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in out)


def changed_line_count(before: str, after: str) -> int:
    """Lines added plus lines removed: what a reviewer reads."""
    codes = line_opcodes(before.splitlines(), after.splitlines())
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in codes if tag != "equal")


def _hunks(codes: list[Opcode], context: int) -> Iterator[list[Opcode]]:
    """Opcodes grouped into hunks with `context` lines around each change (as difflib groups them)."""
    if not any(tag != "equal" for tag, *_ in codes):
        return
    codes = list(codes)
    if codes[0][0] == "equal":
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = tag, max(i1, i2 - context), i2, max(j1, j2 - context), j2
    if codes[-1][0] == "equal":
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context)
    group: list[Opcode] = []
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal" and i2 - i1 > 2 * context:
            group.append((tag, i1, i1 + context, j1, j1 + context))
            yield group
            group = []
            i1, j1 = i2 - context, j2 - context
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        yield group


def _range(start: int, stop: int) -> str:
    """A hunk range as unified diff writes it: 1-based start, length when not 1."""
    length = stop - start
    first = start + 1 if length else start
    return f"{first}" if length == 1 else f"{first},{length}"
