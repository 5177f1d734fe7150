"""Human output of a run: unified diffs (bot.line_diff) and summary tables (rich).

Every outside string (file names, rule ids, messages, problems, file content) is printed through
bot.terminal.shown: escaped, never read as markup.
"""
from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from bot.line_diff import changed_line_count, unified_diff  # noqa: F401 (changed_line_count: re-exported)
from bot.set_aside import SetAside
from bot.terminal import shown
from fixers.engine import CLEARED, FIXED, UNFIXED, RunReport
from fixers.models import Confidence, Finding


def print_diffs(console: Console, report: RunReport) -> None:
    for path, (before, after) in sorted(report.changes.items()):
        for line in unified_diff(path, before, after).splitlines():
            style = ("bold" if line.startswith(("+++", "---")) else "green" if line.startswith("+")
                     else "red" if line.startswith("-") else "cyan" if line.startswith("@@") else "")
            console.print(shown(line, style), soft_wrap=True)


def print_summary(console: Console, report: RunReport, wrote: bool, set_aside: int = 0) -> None:
    fixed, cleared, unfixed = (report.outcomes(s) for s in (FIXED, CLEARED, UNFIXED))
    table = Table(title="iacbot fix: summary", title_justify="left")
    for column in ("rule", "findings", "fixed", "cleared by another fix", "left", "why left (first)"):
        table.add_column(column, overflow="fold")
    per_rule: dict[str, Counter] = {}
    first_reason: dict[str, str] = {}
    for finding, attempt in report.outcomes():
        per_rule.setdefault(finding.rule_id, Counter())[attempt.status] += 1
        if attempt.status == UNFIXED:
            first_reason.setdefault(finding.rule_id, attempt.reason)
    for rule in sorted(per_rule, key=lambda r: (-sum(per_rule[r].values()), r)):
        counts = per_rule[rule]
        table.add_row(shown(rule), str(sum(counts.values())), str(counts[FIXED]), str(counts[CLEARED]),
                      str(counts[UNFIXED]), shown(_short(first_reason.get(rule, ""))))
    console.print(table)
    where = "written" if wrote else "changed in this dry run (nothing written; --write applies them)"
    fixes = report.by_status(FIXED)
    console.print(f"{len(report.outcomes())} findings: {len(fixed)} fixed (in {len(fixes)} fixes), {len(cleared)} "
                  f"cleared by another fix, {len(unfixed)} left; {len(report.changes)} files {where}.")
    for fix in (f for f in fixes if len(f.findings) > 1):  # one fix, one branch or PR, several findings
        console.print(shown(f"one fix for {fix.finding.resource} ({fix.finding.file}): {', '.join(fix.rule_ids)}"))
    print_set_aside(console, set_aside)
    assumed = sorted({f.rule_id for f, a in fixed if a.fixer and a.fixer.info.confidence is Confidence.ASSUMED_VALUE})
    if assumed:
        console.print(shown(f"Review: fixes for {', '.join(assumed)} are not safe defaults: they assume something "
                            "about the workload or have an impact (cost, availability, operations...) that a person "
                            "must confirm; `iacbot fixers` and the JSON report say which.", "yellow"))
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
    for column in ("id", "rules", "category", "risk", "confidence", "impact", "what it does"):
        table.add_column(column, overflow="fold")
    for fixer in fixers:
        info = fixer.info
        rules = ", ".join(info.rule_ids) or "(claimed from checkov metadata)"
        table.add_row(*(shown(cell) for cell in (info.id, rules, info.category.value, info.risk.value,
                                                 info.confidence.value, info.impact_text(), info.description)))
    console.print(table)
