"""The work of `iacbot policy check | explain | simulate` (the command line is bot.policy_cli)."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, ContextManager

from rich.console import Console

from bot import policy_facts, policy_files, policy_render, policy_simulate, render
from bot.cli_usage import UsageError, check_writable
from bot.findings import load_findings_file
from bot.github.pr_body import read_provenance
from bot.local_scan import scan_directory
from fixers.catalog import load_catalog
from fixers.scanner import Scanner, ScannerError
from policies.decide import decide_merge, decide_publish
from policies.facts import PublishFacts
from policies.model import Match, Policy, PolicySet, Rule
from policies.reasons import Action

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: A PR body or a finding is a page of text; a bigger input file is refused unread.
MAX_INPUT_BYTES = 4 << 20


def run(args, console: Console, errors: Console,
        open_scanner: Callable[[], ContextManager[Scanner]] = Scanner) -> int:
    try:
        if args.policy_command == "check":
            return _check(args, console)
        if args.policy_command == "explain":
            return _explain(args, console, errors)
        return _simulate(args, console, errors, open_scanner)
    except UsageError as exc:
        for line in str(exc).splitlines():   # a policy's problems, one FILE:LINE:COL a line
            render.print_problem(errors, line, prefix="iacbot: ")
        return EXIT_USAGE
    except ScannerError as exc:
        render.print_problem(errors, exc, prefix="iacbot: scanner: ")
        return EXIT_FAILED
    except KeyboardInterrupt:
        errors.print("iacbot: interrupted")
        return EXIT_FAILED


# -- check ------------------------------------------------------------------------------------

def _check(args, console: Console) -> int:
    forced = True if args.repo_policy else False if args.central else None
    results = [policy_files.check(path, policy_files.kind_of(path, forced)) for path in args.files]
    policy_render.print_check(console, results)
    return EXIT_OK if all(r.valid for r in results) else EXIT_USAGE


# -- the policies explain and simulate decide under ---------------------------------------------

def _policy_set(central_path: Path, repo_path: Path | None, errors: Console) -> PolicySet:
    """Both files loaded; a file that cannot be used is a usage error naming every problem (the
    service would fail closed on it: `iacbot policy check` says the same). Lint findings do not stop
    a simulation (seeing what a shadowed rule does is what it is for): they are noted."""
    central = _load_one(central_path, policy_files.CENTRAL, "--policy", errors)
    repo = _load_one(repo_path, policy_files.REPOSITORY, "--repo-policy", errors) if repo_path else None
    return PolicySet(central, repo)


def _load_one(path: Path, kind: str, flag: str, errors: Console) -> Policy:
    checked = policy_files.check(path, kind)
    if checked.policy is None:
        lines = "\n".join(p.text() for p in checked.problems)
        consequence = ("nothing is merged automatically" if kind == policy_files.CENTRAL
                       else "nothing in that repository is merged automatically")
        raise UsageError(f"{flag} {path} cannot be used:\n{lines}\n(the service fails closed on such a file: "
                         f"{consequence}, and the policy issue names these lines)")
    for problem in checked.problems:
        render.print_problem(errors, problem.text(), prefix="iacbot: note: ")
    if checked.problems:
        errors.print(f"iacbot: note: `iacbot policy check {path}` fails on the above; deciding with it anyway",
                     style="yellow", markup=False, highlight=False)
    return checked.policy


def _now(args) -> datetime:
    if args.at is None:
        return datetime.now(timezone.utc)
    try:
        return policy_facts.parse_time(args.at, "--at")
    except policy_facts.FactsError as exc:
        raise UsageError(str(exc)) from None


def _read_input(path: Path, flag: str) -> bytes:
    """An input file's bytes, bounded; a usage error that names the flag and the file otherwise."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"{flag} {path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{flag} {path}: is a directory") from None
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot read ({exc.strerror})") from None
    if len(raw) > MAX_INPUT_BYTES:
        raise UsageError(f"{flag} {path}: larger than {MAX_INPUT_BYTES >> 20} MiB; not read")
    return raw


def _read_json(path: Path, flag: str) -> Any:
    raw = _read_input(path, flag)
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(f"{flag} {path}: not UTF-8 text (invalid byte at offset {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{flag} {path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise UsageError(f"{flag} {path}: JSON nested too deeply") from None


def _read_text(path: Path, flag: str) -> str:
    return _read_input(path, flag).decode("utf-8", "replace")


# -- explain ----------------------------------------------------------------------------------

def _explain(args, console: Console, errors: Console) -> int:
    now = _now(args)
    catalog = load_catalog()
    try:
        if args.pr_body is not None:
            block = read_provenance(_read_text(args.pr_body, "--pr-body"))
            if block is None:
                raise UsageError(f"--pr-body {args.pr_body}: no iacbot provenance block "
                                 "(<!-- iacbot:provenance {...} -->) in it; is it the body of an iacbot pull request?")
            facts = policy_facts.from_provenance(block, catalog, args.repository)
            given = f"the provenance block of {args.pr_body}"
        else:
            facts = policy_facts.from_finding(_read_json(args.finding, "--finding"), catalog, args.repository or "")
            given = f"the finding in {args.finding}"
    except policy_facts.FactsError as exc:
        raise UsageError(f"{'--pr-body' if args.pr_body else '--finding'} {args.pr_body or args.finding}: {exc}") from None
    merge = None
    if args.merge_facts:
        if not facts.measured:
            raise UsageError("--merge-facts: the fix's changed lines are not known (the input has no changed_lines), "
                             "and the merge-time diff guardrail compares the pull request with them; add "
                             "\"changed_lines\" to the finding, or explain without --merge-facts")
        try:
            merge = policy_facts.merge_facts(_read_json(args.merge_facts, "--merge-facts"), now)
        except policy_facts.FactsError as exc:
            raise UsageError(f"--merge-facts {args.merge_facts}: {exc}") from None
    policies = _policy_set(args.policy, args.repo_policy, errors)
    published = decide_publish(policies, facts.fix, PublishFacts(now=now))
    merged = decide_merge(policies, facts.fix, merge) if merge is not None else None
    hypothetical = _if_automerge(policies, facts.fix, now)
    explanation = policy_render.Explanation(given, facts, policies, now, published, merged, hypothetical)
    if args.json:
        console.print_json(json.dumps(explanation.to_json()))
    else:
        policy_render.print_explanation(console, explanation)
    return EXIT_OK


def _if_automerge(policies: PolicySet, fix, now: datetime):
    """The decision if the central policy's only rule said automerge for everything (keeping its
    window, checks and limits): which guardrails stand between this fix and an automatic merge
    whatever a rule says. None when the central policy is not usable."""
    central = policies.central
    if central is None:
        return None
    everything = Rule("(any rule saying automerge)", Match(), Action.AUTOMERGE)
    return decide_publish(replace(policies, central=replace(central, rules=(everything,)), repo=None), fix,
                          PublishFacts(now=now))


# -- simulate ---------------------------------------------------------------------------------

def _simulate(args, console: Console, errors: Console, open_scanner) -> int:
    now = _now(args)
    if args.path is None and args.findings is None:
        raise UsageError("simulate needs a repository PATH to scan, or --findings FILE")
    if args.path is not None and not args.path.is_dir():
        raise UsageError(f"{args.path}: not a directory (give the repository to scan)")
    if args.findings is not None and not args.findings.is_file():
        raise UsageError(f"--findings {args.findings}: no such file")
    if args.json:
        check_writable(args.json)
    if args.action_changes and not args.compare:
        raise UsageError("--action-changes needs --compare FILE (the policy to compare with)")
    policies = _policy_set(args.policy, args.repo_policy, errors)
    compare = (PolicySet(_load_one(args.compare, policy_files.CENTRAL, "--compare", errors), policies.repo)
               if args.compare else None)
    root = (args.path or Path.cwd()).resolve()
    catalog = load_catalog()
    problems: list[str] = []
    if args.findings is not None:
        findings, input_problems = load_findings_file(args.findings, root)
        problems = [str(p) for p in input_problems]
        if not findings and input_problems:
            raise UsageError("\n".join(problems))
    else:
        with open_scanner() as scanner:
            with errors.status("scanning…"):
                findings, problems = scan_directory(scanner, root)
    results = policy_simulate.simulate(findings, policies, now, args.repository or "", catalog,
                                       None if args.labels_only else root, compare, args.measure_all)
    policy_render.print_simulation(console, results, policy_render.SimulationHeader(
        args.policy, args.compare, now, args.repository, args.labels_only, args.measure_all, args.action_changes))
    for problem in problems:
        render.print_problem(errors, problem)
    if args.json:
        document = {"schema_version": 1, "at": now.isoformat(),
                    "policy": {"file": str(args.policy), "digest": policies.central.digest},
                    "compare": ({"file": str(args.compare), "digest": compare.central.digest} if compare else None),
                    "repo_policy": ({"file": str(args.repo_policy), "digest": policies.repo.digest}
                                    if policies.repo else None),
                    "repository": args.repository, "blast_radius_measured": not args.labels_only,
                    "summary": dict(policy_simulate.counts(results)),
                    "findings": policy_simulate.to_json(results), "problems": problems}
        try:
            args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            render.print_problem(errors, f"--json {args.json}: cannot write ({exc.strerror})", prefix="iacbot: ")
            return EXIT_FAILED
    return EXIT_OK


