"""scripts/ensure-redis starts a Redis with the deployment's persistence (deploy/redis.conf) when
none answers, with its data in the state directory, and leaves one that answers alone."""
from __future__ import annotations

import os
import subprocess

import redis

from tests.paths import REPO
from tests.redis_server import free_port


def test_ensure_redis_starts_a_persistent_redis_in_the_state_directory(tmp_path):
    port, state = free_port(), tmp_path / "state"
    env = {**os.environ, "IACBOT_REDIS_PORT": str(port), "IACBOT_REDIS_STATE_DIR": str(state)}
    subprocess.run([str(REPO / "scripts" / "ensure-redis")], env=env, check=True, timeout=30)
    client = redis.Redis(port=port, socket_timeout=5)
    try:
        config = {k: client.config_get(k)[k] for k in ("appendonly", "appendfsync", "maxmemory-policy", "dir")}
        assert config == {"appendonly": "yes", "appendfsync": "everysec", "maxmemory-policy": "noeviction",
                          "dir": str(state)}
        client.set("kept", "1")
        pid = client.info("server")["process_id"]
        subprocess.run([str(REPO / "scripts" / "ensure-redis")], env=env, check=True, timeout=30)
        assert client.info("server")["process_id"] == pid  # one that answers is left alone
    finally:
        try:
            client.shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # the server closes the connection as it exits
    assert (state / "appendonlydir").is_dir()
