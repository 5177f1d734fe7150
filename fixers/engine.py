"""The remediation engine: findings in, verified patches out.

For each verification scope (a Terraform directory, or one YAML file) the engine asks the
registered fixer for each finding, applying patches one after another to the same text, then
verifies the whole batch with one re-scan. A batch that is not clean is replayed one patch at a
time so that only the guilty patches are dropped. The engine reads files and calls the scanner;
fixers stay pure.
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Protocol, Sequence

from fixers import registry
from fixers.locate.by_line import resource_at_line
from fixers.models import Finding, FixContext, Fixer, Location, NoChange, Patched, RepoFacts, RuleMeta, Unknown
from fixers.syntax import file_kind, parse_error
from fixers.terraform.provider import aws_provider_major
from fixers.verify import ScanKey, Verdict, describe, failed_keys, finding_key, judge, unparseable_files
from fixers.workspace import read_sources, scope_of, scope_texts, terraform_texts

FIXED = "fixed"            # a patch of this finding's fixer was verified
CLEARED = "cleared"        # no patch of its own was needed: another verified patch cleared it
UNFIXED = "unfixed"        # no verified patch; `reason` says why


@dataclass(frozen=True)
class Attempt:
    """What happened to one finding."""

    finding: Finding
    status: str
    reason: str = ""
    fixer: Fixer | None = None
    summary: str = ""
    location: Location | None = None


@dataclass
class RunReport:
    attempts: list[Attempt] = field(default_factory=list)
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)   # path -> (before, after)
    problems: list[str] = field(default_factory=list)                   # bad input, named by file

    def by_status(self, status: str) -> list[Attempt]:
        return [a for a in self.attempts if a.status == status]


class ScanTexts(Protocol):
    def __call__(self, files: Mapping[str, str]) -> object:
        """Scan {repository-relative path: text}; return a ScanResult (failed CheckResults)."""


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
              facts: RepoFacts | None = None) -> RunReport:
    """Fix what can be fixed, verify it, and say why the rest was not."""
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
    # proposes the next scope's patches, so both cores work.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="iacbot-verify") as verifier:
        pending = []
        for scope, scope_findings in sorted(by_scope.items()):
            originals = scope_texts(repo_root, scope, sources)
            proposal = _propose_scope(originals, scope_findings, catalog, facts)
            pending.append((verifier.submit(_verify_scope, proposal, scan_texts, catalog, facts, initial_failed),
                            len(scope_findings)))
        for future, count in pending:
            attempts, changes = future.result()
            report.attempts.extend(attempts)
            report.changes.update(changes)
            if on_scope_done:
                on_scope_done(count)
    return report


@dataclass(frozen=True)
class AloneFix:
    """One finding's fix, re-made on the original file and verified by itself: what a branch or
    a pull request holds."""

    attempt: Attempt
    new_text: str
    verification: str


def fix_alone(repo_root: Path, finding: Finding, scan_texts: ScanTexts, catalog: Mapping[str, RuleMeta],
              scanner_version: str, facts: RepoFacts) -> AloneFix | str:
    """The finding's fix alone, or the reason it does not verify on its own.

    A batch may clear a rule through another fix (drop ALL also drops NET_RAW); a change that is
    to stand alone must pass alone.
    """
    alone = remediate(repo_root, [finding], scan_texts, catalog, facts=facts)
    fixed = alone.by_status(FIXED)
    if not fixed or finding.file not in alone.changes:
        return alone.attempts[0].reason if alone.attempts else "no change"
    verification = (f"re-scan with checkov {scanner_version}: {finding.rule_id} passes on {finding.resource}, "
                    f"no check newly fails, file re-parses")
    return AloneFix(fixed[0], alone.changes[finding.file][1], verification)


@dataclass(frozen=True)
class _ScopeProposal:
    originals: dict[str, str]
    texts: dict[str, str]        # after every proposed patch
    steps: list[_Step]
    refusals: list[Attempt]      # findings no fixer could patch, with why


def _propose_scope(originals: dict[str, str], findings: list[Finding], catalog: Mapping[str, RuleMeta],
                   facts: RepoFacts) -> _ScopeProposal:
    findings = sorted(findings, key=lambda f: (f.file, f.line_start, f.rule_id, f.resource))
    broken = {path: parse_error(path, originals[path]) for path in {f.file for f in findings}}
    unparseable = [Attempt(f, UNFIXED, f"{f.file}: {broken[f.file]}") for f in findings if broken[f.file]]
    texts, steps, refusals = _apply_in_order(originals, [f for f in findings if not broken[f.file]], catalog, facts)
    return _ScopeProposal(originals, texts, steps, unparseable + refusals)


def _verify_scope(proposal: _ScopeProposal, scan_texts: ScanTexts, catalog: Mapping[str, RuleMeta],
                  facts: RepoFacts, initial_failed: set[ScanKey]) -> tuple[list[Attempt], dict[str, tuple[str, str]]]:
    """(attempts, changes) of one scope: the batch if it verifies, else what survives recovery."""
    attempts = list(proposal.refusals)
    if not proposal.steps:
        return attempts, {}
    originals = proposal.originals
    checker = _Checker(originals, scan_texts, initial_failed)
    verdict, failed_after = checker.judge(proposal.texts, _targets(proposal.steps))
    if verdict.clean:
        accepted, rejected = (proposal.texts, proposal.steps, failed_after), []
    else:
        accepted, rejected = _recover(originals, proposal.steps, verdict, checker, catalog, facts)
    texts, steps, failed_after = accepted
    attempts += rejected
    attempts += [_result(step, failed_after) for step in steps]
    changes = {path: (originals[path], text) for path, text in texts.items() if text != originals[path]}
    return attempts, changes


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
    blamed_files = {k[1] for k in verdict.new_failures} | set(verdict.unparseable)
    suspects = [s for s in remaining if (s.finding.file, finding_key(s.finding)[2]) in blamed_blocks
                or s.finding.file in verdict.unparseable]
    if not suspects:
        suspects = [s for s in remaining if s.finding.file in blamed_files]
    rest = [s.finding for s in remaining if s not in suspects]
    texts, rest_steps, refusals = _apply_in_order(originals, rest, catalog, facts)
    rest_verdict, failed_after = checker.judge(texts, _targets(rest_steps)) if rest_steps else (None, None)
    if not rest_steps or (rest_verdict.clean and not refusals):
        base = (texts, rest_steps, failed_after) if rest_steps else (dict(originals), [], None)
        accepted, rejected = _add_one_by_one(base, suspects, checker, catalog, facts)
    else:
        accepted, rejected = _add_one_by_one((dict(originals), [], None), remaining, checker, catalog, facts)
    return accepted, dropped + rejected


def _still_failing_only(step: _Step) -> Verdict:
    return Verdict(unparseable={}, still_failing=frozenset({finding_key(step.finding)}), new_failures=frozenset())


def _add_one_by_one(base, candidates: list[_Step], checker: "_Checker", catalog: Mapping[str, RuleMeta],
                    facts: RepoFacts):
    """Apply candidates one at a time on the accepted text, keeping each only if it verifies."""
    current, accepted, current_failed = base[0], list(base[1]), base[2]
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
        verdict, failed_after = checker.judge(trial, {target}, baseline=current_failed)
        if verdict.clean:
            current, current_failed = trial, failed_after
            accepted.append(proposal)
        else:
            rejected.append(Attempt(step.finding, UNFIXED, _rejection(verdict), proposal.fixer, proposal.outcome.summary))
    final_failed = current_failed if current_failed is not None else checker.failed_before(set())
    return (current, accepted, final_failed), rejected


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

    def failed_before(self, failed_after: set[ScanKey]) -> set[ScanKey]:
        # The findings we were given are the scan "before". Only when the after-scan shows
        # something they do not list do we pay for a scan of the original scope, since the
        # findings may come from a wider scan (other scope, other scanner).
        if failed_after <= self.initial_failed:
            return self.initial_failed
        if self._before is None:
            self._before = failed_keys(self.scan_texts(self.originals).failed)
        return self._before

    def judge(self, texts: dict[str, str], targets: set[ScanKey], baseline: set[ScanKey] | None = None):
        """Verdict on `texts` against `baseline` (what failed on the text they were made from),
        by default the original scope."""
        changed = {p: t for p, t in texts.items() if t != self.originals[p]}
        broken = unparseable_files(changed)
        if broken:
            return judge(targets, set(), set(), broken), set()
        failed_after = failed_keys(self.scan_texts(texts).failed)
        before = baseline if baseline is not None else self.failed_before(failed_after)
        return judge(targets, before, failed_after), failed_after


def _result(step: _Step, failed_after: set[ScanKey]) -> Attempt:
    passing = finding_key(step.finding) not in failed_after
    if isinstance(step.outcome, Patched):
        return Attempt(step.finding, FIXED, "", step.fixer, step.outcome.summary, step.outcome.location)
    if passing:
        return Attempt(step.finding, CLEARED, step.outcome.reason, step.fixer)
    return Attempt(step.finding, UNFIXED, f"fixer found nothing to change ({step.outcome.reason}) but the rule still fails", step.fixer)


def _rejection(verdict) -> str:
    if verdict.unparseable:
        return "patch dropped: " + "; ".join(f"{p} would no longer parse ({e})" for p, e in verdict.unparseable.items())
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
