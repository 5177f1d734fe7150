"""What a human did with the bot's pull request, and whether a finding may be published again.

A PR closed without merging is a user's decision: the same fix for the same source is not offered
again. It is offered again once the file it was made from changes (the source's git blob sha
differs), since the user then looks at different code. A merge is recorded too, and never blocks:
a finding that comes back after a merge (a revert) deserves a new PR.

The decision functions are pure; the Redis record (no TTL: a decline does not expire) is a hash
per repository, ``iacbot:pr_decisions:<owner/name lower-case>``, fingerprint -> JSON.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import redis

from bot.service.events import BOT_BRANCH_PREFIX
from workers.store import repo_key

DECISIONS_PREFIX = "iacbot:pr_decisions:"
MERGED = "merged"
DECLINED = "declined"

# bot.provenance.branch_name: "iacbot/<fix-class>-<fingerprint>", fingerprint = 16 hex digits.
_BRANCH_FINGERPRINT = re.compile(r"-([0-9a-f]{16})$")


@dataclass(frozen=True)
class PrDecision:
    """One closed iacbot PR: merged or declined, and the source its fix was made from."""

    outcome: str                      # MERGED or DECLINED
    repository: str
    fingerprint: str
    pr_number: int
    file: str | None = None
    base_sha: str | None = None
    source_blob_sha: str | None = None  # git blob sha of `file` at `base_sha`; None if unknown
    recorded_at: float = 0.0


@dataclass(frozen=True)
class Verdict:
    publish: bool
    reason: str


@dataclass(frozen=True)
class CloseKind:
    outcome: str | None  # MERGED, DECLINED, or None: nothing to record
    reason: str


# -- pure --------------------------------------------------------------------------------------

def git_blob_sha(text: str | bytes) -> str:
    """The sha git (and GitHub's contents API) gives a file with this content."""
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


def fingerprint_from_branch(branch: str) -> str | None:
    if not branch.startswith(BOT_BRANCH_PREFIX):
        return None
    m = _BRANCH_FINGERPRINT.search(branch)
    return m.group(1) if m else None


def classify_close(job: Mapping[str, Any]) -> CloseKind:
    """Is this pull_request closed job a merge, a decline, or nothing of ours?"""
    if job.get("kind") != "pull_request_closed":
        return CloseKind(None, f"not a pull_request_closed job ({job.get('kind')!r})")
    if not job.get("iacbot_branch"):
        return CloseKind(None, f"branch {job.get('head_ref')!r} is not an iacbot branch of this repository")
    if fingerprint_from_branch(str(job.get("head_ref") or "")) is None:
        return CloseKind(None, f"branch {job.get('head_ref')!r} does not end in a finding fingerprint")
    if job.get("merged"):
        return CloseKind(MERGED, "merged")
    # A bot closing the PR (iacbot superseding its own PR, some cleanup app) is not a person's no.
    if str(job.get("sender_type") or "").lower() == "bot":
        return CloseKind(None, f"closed by a bot ({job.get('sender') or 'unknown'}), not declined by a person")
    return CloseKind(DECLINED, "closed without merging")


def newer(existing: PrDecision | None, new: PrDecision) -> PrDecision:
    """The decision to keep: the later PR's (numbers only grow), so a late redelivery of an old
    close cannot overwrite what happened to a newer PR for the same finding."""
    if existing is None or new.pr_number >= existing.pr_number:
        return new
    return existing


def verdict(decision: PrDecision | None, current_source_blob_sha: str | None) -> Verdict:
    """May a fix for this finding be published now, given the last closed PR for it?"""
    if decision is None:
        return Verdict(True, "no earlier pull request for this finding was closed")
    if decision.outcome != DECLINED:
        return Verdict(True, f"PR #{decision.pr_number} was {decision.outcome}; the finding is back")
    if decision.source_blob_sha is None:
        return Verdict(False, f"PR #{decision.pr_number} was declined (the source it fixed is unknown, "
                              "so the decline stands)")
    if current_source_blob_sha != decision.source_blob_sha:
        return Verdict(True, f"PR #{decision.pr_number} was declined, but {decision.file} changed since")
    return Verdict(False, f"PR #{decision.pr_number} was declined and {decision.file} has not changed since; "
                          "reopen that PR or change the file to get the fix again")


# -- Redis -------------------------------------------------------------------------------------

def decisions_key(repository: str) -> str:
    return repo_key(DECISIONS_PREFIX, repository)


def load(client: redis.Redis, repository: str, fingerprint: str) -> PrDecision | None:
    raw = client.hget(decisions_key(repository), fingerprint)
    return PrDecision(**json.loads(raw)) if raw is not None else None


def record(client: redis.Redis, decision: PrDecision) -> PrDecision:
    """Store ``decision`` unless a newer PR's is already there (atomic: WATCH/MULTI); returns the kept one."""
    key = decisions_key(decision.repository)
    decision = decision if decision.recorded_at else PrDecision(**{**asdict(decision), "recorded_at": time.time()})
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                raw = pipe.hget(key, decision.fingerprint)
                kept = newer(PrDecision(**json.loads(raw)) if raw is not None else None, decision)
                pipe.multi()
                pipe.hset(key, decision.fingerprint, json.dumps(asdict(kept), sort_keys=True))
                pipe.execute()
                return kept
            except redis.WatchError:
                continue
