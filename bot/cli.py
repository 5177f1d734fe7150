"""iacbot command line: `iacbot scan PATH`, `iacbot fix PATH` — no server, GitHub or Redis needed."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, ContextManager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot import render, report_json
from bot.branch_run import commit_branches
from bot.findings import load_findings_file
from bot.local_scan import scan_directory
from bot.write_back import apply_changes
from fixers import registry
from fixers.catalog import load_catalog
from fixers.engine import remediate
from fixers.scanner import Scanner, ScannerError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PROGRESS_THRESHOLD = 20  # findings; below this a bar only flickers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iacbot", description="Verified, minimal fixes for Terraform and Kubernetes findings.")
    parser.add_argument("--no-color", action="store_true", help="plain output (also: NO_COLOR=1)")
    commands = parser.add_subparsers(dest="command", required=True)

    scan = commands.add_parser("scan", help="list failed checks in PATH and which fixer would handle each")
    scan.add_argument("path", type=Path)
    scan.add_argument("--json", type=Path, metavar="FILE", help="also write the findings as checkov-like JSON")

    commands.add_parser("fixers", help="list the registered fixers")

    fix = commands.add_parser("fix", help="propose verified fixes (dry run unless --write or --branch)")
    fix.add_argument("path", type=Path)
    fix.add_argument("--write", action="store_true", help="apply the verified fixes to the working tree")
    fix.add_argument("--branch", action="store_true",
                     help="commit each fix to its own new local branch (iacbot/...), with provenance trailers; "
                          "the checkout is not touched")
    fix.add_argument("--findings", type=Path, metavar="FILE", help="fix these findings (checkov JSON or SARIF) instead of scanning")
    fix.add_argument("--json", type=Path, metavar="FILE", help="write a machine-readable report of every fix and every finding left")
    return parser


def main(argv: list[str] | None = None, open_scanner: Callable[[], ContextManager[Scanner]] = Scanner) -> int:
    """`open_scanner` lets a caller (the tests) share one running scanner across runs."""
    parser = build_parser()
    args = parser.parse_args(argv)
    plain = args.no_color or bool(os.environ.get("NO_COLOR"))
    console = Console(no_color=plain, highlight=False, width=None if sys.stdout.isatty() else 132)
    errors = Console(stderr=True, no_color=plain, highlight=False)
    if args.command == "fixers":
        render.print_fixers(console, registry.all_fixers())
        return EXIT_OK
    root = args.path
    if not root.is_dir():
        errors.print(f"iacbot: {root}: not a directory (give the repository to scan or fix)")
        return EXIT_USAGE
    root = root.resolve()
    try:
        if args.command == "scan":
            return _scan(args, root, console, errors, open_scanner)
        return _fix(args, root, console, errors, open_scanner)
    except ScannerError as exc:
        errors.print(f"iacbot: scanner: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        errors.print("iacbot: interrupted; nothing was written after this point")
        return EXIT_FAILED


def _scan(args, root: Path, console: Console, errors: Console, open_scanner) -> int:
    catalog = load_catalog()
    with open_scanner() as scanner:
        findings, problems = scan_directory(scanner, root)
    fixer_ids = {}
    for f in findings:
        fixer = registry.fixer_for(f.rule_id, catalog)
        fixer_ids[f.rule_id] = fixer.info.id if fixer else None
    render.print_findings(console, findings, fixer_ids)
    for problem in problems:
        errors.print(f"problem: {problem}")
    if args.json:
        report_json.write(args.json, {"findings": [report_json.finding_record(f) for f in findings], "problems": problems})
    return EXIT_OK


def _fix(args, root: Path, console: Console, errors: Console, open_scanner) -> int:
    catalog = load_catalog()
    with open_scanner() as scanner:
        if args.findings:
            findings, input_problems = load_findings_file(args.findings, root)
            problems = [str(p) for p in input_problems]
            if not findings and input_problems:
                for problem in problems:
                    errors.print(f"iacbot: {problem}")
                return EXIT_USAGE
        else:
            with errors.status("scanning…"):
                findings, problems = scan_directory(scanner, root)
        report = _run_engine(root, findings, scanner, catalog, errors)
        report.problems[:0] = problems
        branches = []
        if args.branch:  # before --write: each branch starts from the committed file
            branches, branch_problems = commit_branches(root, report, scanner, catalog)
            report.problems.extend(branch_problems)
        if args.write:
            report.problems.extend(apply_changes(root, report))
        version = scanner.ping()
    render.print_diffs(console, report)
    render.print_summary(console, report, wrote=args.write)
    for name, summary in branches:
        console.print(f"branch {name}: {summary}")
    if args.json:
        mode = "write" if args.write else "branch" if args.branch else "dry-run"
        report_json.write(args.json, report_json.build(report, root, mode, version))
    return EXIT_OK


def _run_engine(root: Path, findings, scanner: Scanner, catalog, errors: Console):
    show_progress = errors.is_terminal and len(findings) >= PROGRESS_THRESHOLD
    if not show_progress:
        return remediate(root, findings, scanner.scan_texts, catalog)
    columns = (TextColumn("fixing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=errors, transient=True) as progress:
        task = progress.add_task("fix", total=len(findings))
        return remediate(root, findings, scanner.scan_texts, catalog,
                         on_scope_done=lambda n: progress.advance(task, n))


if __name__ == "__main__":
    sys.exit(main())
