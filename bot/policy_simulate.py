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

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from bot import policy_facts
from fixers import registry
from fixers.engine import repo_facts
from fixers.locate.by_line import resource_at_line
from fixers.models import Finding, FixContext, NoChange, Patched, RepoFacts, RuleMeta, Unknown
from fixers.syntax import file_kind, parse_error
from fixers.workspace import read_source
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
NOT_MEASURED = "not-measured"  # labels only: the files were not read
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
            finding = Finding(**{**finding.__dict__,
                                 "resource": resource_at_line(finding.file, sources[finding.file], finding.line_start)})
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
             on_fix: Callable[[], None] | None = None) -> list[Simulated]:
    """Every fix of ``findings``, decided under ``policies`` (and ``compare``). ``root``: the
    repository the findings are in, read to measure each fix's blast radius; None: labels only."""
    sources, problems = _sources(root, {f.file for f in findings})
    groups = group_fixes(findings, catalog, sources)
    repo = repo_facts(root) if root is not None else RepoFacts()
    publish = PublishFacts(now=now)
    results = []
    for group in groups:
        if root is None:
            patch, why, lines = NOT_MEASURED, "", None
        else:
            patch, why, lines = measure(group, sources.get(group[0].file), problems.get(group[0].file, ""),
                                        catalog, repo)
        facts = policy_facts.fix_facts(group, repository, catalog, lines)
        decision = decide_publish(policies, facts.fix, publish)
        compared = decide_publish(compare, facts.fix, publish) if compare is not None else None
        results.append(Simulated(group, facts, patch, why, decision, compared))
        if on_fix:
            on_fix()
    return results


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
