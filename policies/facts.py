"""The facts a decision is made from. Plain, immutable data; workers/ gathers them (GitHub, Redis,
the clock), policies/ only reads them. Nothing here is taken from text a person could write: who
made a commit is whether iacbot recorded its sha and what the API says of its author and
committer, never a name or a message.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime

from fixers.models import Category, Confidence, Impact, Risk


@dataclass(frozen=True)
class FixFacts:
    """What one fix is, from the engine's Attempt (publish time) or the PR's provenance (merge time)."""

    fingerprint: str
    repository: str                  # "owner/name"
    rule_ids: tuple[str, ...]        # every finding the fix carries, the primary first
    fix_class: str                   # the fixer's id ("k8s.privileged"); the rule id when no fixer
    category: Category | None        # None: no fixer, so no labels (never auto-merged)
    risk: Risk | None
    confidence: Confidence | None
    impact: frozenset[Impact] = frozenset()
    severity: str | None = None      # the scanner's, upper-case ("HIGH"); None when it gave none
    paths: tuple[str, ...] = ()      # repository-relative files the fix changes
    changed_lines: int = 0           # lines removed + lines added
    resources: int = 1               # resources the fix changes

    def to_json(self) -> dict:
        return {"fingerprint": self.fingerprint, "repository": self.repository, "rule_ids": list(self.rule_ids),
                "fix_class": self.fix_class, "category": self.category.value if self.category else None,
                "risk": self.risk.value if self.risk else None,
                "confidence": self.confidence.value if self.confidence else None,
                "impact": sorted(i.value for i in self.impact), "severity": self.severity,
                "paths": list(self.paths), "changed_lines": self.changed_lines, "resources": self.resources}

    @classmethod
    def from_json(cls, data: dict) -> "FixFacts":
        """The inverse of to_json; ValueError (or KeyError/TypeError) for anything else."""
        def enum(kind, value):
            return kind(value) if value is not None else None
        return cls(str(data["fingerprint"]), str(data["repository"]), tuple(str(r) for r in data["rule_ids"]),
                   str(data["fix_class"]), enum(Category, data.get("category")), enum(Risk, data.get("risk")),
                   enum(Confidence, data.get("confidence")), frozenset(Impact(i) for i in data.get("impact") or ()),
                   data.get("severity"), tuple(str(p) for p in data.get("paths") or ()),
                   int(data["changed_lines"]), int(data.get("resources") or 1))  # no size: not a fix to decide on


@dataclass(frozen=True)
class CheckFacts:
    """One check run or commit status reported on a commit."""

    name: str                        # a check run's name, or a commit status's context
    head_sha: str
    status: str                      # "queued", "in_progress", "completed" (a status: "completed" once set)
    conclusion: str | None           # "success", "failure", "neutral", "skipped", "cancelled", "timed_out",
                                     # "action_required", "stale", or None while pending
    app_slug: str | None = None      # the App that posted a check run; None for a commit status
    kind: str = "check_run"          # "check_run" or "status"


@dataclass(frozen=True)
class CommitFacts:
    """One commit between the PR's base and head."""

    sha: str
    recorded_by_iacbot: bool         # iacbot recorded making it (workers.own_commits), before any ref held it
    author_is_iacbot: bool           # the API gives its author as the App's bot account
    committer_is_iacbot: bool        # ... and its committer


@dataclass(frozen=True)
class ChangedFile:
    path: str
    changed_lines: int               # additions + deletions, as the API counts them


@dataclass(frozen=True)
class PublishFacts:
    """When and where a fix is about to be published."""

    now: datetime                    # timezone-aware
    global_kill_switch: bool = False
    repo_kill_switch: bool = False


@dataclass(frozen=True)
class MergeFacts:
    """The pull request as it is right before a merge."""

    now: datetime                    # timezone-aware
    pr_open: bool
    pr_by_iacbot: bool               # the API gives the PR's user as the App's bot account
    mergeable: bool | None           # GitHub's answer; None while it computes
    base_ref: str
    head_sha: str
    decided_head_sha: str | None     # the commit iacbot made and published (its record)
    commits: tuple[CommitFacts, ...]
    files: tuple[ChangedFile, ...]
    checks: tuple[CheckFacts, ...]   # everything reported on head_sha (others are not asked for)
    global_kill_switch: bool = False
    repo_kill_switch: bool = False
    merges_last_hour: int = 0        # iacbot's automatic merges in this repository in the last hour
    merge_in_progress: bool = False  # another merge into base_ref holds its lock
    decided_base_ref: str | None = None  # the base iacbot published onto (its record); None: unknown


def changed_lines(old: str, new: str) -> int:
    """Lines removed plus lines added between two texts (as GitHub's additions + deletions)."""
    return sum(1 for line in difflib.ndiff(old.splitlines(), new.splitlines()) if line[:2] in ("- ", "+ "))


def fix_facts(attempt, repository: str, path: str, old_text: str, new_text: str) -> FixFacts:
    """The facts of a verified fix (a fixers.engine.Attempt) that changes ``path`` from ``old_text``
    to ``new_text``. Labels come from the fixer's declaration, never from the finding's text."""
    finding = attempt.finding
    info = attempt.fixer.info if attempt.fixer is not None else None
    severities = [f.severity.upper() for f in attempt.findings if f.severity]
    return FixFacts(
        fingerprint=finding.fingerprint(),
        repository=repository,
        rule_ids=tuple(attempt.rule_ids),
        fix_class=info.id if info else (finding.fix_class or finding.rule_id),
        category=info.category if info else None,
        risk=info.risk if info else None,
        confidence=info.confidence if info else None,
        impact=frozenset(info.impact) if info else frozenset(),
        severity=_highest(severities),
        paths=(path,),
        changed_lines=changed_lines(old_text, new_text),
        resources=len({f.resource for f in attempt.findings}) or 1,
    )


_SEVERITY_ORDER = ("INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL")


def _highest(severities: list[str]) -> str | None:
    known = [s for s in severities if s in _SEVERITY_ORDER]
    if known:
        return max(known, key=_SEVERITY_ORDER.index)
    return severities[0] if severities else None
