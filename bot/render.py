"""Human output of a run: unified diffs and summary tables (rich).

Every outside string (file names, rule ids, messages, problems, file content) is printed through
bot.terminal.shown: escaped, never read as markup.
"""
from __future__ import annotations

import difflib
from collections import Counter
from typing import Iterator, Sequence

from rich.console import Console
from rich.table import Table

from bot.set_aside import SetAside
from bot.terminal import shown
from fixers.engine import CLEARED, FIXED, UNFIXED, RunReport
from fixers.models import Confidence, Finding

Opcode = tuple[str, int, int, int, int]


def line_opcodes(before: Sequence[str], after: Sequence[str]) -> list[Opcode]:
    """A minimal line diff as SequenceMatcher opcodes.

    difflib's default "autojunk" heuristic ignores lines that make up more than 1% of a file of
    200+ lines (`}`, `  }`), so two changes separated only by such lines show them as removed and
    added again. autojunk=False keeps the diff minimal; the common head and tail are matched first,
    so the quadratic worst case of the matcher is paid only on the changed middle.
    """
    head = 0
    limit = min(len(before), len(after))
    while head < limit and before[head] == after[head]:
        head += 1
    tail = 0
    while tail < limit - head and before[-1 - tail] == after[-1 - tail]:
        tail += 1
    middle = difflib.SequenceMatcher(None, before[head:len(before) - tail], after[head:len(after) - tail],
                                     autojunk=False).get_opcodes()
    codes = [("equal", 0, head, 0, head)]
    codes += [(tag, i1 + head, i2 + head, j1 + head, j2 + head) for tag, i1, i2, j1, j2 in middle]
    codes.append(("equal", len(before) - tail, len(before), len(after) - tail, len(after)))
    # An empty head or tail is dropped; the middle starts and ends with a change, so no two
    # equal runs meet.
    return [code for code in codes if code[2] > code[1] or code[4] > code[3]]


def unified_diff(path: str, before: str, after: str, context: int = 3) -> str:
    """`diff -u` of two texts, minimal (see line_opcodes), as git prints it."""
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


def changed_line_count(before: str, after: str) -> int:
    """Lines added plus lines removed: what a reviewer reads."""
    codes = line_opcodes(before.splitlines(), after.splitlines())
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in codes if tag != "equal")


def print_diffs(console: Console, report: RunReport) -> None:
    for path, (before, after) in sorted(report.changes.items()):
        for line in unified_diff(path, before, after).splitlines():
            style = ("bold" if line.startswith(("+++", "---")) else "green" if line.startswith("+")
                     else "red" if line.startswith("-") else "cyan" if line.startswith("@@") else "")
            console.print(shown(line, style), soft_wrap=True)


def print_summary(console: Console, report: RunReport, wrote: bool, set_aside: int = 0) -> None:
    fixed, cleared, unfixed = (report.by_status(s) for s in (FIXED, CLEARED, UNFIXED))
    table = Table(title="iacbot fix: summary", title_justify="left")
    for column in ("rule", "findings", "fixed", "cleared by another fix", "left", "why left (first)"):
        table.add_column(column, overflow="fold")
    per_rule: dict[str, Counter] = {}
    first_reason: dict[str, str] = {}
    for attempt in report.attempts:
        per_rule.setdefault(attempt.finding.rule_id, Counter())[attempt.status] += 1
        if attempt.status == UNFIXED:
            first_reason.setdefault(attempt.finding.rule_id, attempt.reason)
    for rule in sorted(per_rule, key=lambda r: (-sum(per_rule[r].values()), r)):
        counts = per_rule[rule]
        table.add_row(shown(rule), str(sum(counts.values())), str(counts[FIXED]), str(counts[CLEARED]),
                      str(counts[UNFIXED]), shown(_short(first_reason.get(rule, ""))))
    console.print(table)
    where = "written" if wrote else "changed in this dry run (nothing written; --write applies them)"
    console.print(f"{len(report.attempts)} findings: {len(fixed)} fixed, {len(cleared)} cleared by another fix, "
                  f"{len(unfixed)} left; {len(report.changes)} files {where}.")
    print_set_aside(console, set_aside)
    assumed = sorted({a.finding.rule_id for a in fixed if a.fixer and a.fixer.info.confidence is Confidence.ASSUMED_VALUE})
    if assumed:
        console.print(shown(f"Review: fixes for {', '.join(assumed)} use an assumed value (limits, probe ports, user ids, "
                            "read-only filesystems...) that a person must confirm.", "yellow"))
    for problem in report.problems:
        print_problem(console, problem)


def print_set_aside(console: Console, count: int) -> None:
    if count:
        console.print(f"{count} more findings set aside: {SetAside.REPEATED_PLACE.why}.")


def print_problem(console: Console, problem: object, prefix: str = "problem: ") -> None:
    console.print(shown(f"{prefix}{problem}", "yellow"))


def print_findings(console: Console, findings: list[Finding], fixer_ids: dict[str, str | None], places: int) -> None:
    table = Table(title=f"{len(findings)} failed checks", title_justify="left")
    for column in ("rule", "resource", "file", "lines", "fixer"):
        table.add_column(column, overflow="fold")
    for f in sorted(findings, key=lambda f: (f.file, f.line_start, f.rule_id)):
        table.add_row(shown(f.rule_id), shown(f.resource), shown(f.file), f"{f.line_start}-{f.line_end}",
                      shown(fixer_ids.get(f.rule_id) or "-"))
    console.print(table)
    repeats = len(findings) - places
    if repeats:
        console.print(f"{len(findings)} failed checks at {places} places; iacbot fix sets {repeats} aside: "
                      f"{SetAside.REPEATED_PLACE.why}.")


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_fixers(console: Console, fixers: list) -> None:
    table = Table(title=f"{len(fixers)} fixers", title_justify="left")
    for column in ("id", "rules", "category", "risk", "confidence", "what it does"):
        table.add_column(column, overflow="fold")
    for fixer in fixers:
        info = fixer.info
        rules = ", ".join(info.rule_ids) or "(claimed from checkov metadata)"
        table.add_row(*(shown(cell) for cell in (info.id, rules, info.category.value, info.risk.value,
                                                 info.confidence.value, info.description)))
    console.print(table)
