"""At-most-one job per GitHub delivery id, without losing a delivery when enqueueing fails.

Order: claim the id (SET NX with a short "pending" TTL) -> enqueue -> confirm the claim
(full TTL) -> only then answer 202. If enqueueing fails the claim is released, so a later
redelivery of the same id (the spool's drainer, or a person from the App's delivery log; GitHub
does not redeliver by itself) can succeed. If this process dies between claim and enqueue, the
pending claim expires after ``pending_ttl`` seconds instead of blocking redelivery for days.
The worker is idempotent by delivery id as well (the Celery task id is the delivery id), so a
rare double enqueue still records the job once.

When the broker is this same Redis (as deployed), :class:`AtomicEnqueue` does claim, record
and LPUSH in one Lua script instead: one round trip, and never a claim without its job. The
app reaches either path through one async ``submit(delivery_id, job, record, body_sha256=...)``.

The delivery id is an unsigned header: anyone holding one signed body could send it again under
fresh ids. So a webhook also claims the sha256 of its signed body (``body_sha256``): a second id
with the same body is a duplicate too, and GitHub's own redelivery (same id, same body) stays one.
"""
from __future__ import annotations

import enum
import hashlib
import logging
import secrets
from typing import Any, Awaitable, Callable

import anyio.to_thread
import redis
import redis.asyncio

log = logging.getLogger(__name__)

KEY_PREFIX = "iacbot:delivery:"
#: + sha256 hex of a signed webhook body -> the delivery id that first brought it.
BODY_KEY_PREFIX = "iacbot:delivery-body:"
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
    SPOOLED = "spooled"  # the broker could not take it: kept on disk, enqueued when it is back


#: A value stored with the job, or not at all: (key, text, ttl seconds). The findings API
#: keeps the submission here so the job itself stays small.
Record = tuple[str, str, int]
Enqueue = Callable[[dict[str, Any], str], Any]
#: ``submit(delivery_id, job, record=None, *, body_sha256=None) -> Outcome``
Submit = Callable[..., Awaitable[Outcome]]


def body_key(body_sha256: str, prefix: str = BODY_KEY_PREFIX) -> str:
    return prefix + body_sha256


class DeliveryStore:
    def __init__(self, client: redis.Redis, ttl_seconds: int, pending_ttl_seconds: int = 120,
                 prefix: str = KEY_PREFIX, body_prefix: str = BODY_KEY_PREFIX) -> None:
        self.client = client
        self.ttl = ttl_seconds
        self.pending_ttl = min(pending_ttl_seconds, ttl_seconds)
        self.prefix = prefix
        self.body_prefix = body_prefix
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

    def release_body(self, key: str, delivery_id: str) -> bool:
        return bool(self._release(keys=[key], args=[delivery_id]))


def claim_and_enqueue(store: DeliveryStore, delivery_id: str, job: dict[str, Any],
                      enqueue: Callable[[dict[str, Any], str], Any],
                      body_sha256: str | None = None) -> Outcome:
    """Claim ``delivery_id`` (and ``body_sha256``), enqueue ``job`` and confirm; release the
    claims if enqueue fails.

    Redis errors while claiming propagate (the caller spools or answers 503).
    """
    token = store.claim(delivery_id)
    if token is None:
        return Outcome.DUPLICATE if store.state(delivery_id) == QUEUED else Outcome.IN_PROGRESS
    body = body_key(body_sha256, store.body_prefix) if body_sha256 else None
    if body is not None and not store.client.set(body, delivery_id, nx=True, ex=store.ttl):
        store.release(delivery_id, token)  # the same signed body came under another id
        return Outcome.DUPLICATE
    try:
        enqueue(job, delivery_id)
    except Exception as exc:  # the broker refused or is unreachable: give the id back
        log.warning("enqueue failed for delivery %s (%s); claim released", delivery_id,
                    type(exc).__name__)
        try:
            store.release(delivery_id, token)
            if body is not None:
                store.release_body(body, delivery_id)
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


# Job, record (optional) and claims together or nothing. LPUSH is the only command that can
# fail (wrong type, or refused for memory as the script's first write); once it has written,
# Redis runs the rest (SET cannot fail on type, and a script that has written is not stopped),
# and no worker sees the job before the script ends. So an error leaves no claim and no record
# behind, and a redelivery can succeed. KEYS: delivery id, queue, body digest ('' when none),
# record (optional). A body already claimed under another id answers QUEUED (a duplicate).
_CLAIM_AND_PUSH = """
local state = redis.call('GET', KEYS[1])
if state then return state end
if KEYS[3] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then return ARGV[5] end
redis.call('LPUSH', KEYS[2], ARGV[1])
if KEYS[4] then redis.call('SET', KEYS[4], ARGV[3], 'EX', tonumber(ARGV[4])) end
if KEYS[3] ~= '' then redis.call('SET', KEYS[3], ARGV[6], 'EX', tonumber(ARGV[2])) end
redis.call('SET', KEYS[1], ARGV[5], 'EX', tonumber(ARGV[2]))
return false
"""
_CLAIM_AND_PUSH_SHA = hashlib.sha1(_CLAIM_AND_PUSH.encode()).hexdigest()


class AtomicEnqueue:
    """Dedup + enqueue for a broker that is the delivery store's own Redis: one script call.

    ``message_for(job, delivery_id) -> (queue list, message text)`` builds the broker message
    (bot.service.broker). Redis errors propagate: the caller answers 503.
    """

    def __init__(self, client: Callable[[], redis.asyncio.Redis], ttl_seconds: int,
                 message_for: Callable[[dict[str, Any], str], tuple[str, str]],
                 prefix: str = KEY_PREFIX, body_prefix: str = BODY_KEY_PREFIX) -> None:
        self.client = client
        self.ttl = ttl_seconds
        self.message_for = message_for
        self.prefix = prefix
        self.body_prefix = body_prefix

    async def __call__(self, delivery_id: str, job: dict[str, Any],
                       record: Record | None = None, *, body_sha256: str | None = None) -> Outcome:
        queue, message = self.message_for(job, delivery_id)
        keys = [self.prefix + delivery_id, queue,
                body_key(body_sha256, self.body_prefix) if body_sha256 else ""]
        args: list[Any] = [message, self.ttl, "", 0, QUEUED, delivery_id]
        if record is not None:
            keys.append(record[0])
            args[2:4] = [record[1], record[2]]
        client = self.client()
        try:
            state = await client.evalsha(_CLAIM_AND_PUSH_SHA, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            state = await client.eval(_CLAIM_AND_PUSH, len(keys), *keys, *args)
        if state is None:
            return Outcome.QUEUED
        state = state.decode() if isinstance(state, bytes) else state
        return Outcome.DUPLICATE if state == QUEUED else Outcome.IN_PROGRESS


class ClaimThenEnqueue:
    """Dedup + enqueue through any ``enqueue`` callable (another broker, a test double)."""

    def __init__(self, store: DeliveryStore, enqueue: Enqueue) -> None:
        self.store = store
        self.enqueue = enqueue

    async def __call__(self, delivery_id: str, job: dict[str, Any],
                       record: Record | None = None, *, body_sha256: str | None = None) -> Outcome:
        def enqueue(job: dict[str, Any], delivery_id: str) -> None:
            if record is not None:  # we hold the claim: nobody else writes this record now
                self.store.client.set(record[0], record[1], ex=record[2])
            try:
                self.enqueue(job, delivery_id)
            except Exception:
                if record is not None:
                    self.store.client.delete(record[0])
                raise

        return await anyio.to_thread.run_sync(claim_and_enqueue, self.store, delivery_id, job, enqueue,
                                              body_sha256)
