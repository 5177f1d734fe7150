"""What a policy would decide for each finding of a repository, without publishing anything.

Findings of one fingerprint are one fix (one branch, one PR), so they are decided together, as
publishing would. The blast radius is measured by proposing the fix's patches, without
verification, on the file as it is (each fix alone on the original text, as fix_alone makes a
PR's change); a fix whose fixer refuses or has nothing to change would open no PR at all, and
says so. Without the repository's files (labels only) the blast radius is not measured and the
fix is decided as larger than any limit (bot.policy_facts.UNMEASURED_LINES).

Decisions are decide_publish's: the publish-time decision, with no kill switch on. The merge-time
guardrails (commits, checks, head, hourly limit) apply later and can only make it stricter.
"""
from __future__ import annotations

import multiprocessing
import os
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from bot import policy_facts
from fixers import registry
from fixers.locate.by_line import resource_at_line
from fixers.models import Finding, FixContext, Patched, RepoFacts, RuleMeta, Unknown
from fixers.syntax import file_kind, parse_error
from fixers.terraform.provider import aws_provider_major
from fixers.workspace import read_source, terraform_texts
from policies.decide import decide_publish
from policies.decision import Decision
from policies.facts import PublishFacts, changed_lines
from policies.model import PolicySet

# What proposing the fix's patches (no verification) showed.
PATCH = "patch"              # a patch: the blast radius is its changed lines
NO_CHANGE = "no-change"      # the file already satisfies the rule(s): no PR
REFUSED = "refused"          # the fixer cannot propose a safe patch: no PR
NO_FIXER = "no-fixer"        # no fixer handles the rule: no PR
UNREADABLE = "unreadable"    # the file cannot be read or parsed here: no PR
NOT_MEASURED = "not-measured"  # labels only: the decision depends on the fix's size, which was not measured
NOT_NEEDED = "not-needed"      # the decision is the same whatever the fix's size: no patch was proposed
OPENS_NO_PR = frozenset({NO_CHANGE, REFUSED, NO_FIXER, UNREADABLE})


@dataclass(frozen=True)
class Simulated:
    """One fix (one fingerprint) and what each policy decides for it."""

    findings: tuple[Finding, ...]     # the primary first
    facts: policy_facts.Facts
    patch: str                        # PATCH, NO_CHANGE, ...
    why: str                          # the fixer's reason when REFUSED, the file's problem when UNREADABLE
    decision: Decision
    compared: Decision | None = None  # under --compare's policy

    @property
    def changed(self) -> bool:
        """Does the compared policy decide otherwise (action or reasons)?"""
        return self.compared is not None and (self.compared.action is not self.decision.action
                                              or self.compared.reasons != self.decision.reasons)


def group_fixes(findings: Iterable[Finding], catalog: Mapping[str, RuleMeta],
                sources: Mapping[str, str] | None = None) -> list[tuple[Finding, ...]]:
    """Findings (completed with their fix class, and their resource when a scanner gave only a
    line) grouped by fingerprint, in order of first appearance; one finding per (rule, fingerprint)."""
    groups: dict[str, dict[str, Finding]] = {}
    for finding in findings:
        if not finding.resource and sources and finding.file in sources:
            finding = replace(finding, resource=resource_at_line(finding.file, sources[finding.file], finding.line_start))
        finding = policy_facts.complete(finding, catalog)
        groups.setdefault(finding.fingerprint(), {}).setdefault(finding.rule_id, finding)
    return [tuple(group.values()) for group in groups.values()]


def measure(group: Sequence[Finding], source: str | None, problem: str, catalog: Mapping[str, RuleMeta],
            facts: RepoFacts) -> tuple[str, str, int | None]:
    """(patch status, why, changed lines) of the fix ``group`` makes on ``source`` (None: not read,
    ``problem`` says why), each finding's patch on the text the previous left."""
    path = group[0].file
    fixer = registry.fixer_for(group[0].rule_id, catalog)
    if fixer is None:
        return NO_FIXER, f"no fixer handles {group[0].rule_id}", None
    if source is None:
        return UNREADABLE, problem, None
    if file_kind(path) is None:
        return UNREADABLE, f"{path} is not a Terraform or Kubernetes YAML file", None
    broken = parse_error(path, source)
    if broken:
        return UNREADABLE, f"{path}: {broken}", None
    text, refusals = source, []
    for finding in group:
        each = registry.fixer_for(finding.rule_id, catalog)
        if each is None:
            continue
        try:
            outcome = each.fix(text, finding, FixContext(path=path, catalog=catalog, repo=facts))
        except Exception as exc:  # a fixer bug is reported like a refusal, as the engine does
            outcome = Unknown(f"fixer {each.info.id} failed: {type(exc).__name__}")
        if isinstance(outcome, Patched):
            text = outcome.text
        elif isinstance(outcome, Unknown):
            refusals.append(outcome.reason)
    if text == source:
        if refusals:
            return REFUSED, refusals[0], None
        return NO_CHANGE, "the file already satisfies the rule", 0
    return PATCH, "", changed_lines(source, text)


def simulate(findings: Sequence[Finding], policies: PolicySet, now: datetime, repository: str,
             catalog: Mapping[str, RuleMeta], root: Path | None, compare: PolicySet | None = None,
             measure_all: bool = False) -> list[Simulated]:
    """Every fix of ``findings``, decided under ``policies`` (and ``compare``). ``root``: the
    repository the findings are in, read to measure a fix's blast radius; None: labels only.

    Proposing patches is most of the cost (a fixer re-parses what it wrote), so only the fixes
    whose decision depends on their changed lines are measured, unless ``measure_all``: the
    decision for 0 lines and for more than any limit is the same, and a rule matching both
    matches every size in between (``max_changed_lines`` is the only size fact decided at
    publish time, and a rule matches fewer fixes as they grow), so no size can change it."""
    sources, problems = _sources(root, {f.file for f in findings})
    groups = group_fixes(findings, catalog, sources)
    publish = PublishFacts(now=now)

    def decide(facts: policy_facts.Facts) -> tuple[Decision, Decision | None]:
        return (decide_publish(policies, facts.fix, publish),
                decide_publish(compare, facts.fix, publish) if compare is not None else None)

    unmeasured = [policy_facts.fix_facts(group, repository, catalog, None) for group in groups]
    decided = [decide(facts) for facts in unmeasured]
    status: dict[int, tuple[str, str, int | None]] = {}
    for index, group in enumerate(groups):
        if registry.fixer_for(group[0].rule_id, catalog) is None:
            status[index] = (NO_FIXER, f"no fixer handles {group[0].rule_id}", None)
        elif not measure_all and decide(policy_facts.fix_facts(group, repository, catalog, 0)) == decided[index]:
            status[index] = (NOT_NEEDED, "", None)
        elif root is None:   # labels only: the decision depends on a size nobody measured
            status[index] = (NOT_MEASURED, "", None)
    wanted = [i for i in range(len(groups)) if i not in status]
    repo = _RepoFactsOnDemand(root) if root is not None else RepoFacts()
    status.update(_measure_all(groups, wanted, sources, problems, catalog, repo))
    results = []
    for index, group in enumerate(groups):
        patch, why, lines = status[index]
        facts, decision = unmeasured[index], decided[index]
        if lines is not None:
            facts = policy_facts.fix_facts(group, repository, catalog, lines)
            decision = decide(facts)
        results.append(Simulated(group, facts, patch, why, *decision))
    return results


#: A file whose blocks can constrain the AWS provider's version has a top-level `terraform` or
#: `provider` block; only those are parsed (python-hcl2 costs tens of ms a file).
_MAY_CONSTRAIN = re.compile(r"^\s*(?:terraform|provider)\b", re.MULTILINE)


def repository_facts(root: Path) -> RepoFacts:
    """fixers.engine.repo_facts, parsing only the files that can say anything about it (the
    same answer: aws_provider_major reads only `terraform` and `provider` blocks)."""
    texts = {path: text for path, text in terraform_texts(root).items() if _MAY_CONSTRAIN.search(text)}
    return RepoFacts(aws_provider_major=aws_provider_major(texts))


class _RepoFactsOnDemand(RepoFacts):
    """RepoFacts read from the repository when a fixer first asks for them. Only the S3 fixers do,
    and reading them parses Terraform files, which would cost more than a simulation of
    Kubernetes findings takes."""

    def __init__(self, root: Path) -> None:
        object.__setattr__(self, "_root", root)
        object.__setattr__(self, "_read", None)

    @property
    def aws_provider_major(self) -> int | None:  # type: ignore[override]
        if self._read is None:
            object.__setattr__(self, "_read", repository_facts(self._root))
        return self._read.aws_provider_major


#: Below this many fixes to measure, forking workers costs more than it saves.
PARALLEL_FROM = 64
_WORK: tuple | None = None     # what forked workers measure from (inherited, never pickled)


def _measure_all(groups, wanted: list[int], sources, problems, catalog, repo) -> dict[int, tuple]:
    """{index: measure(...)} for the ``wanted`` groups. File by file: the fixers' parse caches are
    keyed by text and small, so a file's original text stays cached while each of its fixes is
    proposed on it. With many fixes, the files are shared among forked processes, one per core."""
    by_file: dict[str, list[int]] = {}
    for index in wanted:
        by_file.setdefault(groups[index][0].file, []).append(index)
    batches = list(by_file.values())
    workers = min(os.cpu_count() or 1, len(batches))
    global _WORK
    _WORK = (groups, sources, problems, catalog, repo)
    try:
        if len(wanted) < PARALLEL_FROM or workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
            return dict(pair for batch in batches for pair in _measure_batch(batch))
        try:
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                chunks = max(1, len(batches) // (workers * 4))
                return dict(pair for done in pool.map(_measure_batch, batches, chunksize=chunks) for pair in done)
        except (BrokenProcessPool, OSError):  # a worker killed (memory) or no process to be had: measure here
            return dict(pair for batch in batches for pair in _measure_batch(batch))
    finally:
        _WORK = None


def _measure_batch(indices: list[int]) -> list[tuple[int, tuple]]:
    groups, sources, problems, catalog, repo = _WORK
    return [(i, measure(groups[i], sources.get(groups[i][0].file), problems.get(groups[i][0].file, ""), catalog, repo))
            for i in indices]


def _sources(root: Path | None, paths: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    if root is None:
        return {}, {}
    sources, problems = {}, {}
    for path in sorted(paths):
        text, problem = read_source(root / path)
        if problem:
            problems[path] = f"{path}: {problem}"
        else:
            sources[path] = text
    return sources, problems


def reason_codes(decision: Decision) -> list[str]:
    """Short reason codes: `rule-matched(low-risk)`, `category-network`."""
    return [f"{b.reason.value}({b.subject})" if b.subject else b.reason.value for b in decision.reasons]


def counts(results: Sequence[Simulated], compared: bool = False) -> Counter:
    """Findings per action (a fix of three findings counts three)."""
    tally: Counter = Counter()
    for result in results:
        decision = result.compared if compared else result.decision
        if decision is not None:
            tally[decision.action.value] += len(result.findings)
    return tally


def to_json(results: Sequence[Simulated]) -> list[dict]:
    """One entry per finding: fingerprint, rule_id, category, risk, confidence, action, reasons;
    the fix's file, changed lines (null: not measured) and patch status; with a comparison, the
    compared policy's decision under "compared" and whether it differs."""
    entries = []
    for result in results:
        fix = result.facts.fix
        common = {"fingerprint": fix.fingerprint, "category": fix.category.value if fix.category else None,
                  "risk": fix.risk.value if fix.risk else None,
                  "confidence": fix.confidence.value if fix.confidence else None,
                  "impact": sorted(i.value for i in fix.impact), "fix_class": fix.fix_class,
                  "file": result.findings[0].file, "resource": result.findings[0].resource,
                  "severity": fix.severity, "changed_lines": result.facts.changed_lines, "patch": result.patch}
        for finding in result.findings:
            entry = {"fingerprint": fix.fingerprint, "rule_id": finding.rule_id, **common,
                     **_decision_json(result.decision)}
            if result.compared is not None:
                entry["compared"] = _decision_json(result.compared)
                entry["changed"] = result.changed
            entries.append(entry)
    return entries


def _decision_json(decision: Decision) -> dict:
    return {"action": decision.action.value, "reasons": [b.to_json() for b in decision.reasons],
            "rule": decision.rule, "repo_rule": decision.repo_rule}
