"""A REAL Celery worker for end-to-end tests, killed with its process group: the main app
(workers.celery_app) from this venv, or the scan queue's app (iacbot_scanner.worker) from
.venv-scanner (``venv=SCANNER_VENV``)."""
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

from tests import signing
from tests.paths import REPO

CELERY = Path(sys.executable).with_name("celery")
SCANNER_VENV = REPO / ".venv-scanner"


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
                  start_timeout: float = 30, *, venv: Path | None = None) -> Iterator[subprocess.Popen]:
    """`celery -A workers.celery_app worker -Q <queues> --pool solo`, ready before this yields.

    With ``venv=SCANNER_VENV``: `celery -A iacbot_scanner.worker ...` from that environment, with
    only scanner/ importable (the engine's packages cannot load next to checkov)."""
    if venv is None:
        celery, app, env = CELERY, "workers.celery_app", {**env, "PYTHONPATH": str(REPO)}
        # The service refuses to publish unsigned: the session's key unless the test set (or
        # emptied, to test that refusal) IACBOT_SIGNING_KEY_FILE itself.
        env.setdefault(signing.ENV, str(signing.private_key_file()))
    else:
        celery, app = Path(venv) / "bin" / "celery", "iacbot_scanner.worker"
        env = {k: v for k, v in env.items() if k != "VIRTUAL_ENV"}
        env["PYTHONPATH"] = str(REPO / "scanner")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(celery), "-A", app, "worker", "-Q", queues, "--pool", "solo",
             "--loglevel", "INFO", "--without-mingle", "--without-gossip", "--without-heartbeat",
             "--hostname", f"{name}-{os.getpid()}@%h"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
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
