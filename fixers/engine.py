"""The remediation engine: findings in, verified patches out.

For each verification scope (a Terraform directory, or one YAML file) the engine asks the
registered fixer for each finding, applying patches one after another to the same text, then
verifies the whole batch with one re-scan. A batch that is not clean is replayed one patch at a
time so that only the guilty patches are dropped. The engine reads files and calls the scanner;
fixers stay pure.
"""
from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Protocol, Sequence

from fixers import registry
from fixers.locate.by_line import resource_at_line
from fixers.models import Finding, FixContext, Fixer, Location, NoChange, Patched, RepoFacts, RuleMeta, Unknown
from fixers.scan_batch import MAX_SCOPES_PER_SCAN, ScanBatcher, connection_pairs
from fixers.syntax import file_kind, parse_error
from fixers.terraform.provider import aws_provider_major
from fixers.verify import Blind, ScanKey, Verdict, blind_files, describe, failed_keys, finding_key, judge, unparseable_files
from fixers.workspace import read_sources, scope_of, scope_texts, terraform_texts

FIXED = "fixed"            # a patch of this finding's fixer was verified
CLEARED = "cleared"        # no patch of its own was needed: another verified patch cleared it
UNFIXED = "unfixed"        # no verified patch; `reason` says why


@dataclass(frozen=True)
class Attempt:
    """What happened to the findings of one fingerprint that share an outcome.

    A fingerprint (fix class + resource + file) names one fix: a FIXED or CLEARED attempt carries
    every finding that fix covers, verified together; an UNFIXED one the finding(s) left, with why.
    `finding` is the primary finding (the first of `findings`): it names the branch and the title.
    """

    finding: Finding
    status: str
    reason: str = ""
    fixer: Fixer | None = None
    summary: str = ""
    location: Location | None = None
    findings: tuple[Finding, ...] = ()   # every finding covered, the primary first; () means (finding,)

    def __post_init__(self) -> None:
        findings = tuple(self.findings) or (self.finding,)
        if findings[0] != self.finding:
            raise ValueError("an attempt's findings start with its primary finding")
        if len({f.fingerprint() for f in findings}) != 1:
            raise ValueError("an attempt covers the findings of one fingerprint")
        object.__setattr__(self, "findings", findings)

    @property
    def fingerprint(self) -> str:
        return self.finding.fingerprint()

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(f.rule_id for f in self.findings)


@dataclass
class RunReport:
    attempts: list[Attempt] = field(default_factory=list)
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)   # path -> (before, after)
    problems: list[str] = field(default_factory=list)                   # bad input, named by file

    def by_status(self, status: str) -> list[Attempt]:
        return [a for a in self.attempts if a.status == status]

    def outcomes(self, status: str | None = None) -> list[tuple[Finding, Attempt]]:
        """Each finding with the attempt that covers it: what is counted and listed per finding."""
        return [(f, a) for a in self.attempts if status in (None, a.status) for f in a.findings]


class ScanTexts(Protocol):
    def __call__(self, files: Mapping[str, str]) -> object:
        """Scan {repository-relative path: text}; return a ScanResult (failed and passed
        CheckResults, parsing_errors: the paths checkov could not parse)."""


@dataclass(frozen=True)
class _Rescan:
    """What one re-scan of a scope saw: the failures, and the files it tells nothing about (an
    absent failure there proves nothing: a finding on them is not cleared)."""

    failed: frozenset[ScanKey] = frozenset()
    blind: Mapping[str, Blind] = field(default_factory=dict)


@dataclass(frozen=True)
class _Step:
    finding: Finding
    fixer: Fixer
    outcome: Patched | NoChange


def repo_facts(repo_root: Path) -> RepoFacts:
    """What fixers may need beyond one file; it reads every .tf file, so compute it once per run."""
    return RepoFacts(aws_provider_major=aws_provider_major(terraform_texts(repo_root)))


def remediate(repo_root: Path, findings: Sequence[Finding], scan_texts: ScanTexts,
              catalog: Mapping[str, RuleMeta], on_scope_done: Callable[[int], None] | None = None,
              facts: RepoFacts | None = None,
              graph_connections: Iterable[tuple[Iterable[str], Iterable[str]]] | None = None) -> RunReport:
    """Fix what can be fixed, verify it, and say why the rest was not.

    With `graph_connections` (the scanner's, `Scanner.graph_connections()`), the re-scans of
    independent scopes share checkov runs (fixers/scan_batch.py); each scope is still judged
    only on what checkov says about its own files, exactly as if scanned alone."""
    report = RunReport()
    sources, unreadable = read_sources(repo_root, {f.file for f in findings})
    report.problems += [f"{path}: {why}" for path, why in unreadable.items()]
    findings = _unique(_complete(f, sources, catalog) for f in findings)
    facts = facts or repo_facts(repo_root)
    initial_failed = {finding_key(f) for f in findings}

    by_scope: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        if finding.file not in sources:
            report.attempts.append(Attempt(finding, UNFIXED, f"{finding.file}: {unreadable.get(finding.file, 'cannot be read')}"))
        elif file_kind(finding.file) is None:
            report.attempts.append(Attempt(finding, UNFIXED, f"{finding.file} is not a Terraform or Kubernetes YAML file"))
        else:
            by_scope[scope_of(finding.file)].append(finding)

    # Verification of one scope waits mostly on the scanner process; meanwhile this thread
    # proposes the next scope's patches, so both cores work. With batching, many scopes wait
    # at once and their re-scans are made together.
    verifiers = 1
    if graph_connections is not None:
        scan_texts = ScanBatcher(scan_texts, connection_pairs(graph_connections))
        verifiers = MAX_SCOPES_PER_SCAN
    jobs = [(scope_texts(repo_root, scope, sources), scope_findings) for scope, scope_findings in sorted(by_scope.items())]
    with ThreadPoolExecutor(max_workers=verifiers, thread_name_prefix="iacbot-verify") as verifier, \
            _proposers(jobs, catalog, facts, parallel=graph_connections is not None) as proposals:
        pending = []
        for proposal, (_originals, scope_findings) in zip(proposals, jobs):
            pending.append((verifier.submit(_verify_scope, proposal, scan_texts, catalog, facts, initial_failed),
                            len(scope_findings)))
        if isinstance(scan_texts, ScanBatcher):
            scan_texts.close_intake()
        for future, count in pending:
            attempts, changes = future.result()
            report.attempts.extend(attempts)
            report.changes.update(changes)
            if on_scope_done:
                on_scope_done(count)
    return report


PARALLEL_PROPOSALS_FROM = 2       # scopes: a single one gains nothing from a second process
_FORKED_JOBS: tuple | None = None  # (jobs, catalog, facts) as the forked proposers inherit them


@contextmanager
def _proposers(jobs: list, catalog: Mapping[str, RuleMeta], facts: RepoFacts, parallel: bool) -> Iterator:
    """Each job's _ScopeProposal, in order. Proposing is CPU work (parsing dominates) and scopes
    are independent, so a large run proposes in forked processes, one per core; the proposals are
    the same either way (pure functions of the texts, the findings and the catalog)."""
    workers = min(os.cpu_count() or 1, 4)
    if not parallel or workers < 2 or len(jobs) < PARALLEL_PROPOSALS_FROM or "fork" not in mp.get_all_start_methods():
        yield (_propose_scope(originals, found, catalog, facts) for originals, found in jobs)
        return
    # Patches chain per file (a fixer reads only its file's text), so the parts are files: a
    # large Terraform directory does not keep one process busy while the other waits.
    parts = [(index, path) for index, (_originals, found) in enumerate(jobs) for path in sorted({f.file for f in found})]
    global _FORKED_JOBS
    _FORKED_JOBS = (jobs, parts, catalog, facts)
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
            futures = [pool.submit(_propose_forked, number) for number in range(len(parts))]
            yield (_merge(originals, [_restore(futures[n].result(), catalog) for n, part in enumerate(parts) if part[0] == index])
                   for index, (originals, _found) in enumerate(jobs))
    finally:
        _FORKED_JOBS = None


def _propose_forked(number: int):
    jobs, parts, catalog, facts = _FORKED_JOBS
    index, path = parts[number]
    originals, found = jobs[index]
    return _portable(_propose_scope(originals, [f for f in found if f.file == path], catalog, facts))


def _merge(originals: dict[str, str], parts: list["_ScopeProposal"]) -> "_ScopeProposal":
    """One scope's proposal from its files' proposals (in file order): what _propose_scope gives
    for all of them at once, the unparseable files' findings first."""
    texts = dict(originals)
    for part in parts:
        texts.update({path: text for path, text in part.texts.items() if text != originals[path]})
    return _ScopeProposal(originals, texts, [step for part in parts for step in part.steps],
                          [a for part in parts for a in part.unparseable], [a for part in parts for a in part.refusals])


def _portable(proposal: "_ScopeProposal"):
    """Fixers hold functions, which do not cross a process boundary: each is sent as whether it
    was there, and the registry gives it back (fixer_for is what chose it)."""
    return dataclasses.replace(
        proposal,
        steps=[dataclasses.replace(step, fixer=None) for step in proposal.steps],
        unparseable=[dataclasses.replace(attempt, fixer=None) for attempt in proposal.unparseable],
        refusals=[(dataclasses.replace(attempt, fixer=None), attempt.fixer is not None) for attempt in proposal.refusals])


def _restore(proposal: "_ScopeProposal", catalog: Mapping[str, RuleMeta]) -> "_ScopeProposal":
    return dataclasses.replace(
        proposal,
        steps=[dataclasses.replace(step, fixer=registry.fixer_for(step.finding.rule_id, catalog)) for step in proposal.steps],
        refusals=[dataclasses.replace(attempt, fixer=registry.fixer_for(attempt.finding.rule_id, catalog) if had else None)
                  for attempt, had in proposal.refusals])


@dataclass(frozen=True)
class AloneFix:
    """One fingerprint's fix, re-made on the original file and verified by itself: what a branch
    or a pull request holds. `attempt.findings` are the findings it carries; `left` are the
    findings of the fix that did not verify without the rest of the run, with why."""

    attempt: Attempt
    new_text: str
    verification: str
    left: tuple[Attempt, ...] = ()


def fix_alone(repo_root: Path, fix: Attempt, scan_texts: ScanTexts, catalog: Mapping[str, RuleMeta],
              scanner_version: str, facts: RepoFacts) -> AloneFix | str:
    """The fix of `fix.findings` (one fingerprint) alone, or the reason it does not verify on its own.

    A batch may clear a rule through another fix (drop ALL also drops NET_RAW); a change that is
    to stand alone must pass alone. All the fix's findings are re-made and verified together.
    """
    path = fix.finding.file
    alone = remediate(repo_root, list(fix.findings), scan_texts, catalog, facts=facts)
    fixed = alone.by_status(FIXED)
    if not fixed or path not in alone.changes:
        return "; ".join(dict.fromkeys(a.reason for a in alone.attempts if a.reason)) or "no change"
    made = fixed[0]
    left = tuple(a for a in alone.attempts if a is not made and a.status == UNFIXED)
    rules = ", ".join(made.rule_ids)
    verification = (f"re-scan with checkov {scanner_version}: {rules} {'pass' if len(made.findings) > 1 else 'passes'} "
                    f"on {made.finding.resource}, no check newly fails, file re-parses")
    return AloneFix(made, alone.changes[path][1], verification, left)


@dataclass(frozen=True)
class _ScopeProposal:
    originals: dict[str, str]
    texts: dict[str, str]        # after every proposed patch
    steps: list[_Step]
    unparseable: list[Attempt]   # findings in files that do not parse
    refusals: list[Attempt]      # findings no fixer could patch, with why


def _propose_scope(originals: dict[str, str], findings: list[Finding], catalog: Mapping[str, RuleMeta],
                   facts: RepoFacts) -> _ScopeProposal:
    findings = sorted(findings, key=lambda f: (f.file, f.line_start, f.rule_id, f.resource))
    broken = {path: parse_error(path, originals[path]) for path in {f.file for f in findings}}
    unparseable = [Attempt(f, UNFIXED, f"{f.file}: {broken[f.file]}") for f in findings if broken[f.file]]
    texts, steps, refusals = _apply_in_order(originals, [f for f in findings if not broken[f.file]], catalog, facts)
    return _ScopeProposal(originals, texts, steps, unparseable, refusals)


def _verify_scope(proposal: _ScopeProposal, scan_texts: ScanTexts, catalog: Mapping[str, RuleMeta],
                  facts: RepoFacts, initial_failed: set[ScanKey]) -> tuple[list[Attempt], dict[str, tuple[str, str]]]:
    """(attempts, changes) of one scope: the batch if it verifies, else what survives recovery."""
    attempts = list(proposal.unparseable) + list(proposal.refusals)
    if not proposal.steps:
        return attempts, {}
    originals = proposal.originals
    checker = _Checker(originals, scan_texts, initial_failed)
    verdict, rescan = checker.judge(proposal.texts, _targets(proposal.steps))
    if verdict.clean:
        accepted, rejected = (proposal.texts, proposal.steps, rescan), []
    else:
        accepted, rejected = _recover(originals, proposal.steps, verdict, checker, catalog, facts)
    texts, steps, rescan = accepted
    attempts += rejected
    attempts += [_result(step, rescan) for step in steps]
    changes = {path: (originals[path], text) for path, text in texts.items() if text != originals[path]}
    return one_per_fix(attempts), changes


def one_per_fix(attempts: Sequence[Attempt]) -> list[Attempt]:
    """One attempt per fingerprint for what was fixed or cleared: the fix carries each of its
    findings (the patched ones first, then those its patches cleared). Findings left keep their
    own attempt and reason."""
    merged: list[Attempt] = []
    groups: dict[str, list[Attempt]] = defaultdict(list)
    for attempt in attempts:
        if attempt.status == UNFIXED:
            merged.append(attempt)
        else:
            groups[attempt.fingerprint].append(attempt)
    for group in groups.values():
        group.sort(key=lambda a: a.status != FIXED)
        primary = group[0]
        summaries = list(dict.fromkeys(a.summary for a in group if a.status == primary.status and a.summary))
        merged.append(dataclasses.replace(primary, summary="; ".join(summaries),
                                          findings=tuple(f for a in group for f in a.findings)))
    return merged


def _apply_in_order(start: dict[str, str], findings: Sequence[Finding], catalog: Mapping[str, RuleMeta],
                    facts: RepoFacts) -> tuple[dict[str, str], list[_Step], list[Attempt]]:
    """Each finding's fix on the text the previous fixes left: (texts, steps, refusals)."""
    texts = dict(start)
    steps, refusals = [], []
    for finding in findings:
        proposal = _propose(texts[finding.file], finding, catalog, facts)
        if isinstance(proposal, Attempt):
            refusals.append(proposal)
            continue
        steps.append(proposal)
        if isinstance(proposal.outcome, Patched):
            texts[finding.file] = proposal.outcome.text
    return texts, steps, refusals


def _targets(steps: Iterable[_Step]) -> set[ScanKey]:
    return {finding_key(s.finding) for s in steps if isinstance(s.outcome, Patched)}


def _recover(originals: dict[str, str], steps: list[_Step], verdict, checker: "_Checker",
             catalog: Mapping[str, RuleMeta], facts: RepoFacts):
    """A batch that is not clean. Patches whose rule still fails are dropped: the re-scan has
    shown they do not work. Patches on a block (else in a file) where something newly fails or
    that no longer parses are set aside; the rest is verified as one batch, then each set-aside
    patch is tried alone on top. If the rest is not clean either, every patch is tried alone."""
    futile = [s for s in steps if finding_key(s.finding) in verdict.still_failing]
    dropped = [Attempt(s.finding, UNFIXED, _rejection(_still_failing_only(s)), s.fixer, s.outcome.summary) for s in futile]
    remaining = [s for s in steps if s not in futile]
    blamed_blocks = {(k[1], k[2]) for k in verdict.new_failures}
    broken = {*verdict.unparseable, *verdict.blind}
    blamed_files = {k[1] for k in verdict.new_failures} | broken
    suspects = [s for s in remaining if (s.finding.file, finding_key(s.finding)[2]) in blamed_blocks
                or s.finding.file in broken]
    if not suspects:
        suspects = [s for s in remaining if s.finding.file in blamed_files]
    rest = [s.finding for s in remaining if s not in suspects]
    texts, rest_steps, refusals = _apply_in_order(originals, rest, catalog, facts)
    rest_verdict, rescan = checker.judge(texts, _targets(rest_steps)) if rest_steps else (None, None)
    if not rest_steps or (rest_verdict.clean and not refusals):
        base = (texts, rest_steps, rescan) if rest_steps else (dict(originals), [], None)
        accepted, rejected = _add_one_by_one(base, suspects, checker, catalog, facts)
    else:
        accepted, rejected = _add_one_by_one((dict(originals), [], None), remaining, checker, catalog, facts)
    return accepted, dropped + rejected


def _still_failing_only(step: _Step) -> Verdict:
    return Verdict(unparseable={}, still_failing=frozenset({finding_key(step.finding)}), new_failures=frozenset())


def _add_one_by_one(base, candidates: list[_Step], checker: "_Checker", catalog: Mapping[str, RuleMeta],
                    facts: RepoFacts):
    """Apply candidates one at a time on the accepted text, keeping each only if it verifies."""
    current, accepted, current_scan = base[0], list(base[1]), base[2]
    rejected: list[Attempt] = []
    for step in candidates:
        proposal = _propose(current[step.finding.file], step.finding, catalog, facts)
        if isinstance(proposal, Attempt):
            rejected.append(proposal)
            continue
        if isinstance(proposal.outcome, NoChange):
            accepted.append(proposal)
            continue
        trial = {**current, step.finding.file: proposal.outcome.text}
        target = finding_key(step.finding)
        verdict, rescan = checker.judge(trial, {target}, baseline=current_scan.failed if current_scan else None)
        if verdict.clean:
            current, current_scan = trial, rescan
            accepted.append(proposal)
        else:
            rejected.append(Attempt(step.finding, UNFIXED, _rejection(verdict), proposal.fixer, proposal.outcome.summary))
    # With no re-scan at all, the findings given are all we know: each of them still fails.
    final_scan = current_scan or _Rescan(frozenset(checker.failed_before(set())))
    return (current, accepted, final_scan), rejected


def _complete(finding: Finding, sources: Mapping[str, str], catalog: Mapping[str, RuleMeta]) -> Finding:
    """Fill what a scanner may not say: the resource (SARIF gives only a line) and the fix class."""
    resource = finding.resource
    if not resource and finding.file in sources:
        resource = resource_at_line(finding.file, sources[finding.file], finding.line_start)
    return dataclasses.replace(finding, resource=resource, fix_class=registry.fix_class(finding, catalog))


def _propose(source: str, finding: Finding, catalog: Mapping[str, RuleMeta], facts: RepoFacts) -> _Step | Attempt:
    fixer = registry.fixer_for(finding.rule_id, catalog)
    if fixer is None:
        return Attempt(finding, UNFIXED, f"no fixer handles {finding.rule_id} yet")
    ctx = FixContext(path=finding.file, catalog=catalog, repo=facts)
    try:
        outcome = fixer.fix(source, finding, ctx)
    except Exception as exc:  # a fixer bug must not end the run; it is reported like any refusal
        return Attempt(finding, UNFIXED, f"fixer {fixer.info.id} failed: {type(exc).__name__}: {exc}", fixer)
    if isinstance(outcome, Unknown):
        return Attempt(finding, UNFIXED, outcome.reason, fixer)
    return _Step(finding, fixer, outcome)


class _Checker:
    """Scans a scope before/after and judges steps; the before-scan is made only when needed."""

    def __init__(self, originals: dict[str, str], scan_texts: ScanTexts, initial_failed: set[ScanKey]):
        self.originals = originals
        self.scan_texts = scan_texts
        self.initial_failed = {k for k in initial_failed if k[1] in originals}
        self._before: set[ScanKey] | None = None
        self._unparsed_before: frozenset[str] = frozenset()

    def failed_before(self, failed_after: set[ScanKey]) -> set[ScanKey]:
        # The findings we were given are the scan "before". Only when the after-scan shows
        # something they do not list do we pay for a scan of the original scope, since the
        # findings may come from a wider scan (other scope, other scanner).
        if failed_after <= self.initial_failed:
            return self.initial_failed
        if self._before is None:
            before = self.scan_texts(self.originals)
            self._before = failed_keys(before.failed)
            self._unparsed_before = frozenset(before.parsing_errors)
        return self._before

    def judge(self, texts: dict[str, str], targets: set[ScanKey], baseline: set[ScanKey] | None = None):
        """Verdict on `texts` against `baseline` (what failed on the text they were made from),
        by default the original scope."""
        changed = {p: t for p, t in texts.items() if t != self.originals[p]}
        broken = unparseable_files(changed)
        if broken:
            return judge(targets, set(), set(), broken), _Rescan()
        after = self.scan_texts(texts)
        failed_after = failed_keys(after.failed)
        before = baseline if baseline is not None else self.failed_before(failed_after)
        # A file checkov could not parse before the patch has no "before" to compare with.
        unparsed = set(after.parsing_errors) | (self._unparsed_before if baseline is None else set())
        blind = blind_files(texts, unparsed, (r.file for r in (*after.failed, *after.passed)))
        verdict = judge(targets, before, failed_after, blind={p: why for p, why in blind.items() if p in changed})
        return verdict, _Rescan(frozenset(failed_after), blind)


def _result(step: _Step, after: _Rescan) -> Attempt:
    if isinstance(step.outcome, Patched):
        return Attempt(step.finding, FIXED, "", step.fixer, step.outcome.summary, step.outcome.location)
    blind = after.blind.get(step.finding.file)
    if blind:  # the rule is absent from the re-scan, not shown to pass
        return Attempt(step.finding, UNFIXED, f"fixer found nothing to change ({step.outcome.reason}), not verified: "
                                              f"{blind.reason(step.finding.file)}", step.fixer)
    if finding_key(step.finding) not in after.failed:
        return Attempt(step.finding, CLEARED, step.outcome.reason, step.fixer)
    return Attempt(step.finding, UNFIXED, f"fixer found nothing to change ({step.outcome.reason}) but the rule still fails", step.fixer)


def _rejection(verdict) -> str:
    if verdict.unparseable:
        return "patch dropped: " + "; ".join(f"{p} would no longer parse ({e})" for p, e in verdict.unparseable.items())
    if verdict.blind:
        return "patch not verified: " + "; ".join(why.reason(p) for p, why in sorted(verdict.blind.items()))
    parts = []
    if verdict.still_failing:
        parts.append("the rule still fails after the patch")
    if verdict.new_failures:
        parts.append("it would make " + ", ".join(sorted(describe(k) for k in verdict.new_failures)) + " fail")
    return "patch dropped on re-scan: " + "; ".join(parts)


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per (rule, file, block): a module scanned through several callers is reported
    once per caller, but it is one place to fix."""
    seen: dict[ScanKey, Finding] = {}
    for finding in findings:
        seen.setdefault(finding_key(finding), finding)
    return list(seen.values())
