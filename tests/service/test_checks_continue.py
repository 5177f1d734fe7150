"""Finished checks go on to a fresh merge decision: signed check_suite, check_run and status
deliveries -> the app -> Redis -> a REAL Celery worker running ingest_job with a GitHub App id ->
MERGE_TASK on the publish queue, once per delivery id (task id ``<delivery>:merge``), carrying the
checks_completed job with its delivery id. Nothing serves the publish queue here: what ingest sent
is read off the broker. (tests/service/test_end_to_end.py: without an App, nothing is sent.)
"""
from __future__ import annotations

import base64
import json
import os

import pytest
from fastapi.testclient import TestClient

import jobs
from bot.service.app import WEBHOOK_PATH, create_app
from bot.service.settings import CommonSettings
from tests.celery_worker import celery_worker, wait_for
from tests.service.conftest import TEST_REDIS_URL, example
from tests.service.test_app import headers
from workers.celery_app import INGEST_QUEUE, INGEST_TASK, MERGE_TASK, PUBLISH_QUEUE, make_celery


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    log = tmp_path_factory.mktemp("checks") / "worker.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACBOT_")}
    env.update(IACBOT_REDIS_URL=TEST_REDIS_URL, IACBOT_GITHUB_APP_ID="12345",
               IACBOT_BROKER_DURABILITY="volatile-allowed")
    with celery_worker(INGEST_QUEUE, env, log, "checks", start_timeout=25) as proc:
        yield proc, log


def _merge_messages(redis_db) -> list[dict]:
    return [json.loads(raw) for raw in redis_db.lrange(PUBLISH_QUEUE, 0, -1)]


@pytest.mark.parametrize("event, name", [("status", "with-installation.payload.json"),
                                         ("check_suite", "completed.payload.json"),
                                         ("check_run", "completed.with-organization.payload.json")])
def test_a_finished_check_or_status_asks_for_a_merge_decision(worker, redis_db, settings, delivery_id, event, name):
    proc, log = worker
    payload = example(event, name)
    payload.setdefault("installation", {"id": 42})
    body = json.dumps(payload).encode()
    with TestClient(create_app(settings)) as client:
        answer = client.post(WEBHOOK_PATH, content=body, headers=headers(body, event=event, delivery=delivery_id))
    assert answer.status_code == 202 and answer.json()["status"] == "queued", answer.json()
    [message] = wait_for(lambda: _merge_messages(redis_db), 15, "ingest to send the merge decision", log)
    assert message["headers"]["task"] == MERGE_TASK and message["headers"]["id"] == f"{delivery_id}:merge"
    assert message["properties"]["delivery_info"]["routing_key"] == PUBLISH_QUEUE
    [job] = json.loads(base64.b64decode(message["body"]))[0]
    typed = jobs.from_message(job)
    assert isinstance(typed, jobs.ChecksCompleted) and typed.event == event and typed.delivery_id == delivery_id
    assert typed.repository == payload["repository"]["full_name"]
    assert typed.head_sha == (payload["sha"] if event == "status" else payload[event]["head_sha"])
    assert typed.installation_id == payload["installation"]["id"]
    assert proc.poll() is None


def test_a_redelivered_ingest_sends_the_same_merge_task_id(worker, redis_db, delivery_id):
    proc, log = worker
    job = {"kind": "checks_completed", "event": "check_suite", "installation_id": 42, "repository": "o/r",
           "head_sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "pull_request_numbers": [2]}
    celery = make_celery(CommonSettings(redis_url=TEST_REDIS_URL))
    for _ in range(2):
        celery.send_task(INGEST_TASK, args=[job], queue=INGEST_QUEUE, task_id=delivery_id, ignore_result=True)
    messages = wait_for(lambda: len(_merge_messages(redis_db)) == 2 and _merge_messages(redis_db), 15,
                        "both runs to send", log)
    assert {m["headers"]["id"] for m in messages} == {f"{delivery_id}:merge"}
    assert redis_db.xlen("iacbot:jobs:o/r") == 1


def test_a_hostile_checks_job_is_refused_and_sends_nothing(worker, redis_db, delivery_id):
    proc, log = worker
    job = {"kind": "checks_completed", "event": "status", "installation_id": 42, "repository": "o/r",
           "head_sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "pull_request_numbers": list(range(100_000))}
    make_celery(CommonSettings(redis_url=TEST_REDIS_URL)).send_task(INGEST_TASK, args=[job], queue=INGEST_QUEUE,
                                                                    task_id=delivery_id, ignore_result=True)
    wait_for(lambda: "field 'pull_request_numbers' has 100000 items, more than 50" in log.read_text(), 15,
             "ingest to refuse the job", log)
    assert _merge_messages(redis_db) == [] and redis_db.keys("iacbot:jobs:*") == []
    assert proc.poll() is None
