"""The scan queue's Celery app (scanner/iacbot_scanner/worker.py, run from .venv-scanner) repeats
the main app's queue names, task names, Redis keys and delivery settings: here both are loaded,
each in its own environment, and compared. The scan worker also refuses a GitHub credential."""
from __future__ import annotations

import json
import subprocess

import pytest

from bot.service.settings import CommonSettings
from tests.celery_worker import SCANNER_VENV
from tests.paths import REPO
from scanner.iacbot_scanner import delivery_guard
from scanner.iacbot_scanner import redis_clients
from workers import celery_app, runtime, store

URL = "redis://127.0.0.1:6379/13"
SHARED = ("broker_url", "result_backend", "task_default_queue", "task_serializer", "result_serializer",
          "accept_content", "result_accept_content", "task_acks_late", "task_reject_on_worker_lost",
          "worker_prefetch_multiplier", "worker_cancel_long_running_tasks_on_connection_loss",
          "broker_connection_retry_on_startup", "broker_connection_max_retries", "broker_transport_options", "result_expires",
          "task_publish_retry_policy")

# Runs in .venv-scanner with only scanner/ importable: prints the app's settings and constants,
# and which of the engine's packages got imported (none may).
RETRY = """
def _retry(client):
    retry = client.get_retry()
    return [retry._retries, sorted(e.__name__ for e in retry._supported_errors), type(retry._backoff).__name__]
"""
PROBE = f"""
import importlib.metadata, json, sys
import iacbot_scanner.worker as w
{RETRY}
conf = w.app.conf
print(json.dumps({{
    "conf": {{key: conf[key] for key in {SHARED!r}}},
    "queues": [[q.name, q.exchange.name, q.exchange.type, q.routing_key] for q in conf.task_queues],
    "routes": conf.task_routes,
    "constants": [w.QUEUES, w.SCAN_TASK, w.REMEDIATE_TASK, w.KEYS],
    "task_cls": [w.app.Task.__mro__[1].__module__, w.app.Task.__mro__[1].__qualname__],
    "guard": [w.DEAD_LETTERS_KEY, __import__("iacbot_scanner.delivery_guard").delivery_guard.MAX_DELIVERIES],
    "engine_modules": sorted(m for m in sys.modules if m.split(".")[0] in ("bot", "fixers", "workers", "hcl2")),
    "checkov": importlib.metadata.version("checkov"),
    "redis_retry": _retry(w.task_redis({URL!r})),
}}))
"""


def run_probe(extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "scanner"), "IACBOT_REDIS_URL": URL, **extra_env}
    return subprocess.run([str(SCANNER_VENV / "bin" / "python"), "-c", PROBE], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("environ", [{}, {"IACBOT_VISIBILITY_TIMEOUT_SECONDS": "17"}])
def test_scan_worker_app_agrees_with_the_main_app(environ, monkeypatch):
    done = run_probe(environ)
    assert done.returncode == 0, done.stderr[-3000:]
    scan = json.loads(done.stdout.strip().splitlines()[-1])
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    main = celery_app.make_celery(CommonSettings(redis_url=URL)).conf
    assert main.broker_transport_options["visibility_timeout"] == int(environ.get("IACBOT_VISIBILITY_TIMEOUT_SECONDS",
                                                                                  300))
    assert scan["conf"] == json.loads(json.dumps({key: main[key] for key in SHARED}))
    assert scan["queues"] == [[q.name, q.exchange.name, q.exchange.type, q.routing_key] for q in main.task_queues]
    assert scan["routes"].items() <= celery_app.TASK_ROUTES.items()
    assert scan["constants"] == [list(celery_app.QUEUES), celery_app.SCAN_TASK, celery_app.REMEDIATE_TASK,
                                 [store.FILES_PREFIX, store.SCAN_PREFIX, store.DELIVERIES_PREFIX, store.DEAD_LETTERS_KEY]]
    # Both apps run every task through the same delivery guard (poison messages, lease renewal).
    main_task_cls = celery_app.app.Task.__mro__[1]
    assert scan["task_cls"] == ["iacbot_scanner.delivery_guard", "GuardedTask"]
    assert main_task_cls.__module__ == "scanner.iacbot_scanner.delivery_guard" and main_task_cls.__name__ == "GuardedTask"
    assert scan["guard"] == [store.DEAD_LETTERS_KEY, delivery_guard.MAX_DELIVERIES]
    assert scan["engine_modules"] == [] and scan["checkov"] == "3.3.30"
    # A long Redis outage: both apps retry the broker forever (Celery's default gives up after 100
    # attempts, about 46 minutes, and the worker exits); both environments' task clients ride out
    # a restart the same way.
    assert main.broker_connection_max_retries is None
    namespace: dict = {}
    exec(RETRY, namespace)
    assert scan["redis_retry"] == namespace["_retry"](runtime.redis_client(URL))
    assert scan["redis_retry"][:2] == [redis_clients.CONNECT_RETRIES, ["ConnectionError"]]


def test_scan_worker_refuses_to_start_with_a_github_credential():
    pem = "-----BEGIN RSA PRIVATE KEY-----\nnot-a-real-key\n-----END RSA PRIVATE KEY-----\n"
    done = run_probe({"IACBOT_GITHUB_APP_PRIVATE_KEY": pem, "IACBOT_GITHUB_APP_PRIVATE_KEY_FILE": "/etc/app.pem"})
    assert done.returncode != 0
    assert "must hold no GitHub credential" in done.stderr
    assert "IACBOT_GITHUB_APP_PRIVATE_KEY, IACBOT_GITHUB_APP_PRIVATE_KEY_FILE" in done.stderr
    assert "not-a-real-key" not in done.stderr and "/etc/app.pem" not in done.stderr
