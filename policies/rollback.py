"""After one of iacbot's pull requests merged: did the fix work, and what follows? Pure.

The worker (workers.rollback) gathers the facts: the finding re-scanned at the merge commit, the
default branch's checks on the merge commit and on its parent (per check name, App and kind), the
opt-out marker in the PR body as the API gives it now, the rollback settings of the policies, the
reverts already made in the repository today, and whether the watch has run out of time. It asks
:func:`decide`, then acts:

* VERIFIED: the finding cleared and every check that passed on the parent completed on the merge
  commit without failing;
* REVERT: evidence that the fix did not work (the same rule still fails on the same resource, or a
  check that passed on the parent fails on the merge commit). Evidence is enough: one red check
  reverts at once, without waiting for the others;
* WAIT: no evidence yet either way (the re-scan has not run, a check is still running);
* HOLD: evidence, but iacbot does not revert (turned off by policy, opted out by the marker, the
  daily cap reached, a policy it cannot read), or a watch that can prove nothing (checkov could not
  read the file, a check that never completed).

Only evidence reverts: a check that was not green on the parent, was cancelled, neutral or
skipped, or a check no commit before had, says nothing about the fix.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from policies.decision import Because
from policies.facts import CheckFacts
from policies.model import (
    DEFAULT_AUTO_REVERT,
    DEFAULT_AUTOMERGE_REVERTS,
    DEFAULT_MAX_REVERTS_PER_DAY,
    Policy,
    PolicyProblem,
    PolicySet,
)
from policies.reasons import Reason

#: The marker that opts one PR out of automatic revert. Read from the PR body as the API gives it
#: when the decision is made: a person may add it (it can only make iacbot do less), and iacbot
#: never writes it.
NO_AUTO_REVERT_MARKER = "<!-- iacbot:no-auto-revert -->"

#: Conclusions that are evidence of failure. cancelled (a newer run superseded it), neutral,
#: skipped and stale are not.
RED = frozenset({"failure", "timed_out", "action_required", "error", "startup_failure"})


class Verdict(str, Enum):
    VERIFIED = "verified"
    REVERT = "revert"
    WAIT = "wait"
    HOLD = "hold"


class Recheck(str, Enum):
    """The finding, re-scanned with checkov at the merge commit."""

    STILL_FAILING = "still-failing"   # a rule of the fix fails on the same fingerprint (rule, resource, file)
    CLEARED = "cleared"
    PENDING = "pending"               # not re-scanned yet
    BLIND = "blind"                   # checkov could not read (parse, or was refused) the fixed file


@dataclass(frozen=True)
class Effective:
    """The rollback settings in force for one repository."""

    auto_revert: bool = DEFAULT_AUTO_REVERT
    max_reverts_per_day: int = DEFAULT_MAX_REVERTS_PER_DAY
    automerge_reverts: bool = DEFAULT_AUTOMERGE_REVERTS
    # Why reverting is off when it is: (reason, subject) for the decision.
    disabled_by: tuple[tuple[Reason, str], ...] = ()


def effective(policies: PolicySet) -> Effective:
    """The central policy's settings (the defaults where it says nothing), tightened by the
    repository's: a repository may turn auto_revert or automerge_reverts off and lower the cap,
    never the reverse. No central policy: the defaults. A policy iacbot cannot read: no revert
    (its author may have turned reverts off), and the decision says which file."""
    blocked: list[tuple[Reason, str]] = []
    blocked += [(Reason.POLICY_INVALID, p.where()) for p in policies.central_problems[:1]]
    blocked += [(Reason.REPO_POLICY_INVALID, p.where()) for p in policies.repo_problems[:1]]
    central = policies.central.rollback if policies.central is not None and not policies.central_problems else None
    repo = policies.repo.rollback if policies.repo is not None and not policies.repo_problems else None
    auto = _said(central and central.auto_revert, DEFAULT_AUTO_REVERT)
    cap = _said(central and central.max_reverts_per_day, DEFAULT_MAX_REVERTS_PER_DAY)
    merge = _said(central and central.automerge_reverts, DEFAULT_AUTOMERGE_REVERTS)
    if not auto:
        blocked.append((Reason.AUTO_REVERT_DISABLED, "central policy"))
    if repo is not None:
        if repo.auto_revert is False and auto:
            auto = False
            blocked.append((Reason.AUTO_REVERT_DISABLED, "repository policy"))
        if repo.max_reverts_per_day is not None:
            cap = min(cap, repo.max_reverts_per_day)
        if repo.automerge_reverts is False:
            merge = False
    if blocked:
        auto = False
    return Effective(auto, cap, merge and auto, tuple(blocked))


def _said(value, default):
    return default if value is None else value


@dataclass(frozen=True)
class CheckKey:
    name: str
    app: str | None
    kind: str

    def text(self) -> str:
        return f"{self.name} ({self.app})" if self.app else self.name


def key(check: CheckFacts) -> CheckKey:
    return CheckKey(check.name, check.app_slug, check.kind)


@dataclass(frozen=True)
class RollbackFacts:
    pr_number: int
    recheck: Recheck
    finding: str                             # "RULE on RESOURCE", for the reasons
    parent_checks: tuple[CheckFacts, ...]    # on the merge commit's first parent
    merge_checks: tuple[CheckFacts, ...]     # on the merge commit
    opted_out: bool                          # NO_AUTO_REVERT_MARKER in the PR body (the API's)
    settings: Effective
    reverts_today: int                       # reverts iacbot made in this repository today (UTC)
    watch_expired: bool = False              # the watch ran out of time (what is pending stays unproven)
    recheck_subject: str = ""                # BLIND: the file


@dataclass(frozen=True)
class RollbackDecision:
    verdict: Verdict
    reasons: tuple[Because, ...]

    def evidence(self) -> tuple[Because, ...]:
        """The reasons that are evidence of failure."""
        return tuple(b for b in self.reasons if b.reason in (Reason.FINDING_STILL_PRESENT, Reason.CHECK_TURNED_RED))

    def to_json(self) -> dict:
        return {"verdict": self.verdict.value, "reasons": [b.to_json() for b in self.reasons]}

    @classmethod
    def from_json(cls, data) -> "RollbackDecision":
        return cls(Verdict(data["verdict"]), tuple(Because.from_json(b) for b in data.get("reasons") or ()))


def compare_checks(parent: tuple[CheckFacts, ...], merge: tuple[CheckFacts, ...]
                   ) -> tuple[list[Because], list[str], int]:
    """(checks that turned red, names of checks still running or missing, how many were compared):
    only checks that PASSED on the parent count, each matched by name, App and kind."""
    green = sorted({key(c) for c in parent if c.status == "completed" and c.conclusion == "success"},
                   key=lambda k: (k.name, k.app or "", k.kind))
    on_merge: dict[CheckKey, list[CheckFacts]] = {}
    for c in merge:
        on_merge.setdefault(key(c), []).append(c)
    red, running = [], []
    for k in green:
        runs = on_merge.get(k, [])
        failed = [c for c in runs if c.status == "completed" and c.conclusion in RED]
        if failed:
            red.append(Because(Reason.CHECK_TURNED_RED, f"{k.text()}: {failed[0].conclusion}"))
        elif not runs or any(c.status != "completed" for c in runs):
            running.append(k.text())
    return red, running, len(green)


def decide(facts: RollbackFacts) -> RollbackDecision:
    red, running, compared = compare_checks(facts.parent_checks, facts.merge_checks)
    evidence: list[Because] = []
    if facts.recheck is Recheck.STILL_FAILING:
        evidence.append(Because(Reason.FINDING_STILL_PRESENT, facts.finding))
    evidence += red
    if evidence:
        return _revert_or_hold(facts, tuple(evidence))
    if running and not facts.watch_expired:
        return RollbackDecision(Verdict.WAIT, tuple(Because(Reason.CHECK_STILL_RUNNING, n) for n in running))
    if facts.recheck is Recheck.PENDING:
        if facts.watch_expired:
            return RollbackDecision(Verdict.HOLD, (Because(Reason.FINDING_NOT_RECHECKED),))
        return RollbackDecision(Verdict.WAIT, (Because(Reason.FINDING_NOT_RECHECKED),))
    if facts.recheck is Recheck.BLIND:
        return RollbackDecision(Verdict.HOLD, (Because(Reason.FINDING_RECHECK_BLIND, facts.recheck_subject),))
    if running:  # the watch expired with checks that never completed: nothing proven either way
        return RollbackDecision(Verdict.HOLD, tuple(Because(Reason.CHECK_NEVER_COMPLETED, n) for n in running))
    return RollbackDecision(Verdict.VERIFIED, (Because(Reason.FINDING_CLEARED, facts.finding),
                                               Because(Reason.NO_CHECK_TURNED_RED, f"{compared} compared")))


def _revert_or_hold(facts: RollbackFacts, evidence: tuple[Because, ...]) -> RollbackDecision:
    s = facts.settings
    held = [Because(reason, subject) for reason, subject in s.disabled_by]
    if not s.auto_revert and not held:
        held.append(Because(Reason.AUTO_REVERT_DISABLED))
    if facts.opted_out:
        held.append(Because(Reason.NO_AUTO_REVERT_MARKER, f"#{facts.pr_number}"))
    if facts.reverts_today >= s.max_reverts_per_day:
        held.append(Because(Reason.REVERT_CAP_REACHED, f"{facts.reverts_today} of at most {s.max_reverts_per_day}"))
    if held:
        return RollbackDecision(Verdict.HOLD, evidence + tuple(held))
    return RollbackDecision(Verdict.REVERT, evidence)


def opted_out(body: str | None) -> bool:
    return NO_AUTO_REVERT_MARKER in (body or "")


def lint(policy: Policy, *, repository: bool = False) -> list[PolicyProblem]:
    """What a valid ``rollback:`` still gets wrong (policies.lint reports these)."""
    s = policy.rollback
    out: list[PolicyProblem] = []

    def at(key_: str, message: str) -> None:
        line, col = policy.mark(key_)
        out.append(PolicyProblem(policy.source, line, col, message))

    if repository:
        if s.auto_revert is True:
            at("rollback.auto_revert", "rollback.auto_revert: true has no effect here: a repository can only turn "
                                       "automatic reverts off")
        if s.automerge_reverts is True:
            at("rollback.automerge_reverts", "rollback.automerge_reverts: true has no effect here: only the central "
                                             "policy can let reverts merge on their own")
        return out
    auto = _said(s.auto_revert, DEFAULT_AUTO_REVERT)
    if auto and s.max_reverts_per_day == 0:
        at("rollback.max_reverts_per_day", "rollback.max_reverts_per_day: 0 allows no revert although auto_revert "
                                           "is on: say auto_revert: false")
    if not auto and s.automerge_reverts:
        at("rollback.automerge_reverts", "rollback.automerge_reverts has no effect: auto_revert is false")
    return out
