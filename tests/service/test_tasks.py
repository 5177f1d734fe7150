"""ingest_job run in-process (eagerly) against the real Redis test database."""
import json

import pytest

from bot.service.settings import CommonSettings
from tests.service.conftest import TEST_REDIS_URL
from workers import tasks
from workers.celery_app import (
    FETCH_TASK,
    INGEST_QUEUE,
    PR_CLOSED_TASK,
    PUBLISH_TASK,
    QUEUES,
    REMEDIATE_TASK,
    SCAN_TASK,
    TASK_ROUTES,
    app,
    job_target,
    make_celery,
)

JOB = {"kind": "scan_push", "installation_id": 1, "repository": "Codertocat/Hello-World",
       "head_sha": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "changed_files": ["main.tf"],
       "files_complete": True, "delivery_id": "d-1", "repository_id": None, "ref": "refs/heads/main",
       "before": None}


@pytest.fixture
def worker_conf(redis_db, monkeypatch):
    monkeypatch.setitem(app.conf, "iacbot_redis_url", TEST_REDIS_URL)
    return redis_db


def test_celery_configuration():
    c = make_celery(CommonSettings(redis_url=TEST_REDIS_URL))
    assert c.conf.broker_url == c.conf.result_backend == TEST_REDIS_URL
    assert [q.name for q in c.conf.task_queues] == list(QUEUES) == ["scan", "remediate", "publish"]
    assert c.conf.task_routes == TASK_ROUTES
    assert c.conf.task_acks_late is True and c.conf.task_reject_on_worker_lost is True
    assert c.conf.worker_prefetch_multiplier == 1
    assert c.conf.accept_content == ["json"] and c.conf.task_serializer == "json"
    assert c.amqp.router.route({}, "workers.tasks.ingest_job")["queue"].name == INGEST_QUEUE == "remediate"
    # One identity per queue: only checkov's environment serves scan; only publish writes.
    assert c.amqp.router.route({}, SCAN_TASK)["queue"].name == "scan"
    assert c.amqp.router.route({}, FETCH_TASK)["queue"].name == "remediate"
    assert c.amqp.router.route({}, REMEDIATE_TASK)["queue"].name == "remediate"
    assert c.amqp.router.route({}, PUBLISH_TASK)["queue"].name == "publish"
    assert c.amqp.router.route({}, PR_CLOSED_TASK)["queue"].name == "publish"
    assert job_target({"kind": "findings_submitted"}) == ("workers.tasks.ingest_job", "remediate")
    assert c.amqp.router.route({}, "workers.tasks.publish_pr")["queue"].name == "publish"
    assert c.amqp.router.route({}, "workers.tasks.remediate_finding")["queue"].name == "remediate"


def test_ingest_records_once_per_delivery(worker_conf):
    first = tasks.ingest_job.apply(args=[JOB], task_id="d-1").get()
    second = tasks.ingest_job.apply(args=[JOB], task_id="d-1").get()
    assert first["recorded"] is True and second["recorded"] is False
    assert first["entry_id"] == second["entry_id"]
    entries = worker_conf.xrange("iacbot:jobs:Codertocat/Hello-World")
    assert len(entries) == 1
    _, fields = entries[0]
    assert fields[b"delivery_id"] == b"d-1" and fields[b"kind"] == b"scan_push"
    assert json.loads(fields[b"job"]) == JOB
    assert worker_conf.ttl("iacbot:ingested:d-1") > 0


def test_installation_jobs_go_to_installation_stream(worker_conf):
    job = {"kind": "installation_changed", "installation_id": 957387, "delivery_id": "d-2"}
    result = tasks.ingest_job.apply(args=[job]).get()
    assert result["stream"] == "iacbot:jobs:installation:957387"
    assert worker_conf.xlen("iacbot:jobs:installation:957387") == 1


@pytest.mark.parametrize("job", [None, {}, {"kind": "nope"}, {"kind": "scan_push"}])
def test_ingest_rejects_bad_jobs(worker_conf, job):
    with pytest.raises(ValueError):
        tasks.ingest_job.apply(args=[job], throw=True).get()
    assert worker_conf.keys("iacbot:jobs:*") == []
