"""Delivery dedup against the real Redis: claim, enqueue, confirm or release."""
import pytest

from bot.service.deliveries import KEY_PREFIX, DeliveryStore, Outcome, claim_and_enqueue


@pytest.fixture
def store(redis_db):
    return DeliveryStore(redis_db, ttl_seconds=3600, pending_ttl_seconds=30)


def test_queued_then_duplicate(store, redis_db, delivery_id):
    sent = []
    enqueue = lambda job, d: sent.append((job, d))  # noqa: E731
    assert claim_and_enqueue(store, delivery_id, {"kind": "x"}, enqueue) is Outcome.QUEUED
    assert claim_and_enqueue(store, delivery_id, {"kind": "x"}, enqueue) is Outcome.DUPLICATE
    assert sent == [({"kind": "x"}, delivery_id)]
    assert redis_db.get(KEY_PREFIX + delivery_id) == b"queued"
    assert 3500 < redis_db.ttl(KEY_PREFIX + delivery_id) <= 3600


def test_failed_enqueue_releases_claim_so_redelivery_succeeds(store, redis_db, delivery_id):
    def broken(job, d):
        raise ConnectionError("broker down")

    assert claim_and_enqueue(store, delivery_id, {}, broken) is Outcome.ENQUEUE_FAILED
    assert redis_db.exists(KEY_PREFIX + delivery_id) == 0
    sent = []
    assert claim_and_enqueue(store, delivery_id, {}, lambda j, d: sent.append(d)) is Outcome.QUEUED
    assert sent == [delivery_id]


def test_claim_is_taken_before_enqueue_and_short_lived(store, redis_db, delivery_id):
    seen = {}

    def enqueue(job, d):
        seen["state"] = store.state(d)
        seen["ttl"] = redis_db.ttl(KEY_PREFIX + d)
        # a concurrent redelivery while we hold the claim is told to come back
        seen["concurrent"] = claim_and_enqueue(store, d, job, lambda *a: None)

    assert claim_and_enqueue(store, delivery_id, {}, enqueue) is Outcome.QUEUED
    assert seen["state"].startswith("pending:") and 0 < seen["ttl"] <= 30
    assert seen["concurrent"] is Outcome.IN_PROGRESS


def test_release_only_removes_own_claim(store, delivery_id):
    token = store.claim(delivery_id)
    assert store.claim(delivery_id) is None
    assert not store.release(delivery_id, "pending:someone-else")
    assert store.release(delivery_id, token)
    assert store.state(delivery_id) is None


# --- the deployed path: claim, record and LPUSH in one script (AtomicEnqueue) ---------------

def atomic(coroutine_factory):
    """Run one AtomicEnqueue call with a client made inside the loop (asyncio connections are per loop)."""
    import asyncio

    import redis.asyncio

    from bot.service.deliveries import AtomicEnqueue
    from tests.service.conftest import TEST_REDIS_URL

    async def run():
        client = redis.asyncio.Redis.from_url(TEST_REDIS_URL)
        try:
            submit = AtomicEnqueue(lambda: client, 3600, lambda job, d: ("jobs", f"message {d}"))
            return await coroutine_factory(submit)
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_atomic_queued_then_duplicate_with_record(redis_db, delivery_id):
    record = ("iacbot:submission:s1", '{"findings": []}', 600)
    first = atomic(lambda submit: submit(delivery_id, {}, record))
    second = atomic(lambda submit: submit(delivery_id, {}, ("iacbot:submission:s1", "CHANGED", 600)))
    assert (first, second) == (Outcome.QUEUED, Outcome.DUPLICATE)
    assert redis_db.lrange("jobs", 0, -1) == [f"message {delivery_id}".encode()]
    assert redis_db.get("iacbot:submission:s1") == b'{"findings": []}'  # a duplicate writes nothing
    assert 500 < redis_db.ttl("iacbot:submission:s1") <= 600
    assert redis_db.get(KEY_PREFIX + delivery_id) == b"queued"
    assert 3500 < redis_db.ttl(KEY_PREFIX + delivery_id) <= 3600


def test_atomic_sees_a_pending_claim_as_in_progress(store, redis_db, delivery_id):
    store.claim(delivery_id)  # another replica on the claim -> enqueue -> confirm path
    assert atomic(lambda submit: submit(delivery_id, {})) is Outcome.IN_PROGRESS
    assert redis_db.llen("jobs") == 0


def test_atomic_refused_push_leaves_nothing(redis_db, delivery_id):
    import redis as redis_lib
    redis_db.set("jobs", "not a list")
    with pytest.raises(redis_lib.ResponseError):
        atomic(lambda submit: submit(delivery_id, {}, ("iacbot:submission:s2", "x", 60)))
    assert redis_db.exists(KEY_PREFIX + delivery_id, "iacbot:submission:s2") == 0


# --- the signed body is claimed too: a fresh id on the same body is a duplicate ---------------

def test_atomic_same_signed_body_under_a_fresh_id_is_a_duplicate(redis_db):
    from bot.service.deliveries import BODY_KEY_PREFIX
    digest = "ab" * 32
    answers = [atomic(lambda submit, d=d: submit(d, {}, body_sha256=digest)) for d in ("id-1", "id-2", "id-1")]
    assert answers == [Outcome.QUEUED, Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert redis_db.lrange("jobs", 0, -1) == [b"message id-1"]  # one job, the first id's
    assert redis_db.get(BODY_KEY_PREFIX + digest) == b"id-1"
    assert 3500 < redis_db.ttl(BODY_KEY_PREFIX + digest) <= 3600
    assert redis_db.exists(KEY_PREFIX + "id-2") == 0  # the fresh id claims nothing
    other = atomic(lambda submit: submit("id-3", {}, body_sha256="cd" * 32))
    assert other is Outcome.QUEUED and redis_db.llen("jobs") == 2


def test_same_signed_body_under_a_fresh_id_is_a_duplicate_on_the_claim_path(store, redis_db):
    sent = []
    enqueue = lambda job, d: sent.append(d)  # noqa: E731
    digest = "ef" * 32
    assert claim_and_enqueue(store, "id-1", {}, enqueue, digest) is Outcome.QUEUED
    assert claim_and_enqueue(store, "id-2", {}, enqueue, digest) is Outcome.DUPLICATE
    assert sent == ["id-1"] and store.state("id-2") is None


def test_failed_enqueue_releases_the_body_claim_too(store, redis_db):
    def broken(job, d):
        raise ConnectionError("broker down")

    digest = "01" * 32
    assert claim_and_enqueue(store, "id-1", {}, broken, digest) is Outcome.ENQUEUE_FAILED
    sent = []
    assert claim_and_enqueue(store, "id-2", {}, lambda j, d: sent.append(d), digest) is Outcome.QUEUED
    assert sent == ["id-2"]
