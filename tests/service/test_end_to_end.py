"""End to end: signed delivery -> app -> Redis broker -> a REAL Celery worker -> ingest_job.

The worker is `celery -A workers.celery_app worker -Q scan --pool solo` from this venv, on the
Redis test database; it is killed (its own process group) when the test ends.
"""
import json
import os

import pytest
from fastapi.testclient import TestClient

from bot.service.app import WEBHOOK_PATH, create_app
from tests.celery_worker import celery_worker, wait_for
from tests.service.conftest import TEST_REDIS_URL
from tests.service.test_app import PUSH, headers

STREAM = "iacbot:jobs:Codertocat/Hello-World"


@pytest.fixture
def worker(redis_db, tmp_path):
    log = tmp_path / "worker.log"
    env = {**os.environ, "IACBOT_REDIS_URL": TEST_REDIS_URL}
    env.pop("IACBOT_WEBHOOK_SECRET", None)  # a worker needs no webhook secret
    with celery_worker("scan", env, log, "e2e", start_timeout=25) as proc:
        yield proc, log


def test_signed_delivery_is_ingested_exactly_once(worker, redis_db, settings, delivery_id):
    proc, log = worker
    with TestClient(create_app(settings)) as client:
        h = headers(PUSH, delivery=delivery_id)
        first = client.post(WEBHOOK_PATH, content=PUSH, headers=h)
        second = client.post(WEBHOOK_PATH, content=PUSH, headers=h)
    assert first.status_code == 202 and first.json()["status"] == "queued"
    assert second.status_code == 202 and second.json()["status"] == "duplicate"

    entries = wait_for(lambda: redis_db.xrange(STREAM), 15, "the job in Redis", log)
    # Also bypass the web dedup: the same delivery published again straight to the broker
    # (as a second web replica racing the first might) is recorded once by the worker.
    from bot.service.settings import CommonSettings
    from workers.celery_app import make_celery
    make_celery(CommonSettings(redis_url=TEST_REDIS_URL)).send_task(
        "workers.tasks.ingest_job", args=[json.loads(entries[0][1][b"job"])], queue="scan",
        task_id=delivery_id, ignore_result=True)
    wait_for(lambda: redis_db.llen("scan") == 0 and log.read_text().count("already recorded"),
             15, "the worker to take the republished job", log)

    entries = redis_db.xrange(STREAM)
    assert len(entries) == 1
    job = json.loads(entries[0][1][b"job"])
    assert job["delivery_id"] == delivery_id and job["kind"] == "scan_push"
    assert job["head_sha"] == "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    assert proc.poll() is None
