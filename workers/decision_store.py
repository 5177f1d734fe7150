"""Every decision policy made about a fix, in Redis: the latest per finding, the one per pull
request, an append-only history, and iacbot's automatic merges.

A decision is stored with what it was made from (the fix's facts, the other facts as JSON, the
digests of the policies), so "why did this merge?" has an answer long after the PR, and the
merge step can compare the head it sees with the commit iacbot published.

| key (repository lower-cased) | what |
|---|---|
| ``iacbot:decisions:<owner/name>`` | hash: fingerprint -> the latest DecisionRecord JSON (any stage) |
| ``iacbot:decision-prs:<owner/name>`` | hash: ``<pr number>:<stage>`` -> the latest DecisionRecord JSON of that stage for that PR |
| ``iacbot:decision-log:<owner/name>`` | stream: every record saved, oldest first (capped at HISTORY_LIMIT entries) |
| ``iacbot:automerges:<owner/name>`` | sorted set: ``<pr number>:<sha>`` -> when iacbot merged it (capped at MERGES_LIMIT) |

No TTL: decisions are kept like the PR records (workers.declined); every structure is bounded.
A record that arrives late (a redelivered task, decided earlier than the stored one) is appended
to the history but does not replace a newer latest record.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import redis

from policies.decision import Decision
from policies.facts import FixFacts
from workers.store import repo_key

LATEST_PREFIX = "iacbot:decisions:"
PR_INDEX_PREFIX = "iacbot:decision-prs:"
LOG_PREFIX = "iacbot:decision-log:"
MERGES_PREFIX = "iacbot:automerges:"

PUBLISH = "publish"
MERGE = "merge"
STAGES = (PUBLISH, MERGE)

#: History entries kept per repository (a stream trimmed exactly to this length).
HISTORY_LIMIT = 10_000
#: Merges kept per repository: far more than the hourly limit ever needs, enough for a dashboard.
MERGES_LIMIT = 1_000


@dataclass(frozen=True)
class DecisionRecord:
    """One decision about one fix at one stage, with what it was made from."""

    repository: str
    installation_id: int
    fingerprint: str
    job_id: str
    stage: str                        # PUBLISH or MERGE
    fix: FixFacts
    decision: Decision
    decided_at: float                 # time.time() when decided
    pr_number: int | None = None
    head_sha: str | None = None       # publish: the commit iacbot made; merge: the head it decided on
    base_ref: str | None = None
    facts: dict = field(default_factory=dict)  # the other facts used, as JSON

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, not {self.stage!r}")

    def to_json(self) -> dict[str, Any]:
        return {"repository": self.repository, "installation_id": self.installation_id,
                "fingerprint": self.fingerprint, "job_id": self.job_id, "stage": self.stage,
                "fix": self.fix.to_json(), "decision": self.decision.to_json(), "decided_at": self.decided_at,
                "pr_number": self.pr_number, "head_sha": self.head_sha, "base_ref": self.base_ref,
                "facts": self.facts}

    @classmethod
    def from_json(cls, data: Any) -> "DecisionRecord":
        pr = data.get("pr_number")
        return cls(str(data["repository"]), int(data["installation_id"]), str(data["fingerprint"]),
                   str(data["job_id"]), str(data["stage"]), FixFacts.from_json(data["fix"]),
                   Decision.from_json(data["decision"]), float(data["decided_at"]),
                   int(pr) if pr is not None else None, data.get("head_sha"), data.get("base_ref"),
                   dict(data.get("facts") or {}))


def latest_key(repository: str) -> str:
    return repo_key(LATEST_PREFIX, repository)


def pr_index_key(repository: str) -> str:
    return repo_key(PR_INDEX_PREFIX, repository)


def log_key(repository: str) -> str:
    return repo_key(LOG_PREFIX, repository)


def merges_key(repository: str) -> str:
    return repo_key(MERGES_PREFIX, repository)


def _pr_field(pr_number: int, stage: str) -> str:
    return f"{int(pr_number)}:{stage}"


def _load(raw: bytes | str | None) -> DecisionRecord | None:
    return None if raw is None else DecisionRecord.from_json(json.loads(raw))


def _newer(existing: bytes | None, record: DecisionRecord) -> bool:
    """Does ``record`` replace what is stored (nothing, or one decided no later)?"""
    if existing is None:
        return True
    try:
        return float(json.loads(existing)["decided_at"]) <= record.decided_at
    except (ValueError, KeyError, TypeError):
        return True  # an unreadable record is replaced by a readable one


def save(r: redis.Redis, record: DecisionRecord) -> None:
    """Append ``record`` to the history; make it the latest for its finding (and for its PR and
    stage) unless a record decided later is already there. Atomic (WATCH/MULTI)."""
    text = json.dumps(record.to_json(), sort_keys=True)
    latest, index = latest_key(record.repository), pr_index_key(record.repository)
    pr_field = _pr_field(record.pr_number, record.stage) if record.pr_number is not None else None
    with r.pipeline() as pipe:
        while True:
            try:
                pipe.watch(latest, index)
                replace_latest = _newer(pipe.hget(latest, record.fingerprint), record)
                replace_pr = pr_field is not None and _newer(pipe.hget(index, pr_field), record)
                pipe.multi()
                if replace_latest:
                    pipe.hset(latest, record.fingerprint, text)
                if replace_pr:
                    pipe.hset(index, pr_field, text)
                pipe.xadd(log_key(record.repository), {"record": text}, maxlen=HISTORY_LIMIT, approximate=False)
                pipe.execute()
                return
            except redis.WatchError:
                continue


def latest(r: redis.Redis, repository: str, fingerprint: str) -> DecisionRecord | None:
    return _load(r.hget(latest_key(repository), fingerprint))


def for_pr(r: redis.Redis, repository: str, pr_number: int, stage: str = PUBLISH) -> DecisionRecord | None:
    """The latest decision of ``stage`` for pull request ``pr_number``. The publish record's
    ``head_sha`` is the commit iacbot made and published: the only head a merge may be decided on."""
    return _load(r.hget(pr_index_key(repository), _pr_field(pr_number, stage)))


def all_latest(r: redis.Redis, repository: str, limit: int = 5_000) -> list[DecisionRecord]:
    """The latest record of (at most ``limit``) findings of ``repository``, newest first; an
    unreadable entry is skipped."""
    found: list[DecisionRecord] = []
    for _, raw in r.hscan_iter(latest_key(repository), count=500):
        try:
            found.append(DecisionRecord.from_json(json.loads(raw)))
        except (ValueError, KeyError, TypeError):
            continue
        if len(found) >= limit:
            break
    return sorted(found, key=lambda rec: rec.decided_at, reverse=True)


def history(r: redis.Redis, repository: str, n: int = 100) -> list[DecisionRecord]:
    """The last ``n`` records saved for ``repository``, newest first."""
    out = []
    for _, entry in r.xrevrange(log_key(repository), count=max(0, int(n))):
        try:
            out.append(DecisionRecord.from_json(json.loads(entry[b"record"])))
        except (ValueError, KeyError, TypeError):
            continue
    return out


# -- automatic merges (the hourly limit and the dashboard) ------------------------------------

def _merge_member(pr_number: int, sha: str) -> str:
    return f"{int(pr_number)}:{sha.lower()}"


def record_merge(r: redis.Redis, repository: str, pr_number: int, sha: str, at: float) -> None:
    """iacbot merged PR ``pr_number`` at head ``sha``. Idempotent: a repeated record of the same
    merge keeps its first time (so a redelivery cannot move it into a later hour)."""
    key = merges_key(repository)
    pipe = r.pipeline(transaction=True)
    pipe.zadd(key, {_merge_member(pr_number, sha): float(at)}, nx=True)
    pipe.zremrangebyrank(key, 0, -MERGES_LIMIT - 1)
    pipe.execute()


def merges_since(r: redis.Redis, repository: str, since: float) -> int:
    return int(r.zcount(merges_key(repository), float(since), "+inf"))


def recent_merges(r: redis.Redis, repository: str, n: int) -> list[dict]:
    """The last ``n`` merges, newest first: ``{"pr_number", "sha", "at"}``."""
    out = []
    for member, score in r.zrevrange(merges_key(repository), 0, max(0, int(n)) - 1, withscores=True):
        number, _, sha = member.decode().partition(":")
        out.append({"pr_number": int(number), "sha": sha, "at": float(score)})
    return out if n > 0 else []
