"""The receiver knows whether its broker survives a restart (bot.service.durability): it will not
start on a Redis that answers and would lose queued jobs, unless told so explicitly; /readyz says
what it knows; a broker that comes back without persistence gets no job until it is durable."""
from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient

from bot.service.app import WEBHOOK_PATH, create_app
from bot.service.durability import BrokerDurability, BrokerNotDurable, Verdict, judge
from bot.service.settings import Settings
from tests.redis_server import redis_server
from tests.service.conftest import SECRET, TEST_REDIS_URL
from tests.service.test_app import INGEST_QUEUE, PUSH, headers

DURABLE = {"appendonly": "yes", "appendfsync": "everysec", "maxmemory-policy": "noeviction"}


@pytest.mark.parametrize("change, verdict", [
    ({}, Verdict.DURABLE),
    ({"appendfsync": "always"}, Verdict.DURABLE),
    ({"appendonly": "no"}, Verdict.NO_AOF),
    ({"appendfsync": "no"}, Verdict.LAZY_FSYNC),
    ({"maxmemory-policy": "allkeys-lru"}, Verdict.EVICTS),
    ({"maxmemory-policy": "volatile-ttl"}, Verdict.EVICTS),
])
def test_judge(change, verdict):
    assert judge({**DURABLE, **change}) is verdict


def settings_for(url: str, mode: str, **more) -> Settings:
    return Settings(webhook_secret=SECRET, redis_url=url, broker_durability=mode, **more)


def test_a_volatile_redis_stops_startup_unless_allowed_explicitly(redis_db):
    """The machine's Redis runs without persistence: by default the receiver refuses it, naming why."""
    with pytest.raises(BrokerNotDurable) as refused:
        create_app(settings_for(TEST_REDIS_URL, "check"))
    assert refused.value.verdict is Verdict.NO_AOF
    assert "appendonly is off" in str(refused.value) and "IACBOT_BROKER_DURABILITY" in str(refused.value)
    assert Settings.model_fields["broker_durability"].default is BrokerDurability.CHECK  # the default
    with TestClient(create_app(settings_for(TEST_REDIS_URL, "volatile-allowed"))) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["broker"] == "volatile-allowed"


def test_the_deployed_config_is_durable_and_a_lapse_is_noticed(tmp_path):
    with redis_server(tmp_path / "redis") as server:
        spool = tmp_path / "spool"
        app = create_app(settings_for(server.url, "check", spool_dir=str(spool)))
        with TestClient(app) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200 and ready.json() == {"status": "ready", "redis": "ok",
                                                                 "broker": "durable"}
            server.client().config_set("appendonly", "no")  # someone turned persistence off
            ready = client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["broker"] == "appendonly-off"
            answer = client.post(WEBHOOK_PATH, content=PUSH, headers=headers(PUSH))
            assert answer.status_code == 202 and answer.json()["status"] == "spooled", answer.text
            assert server.client().llen(INGEST_QUEUE) == 0  # not onto a broker that would lose it
            server.client().config_set("appendonly", "yes")
            assert asyncio.run(app.state.submit.drain_once()) == 1
            assert server.client().llen(INGEST_QUEUE) == 1 and list(spool.glob("*.json")) == []


def test_a_managed_redis_without_config_can_be_declared_durable(tmp_path):
    with redis_server(tmp_path / "redis", "--rename-command", "CONFIG", "") as server:
        with pytest.raises(BrokerNotDurable) as refused:
            create_app(settings_for(server.url, "check"))
        assert refused.value.verdict is Verdict.CONFIG_REFUSED and "declared" in str(refused.value)
        with TestClient(create_app(settings_for(server.url, "declared"))) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200 and ready.json()["broker"] == "declared"
            answer = client.post(WEBHOOK_PATH, content=PUSH, headers=headers(PUSH))
            assert answer.status_code == 202 and answer.json()["status"] == "queued"
        assert server.client().llen(INGEST_QUEUE) == 1


def test_an_unknown_durability_setting_is_refused_by_name():
    with pytest.raises(ValueError, match="broker_durability"):
        settings_for(TEST_REDIS_URL, "maybe")
