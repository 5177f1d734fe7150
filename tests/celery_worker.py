"""A REAL Celery worker for end-to-end tests: started from this venv, killed with its process group."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.paths import REPO

CELERY = Path(sys.executable).with_name("celery")


def wait_for(predicate, timeout: float, what: str, log: Path | None = None, interval: float = 0.05):
    """Poll until `predicate()` is truthy and return it; fail the test with the log's tail otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    tail = log.read_text()[-4000:] if log and log.exists() else ""
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n{tail}")


@contextlib.contextmanager
def celery_worker(queues: str, env: dict[str, str], log: Path, name: str,
                  start_timeout: float = 30) -> Iterator[subprocess.Popen]:
    """`celery -A workers.celery_app worker -Q <queues> --pool solo`, ready before this yields."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(CELERY), "-A", "workers.celery_app", "worker", "-Q", queues, "--pool", "solo",
             "--loglevel", "INFO", "--without-mingle", "--without-gossip", "--without-heartbeat",
             "--hostname", f"{name}-{os.getpid()}@%h"],
            cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        wait_for(lambda: proc.poll() is not None or b" ready." in log.read_bytes(), start_timeout,
                 "the Celery worker to start", log)
        assert proc.poll() is None, log.read_text()[-3000:]
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
