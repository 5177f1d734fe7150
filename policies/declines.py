"""What a person did with iacbot's pull request, and whether its finding may be proposed again. Pure.

A PR closed without merging by a person is a risk acceptance: that person (``closed_by``) accepted
the finding, at ``closed_at``, until ``expires_at`` (closed_at plus the policy's
``decline_expiry_days``, 90 by default). While it holds, the same fix for the same source is not
proposed again. It may be proposed again once the acceptance expires (DECLINE_EXPIRED) or the file
the fix was made from changes (its git blob sha differs: DECLINE_SOURCE_CHANGED), since the person
then looks at different code. A merge is recorded too and never blocks: a finding that comes back
after a merge (a revert) deserves a new PR.

Nothing here reads a clock or a store: the caller (workers.declined) passes ``now`` and the
records, and records an expiry it is told about (nothing expires silently).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from policies.decision import Because
from policies.reasons import Reason

MERGED = "merged"
DECLINED = "declined"
OUTCOMES = frozenset({MERGED, DECLINED})
#: How long a person's decline holds unless the policy says otherwise (policies.model.Policy).
DEFAULT_EXPIRY_DAYS = 90
DAY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class PrDecision:
    """One closed iacbot PR: merged or declined, and the source its fix was made from.

    A decline is a risk acceptance: who closed it, when, and until when it holds. Records written
    before acceptances had an owner and an expiry lack those fields; they read as None and the
    acceptance then runs from ``recorded_at`` (see :func:`expires_at`).
    """

    outcome: str                      # MERGED or DECLINED
    repository: str
    fingerprint: str
    pr_number: int
    file: str | None = None
    base_sha: str | None = None
    source_blob_sha: str | None = None  # git blob sha of `file` at `base_sha`; None if unknown
    recorded_at: float = 0.0
    closed_by: str | None = None      # the login that closed the PR (the signed webhook's sender)
    closed_at: float | None = None    # when GitHub says it was closed
    expires_at: float | None = None   # when the acceptance lapses (a decline only)
    expired_at: float | None = None   # when iacbot found it lapsed and recorded that
    # A fix iacbot reverted because it did not work (workers.rollback): declined by evidence, not by a
    # person. The revert PR's number (0: no PR, an issue explains the revert), and the file's blob as
    # the fix left it: the same fix is not proposed again while the file is as it was before or
    # after the fix.
    reverted_by_pr: int | None = None
    fixed_blob_sha: str | None = None

    @property
    def reverted(self) -> bool:
        return self.reverted_by_pr is not None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> "PrDecision":
        """Read a stored record, old or new; fields it does not know are left out. ValueError when
        it is not a decision at all."""
        if not isinstance(data, dict):
            raise ValueError(f"a PR decision record is a JSON object, not {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("outcome", "repository", "fingerprint", "pr_number"):
            if name not in values:
                raise ValueError(f"a PR decision record lacks {name!r}")
        if values["outcome"] not in OUTCOMES or not isinstance(values["pr_number"], int):
            raise ValueError("a PR decision record has an unknown outcome or a PR number that is not an integer")
        for name in ("recorded_at", "closed_at", "expires_at", "expired_at"):
            value = values.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value)):
                raise ValueError(f"a PR decision record's {name!r} is not a time")
        return cls(**values)


@dataclass(frozen=True)
class ClosedPull:
    """The facts of one close, as the webhook gave them (workers build it from the job)."""

    number: int
    merged: bool
    iacbot_branch: bool              # named like iacbot's and in the repository itself
    head_ref: str | None
    fingerprint: str | None          # what the branch name ends in (jobs.branches), if anything
    sender: str | None = None
    sender_type: str | None = None


@dataclass(frozen=True)
class CloseKind:
    outcome: str | None  # MERGED, DECLINED, or None: nothing to record
    because: Because

    @property
    def reason(self) -> str:
        return self.because.text()


@dataclass(frozen=True)
class DeclineVerdict:
    """May a fix for this finding be published now, and the one reason why (or why not)."""

    publish: bool
    because: Because
    expired: bool = False  # an acceptance lapsed: the caller records that it did (once)

    @property
    def reason(self) -> str:
        return self.because.text()


def classify_close(close: ClosedPull) -> CloseKind:
    """Is this close a merge, a person's decline, or nothing of ours to record?"""
    branch = close.head_ref or ""
    if not close.iacbot_branch:
        return CloseKind(None, Because(Reason.CLOSE_NOT_IACBOT_BRANCH, branch))
    if close.fingerprint is None:
        return CloseKind(None, Because(Reason.CLOSE_NO_FINGERPRINT, branch))
    if close.merged:
        return CloseKind(MERGED, Because(Reason.PR_CLOSED_MERGED, f"#{close.number}"))
    # A bot closing the PR (iacbot superseding its own PR, some cleanup app) is not a person's no.
    if str(close.sender_type or "").lower() == "bot":
        return CloseKind(None, Because(Reason.CLOSED_BY_BOT, close.sender or "unknown"))
    return CloseKind(DECLINED, Because(Reason.PR_CLOSED_DECLINED, f"#{close.number}"))


def acceptance_expiry(closed_at: float, expiry_days: int = DEFAULT_EXPIRY_DAYS) -> float:
    """When an acceptance made at ``closed_at`` lapses under a policy of ``expiry_days``."""
    return closed_at + max(0, int(expiry_days)) * DAY_SECONDS


def expires_at(decision: PrDecision, expiry_days: int = DEFAULT_EXPIRY_DAYS) -> float:
    """When ``decision`` (a decline) lapses: the expiry it was recorded with, else (an older
    record) ``expiry_days`` from when it was closed or recorded. The policy in force when the
    person declined sets the term: a later change of ``decline_expiry_days`` does not move it."""
    if decision.expires_at is not None:
        return decision.expires_at
    start = decision.closed_at if decision.closed_at is not None else decision.recorded_at
    return acceptance_expiry(start, expiry_days)


def is_active(decision: PrDecision | None, now: float, expiry_days: int = DEFAULT_EXPIRY_DAYS) -> bool:
    """Is ``decision`` a person's risk acceptance that still holds at ``now``?"""
    return (decision is not None and decision.outcome == DECLINED
            and now < expires_at(decision, expiry_days))


def newer(existing: PrDecision | None, new: PrDecision) -> PrDecision:
    """The decision to keep: the later PR's (numbers only grow), so a late redelivery of an old
    close cannot overwrite what happened to a newer PR for the same finding. The same PR's close
    again keeps the expiry already noted (an expiry is recorded once, never undone by a replay)."""
    if existing is None or new.pr_number > existing.pr_number:
        return new
    if new.pr_number == existing.pr_number and existing.reverted and not new.reverted:
        return existing  # a late replay of the merge does not undo the revert that followed it
    if new.pr_number == existing.pr_number:
        if existing.expired_at is not None and new.expired_at is None:
            return dataclasses.replace(new, expired_at=existing.expired_at)
        return new
    return existing


def verdict(decision: PrDecision | None, current_source_blob_sha: str | None, now: float,
            expiry_days: int = DEFAULT_EXPIRY_DAYS) -> DeclineVerdict:
    """May a fix for this finding be published now, given the last closed PR for it?"""
    if decision is None:
        return DeclineVerdict(True, Because(Reason.NO_EARLIER_DECLINE))
    number = f"#{decision.pr_number}"
    if decision.outcome != DECLINED:
        return DeclineVerdict(True, Because(Reason.EARLIER_PR_MERGED, number))
    lapse = expires_at(decision, expiry_days)
    if now >= lapse:
        return DeclineVerdict(True, Because(Reason.DECLINE_EXPIRED, f"{number} on {iso(lapse)}"), expired=True)
    if decision.reverted:
        if current_source_blob_sha is not None and current_source_blob_sha in (decision.source_blob_sha,
                                                                               decision.fixed_blob_sha):
            return DeclineVerdict(False, Because(Reason.FIX_REVERTED, f"{number} until {iso(lapse)}"))
        return DeclineVerdict(True, Because(Reason.DECLINE_SOURCE_CHANGED, decision.file or ""))
    if decision.source_blob_sha is None:
        return DeclineVerdict(False, Because(Reason.DECLINED_SOURCE_UNKNOWN, f"{number} until {iso(lapse)}"))
    if current_source_blob_sha != decision.source_blob_sha:
        return DeclineVerdict(True, Because(Reason.DECLINE_SOURCE_CHANGED, decision.file or ""))
    return DeclineVerdict(False, Because(Reason.DECLINED, f"{number} until {iso(lapse)}"))


def declined(repository: str, fingerprint: str, pr_number: int, *, file: str | None, base_sha: str | None,
             source_blob_sha: str | None, closed_by: str | None, closed_at: float, recorded_at: float,
             expiry_days: int = DEFAULT_EXPIRY_DAYS) -> PrDecision:
    """A person's decline, as a risk acceptance that lapses ``expiry_days`` after ``closed_at``."""
    return PrDecision(DECLINED, repository, fingerprint, pr_number, file, base_sha, source_blob_sha, recorded_at,
                      closed_by, closed_at, acceptance_expiry(closed_at, expiry_days))


def reverted(repository: str, fingerprint: str, pr_number: int, *, file: str | None, base_sha: str | None,
             source_blob_sha: str | None, fixed_blob_sha: str | None, revert_pr: int, at: float,
             expiry_days: int = DEFAULT_EXPIRY_DAYS) -> PrDecision:
    """A merged fix that iacbot reverted (``revert_pr``; 0 when an issue asks for the revert):
    not proposed again unchanged for the policy's decline term."""
    return PrDecision(DECLINED, repository, fingerprint, pr_number, file, base_sha, source_blob_sha, at, None, at,
                      acceptance_expiry(at, expiry_days), reverted_by_pr=int(revert_pr), fixed_blob_sha=fixed_blob_sha)


def expired(decision: PrDecision, now: float) -> PrDecision:
    """``decision`` with its lapse noted at ``now`` (kept if it was noted before)."""
    return decision if decision.expired_at is not None else dataclasses.replace(decision, expired_at=now)


def parse_time(value: Any) -> float | None:
    """GitHub's ISO 8601 time (``2019-05-15T15:20:33Z``) as a POSIX time; None when it is not one."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def iso(when: float) -> str:
    """A POSIX time as GitHub writes it, to the second, in UTC."""
    return datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
