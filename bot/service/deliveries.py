"""At-most-one job per GitHub delivery id, without losing a delivery when enqueueing fails.

Order: claim the id (SET NX with a short "pending" TTL) -> enqueue -> confirm the claim
(full TTL) -> only then answer 202. If enqueueing fails the claim is released, so GitHub's
redelivery of the same id can succeed. If this process dies between claim and enqueue, the
pending claim expires after ``pending_ttl`` seconds instead of blocking redelivery for days.
The worker is idempotent by delivery id as well (the Celery task id is the delivery id), so a
rare double enqueue still records the job once.
"""
from __future__ import annotations

import enum
import logging
import secrets
from typing import Any, Callable

import redis

log = logging.getLogger(__name__)

KEY_PREFIX = "iacbot:delivery:"
QUEUED = "queued"

# Release or confirm only a claim we still own (compare-and-delete / compare-and-set).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_CONFIRM = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
end
return nil
"""


class Outcome(str, enum.Enum):
    QUEUED = "queued"
    DUPLICATE = "duplicate"  # already enqueued once: nothing to do
    IN_PROGRESS = "in_progress"  # another request holds the claim right now
    ENQUEUE_FAILED = "enqueue_failed"  # claim released; a redelivery may succeed


class DeliveryStore:
    def __init__(self, client: redis.Redis, ttl_seconds: int, pending_ttl_seconds: int = 120,
                 prefix: str = KEY_PREFIX) -> None:
        self.client = client
        self.ttl = ttl_seconds
        self.pending_ttl = min(pending_ttl_seconds, ttl_seconds)
        self.prefix = prefix
        self._release = client.register_script(_RELEASE)
        self._confirm = client.register_script(_CONFIRM)

    def key(self, delivery_id: str) -> str:
        return self.prefix + delivery_id

    def claim(self, delivery_id: str) -> str | None:
        """A claim token when this caller owns the delivery now, else None."""
        token = "pending:" + secrets.token_hex(8)
        if self.client.set(self.key(delivery_id), token, nx=True, ex=self.pending_ttl):
            return token
        return None

    def state(self, delivery_id: str) -> str | None:
        value = self.client.get(self.key(delivery_id))
        return value.decode() if isinstance(value, bytes) else value

    def confirm(self, delivery_id: str, token: str) -> bool:
        return bool(self._confirm(keys=[self.key(delivery_id)], args=[token, QUEUED, self.ttl]))

    def release(self, delivery_id: str, token: str) -> bool:
        return bool(self._release(keys=[self.key(delivery_id)], args=[token]))


def claim_and_enqueue(store: DeliveryStore, delivery_id: str, job: dict[str, Any],
                      enqueue: Callable[[dict[str, Any], str], Any]) -> Outcome:
    """Claim ``delivery_id``, enqueue ``job`` and confirm; release the claim if enqueue fails.

    Redis errors while claiming propagate (the caller answers 503 and GitHub may redeliver).
    """
    token = store.claim(delivery_id)
    if token is None:
        return Outcome.DUPLICATE if store.state(delivery_id) == QUEUED else Outcome.IN_PROGRESS
    try:
        enqueue(job, delivery_id)
    except Exception as exc:  # the broker refused or is unreachable: give the id back
        log.warning("enqueue failed for delivery %s (%s); claim released", delivery_id,
                    type(exc).__name__)
        try:
            store.release(delivery_id, token)
        except redis.RedisError:
            log.warning("could not release claim for delivery %s; it expires in %ss",
                        delivery_id, store.pending_ttl)
        return Outcome.ENQUEUE_FAILED
    try:
        store.confirm(delivery_id, token)
    except redis.RedisError:
        # The job is on the broker; the pending claim expires and the worker dedups anyway.
        log.warning("could not confirm claim for delivery %s", delivery_id)
    return Outcome.QUEUED
