"""What people did with iacbot's pull requests, in Redis: merges and declines (risk acceptances).

The decisions are pure and live in policies.declines: whether a close is a merge, a person's
decline or nothing of ours, and whether a finding may be proposed again (an acceptance holds until
it expires or the source changes). This module keeps the records and the risk-event stream:

* ``iacbot:pr_decisions:<owner/name lower-case>``: hash, fingerprint -> JSON of the last closed PR
  (policies.declines.PrDecision: outcome, PR, source file and blob sha, who closed it, when, and
  until when a decline holds). No TTL: a person's decision is not dropped by Redis; an acceptance
  lapses by its ``expires_at``, and the lapse is written into the record (``expired_at``).
  A fix iacbot reverted because it did not work is kept here too, as a decline by evidence
  (``reverted_by_pr``, the blob as the fix left it: policies.declines.reverted), so publish_job's
  decline check does not propose the same fix again unchanged; it is not a person's acceptance
  (no risk event, not listed as one).
* ``iacbot:risk-events:<owner/name lower-case>``: stream of ``accepted`` (a decline recorded) and
  ``expired`` (an acceptance found lapsed, once) entries, newest 10,000 kept, for the dashboard.

Nothing expires silently: whoever finds a lapsed acceptance (a publish, the dashboard's listing)
logs it and records the lapse, once (:func:`note_expired`).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Mapping

import redis

from bot.audit.events import Event
from bot.github.branch_steps import git_blob_sha  # noqa: F401  (re-exported: the blob sha a decline keeps)
from jobs.branches import fingerprint_from_branch
from jobs.kinds import PullRequestClosed
from policies import declines as policy
from policies.declines import (  # noqa: F401  re-exported: the record and its outcomes
    DECLINED,
    DEFAULT_EXPIRY_DAYS,
    MERGED,
    CloseKind,
    DeclineVerdict,
    PrDecision,
    newer,
)
from workers import audit_log
from workers.store import repo_key

log = logging.getLogger(__name__)

DECISIONS_PREFIX = "iacbot:pr_decisions:"
RISK_EVENTS_PREFIX = "iacbot:risk-events:"
RISK_EVENTS_MAXLEN = 10_000
ACCEPTED = "accepted"
EXPIRED = "expired"

# The term of an acceptance is the central policy's ``declines.expire_after_days``
# (workers.policy_source.decline_expiry_days); callers pass it, DEFAULT_EXPIRY_DAYS without one.


@dataclass(frozen=True)
class AcceptedRisk:
    """An acceptance that holds: what the dashboard lists."""

    fingerprint: str
    pr_number: int
    file: str | None
    closed_by: str | None
    closed_at: float | None
    expires_at: float


# -- facts -------------------------------------------------------------------------------------

def closed_pull(job: PullRequestClosed) -> policy.ClosedPull:
    return policy.ClosedPull(job.number, job.merged, job.iacbot_branch, job.head_ref,
                             fingerprint_from_branch(job.head_ref or ""), job.sender, job.sender_type)


def classify_close(job: PullRequestClosed | Mapping[str, Any]) -> CloseKind:
    """Is this pull_request_closed job a merge, a decline, or nothing of ours? (policies.declines)"""
    if not isinstance(job, PullRequestClosed):
        job = PullRequestClosed.from_message(job)
    return policy.classify_close(closed_pull(job))


def verdict(decision: PrDecision | None, current_source_blob_sha: str | None, now: float | None = None,
            expiry_days: int = DEFAULT_EXPIRY_DAYS) -> DeclineVerdict:
    """policies.declines.verdict at ``now`` (default: the clock). Records nothing: see :func:`check`."""
    return policy.verdict(decision, current_source_blob_sha, time.time() if now is None else now, expiry_days)


def check(client: redis.Redis, decision: PrDecision | None, current_source_blob_sha: str | None,
          now: float | None = None, expiry_days: int = DEFAULT_EXPIRY_DAYS) -> DeclineVerdict:
    """The verdict, and if it found the acceptance lapsed, that lapse logged and recorded."""
    now = time.time() if now is None else now
    result = policy.verdict(decision, current_source_blob_sha, now, expiry_days)
    if result.expired and decision is not None:
        note_expired(client, decision, now, expiry_days)
    return result


# -- Redis -------------------------------------------------------------------------------------

def decisions_key(repository: str) -> str:
    return repo_key(DECISIONS_PREFIX, repository)


def risk_events_key(repository: str) -> str:
    return repo_key(RISK_EVENTS_PREFIX, repository)


def _read(raw: bytes | str | None) -> PrDecision | None:
    return None if raw is None else PrDecision.from_json(json.loads(raw))


def load(client: redis.Redis, repository: str, fingerprint: str) -> PrDecision | None:
    return _read(client.hget(decisions_key(repository), fingerprint))


def _event(pipe, decision: PrDecision, event: str, **extra: Any) -> None:
    fields = {"event": event, "fingerprint": decision.fingerprint, "pr_number": decision.pr_number,
              "closed_by": decision.closed_by or "", "closed_at": decision.closed_at or "",
              "expires_at": decision.expires_at or "", "file": decision.file or "", **extra}
    pipe.xadd(risk_events_key(decision.repository), {k: str(v) for k, v in fields.items()},
              maxlen=RISK_EVENTS_MAXLEN, approximate=True)


def record(client: redis.Redis, decision: PrDecision) -> PrDecision:
    """Store ``decision`` unless a newer PR's is already there (atomic: WATCH/MULTI); returns the kept one.
    A decline recorded for the first time is an ``accepted`` risk event."""
    key = decisions_key(decision.repository)
    if not decision.recorded_at:
        decision = PrDecision(**{**decision.to_json(), "recorded_at": time.time()})
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                existing = _read(pipe.hget(key, decision.fingerprint))
                kept = newer(existing, decision)
                pipe.multi()
                pipe.hset(key, decision.fingerprint, json.dumps(kept.to_json(), sort_keys=True))
                first = existing is None or existing.pr_number != kept.pr_number or existing.outcome != kept.outcome
                # A revert is not a person's risk acceptance: the rollback's own records say why it happened.
                if kept is not existing and kept.outcome == DECLINED and first and not kept.reverted:
                    _event(pipe, kept, ACCEPTED)
                pipe.execute()
                break
            except redis.WatchError:
                continue
    if kept.outcome == DECLINED and kept.pr_number == decision.pr_number:
        # On every call for this PR (once-keyed): a close redelivered after a crash here records it.
        _audit_decline(client, kept)
    return kept


def note_expired(client: redis.Redis, decision: PrDecision, now: float,
                 expiry_days: int = DEFAULT_EXPIRY_DAYS) -> PrDecision | None:
    """Record that ``decision``'s acceptance lapsed (``expired_at`` in the record, an ``expired``
    risk event, a log line), once: a second call, or a record that changed meanwhile (a newer PR,
    the lapse already noted), records nothing. The record as it is now, or None if it is gone."""
    key = decisions_key(decision.repository)
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                current = _read(pipe.hget(key, decision.fingerprint))
                if (current is None or current.pr_number != decision.pr_number or current.outcome != DECLINED
                        or current.expired_at is not None):
                    pipe.unwatch()
                    if current is not None and current.pr_number == decision.pr_number and current.expired_at:
                        _audit_expired(client, current)  # once-keyed: catches up a crash after the write
                    return current
                noted = policy.expired(current, now)
                pipe.multi()
                pipe.hset(key, decision.fingerprint, json.dumps(noted.to_json(), sort_keys=True))
                lapse = policy.expires_at(current, expiry_days)
                _event(pipe, noted, EXPIRED, expired_at=now, expires_at=lapse)
                pipe.execute()
                log.warning("%s: the risk acceptance of %s (PR #%s, declined by %s) expired on %s; the finding may be "
                            "proposed again", decision.repository, decision.fingerprint, decision.pr_number,
                            decision.closed_by or "an unknown person", policy.iso(lapse))
                _audit_expired(client, noted)
                return noted
            except redis.WatchError:
                continue


def _audit_decline(client: redis.Redis, kept: PrDecision) -> None:
    """declined (by the person who closed it: the signed webhook's sender) and risk_accepted."""
    actor = kept.closed_by or "unknown"
    where = f"{kept.repository.lower()}#{kept.pr_number}:{kept.fingerprint}"
    details = {"fingerprint": kept.fingerprint, "pr": kept.pr_number, "file": kept.file,
               "closed_at": policy.iso(kept.closed_at) if kept.closed_at else None}
    audit_log.record(client, Event.DECLINED, repository=kept.repository, subject=f"pr:{kept.pr_number}", actor=actor,
                     details=details, once=f"declined:{where}")
    audit_log.record(client, Event.RISK_ACCEPTED, repository=kept.repository, subject=f"pr:{kept.pr_number}",
                     actor=actor, details={**details, "expires_at": policy.iso(policy.expires_at(kept))},
                     once=f"risk_accepted:{where}")


def _audit_expired(client: redis.Redis, noted: PrDecision) -> None:
    audit_log.record(client, Event.RISK_EXPIRED, repository=noted.repository, subject=f"pr:{noted.pr_number}",
                     actor=audit_log.SERVICE_ACTOR,
                     details={"fingerprint": noted.fingerprint, "pr": noted.pr_number, "declined_by": noted.closed_by,
                              "expired_at": policy.iso(noted.expired_at)},
                     once=f"risk_expired:{noted.repository.lower()}#{noted.pr_number}:{noted.fingerprint}")


def accepted_risks(client: redis.Redis, repository: str, now: float | None = None,
                   expiry_days: int = DEFAULT_EXPIRY_DAYS) -> list[AcceptedRisk]:
    """The acceptances that hold in ``repository``, soonest to expire first. Those found lapsed are
    recorded as expired on the way (nothing expires silently), and are not listed."""
    now = time.time() if now is None else now
    risks = []
    for fingerprint, raw in client.hscan_iter(decisions_key(repository), count=500):
        try:
            decision = _read(raw)
        except ValueError as exc:
            log.warning("%s: unreadable PR decision for %r: %s", repository, fingerprint, exc)
            continue
        if decision is None or decision.outcome != DECLINED or decision.reverted:
            continue
        if not policy.is_active(decision, now, expiry_days):
            note_expired(client, decision, now, expiry_days)
            continue
        risks.append(AcceptedRisk(decision.fingerprint, decision.pr_number, decision.file, decision.closed_by,
                                  decision.closed_at, policy.expires_at(decision, expiry_days)))
    return sorted(risks, key=lambda risk: (risk.expires_at, risk.fingerprint))


def risk_events(client: redis.Redis, repository: str, count: int = 100) -> list[dict[str, str]]:
    """The newest ``count`` risk events of ``repository``, newest first."""
    entries = client.xrevrange(risk_events_key(repository), count=count)
    return [{"id": _text(entry_id), **{_text(k): _text(v) for k, v in fields.items()}} for entry_id, fields in entries]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
