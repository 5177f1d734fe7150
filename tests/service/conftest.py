"""Service tests run against the real Redis server, in a dedicated database (15 by default).

Every fixture that uses it empties that database first: nothing else may live there.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
import redis

from bot.service.settings import Settings
from tests.github_double.webhooks import EXAMPLES
TEST_REDIS_URL = os.environ.get("IACBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SECRET = "test-webhook-secret-0123456789"


def example(event: str, name: str) -> dict:
    return json.loads((EXAMPLES / event / name).read_text())


def all_examples() -> list[tuple[str, Path]]:
    return sorted((p.parent.name, p) for p in EXAMPLES.glob("*/*.json"))


@pytest.fixture
def redis_db() -> redis.Redis:
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"no Redis at {TEST_REDIS_URL}: the service tests need a real server")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def settings(redis_db) -> Settings:
    return Settings(webhook_secret=SECRET, redis_url=TEST_REDIS_URL, max_body_bytes=64 * 1024)


@pytest.fixture
def delivery_id() -> str:
    return str(uuid.uuid4())
