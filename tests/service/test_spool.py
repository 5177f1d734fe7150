"""A 503 is not the only record of a delivery: when the broker cannot take it, the receiver keeps it
in its spool (bot.service.spool) and answers 202 spooled; the drainer enqueues it when the broker is
back, with the dedup of a live request; the spool is capped (then 503)."""
from __future__ import annotations

import asyncio
import json

from fastapi.testclient import TestClient

from bot.service.app import WEBHOOK_PATH, create_app
from bot.service.settings import Settings
from bot.service.spool import Spool, Spooled
from tests.celery_worker import wait_for
from tests.redis_server import redis_server
from tests.service.conftest import SECRET
from tests.service.test_app import INGEST_QUEUE, PUSH, headers

OTHER_PUSH = json.dumps({**json.loads(PUSH), "compare": "another push's compare URL"}).encode()


def app_on(server, spool_dir, **more):
    return create_app(Settings(webhook_secret=SECRET, redis_url=server.url, broker_durability="check",
                               spool_dir=str(spool_dir), **more))


def post(client, body, delivery):
    answer = client.post(WEBHOOK_PATH, content=body, headers=headers(body, delivery=delivery))
    return answer.status_code, answer.json()["status"]


def delivery_ids(server):
    return sorted(json.loads(m)["headers"]["id"] for m in server.client().lrange(INGEST_QUEUE, 0, -1))


def test_deliveries_while_redis_is_down_are_spooled_then_enqueued_once(tmp_path):
    spool = tmp_path / "spool"
    with redis_server(tmp_path / "redis") as server:
        app = app_on(server, spool)
        with TestClient(app) as client:
            assert post(client, PUSH, "before-outage") == (202, "queued")
            server.shutdown_nosave()
            assert post(client, PUSH, "before-outage") == (202, "spooled")  # cannot know: kept
            assert post(client, OTHER_PUSH, "during-1") == (202, "spooled")
            assert post(client, OTHER_PUSH, "during-1") == (202, "duplicate")  # spooled already
            assert post(client, OTHER_PUSH, "during-2") == (202, "spooled")   # same body, new id
            assert sorted(p.name for p in spool.glob("*.json")) == [
                "before-outage.json", "during-1.json", "during-2.json"]
            server.start()  # the same data directory: the AOF brings back the queue and the claims
            # the receiver's own drainer (lifespan) moves them on
            wait_for(lambda: not list(spool.glob("*.json")), 30, "the spool to drain")
            assert delivery_ids(server) == ["before-outage", "during-1"]  # each body once
            assert post(client, OTHER_PUSH, "during-2") == (202, "duplicate")
            assert post(client, PUSH, "before-outage") == (202, "duplicate")


def test_the_spool_is_capped_then_503(tmp_path):
    with redis_server(tmp_path / "redis") as server:
        client = TestClient(app_on(server, tmp_path / "spool", spool_max_entries=1))
        server.kill()
        assert post(client, PUSH, "first") == (202, "spooled")
        answer = client.post(WEBHOOK_PATH, content=OTHER_PUSH, headers=headers(OTHER_PUSH, delivery="second"))
        assert answer.status_code == 503 and "GitHub does not" not in answer.text
        assert answer.json()["detail"] == "could not enqueue or spool the job; send it again later"


def test_bytes_cap_and_unreadable_entries(tmp_path):
    spool = Spool(tmp_path / "spool", max_bytes=400, max_entries=100)
    item = Spooled("d-1", {"kind": "scan_push", "repository": "o/r"}, None, "ab" * 32)
    assert spool.put(item) and not spool.put(item)
    assert Spool(tmp_path / "spool", 400, 100).read(spool.pending()[0]) == item
    big = Spooled("d-2", {"kind": "scan_push", "note": "x" * 400}, None, None)
    try:
        spool.put(big)
        raise AssertionError("over the byte cap")
    except Exception as exc:  # noqa: BLE001
        assert type(exc).__name__ == "SpoolFull" and "caps 100, 400" in str(exc)
    (tmp_path / "spool" / "d-3.json").write_text("{not json")
    assert [spool.read(p) for p in spool.pending()] == [item, None]
    assert (tmp_path / "spool" / "d-3.json.unreadable").exists()  # set aside, not retried forever
    assert [p.name for p in spool.pending()] == ["d-1.json"]


def test_a_spooled_findings_submission_keeps_its_record(tmp_path):
    """The findings API's submission travels with its job through the spool."""
    with redis_server(tmp_path / "redis") as server:
        app = app_on(server, tmp_path / "spool")
        submit = app.state.submit
        server.kill()
        record = ("iacbot:submission:sub-1", '{"findings": []}', 600)
        assert asyncio.run(submit("sub-1", {"kind": "findings_submitted", "delivery_id": "sub-1",
                                            "repository": "o/r"}, record)).value == "spooled"
        server.start()
        assert asyncio.run(submit.drain_once()) == 1
        assert server.client().get(record[0]) == b'{"findings": []}'
        assert delivery_ids(server) == ["sub-1"]
