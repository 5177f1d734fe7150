"""The watch on one merged fix, in Redis: what it was, what the re-scan and the checks said, what
was decided and done (workers.rollback). Redis only, so workers.tasks can ask "is this commit a
watched merge?" on the ingest path without importing the rollback's code.

| key (repository lower-cased) | what |
|---|---|
| ``iacbot:merge-watch:<owner/name>:<merge sha>`` | JSON: the watch record (below); 30 days |
| ``iacbot:merge-watches:<owner/name>`` | sorted set: merge sha -> when it merged (the dashboard's listing; newest 1,000) |
| ``iacbot:reverts:<owner/name>:<YYYY-MM-DD>`` | int: reverts iacbot began that UTC day (the daily cap; 2 days) |
| ``iacbot:revert-claim:<owner/name>:<merge sha>`` | marker: this merge's revert was counted (so a redelivery is not counted twice); 30 days |

The record: repository, installation_id, pr_number, fingerprint, rule_ids, resource, merge_sha,
parent_sha, base_ref, merged_at, merged_by (the API's login), merged_by_iacbot, head_sha, files
(path, before and after, base64; before null when the fix created the file), reviewers,
team_reviewers, started_at, deadline, state (``watching``, ``reverting``, then ``verified``,
``reverted``, ``held`` or ``issue``), recheck (status, failing, scanner version, when), decision
(policies.rollback.RollbackDecision JSON), polls, outcome (revert PR, issue, status, why).
"""
from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timezone
from typing import Any, Callable

import redis

from workers.store import repo_key

WATCH_PREFIX = "iacbot:merge-watch:"
INDEX_PREFIX = "iacbot:merge-watches:"
COUNT_PREFIX = "iacbot:reverts:"
CLAIM_PREFIX = "iacbot:revert-claim:"
RECORD_TTL_SECONDS = 30 * 24 * 3600
COUNT_TTL_SECONDS = 2 * 24 * 3600
INDEX_LIMIT = 1_000

WATCHING, REVERTING = "watching", "reverting"
VERIFIED, REVERTED, HELD, ISSUE = "verified", "reverted", "held", "issue"
FINAL_STATES = frozenset({VERIFIED, REVERTED, HELD, ISSUE})

# Count this merge's revert once, under the day's cap, atomically: a redelivery finds its claim.
# {1, count}: counted (now or before); {0, count}: the cap is reached.
_CLAIM = """
if redis.call('EXISTS', KEYS[2]) == 1 then return {1, tonumber(redis.call('GET', KEYS[1]) or '0')} end
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then return {0, count} end
count = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[3]))
return {1, count}
"""


def watch_key(repository: str, merge_sha: str) -> str:
    return repo_key(WATCH_PREFIX, repository) + ":" + merge_sha


def index_key(repository: str) -> str:
    return repo_key(INDEX_PREFIX, repository)


def day(now: float) -> str:
    return datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%d")


def count_key(repository: str, now: float) -> str:
    return repo_key(COUNT_PREFIX, repository) + ":" + day(now)


def claim_key(repository: str, merge_sha: str) -> str:
    return repo_key(CLAIM_PREFIX, repository) + ":" + merge_sha


def encode(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def decode(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


def load(r: redis.Redis, repository: str, merge_sha: str) -> dict[str, Any] | None:
    raw = r.get(watch_key(repository, merge_sha))
    return None if raw is None else json.loads(raw)


def watched(r: redis.Redis, repository: str, sha: str) -> bool:
    """Is ``sha`` the merge commit of a fix under watch (not yet decided for good)?"""
    record = load(r, repository, sha) if isinstance(sha, str) and len(sha) in (40, 64) else None
    return record is not None and record.get("state") not in FINAL_STATES


def create(r: redis.Redis, record: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Store ``record`` unless a watch on that merge exists; (the stored record, created now?)."""
    key = watch_key(record["repository"], record["merge_sha"])
    pipe = r.pipeline(transaction=True)
    pipe.set(key, json.dumps(record, sort_keys=True), nx=True, ex=RECORD_TTL_SECONDS)
    pipe.zadd(index_key(record["repository"]), {record["merge_sha"]: float(record["merged_at"])}, nx=True)
    pipe.zremrangebyrank(index_key(record["repository"]), 0, -INDEX_LIMIT - 1)
    created = bool(pipe.execute()[0])
    return (record if created else load(r, record["repository"], record["merge_sha"]) or record), created


def update(r: redis.Redis, repository: str, merge_sha: str,
           change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> dict[str, Any] | None:
    """Apply ``change`` to the record atomically (WATCH/MULTI); ``change`` returns the new record,
    or None to leave it. Returns the record as stored afterwards (None when there is none)."""
    key = watch_key(repository, merge_sha)
    with r.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                raw = pipe.get(key)
                if raw is None:
                    pipe.unwatch()
                    return None
                current = json.loads(raw)
                new = change(dict(current))
                if new is None:
                    pipe.unwatch()
                    return current
                pipe.multi()
                pipe.set(key, json.dumps(new, sort_keys=True), keepttl=True)
                pipe.execute()
                return new
            except redis.WatchError:
                continue


def reverts_today(r: redis.Redis, repository: str, now: float | None = None) -> int:
    raw = r.get(count_key(repository, time.time() if now is None else now))
    return int(raw) if raw is not None else 0


def claim_revert(r: redis.Redis, repository: str, merge_sha: str, cap: int,
                 now: float | None = None) -> tuple[bool, int]:
    """Count this merge's revert against today's cap; (allowed, the day's count). Counted once."""
    now = time.time() if now is None else now
    ok, count = r.register_script(_CLAIM)(keys=[count_key(repository, now), claim_key(repository, merge_sha)],
                                          args=[int(cap), COUNT_TTL_SECONDS, RECORD_TTL_SECONDS])
    return bool(ok), int(count)


def recent(r: redis.Redis, repository: str, count: int = 50) -> list[dict[str, Any]]:
    """The newest ``count`` watch records of ``repository``, newest first (expired ones skipped)."""
    shas = [s.decode() if isinstance(s, bytes) else s for s in r.zrevrange(index_key(repository), 0, count - 1)]
    if not shas:
        return []
    raws = r.mget([watch_key(repository, sha) for sha in shas])
    return [json.loads(raw) for raw in raws if raw is not None]
