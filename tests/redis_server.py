"""A Redis server of the tests' own, from deploy/redis.conf (the deployment's persistence) on a free
port with its data in a temporary directory: restarted, shut down or killed as a test needs."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import redis

from tests.paths import REPO

CONFIG = REPO / "deploy" / "redis.conf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, directory: Path, *extra: str) -> None:
        self.directory = directory
        self.port = free_port()
        self.extra = extra
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5, socket_connect_timeout=1)

    def start(self) -> "RedisServer":
        self.directory.mkdir(parents=True, exist_ok=True)
        log = (self.directory / "redis.log").open("ab")
        self.proc = subprocess.Popen(["redis-server", str(CONFIG), "--dir", str(self.directory),
                                      "--port", str(self.port), *self.extra],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # answers once the AOF is loaded
            with contextlib.suppress(redis.RedisError):
                if self.client().ping():
                    return self
            assert self.proc.poll() is None, (self.directory / "redis.log").read_text()[-2000:]
            time.sleep(0.05)
        raise AssertionError("redis-server did not answer")

    def shutdown_nosave(self) -> None:
        with contextlib.suppress(redis.ConnectionError):
            self.client().shutdown(nosave=True)
        self.proc.wait(timeout=20)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


@contextlib.contextmanager
def redis_server(directory: Path, *extra: str) -> Iterator[RedisServer]:
    server = RedisServer(directory, *extra).start()
    try:
        yield server
    finally:
        server.stop()
