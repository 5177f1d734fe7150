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
