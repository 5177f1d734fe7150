"""The audit log kept in Redis (docs/audit-log.md): append, checkpoint, export, status. The service
records through workers.audit_log.record; `iacbot audit export` reads through here.

| key | what |
|---|---|
| ``iacbot:audit`` | list: the log's lines in order, entries and checkpoint lines, exactly as ``export`` writes them (no TTL, never trimmed) |
| ``iacbot:audit:head`` | JSON: size, hash of the last entry, last checkpoint's size and time, whether it was signed |
| ``iacbot:audit:once:<key>`` | marker: the event keyed ``<key>`` (e.g. a delivery's ``received``) is recorded (TTL 30 days; ``call:<uuid>``, one append call's own, 1 hour) |

An append reads the head, builds the next entry (and, every CHECKPOINT_EVERY entries or
CHECKPOINT_SECONDS, a signed checkpoint) and writes entry, checkpoint and head in one MULTI under
WATCH on the head: a concurrent append makes it start again (WatchError), and a worker killed
before EXEC wrote nothing, so the chain never has a gap or a fork. A ``once`` key is written in
the same transaction, so a redelivered task records its event once. Without a key (None, or a
callable returning None) entries are recorded and checkpoints skipped.
"""
from __future__ import annotations

import hashlib
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import IO, Any, Mapping

import redis

from bot.audit import chain
from bot.audit.events import Event

log = logging.getLogger(__name__)

LOG_KEY = "iacbot:audit"
HEAD_KEY = "iacbot:audit:head"
ONCE_PREFIX = "iacbot:audit:once:"
ONCE_TTL_SECONDS = 30 * 24 * 3600
CALL_TTL_SECONDS = 3600
MAX_ONCE_CHARS = 200
CHECKPOINT_EVERY = 100
CHECKPOINT_SECONDS = 300
MAX_ATTEMPTS = 1_000  # WATCH conflicts under heavy contention; each retry backs off a little
EXPORT_BATCH = 1_000


@dataclass(frozen=True)
class CheckpointStatus:
    """For the dashboard: how much of the log a signed checkpoint pins."""
    size: int                           # entries in the log
    checkpoint_size: int                # entries the last checkpoint covers (0: none yet)
    checkpoint_time: str | None         # when it was signed (ISO 8601 UTC)
    signed: bool                        # is there a signed checkpoint at all

    @property
    def uncovered(self) -> int:
        return self.size - self.checkpoint_size


def _head(raw: bytes | None) -> dict[str, Any]:
    if raw is None:
        return {"size": 0, "hash": chain.GENESIS, "checkpoint_size": 0, "checkpoint_time": None,
                "checkpoint_at": 0.0, "signed": False}
    return json.loads(raw)


def append(r: redis.Redis, event: Event, *, repository: str | None, subject: str, actor: str,
           details: Mapping[str, Any] | None = None, once: str | None = None, key=None,
           every: int = CHECKPOINT_EVERY, seconds: float = CHECKPOINT_SECONDS) -> dict[str, Any] | None:
    """The entry appended, or None when ``once`` was already recorded. ``key``: an Ed25519
    private key (or a callable returning one or None) for the checkpoints."""
    event = Event(event)
    if once and len(once) > MAX_ONCE_CHARS:  # a key built from long names stays a bounded key
        once = "sha256:" + hashlib.sha256(once.encode()).hexdigest()
    # Without a caller's key, one of this call's own: EXEC applied but its answer lost (the
    # connection died) is retried, and the retry must find it done rather than append it again.
    once_key = ONCE_PREFIX + (once or f"call:{uuid.uuid4().hex}")
    once_ttl = ONCE_TTL_SECONDS if once else CALL_TTL_SECONDS
    signer = None
    with r.pipeline(transaction=True) as pipe:
        for attempt in range(MAX_ATTEMPTS):
            try:
                pipe.watch(HEAD_KEY, once_key)
                if pipe.exists(once_key):
                    pipe.unwatch()
                    return None
                head = _head(pipe.get(HEAD_KEY))
                entry = chain.make_entry(head["size"], head["hash"], event, repository=repository, subject=subject,
                                         actor=actor, details=details)
                size = head["size"] + 1
                new_head = {**head, "size": size, "hash": entry["hash"]}
                checkpoint = None
                now = time.time()
                if size - head["checkpoint_size"] >= every or now - head.get("checkpoint_at", 0.0) >= seconds:
                    if signer is None:
                        signer = key() if callable(key) else key
                    if signer is not None:
                        stamp = chain.now_iso()
                        checkpoint = chain.sign_checkpoint(size, entry["hash"], signer, stamp)
                        new_head.update(checkpoint_size=size, checkpoint_time=stamp, checkpoint_at=now, signed=True)
                pipe.multi()
                pipe.rpush(LOG_KEY, chain.entry_line(entry),
                           *([chain.checkpoint_line(checkpoint)] if checkpoint else []))
                pipe.set(HEAD_KEY, json.dumps(new_head, sort_keys=True))
                pipe.set(once_key, str(entry["seq"]), ex=once_ttl)
                pipe.execute()
                return entry
            except redis.WatchError:
                time.sleep(random.uniform(0, 0.002 * min(attempt, 20)))
                continue
    raise RuntimeError(f"audit log: {MAX_ATTEMPTS} concurrent appends in a row won over this one")


def checkpoint(r: redis.Redis, key) -> bool:
    """Sign a checkpoint of the log as it is now, unless the last one already covers it."""
    with r.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(HEAD_KEY)
                head = _head(pipe.get(HEAD_KEY))
                if head["size"] == 0 or head["checkpoint_size"] == head["size"]:
                    pipe.unwatch()
                    return False
                stamp = chain.now_iso()
                line = chain.checkpoint_line(chain.sign_checkpoint(head["size"], head["hash"], key, stamp))
                pipe.multi()
                pipe.rpush(LOG_KEY, line)
                pipe.set(HEAD_KEY, json.dumps({**head, "checkpoint_size": head["size"], "checkpoint_time": stamp,
                                               "checkpoint_at": time.time(), "signed": True}, sort_keys=True))
                pipe.execute()
                return True
            except redis.WatchError:
                continue


def export(r: redis.Redis, out: IO[str]) -> int:
    """Write the log as JSON lines (what ``iacbot audit verify`` reads); the number of lines.
    Read in batches up to the length seen at the start: appends meanwhile wait for the next export."""
    total = r.llen(LOG_KEY)
    for start in range(0, total, EXPORT_BATCH):
        for raw in r.lrange(LOG_KEY, start, min(start + EXPORT_BATCH, total) - 1):
            out.write(raw.decode("utf-8") + "\n")
    return total


def entries(r: redis.Redis, limit: int = 100_000) -> list[dict[str, Any]]:
    """The log's entries in order (checkpoint lines left out), at most the first ``limit``."""
    lines = (json.loads(raw) for raw in r.lrange(LOG_KEY, 0, limit - 1))
    return [line for line in lines if "checkpoint" not in line]


def checkpoint_status(r: redis.Redis) -> CheckpointStatus:
    head = _head(r.get(HEAD_KEY))
    return CheckpointStatus(head["size"], head["checkpoint_size"], head["checkpoint_time"], bool(head["signed"]))
