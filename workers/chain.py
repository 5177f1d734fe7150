"""The push -> PR chain: ``scan_push`` (queue scan) then one ``publish_job`` per fix (queue publish,
workers.publish).

Ids in, ids out. ``scan_push`` fetches the pushed files with a READ-scoped token, scans and
remediates them, stores each fix in Redis under the job id (a hash keyed by fingerprint) and
queues ``publish_job(job_id, fingerprint)`` for each. A redelivered job reuses the stored fixes
(no second scan); ``publish_job`` is idempotent through ``publish_fix``. No task waits on another.
"""
from __future__ import annotations

import functools
import json
import logging
import tempfile
import threading
from pathlib import Path
from typing import Any

import redis
import requests

from bot.github.auth import installation_session
from bot.service.settings import CommonSettings
from fixers.catalog import load_catalog
from fixers.scanner import Scanner
from workers.celery_app import PUBLISH_TASK, SCAN_PUSH_TASK, app
from workers.github_fetch import READ_PERMISSIONS, fetch_files
from workers.remediation import fix_to_json, remediate_tree

log = logging.getLogger(__name__)

FIXES_PREFIX = "iacbot:fixes:"          # hash: fingerprint -> fix JSON
SCANNED_PREFIX = "iacbot:scanned:"      # string: job JSON, set once the fixes are stored
PUBLISHED_PREFIX = "iacbot:published:"  # hash: fingerprint -> publish result JSON

_RETRYABLE = (redis.ConnectionError, redis.TimeoutError, requests.ConnectionError, requests.Timeout)
_scanner: Scanner | None = None
_scanner_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def settings() -> CommonSettings:
    return CommonSettings()


@functools.lru_cache(maxsize=1)
def catalog():
    return load_catalog()


def scanner() -> Scanner:
    """One long-lived checkov process per worker process."""
    global _scanner
    with _scanner_lock:
        if _scanner is None:
            _scanner = Scanner()
        return _scanner


@functools.lru_cache(maxsize=4)
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)


def _job_id(job: dict[str, Any], task_id: str | None) -> str:
    job_id = job.get("delivery_id") or task_id
    if not isinstance(job_id, str) or not job_id:
        raise ValueError("scan_push needs a delivery id")
    return job_id


def _validate_push(job: Any) -> dict[str, Any]:
    if not isinstance(job, dict) or job.get("kind") != "scan_push":
        raise ValueError("scan_push needs a scan_push job description")
    for key, kind in (("installation_id", int), ("repository", str), ("head_sha", str)):
        if not isinstance(job.get(key), kind):
            raise ValueError(f"scan_push job lacks {key}")
    return job


def _enqueue_publishes(job_id: str, fingerprints: list[str]) -> None:
    for fp in fingerprints:
        app.send_task(PUBLISH_TASK, args=[job_id, fp], queue="publish", task_id=f"{job_id}:publish:{fp}",
                      ignore_result=True)


@app.task(name=SCAN_PUSH_TASK, bind=True, autoretry_for=_RETRYABLE, retry_backoff=True,
          retry_backoff_max=60, max_retries=8)
def scan_push(self, job: dict[str, Any]) -> dict[str, Any]:
    job = _validate_push(job)
    job_id = _job_id(job, self.request.id)
    cfg = settings()
    r = _redis(cfg.redis_url)
    ttl = int(cfg.job_record_ttl_seconds)
    fixes_key = FIXES_PREFIX + job_id
    if r.exists(SCANNED_PREFIX + job_id):  # redelivery: the fixes are stored; only re-queue them
        fingerprints = sorted(k.decode() for k in r.hkeys(fixes_key))
        log.info("job %s: already scanned; re-queueing %d publishes", job_id, len(fingerprints))
        _enqueue_publishes(job_id, fingerprints)
        return {"job_id": job_id, "fixes": fingerprints, "rescanned": False}

    repository, sha = job["repository"], job["head_sha"]
    changed = [p for p in job.get("changed_files") or [] if isinstance(p, str)]
    key = cfg.app_private_key()
    with tempfile.TemporaryDirectory(prefix="iacbot-push-") as tmp:
        root = Path(tmp)
        with installation_session(cfg.github_app_id, key, job["installation_id"], repository,
                                  READ_PERMISSIONS, cfg.github_api_url) as token:
            written, problems = fetch_files(token, repository, sha, changed, root)
        fixes, scan_problems = remediate_tree(scanner(), root, catalog()) if written else ([], [])
    problems += scan_problems
    for problem in problems:
        log.warning("job %s: %s", job_id, problem)
    record = {"job": job, "problems": problems}
    pipe = r.pipeline(transaction=True)
    pipe.delete(fixes_key)
    for fix in fixes:
        pipe.hset(fixes_key, fix.fingerprint, json.dumps(
            {**fix_to_json(fix), "repository": repository, "installation_id": job["installation_id"]}))
    pipe.expire(fixes_key, ttl)
    pipe.set(SCANNED_PREFIX + job_id, json.dumps(record), ex=ttl)
    pipe.execute()
    fingerprints = sorted({fix.fingerprint for fix in fixes})
    log.info("job %s: %s@%s -> %d files, %d fixes", job_id, repository, sha[:12], len(written), len(fingerprints))
    _enqueue_publishes(job_id, fingerprints)
    return {"job_id": job_id, "fixes": fingerprints, "rescanned": True}
