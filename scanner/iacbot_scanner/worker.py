"""The scan queue's Celery worker, in the checkov environment (.venv-scanner).

Run:  PYTHONPATH=<repo>/scanner <repo>/.venv-scanner/bin/celery -A iacbot_scanner.worker worker -Q scan

``scan_job(job_id)`` reads the files a main-environment task fetched into Redis
(``iacbot:files:<job_id>``, path -> bytes), scans them with checkov in this process (the code of
iacbot_scanner.server), writes the failed checks to ``iacbot:scan:<job_id>`` and sends
``workers.chain.remediate_job(job_id)`` by name. It never speaks to GitHub and holds no GitHub
credential: it refuses to start when one is in its environment.

Only the standard library, celery, redis and (lazily, on the first scan) checkov are imported:
the engine's packages (bot/, fixers/, workers/) need python-hcl2, which breaks checkov. The
queue names, task names and Celery settings repeat workers/celery_app.py's;
tests/workers/test_pipeline_config.py checks that both agree.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import unicodedata
from pathlib import Path, PurePosixPath
from typing import Any, Mapping
from urllib.parse import urlsplit

import redis
from celery import Celery
from kombu import Exchange, Queue

from iacbot_scanner.delivery_guard import DEAD_LETTERS_KEY, DELIVERIES_PREFIX, RESTORE_OPTIONS, GuardedTask
from iacbot_scanner.redis_clients import task_redis

log = logging.getLogger(__name__)

QUEUES = ("scan", "remediate", "publish")
SCAN_QUEUE, REMEDIATE_QUEUE, PUBLISH_QUEUE = QUEUES
SCAN_TASK = "iacbot_scanner.worker.scan_job"
REMEDIATE_TASK = "workers.chain.remediate_job"

FILES_PREFIX = "iacbot:files:"   # hash: repository path -> file bytes (written by workers.chain.fetch_job)
SCAN_PREFIX = "iacbot:scan:"     # string: this task's result JSON
KEYS = (FILES_PREFIX, SCAN_PREFIX, DELIVERIES_PREFIX, DEAD_LETTERS_KEY)   # workers/store.py names the same

REDIS_URL_ENV = "IACBOT_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
TTL_ENV = "IACBOT_JOB_RECORD_TTL_SECONDS"
DEFAULT_TTL_SECONDS = 7 * 24 * 3600
VISIBILITY_ENV = "IACBOT_VISIBILITY_TIMEOUT_SECONDS"
#: Why 300 s: see docs/architecture.md ("Faults"); bot/service/settings.py has the same default.
DEFAULT_VISIBILITY_SECONDS = 300
#: A scan worker must not be able to act on GitHub: these may not be set where it runs.
CREDENTIAL_ENV = ("IACBOT_GITHUB_APP_PRIVATE_KEY", "IACBOT_GITHUB_APP_PRIVATE_KEY_FILE")
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def refuse_credentials(environ: Mapping[str, str]) -> None:
    """RuntimeError naming (never showing) any GitHub credential setting in ``environ``."""
    present = [name for name in CREDENTIAL_ENV if environ.get(name)]
    if present:
        raise RuntimeError(f"the scan worker must hold no GitHub credential: unset {', '.join(present)} "
                           f"in its environment (only the remediate and publish workers need the App key)")


def redis_url(environ: Mapping[str, str]) -> str:
    url = environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL
    if urlsplit(url).scheme not in {"redis", "rediss", "unix"}:
        raise ValueError(f"{REDIS_URL_ENV} must be a redis://, rediss:// or unix:// URL")
    return url


def _seconds(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name) or str(default)
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueError(f"{name} must be a positive whole number of seconds, got {raw!r}")
    return int(raw)


def record_ttl(environ: Mapping[str, str]) -> int:
    return _seconds(environ, TTL_ENV, DEFAULT_TTL_SECONDS)


def celery_settings(url: str, visibility_timeout: int = DEFAULT_VISIBILITY_SECONDS) -> dict[str, Any]:
    """The same settings as workers.celery_app.make_celery (at-least-once, JSON only)."""
    return dict(
        broker_url=url,
        result_backend=url,
        task_queues=[Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES],
        task_default_queue=REMEDIATE_QUEUE,
        task_routes={SCAN_TASK: {"queue": SCAN_QUEUE}, REMEDIATE_TASK: {"queue": REMEDIATE_QUEUE}},
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        # Retry a lost broker forever: Celery's default (100 attempts, about 46 minutes) makes a
        # worker exit after a long Redis outage, and scripts/serve then stops the service.
        broker_connection_max_retries=None,
        # A task not acked within this time is handed to another worker (Redis transport); a
        # running task renews it (iacbot_scanner.delivery_guard), and expired ones are looked for
        # every 10 s.
        broker_transport_options={"visibility_timeout": visibility_timeout, **RESTORE_OPTIONS},
        result_expires=24 * 3600,
        task_publish_retry_policy=PUBLISH_RETRY_POLICY,
    )


refuse_credentials(os.environ)
app = Celery("iacbot", task_cls=GuardedTask)
app.conf.update(celery_settings(redis_url(os.environ),
                                _seconds(os.environ, VISIBILITY_ENV, DEFAULT_VISIBILITY_SECONDS)))


_checkov: Any = None
_checkov_lock = threading.Lock()


def checkov() -> Any:
    """checkov imported once per worker process (about two seconds), on the first scan."""
    global _checkov
    with _checkov_lock:
        if _checkov is None:
            from iacbot_scanner import server

            os.environ.update(server.OFFLINE_ENV)  # read by checkov at import time
            root = logging.getLogger()
            saved = (root.level, list(root.handlers), [(h, h.level, h.formatter) for h in root.handlers])
            _checkov = server._CheckovAdapter()
            # checkov's import re-formats the first root handler and adds an in-memory DEBUG log;
            # put the worker's logging back and keep checkov itself at warnings.
            root.setLevel(saved[0])
            for handler in root.handlers[:]:
                if handler not in saved[1]:
                    root.removeHandler(handler)
            for handler, level, formatter in saved[2]:
                handler.setLevel(level)
                handler.setFormatter(formatter)
                handler.addFilter(_only_checkov_warnings)
            logging.getLogger("checkov").setLevel(server.OFFLINE_ENV["LOG_LEVEL"])
        return _checkov


def _only_checkov_warnings(record: logging.LogRecord) -> bool:
    # Much of checkov logs through the root logger itself (logging.info), so no logger level
    # can quiet it: its records below WARNING are dropped by their source file instead.
    return record.levelno >= logging.WARNING or f"{os.sep}checkov{os.sep}" not in record.pathname


# workers/repo_paths.py's rule, repeated (this environment cannot import workers/); a test checks
# that both refuse the same paths: git's canonical form, inside the repository, printable UTF-8
# (no control, format, surrogate or separator characters), no backslash, no ".git", not too long.
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
MAX_PATH_BYTES, MAX_NAME_BYTES = 1024, 255


def safe_relative(path: str) -> PurePosixPath | None:
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path:
        return None
    if any(unicodedata.category(ch) in _UNPRINTABLE_CATEGORIES for ch in path):
        return None
    parts = path.split("/")
    if any(part in ("", ".", "..") or part.lower() == ".git" for part in parts):
        return None
    if len(path.encode()) > MAX_PATH_BYTES or any(len(part.encode()) > MAX_NAME_BYTES for part in parts):
        return None
    return PurePosixPath(path)


def scan_files(files: Mapping[bytes | str, bytes]) -> dict[str, Any]:
    """Scan the files (exact bytes) as one repository root; the result names root-relative paths."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="iacbot-scan-") as tmp:
        root = Path(tmp).resolve()
        for raw_path, data in files.items():
            # surrogateescape: bytes that are not UTF-8 become surrogates, which safe_relative refuses
            path = raw_path.decode("utf-8", "surrogateescape") if isinstance(raw_path, bytes) else raw_path
            relative = safe_relative(path)
            if relative is None:
                problems.append(f"{path!r}: not a path inside the repository; not scanned")
                continue
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        scanner = checkov()
        try:
            reply = scanner.scan_request({"root": str(root), "files": None})
        finally:
            scanner.forget_logs()
    failed, outside = [], {}
    for record in reply["failed"]:
        relative_path = _relative(record.pop("file_abs_path", None), root)
        if relative_path is None:  # cannot happen with plain files; never hand on a path outside the root
            outside[str(record.get("file_path"))] = outside.get(str(record.get("file_path")), 0) + 1
            continue
        failed.append({**record, "file_path": "/" + relative_path})
    problems += [f"{path}: outside the repository; {count} failed checks not fixed" for path, count in outside.items()]
    problems += [refusal_problem(_relative(entry["path"], root) or entry["path"], entry) for entry in reply["refused"]]
    return {"checkov_version": scanner.version, "failed": failed,
            "parsing_errors": sorted(p for p in (_relative(e, root) for e in reply["parsing_errors"]) if p),
            "problems": problems}


def refusal_problem(path: str, entry: Mapping[str, str]) -> str:
    """The problem line for a file the scanner refused: its path and the bound it exceeded."""
    return f"{path}: refused ({entry['bound']}: {entry['detail']}); not scanned"


def _relative(path: str | None, root: Path) -> str | None:
    if not path:
        return None
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return None


@app.task(name=SCAN_TASK, bind=True, autoretry_for=(redis.ConnectionError, redis.TimeoutError),
          retry_backoff=True, retry_backoff_max=60, max_retries=8)
def scan_job(self, job_id: str) -> dict[str, Any]:
    """Idempotent: a stored result is not scanned again; the remediate task is (re)sent either way,
    so a crash between storing and sending loses nothing."""
    if not isinstance(job_id, str) or not job_id:
        raise ValueError("scan_job needs a job id")
    r = task_redis(app.conf.broker_url)
    result_key = SCAN_PREFIX + job_id
    if r.exists(result_key):
        log.info("job %s: already scanned; re-sending remediate", job_id)
    else:
        files = r.hgetall(FILES_PREFIX + job_id)
        if not files:
            log.warning("job %s: no fetched files in Redis (expired?); nothing to scan", job_id)
            return {"job_id": job_id, "status": "missing"}
        result = scan_files(files)
        r.set(result_key, json.dumps(result), ex=record_ttl(os.environ))
        log.info("job %s: scanned %d files with checkov %s: %d failed checks", job_id, len(files),
                 result["checkov_version"], len(result["failed"]))
    app.send_task(REMEDIATE_TASK, args=[job_id], queue=REMEDIATE_QUEUE, task_id=f"{job_id}:remediate",
                  ignore_result=True)
    return {"job_id": job_id, "status": "scanned"}
