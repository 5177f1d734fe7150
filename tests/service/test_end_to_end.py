"""End to end: signed delivery -> app -> Redis broker -> a REAL Celery worker -> ingest_job.

The worker is `celery -A workers.celery_app worker -Q remediate --pool solo` from this venv (the
ingest queue), on the Redis test database, without a GitHub App; it is killed (its own process
group) when the module ends. Nothing serves the publish queue, so what ingest sends there stays
on the broker to be read.
"""
import base64
import json
import os

import pytest
from fastapi.testclient import TestClient

from bot.service.app import WEBHOOK_PATH, create_app
from bot.service.settings import CommonSettings
from tests.celery_worker import celery_worker, wait_for
from jobs.kinds import PullRequestClosed
from tests.service.conftest import TEST_REDIS_URL, example
from tests.service.test_app import PUSH, headers
from workers.celery_app import INGEST_QUEUE, INGEST_TASK, PR_CLOSED_TASK, PUBLISH_QUEUE, make_celery

STREAM = "iacbot:jobs:Codertocat/Hello-World"


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    log = tmp_path_factory.mktemp("e2e") / "worker.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACBOT_")}
    env["IACBOT_REDIS_URL"] = TEST_REDIS_URL  # no webhook secret, no App: ingest records only
    with celery_worker(INGEST_QUEUE, env, log, "e2e", start_timeout=25) as proc:
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
    make_celery(CommonSettings(redis_url=TEST_REDIS_URL)).send_task(
        INGEST_TASK, args=[json.loads(entries[0][1][b"job"])], queue=INGEST_QUEUE,
        task_id=delivery_id, ignore_result=True)
    wait_for(lambda: redis_db.llen(INGEST_QUEUE) == 0 and log.read_text().count(f"delivery {delivery_id}: job "
                                                                               "scan_push already recorded"),
             15, "the worker to take the republished job", log)

    entries = redis_db.xrange(STREAM)
    assert len(entries) == 1
    job = json.loads(entries[0][1][b"job"])
    assert job["delivery_id"] == delivery_id and job["kind"] == "scan_push"
    assert job["head_sha"] == "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    assert proc.poll() is None
    assert f"delivery {delivery_id}: recorded only: IACBOT_GITHUB_APP_ID is not set" in log.read_text()


def test_closed_pull_request_goes_on_to_the_publish_queue(worker, redis_db, delivery_id):
    proc, log = worker
    job = {"kind": "pull_request_closed", "installation_id": 1, "repository": "Codertocat/Hello-World",
           "repository_id": 186853002, "number": 7, "merged": False, "head_ref": "iacbot/x-0123456789abcdef",
           "head_sha": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "base_ref": "main", "iacbot_branch": True,
           "delivery_id": delivery_id}
    celery = make_celery(CommonSettings(redis_url=TEST_REDIS_URL))
    for _ in range(2):  # a redelivered ingest sends it again, under the same task id
        celery.send_task(INGEST_TASK, args=[job], queue=INGEST_QUEUE, task_id=delivery_id, ignore_result=True)
    messages = wait_for(lambda: redis_db.llen(PUBLISH_QUEUE) == 2 and redis_db.lrange(PUBLISH_QUEUE, 0, -1), 15,
                        "ingest to send record_pr_closed", log)
    for raw in messages:
        message = json.loads(raw)
        assert message["headers"]["task"] == PR_CLOSED_TASK
        assert message["headers"]["id"] == f"{delivery_id}:pr-closed"
        # The job as its kind reads it: every field it came with, the ones it lacked at their defaults.
        sent = json.loads(base64.b64decode(message["body"]))[0]
        assert sent == [PullRequestClosed.from_message(job).to_message()]
        assert {k: sent[0][k] for k in job} == job
    assert redis_db.xlen(STREAM) == 1
    assert proc.poll() is None


def test_without_an_app_finished_checks_are_recorded_and_no_merge_is_considered(worker, redis_db, settings,
                                                                                delivery_id):
    proc, log = worker
    payload = example("status", "with-installation.payload.json")
    body = json.dumps(payload).encode()
    with TestClient(create_app(settings)) as client:
        answer = client.post(WEBHOOK_PATH, content=body, headers=headers(body, event="status", delivery=delivery_id))
    assert answer.status_code == 202 and answer.json()["status"] == "queued", answer.json()
    stream = "iacbot:jobs:" + payload["repository"]["full_name"]
    wait_for(lambda: f"delivery {delivery_id}: recorded only: IACBOT_GITHUB_APP_ID is not set, so no merge "
                     "decision follows" in log.read_text(), 15, "ingest to record the status", log)
    [(_, fields)] = redis_db.xrange(stream)
    assert fields[b"kind"] == b"checks_completed" and json.loads(fields[b"job"])["event"] == "status"
    assert redis_db.llen(PUBLISH_QUEUE) == 0
    assert proc.poll() is None
