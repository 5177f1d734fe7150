"""The tasks' Redis client (scanner/iacbot_scanner/redis_clients.py, used by workers/runtime.py,
the delivery guard and the scan worker) on a private Redis from deploy/redis.conf: it outlives a
restart, and a command sent while Redis is down waits for it to come back instead of failing."""
from __future__ import annotations

import threading

from scanner.iacbot_scanner.redis_clients import task_redis
from tests.redis_server import redis_server
from workers.runtime import redis_client


def test_a_task_client_rides_out_a_redis_restart(tmp_path):
    with redis_server(tmp_path / "redis") as server:
        client = redis_client(server.url)
        assert client is task_redis(server.url)  # one client per URL and process, in both environments
        client.set("k", "v")
        server.shutdown_nosave()  # the AOF holds "k"; the pooled connection is now closed
        server.start()
        assert client.get("k") == b"v"  # the closed connection is found and opened again

        server.kill()
        answers: list = []
        sending = threading.Event()

        def read() -> None:
            sending.set()
            try:
                answers.append(client.get("k"))
            except Exception as exc:  # noqa: BLE001  (the test reports what it got)
                answers.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        sending.wait(10)
        server.start()  # while the command is being refused
        reader.join(30)
        assert answers == [b"v"], "a command sent while Redis was down failed instead of waiting for it"
