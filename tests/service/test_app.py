"""The webhook app over HTTP (FastAPI TestClient) with the real Redis and the real broker
enqueue: messages land on the ingest queue's list in the test database."""
import base64
import json

import pytest
from fastapi.testclient import TestClient

from bot.service.app import WEBHOOK_PATH, celery_enqueue, create_app
from bot.service.settings import Settings
from bot.service.signature import sign
from tests.service.conftest import SECRET, example
from workers.celery_app import job_target

PUSH = json.dumps(example("push", "with-new-branch.payload.json")).encode()


def headers(body: bytes, event="push", delivery="d0b1f2a0-0000-4000-8000-000000000001",
            secret=SECRET):
    return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sign(secret.encode(), body),
            "Content-Type": "application/json"}


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as c:
        yield c


#: The list ingest jobs are pushed to (the workers' configuration decides which queue).
INGEST_QUEUE = job_target({"kind": "scan_push"})[1]


def broker_messages(redis_db, queue=INGEST_QUEUE):
    return [json.loads(m) for m in redis_db.lrange(queue, 0, -1)]


def metric(client, event, outcome):
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'iacbot_webhook_deliveries_total{{event="{event}",outcome="{outcome}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_bad_signature_401(client, redis_db):
    h = headers(PUSH, secret="another-secret-of-enough-length")
    r = client.post(WEBHOOK_PATH, content=PUSH, headers=h)
    assert r.status_code == 401
    assert broker_messages(redis_db) == []
    assert metric(client, "unverified", "bad_signature") == 1


def test_missing_signature_401(client):
    h = headers(PUSH)
    del h["X-Hub-Signature-256"]
    assert client.post(WEBHOOK_PATH, content=PUSH, headers=h).status_code == 401


def test_malformed_json_400(client, redis_db):
    body = b'{"ref": "refs/heads/master",'
    r = client.post(WEBHOOK_PATH, content=body, headers=headers(body))
    assert r.status_code == 400 and r.json()["status"] == "error"
    assert broker_messages(redis_db) == []


def test_deeply_nested_json_400_names_the_limit(client, redis_db):
    """10k levels (json.loads gave up with RecursionError: a 500) are refused as a bad request."""
    from bot.service.json_body import MAX_JSON_DEPTH
    body = b'{"a":' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    r = client.post(WEBHOOK_PATH, content=body, headers=headers(body))
    assert r.status_code == 400 and f"nested deeper than {MAX_JSON_DEPTH} levels" in r.json()["detail"]
    assert broker_messages(redis_db) == []


def test_oversize_413_by_content_length(client, settings):
    body = b"x" * (settings.max_body_bytes + 1)
    r = client.post(WEBHOOK_PATH, content=body, headers=headers(body))
    assert r.status_code == 413


def test_oversize_413_when_streamed_without_length(client, settings):
    def chunks():
        for _ in range(settings.max_body_bytes // 4096 + 2):
            yield b"x" * 4096

    h = headers(b"")
    r = client.post(WEBHOOK_PATH, content=chunks(), headers=h)
    assert r.status_code == 413


def test_unknown_event_202_ignored(client, redis_db):
    body = json.dumps(example("workflow_run", "completed.payload.json")).encode()
    r = client.post(WEBHOOK_PATH, content=body, headers=headers(body, event="workflow_run"))
    assert r.status_code == 202
    assert r.json()["status"] == "ignored" and "workflow_run" in r.json()["reason"]
    assert broker_messages(redis_db) == []
    assert redis_db.keys("iacbot:delivery:*") == []  # ignored deliveries claim nothing


def test_tag_push_202_ignored(client, redis_db):
    body = json.dumps(example("push", "with-installation.payload.json")).encode()
    r = client.post(WEBHOOK_PATH, content=body, headers=headers(body))
    assert r.status_code == 202 and r.json()["status"] == "ignored"
    assert broker_messages(redis_db) == []


def test_push_queued_once_then_duplicate(client, redis_db, delivery_id):
    h = headers(PUSH, delivery=delivery_id)
    r = client.post(WEBHOOK_PATH, content=PUSH, headers=h)
    assert r.status_code == 202, r.text
    assert r.json() == {"status": "queued", "job": "scan_push", "delivery_id": delivery_id}

    [message] = broker_messages(redis_db)
    assert message["headers"]["task"] == "workers.tasks.ingest_job"
    assert message["headers"]["id"] == delivery_id
    assert message["properties"]["delivery_info"]["routing_key"] == INGEST_QUEUE
    assert message["content-type"] == "application/json"
    args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    [job] = args
    assert job["kind"] == "scan_push" and job["delivery_id"] == delivery_id
    assert job["head_sha"] == "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    assert job["installation_id"] == 1 and job["repository"] == "Codertocat/Hello-World"

    again = client.post(WEBHOOK_PATH, content=PUSH, headers=h)
    assert again.status_code == 202 and again.json()["status"] == "duplicate"
    assert len(broker_messages(redis_db)) == 1
    assert metric(client, "push", "queued") == 1
    assert metric(client, "push", "duplicate") == 1


def test_missing_delivery_id_400(client, redis_db):
    h = headers(PUSH)
    del h["X-GitHub-Delivery"]
    assert client.post(WEBHOOK_PATH, content=PUSH, headers=h).status_code == 400
    h["X-GitHub-Delivery"] = "../../etc"
    assert client.post(WEBHOOK_PATH, content=PUSH, headers=h).status_code == 400
    assert broker_messages(redis_db) == []


def test_enqueue_failure_503_then_redelivery_queues(settings, redis_db, delivery_id):
    calls = []

    def flaky(job, d):
        calls.append(d)
        if len(calls) == 1:
            raise ConnectionError("broker down")

    with TestClient(create_app(settings, enqueue=flaky)) as c:
        h = headers(PUSH, delivery=delivery_id)
        assert c.post(WEBHOOK_PATH, content=PUSH, headers=h).status_code == 503
        r = c.post(WEBHOOK_PATH, content=PUSH, headers=h)
        assert r.status_code == 202 and r.json()["status"] == "queued"
    assert calls == [delivery_id, delivery_id]


def test_unreachable_broker_503_and_claim_released(settings, redis_db, delivery_id):
    """The dedup store answers but the real Celery publisher cannot reach its broker."""
    dead = Settings(webhook_secret=SECRET, redis_url="redis://127.0.0.1:1/15")
    with TestClient(create_app(settings, enqueue=celery_enqueue(dead))) as c:
        r = c.post(WEBHOOK_PATH, content=PUSH, headers=headers(PUSH, delivery=delivery_id))
        assert r.status_code == 503 and r.json()["status"] == "error"
        assert metric(c, "push", "enqueue_failed") == 1
    assert redis_db.exists(f"iacbot:delivery:{delivery_id}") == 0


def test_healthz_and_readyz(client):
    assert client.get("/healthz").status_code == 200
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["redis"] == "ok"


def test_readyz_503_without_redis():
    s = Settings(webhook_secret=SECRET, redis_url="redis://127.0.0.1:1/15")
    with TestClient(create_app(s, enqueue=lambda j, d: None)) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["status"] == "unavailable"
        # and a handled delivery cannot be deduplicated: 503, so GitHub shows it failed
        assert c.post(WEBHOOK_PATH, content=PUSH, headers=headers(PUSH)).status_code == 503


def test_metrics_prometheus_text(client):
    body = json.dumps({"zen": "Design for failure."}).encode()
    client.post(WEBHOOK_PATH, content=body, headers=headers(body, event="ping"))
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert 'iacbot_webhook_deliveries_total{event="ping",outcome="ignored"} 1.0' in r.text


def test_no_secret_in_logs(settings, redis_db, caplog, delivery_id):
    caplog.set_level("DEBUG")
    with TestClient(create_app(settings)) as c:
        c.post(WEBHOOK_PATH, content=PUSH, headers=headers(PUSH, delivery=delivery_id))
        c.post(WEBHOOK_PATH, content=PUSH, headers=headers(PUSH, secret="x" * 20))
    text = caplog.text
    assert delivery_id in text
    assert SECRET not in text and sign(SECRET.encode(), PUSH) not in text


def test_message_is_what_celery_would_publish(redis_db, settings, delivery_id):
    """broker.task_message builds, for the one-script enqueue, the message send_task would LPUSH."""
    from bot.service import broker
    job = {"kind": "scan_push", "delivery_id": delivery_id, "repository": "o/r", "note": "é"}
    celery_enqueue(settings)(job, delivery_id)
    [theirs] = broker_messages(redis_db)
    ours = json.loads(broker.task_message("workers.tasks.ingest_job", INGEST_QUEUE, job, delivery_id,
                                          theirs["headers"]["origin"]))
    for message in (ours, theirs):  # per-publish values
        message["properties"].pop("delivery_tag")
        message["properties"].pop("reply_to")
    assert ours["headers"] == theirs["headers"]
    assert ours["properties"] == theirs["properties"]
    assert json.loads(base64.b64decode(ours["body"])) == json.loads(base64.b64decode(theirs["body"]))
    assert {k: v for k, v in ours.items() if k != "body"} == {k: v for k, v in theirs.items() if k != "body"}


def test_broker_refusal_503_and_no_claim(client, redis_db, delivery_id):
    redis_db.set(INGEST_QUEUE, "not a list")
    r = client.post(WEBHOOK_PATH, content=PUSH, headers=headers(PUSH, delivery=delivery_id))
    assert r.status_code == 503
    assert redis_db.exists(f"iacbot:delivery:{delivery_id}") == 0
    redis_db.delete(INGEST_QUEUE)
    r = client.post(WEBHOOK_PATH, content=PUSH, headers=headers(PUSH, delivery=delivery_id))
    assert r.status_code == 202 and r.json()["status"] == "queued"


def test_one_signed_body_under_fresh_delivery_ids_is_queued_once(client, redis_db):
    """The delivery id is an unsigned header: 20 fresh ids on one signed body are one job (issue 7, 6)."""
    ids = [f"d0b1f2a0-0000-4000-8000-{i:012d}" for i in range(20)]
    answers = [client.post(WEBHOOK_PATH, content=PUSH, headers=headers(PUSH, delivery=d)).json()["status"]
               for d in ids]
    assert answers == ["queued"] + ["duplicate"] * 19
    assert [m["headers"]["id"] for m in broker_messages(redis_db)] == ids[:1]
    # GitHub's own redelivery (the same id, the same body) stays a duplicate as well
    again = client.post(WEBHOOK_PATH, content=PUSH, headers=headers(PUSH, delivery=ids[0]))
    assert again.status_code == 202 and again.json()["status"] == "duplicate"
    other = json.dumps({**json.loads(PUSH), "compare": "another push"}).encode()
    assert client.post(WEBHOOK_PATH, content=other, headers=headers(other, delivery=ids[1])).json()["status"] == "queued"
