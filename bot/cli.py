"""iacbot command line: `iacbot scan PATH`, `iacbot fix PATH`, `iacbot policy ...` (bot.policy_cli),
`iacbot provenance ...` (bot.provenance_cli), `iacbot audit ...` (bot.audit_cli) — no server, GitHub
or Redis needed (but `iacbot audit export`, which reads the service's Redis).

Exit status: 0 the run completed (findings may remain), 1 the scanner failed or the report could
not be written, 2 a usage or input error, found before any work is done.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, ContextManager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bot import audit_cli, git_branches, local_audit, policy_cli, provenance_cli, render, report_json, set_aside
from bot.cli_usage import UsageError, check_writable
from bot.branch_run import commit_branches
from bot.findings import checkov_json, load_findings_file
from bot.local_scan import scan_directory
from bot.terminal import shown
from bot.write_back import apply_changes
from fixers import registry
from fixers.catalog import load_catalog
from fixers.engine import remediate
from fixers.scanner import Scanner, ScannerError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PROGRESS_THRESHOLD = 20  # findings; below this a bar only flickers
# Not a terminal: no width to fit, so lines are never cut or wrapped (ids and paths stay whole).
UNBOUNDED_WIDTH = 1_000_000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iacbot", description="Verified, minimal fixes for Terraform and Kubernetes findings.")
    _add_global_flags(parser, default=False)
    # Global flags are accepted after the subcommand too; SUPPRESS keeps a subcommand's default
    # from overwriting a flag given before it.
    common = argparse.ArgumentParser(add_help=False)
    _add_global_flags(common, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)

    scan = commands.add_parser("scan", parents=[common], help="list failed checks in PATH and which fixer would handle each")
    scan.add_argument("path", type=Path)
    scan.add_argument("--json", type=Path, metavar="FILE",
                      help="also write the findings as checkov JSON (what `fix --findings` reads)")

    commands.add_parser("fixers", parents=[common], help="list the registered fixers")

    fix = commands.add_parser("fix", parents=[common], help="propose verified fixes (dry run unless --write or --branch)")
    fix.add_argument("path", type=Path)
    fix.add_argument("--write", action="store_true", help="apply the verified fixes to the working tree")
    fix.add_argument("--branch", action="store_true",
                     help="commit each fix to its own new local branch (iacbot/...), with provenance trailers; "
                          "the checkout is not touched (PATH must be in a git repository)")
    fix.add_argument("--findings", type=Path, metavar="FILE",
                     help="fix these findings (checkov JSON, `iacbot scan --json`, SARIF, AWS Security Hub "
                          "ASFF, or iacbot findings) instead of scanning")
    fix.add_argument("--state", type=Path, metavar="FILE",
                     help="with --findings: the `terraform show -json` state that maps findings about live "
                          "resources (ARNs, ids) to their blocks (docs/runtime-findings.md)")
    fix.add_argument("--json", type=Path, metavar="FILE", help="write a machine-readable report of every fix and every finding left")
    fix.add_argument("--signing-key", type=Path, metavar="FILE",
                     help="with --branch: sign each branch's provenance with this Ed25519 key (PEM) into a "
                          "refs/notes/iacbot git note (docs/provenance.md)")
    fix.add_argument("--audit-log", type=Path, metavar="FILE",
                     help="append this run's received/located/patched/verified (and signed) entries to FILE, "
                          "continuing its hash chain (docs/audit-log.md)")
    fix.add_argument("--audit-key", type=Path, metavar="PRIVATE.pem",
                     help="with --audit-log: sign a checkpoint of the log at the end of the run "
                          "(default: the --signing-key, if given)")

    policy_cli.add_commands(commands, common)
    provenance_cli.add_commands(commands, common)
    audit_cli.add_commands(commands, common)
    return parser


def _add_global_flags(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument("--no-color", action="store_true", default=default, help="plain output (also: NO_COLOR=1)")


def main(argv: list[str] | None = None, open_scanner: Callable[[], ContextManager[Scanner]] = Scanner) -> int:
    """`open_scanner` lets a caller (the tests) share one running scanner across runs."""
    parser = build_parser()
    args = parser.parse_args(argv)
    plain = args.no_color or bool(os.environ.get("NO_COLOR"))
    console = _console(plain, stderr=False)
    errors = _console(plain, stderr=True)
    if args.command == "fixers":
        render.print_fixers(console, registry.all_fixers())
        return EXIT_OK
    if args.command == "policy":
        return policy_cli.run(args, console, errors, open_scanner)
    if args.command == "provenance":
        return provenance_cli.run(args, console, errors)
    if args.command == "audit":
        return audit_cli.run(args, console, errors)
    try:
        root = _check_usage(args)
    except UsageError as exc:
        render.print_problem(errors, exc, prefix="iacbot: ")
        return EXIT_USAGE
    try:
        if args.command == "scan":
            return _scan(args, root, console, errors, open_scanner)
        return _fix(args, root, console, errors, open_scanner)
    except ScannerError as exc:
        render.print_problem(errors, exc, prefix="iacbot: scanner: ")
        return EXIT_FAILED
    except KeyboardInterrupt:
        errors.print("iacbot: interrupted; nothing was written after this point")
        return EXIT_FAILED


def _console(plain: bool, stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else UNBOUNDED_WIDTH
    return Console(stderr=stderr, no_color=plain, highlight=False, width=width)


def _check_usage(args) -> Path:
    """Everything the run needs from its arguments, checked before any work; the resolved root."""
    if not args.path.is_dir():
        raise UsageError(f"{args.path}: not a directory (give the repository to scan or fix)")
    root = args.path.resolve()
    if args.json:
        check_writable(args.json)
    if getattr(args, "branch", False):
        try:
            git_branches.toplevel(root)
        except git_branches.GitError:
            raise UsageError(f"{args.path} is not inside a git repository: --branch commits each fix to a new "
                             "local branch and needs one (git init, or use --write or a dry run)") from None
    if getattr(args, "signing_key", None):
        if not args.branch:
            raise UsageError("--signing-key signs the commits of --branch; give --branch too")
        from bot.attest import keys
        try:
            args.signing_key_loaded = keys.load_private_key(args.signing_key)
        except keys.KeyFileError as exc:
            raise UsageError(f"--signing-key {exc}") from None
    _check_audit_usage(args)
    findings = getattr(args, "findings", None)
    if findings and not findings.is_file():
        raise UsageError(f"--findings {findings}: no such file")
    state = getattr(args, "state", None)
    args.state_loaded = None
    if state:
        if not findings:
            raise UsageError("--state maps the findings of --findings to source; give --findings too")
        from bot.findings.runtime import load_state
        from bot.findings.tf_state import StateError
        try:
            args.state_loaded = load_state(state)
        except StateError as exc:
            raise UsageError(str(exc)) from None
    return root


def _check_audit_usage(args) -> None:
    """--audit-log: the file must continue a chain that verifies (refused before any work)."""
    if getattr(args, "audit_key", None) and not getattr(args, "audit_log", None):
        raise UsageError("--audit-key signs the checkpoint of --audit-log; give --audit-log too")
    if not getattr(args, "audit_log", None):
        return
    key = getattr(args, "signing_key_loaded", None)
    if args.audit_key:
        from bot.attest import keys
        try:
            key = keys.load_private_key(args.audit_key)
        except keys.KeyFileError as exc:
            raise UsageError(f"--audit-key {exc}") from None
    from bot.audit.jsonl import Appender, AuditFileError
    check_writable(args.audit_log)
    try:
        args.audit = Appender(args.audit_log, key)
    except AuditFileError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"--audit-log {args.audit_log}: cannot read ({exc.strerror})") from None


def _write_json(path: Path, document: dict, errors: Console) -> int:
    try:
        report_json.write(path, document)
    except OSError as exc:  # checked before the run; the disk can still fill or the directory go
        render.print_problem(errors, f"--json {path}: cannot write ({exc.strerror})", prefix="iacbot: ")
        return EXIT_FAILED
    return EXIT_OK


def _scan(args, root: Path, console: Console, errors: Console, open_scanner) -> int:
    catalog = load_catalog()
    with open_scanner() as scanner:
        findings, problems = scan_directory(scanner, root)
    fixer_ids = {}
    for f in findings:
        fixer = registry.fixer_for(f.rule_id, catalog)
        fixer_ids[f.rule_id] = fixer.info.id if fixer else None
    render.print_findings(console, findings, fixer_ids, set_aside.places(findings))
    for problem in problems:
        render.print_problem(errors, problem)
    if args.json:
        return _write_json(args.json, checkov_json.report(findings, problems), errors)
    return EXIT_OK


def _fix(args, root: Path, console: Console, errors: Console, open_scanner) -> int:
    catalog = load_catalog()
    problems: list[str] = []
    if args.findings:  # read before the scanner starts: an unusable file is a usage error
        findings, input_problems = load_findings_file(args.findings, root, args.state_loaded, catalog)
        problems = [str(p) for p in input_problems]
        if not findings and input_problems:
            for problem in problems:
                render.print_problem(errors, problem, prefix="iacbot: ")
            return EXIT_USAGE
    with open_scanner() as scanner:
        if not args.findings:
            with errors.status("scanning…"):
                findings, problems = scan_directory(scanner, root)
        report = _run_engine(root, findings, scanner, catalog, errors)
        report.problems[:0] = problems
        branches = []
        if args.branch:  # before --write: each branch starts from the committed file
            branches, branch_problems = commit_branches(root, report, scanner, catalog,
                                                        getattr(args, "signing_key_loaded", None),
                                                        on_signed=_audit_signed(args))
            report.problems.extend(branch_problems)
        if args.write:
            report.problems.extend(apply_changes(root, report))
        version = scanner.ping()
    audit = getattr(args, "audit", None)
    if audit is not None:
        local_audit.record_run(audit, root, report, findings, signed=getattr(args, "audit_signed", []))
        audit.close()
    repeats = set_aside.repeated_in_run(findings, report)
    render.print_diffs(console, report)
    render.print_summary(console, report, wrote=args.write, set_aside=repeats)
    for name, summary in branches:
        console.print(shown(f"branch {name}: {summary}"))
    if args.json:
        mode = "write" if args.write else "branch" if args.branch else "dry-run"
        document = report_json.build(report, root, mode, version)
        document["summary"]["set_aside"] = set_aside.record(repeats)
        return _write_json(args.json, document, errors)
    return EXIT_OK


def _audit_signed(args):
    """Collects (fingerprint, branch, envelope digest) of each signed branch for the audit log."""
    if getattr(args, "audit", None) is None:
        return None
    args.audit_signed = []
    return lambda *signed: args.audit_signed.append(signed)


def _run_engine(root: Path, findings, scanner: Scanner, catalog, errors: Console):
    show_progress = errors.is_terminal and len(findings) >= PROGRESS_THRESHOLD
    connections = scanner.graph_connections()  # lets independent scopes share a re-scan
    if not show_progress:
        return remediate(root, findings, scanner.scan_texts, catalog, graph_connections=connections)
    columns = (TextColumn("fixing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=errors, transient=True) as progress:
        task = progress.add_task("fix", total=len(findings))
        return remediate(root, findings, scanner.scan_texts, catalog,
                         on_scope_done=lambda n: progress.advance(task, n), graph_connections=connections)


if __name__ == "__main__":
    sys.exit(main())
