"""The job -> PR chain, one queue per identity, each step sending the next by name (none waits):

    ingest_job ─► fetch_job ─► scan_job ─► remediate_job ─► publish_job (one per fix)
    (remediate)   (remediate,  (scan, checkov   (remediate: locate,  (publish: write token,
                  read token)  env, no GitHub   fix, verify)         workers/publish.py)
                               credential)

``fetch_job`` reads what the job needs with a READ-scoped token (workers.job_sources) and hands
it over in Redis (workers.store). A push's files go to the scan queue first; an alert's or a
submission's findings are already known, so the scan is skipped (verification still re-scans).

Ids in, ids out, idempotent at every step: a step whose output is stored does not redo its work,
it only sends the next step again (so a crash between storing and sending loses nothing).
"""
from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path
from typing import Any

import redis
import requests

from bot.github.auth import installation_session
from bot.audit.attempts import attempt_events
from workers import audit_log, job_sources, store
from workers.celery_app import (
    FETCH_TASK,
    PUBLISH_QUEUE,
    PUBLISH_TASK,
    REMEDIATE_QUEUE,
    REMEDIATE_TASK,
    SCAN_QUEUE,
    SCAN_TASK,
    app,
)
from workers.github_fetch import FetchUnavailable, write_tree
from workers.remediation import finding_from_dict, findings_from_scan, fix_to_json, remediate_findings
from workers.runtime import catalog, redis_client, scanner, settings

log = logging.getLogger(__name__)

_RETRYABLE = (redis.ConnectionError, redis.TimeoutError, requests.ConnectionError, requests.Timeout,
              FetchUnavailable)


def _send(task: str, args: list, queue: str, task_id: str) -> None:
    app.send_task(task, args=args, queue=queue, task_id=task_id, ignore_result=True)


def _enqueue_publishes(job_id: str, fingerprints: list[str]) -> None:
    for fp in fingerprints:
        _send(PUBLISH_TASK, [job_id, fp], PUBLISH_QUEUE, f"{job_id}:publish:{fp}")


def _republish_if_remediated(r, job_id: str) -> list[str] | None:
    """A job whose fixes are stored (a redelivery of a finished step): send its publishes again and
    return their fingerprints; None when the job is not remediated yet."""
    if not store.remediated(r, job_id):
        return None
    fingerprints = store.stored_fingerprints(r, job_id)
    log.info("job %s: already remediated; re-queueing %d publishes", job_id, len(fingerprints))
    _enqueue_publishes(job_id, fingerprints)
    return fingerprints


def _send_after_fetch(job_id: str, record: dict[str, Any]) -> None:
    # The further parts first: once this part's scan is sent, nothing sends them again.
    for continuation in record.get("continuations") or []:
        _send(FETCH_TASK, [continuation], REMEDIATE_QUEUE, f"{continuation['delivery_id']}:fetch")
    if record["findings"] is None:
        _send(SCAN_TASK, [job_id], SCAN_QUEUE, f"{job_id}:scan")
    else:
        _send(REMEDIATE_TASK, [job_id], REMEDIATE_QUEUE, f"{job_id}:remediate")


def _audit_attempts(r, job_id: str, repository: str, fixes, not_fixed) -> None:
    """located / patched / verified for each fix attempt of the job (verified yes for a fix,
    no with why for an attempt that gave none), each once per job, fingerprint and event."""
    attempts = [(fix.attempt, True, "") for fix in fixes] + [(attempt, False, why) for attempt, why in not_fixed]
    for attempt, verified, why in attempts:
        for event, details in attempt_events(attempt, verified, why):
            audit_log.record(r, event, repository=repository, subject=job_id, actor=audit_log.SERVICE_ACTOR,
                             details=details,
                             once=f"{job_id}:{attempt.fingerprint}:{_rules_digest(attempt)}:{event.value}")


def _rules_digest(attempt) -> str:
    # Two attempts of one fingerprint (different rules, different outcomes) are two occurrences.
    return hashlib.sha256(",".join(attempt.rule_ids).encode()).hexdigest()[:12]


def _job_id(job: dict[str, Any], task_id: str | None) -> str:
    job_id = job.get("delivery_id") or task_id
    if not isinstance(job_id, str) or not job_id:
        raise ValueError("fetch_job needs a job with a 'delivery_id'")
    return job_id


@app.task(name=FETCH_TASK, bind=True, autoretry_for=_RETRYABLE, retry_backoff=True,
          retry_backoff_max=60, max_retries=8)
def fetch_job(self, job: dict[str, Any]) -> dict[str, Any]:
    job = job_sources.validate(job)
    job_id = _job_id(job, self.request.id)
    cfg = settings()
    r = redis_client(cfg.redis_url)
    fingerprints = _republish_if_remediated(r, job_id)
    if fingerprints is not None:
        return {"job_id": job_id, "status": "remediated", "fixes": fingerprints}
    record = store.load_json(r, store.FETCHED_PREFIX + job_id)
    if record is None:
        plan = job_sources.plan(job, r)
        if isinstance(plan, str):
            log.warning("job %s: %s; nothing to do", job_id, plan)
            return {"job_id": job_id, "status": "skipped", "reason": plan}
        with installation_session(cfg.github_app_id, cfg.app_private_key(), job["installation_id"],
                                  job["repository"], plan.permissions, cfg.github_api_url) as token:
            fetched = job_sources.fetch({**job, "delivery_id": job_id}, plan, token)
        if isinstance(fetched, str):
            log.warning("job %s: %s; nothing to do", job_id, fetched)
            return {"job_id": job_id, "status": "skipped", "reason": fetched}
        record = fetched.record(job)
        store.save_fetched(r, job_id, record, fetched.files, int(cfg.job_record_ttl_seconds))
        log.info("job %s: %s %s@%s: fetched %d files; %d more parts sent as their own jobs", job_id, job["kind"],
                 job["repository"], fetched.sha[:12], len(fetched.files), len(fetched.continuations))
    else:
        log.info("job %s: already fetched; sending the next step again", job_id)
    _send_after_fetch(job_id, record)
    return {"job_id": job_id, "status": "fetched", "scan": record["findings"] is None}


@app.task(name=REMEDIATE_TASK, bind=True, autoretry_for=_RETRYABLE, retry_backoff=True,
          retry_backoff_max=60, max_retries=8)
def remediate_job(self, job_id: str) -> dict[str, Any]:
    if not isinstance(job_id, str) or not job_id:
        raise ValueError("remediate_job needs a job id")
    cfg = settings()
    r = redis_client(cfg.redis_url)
    fingerprints = _republish_if_remediated(r, job_id)
    if fingerprints is not None:
        return {"job_id": job_id, "fixes": fingerprints, "remediated": False}
    record = store.load_json(r, store.FETCHED_PREFIX + job_id)
    if record is None:
        log.warning("job %s: nothing fetched in Redis (expired?); nothing to remediate", job_id)
        return {"job_id": job_id, "status": "missing"}
    problems = list(record["problems"])
    if record["findings"] is None:
        scan = store.load_json(r, store.SCAN_PREFIX + job_id)
        if scan is None:
            log.warning("job %s: no scan result in Redis (expired?); nothing to remediate", job_id)
            return {"job_id": job_id, "status": "missing"}
        findings, scan_problems = findings_from_scan(scan)
        problems += scan_problems
    else:
        findings = [finding_from_dict(f) for f in record["findings"]]
    job = record["job"]
    with tempfile.TemporaryDirectory(prefix="iacbot-job-") as tmp:
        root = Path(tmp)
        problems += write_tree(store.load_files(r, job_id), root)
        not_fixed: list = []
        fixes, more = remediate_findings(scanner(), root, findings, catalog(), not_fixed)
    problems += more
    # Before the fixes are stored: a crash between the two redoes the remediation, and the once
    # keys keep its entries from being recorded twice.
    _audit_attempts(r, job_id, job["repository"], fixes, not_fixed)
    for problem in problems:
        log.info("job %s: %s", job_id, problem)
    # The checkov that verified the fixes, signed into each PR's provenance.
    version = scanner().ping() if fixes else None
    stored = {fix.fingerprint: {**fix_to_json(fix), "repository": job["repository"],
                                "installation_id": job["installation_id"], "scanner_version": version,
                                "trigger": job_sources.trigger(job, job_id)} for fix in fixes}
    store.save_fixes(r, job_id, stored, {"job": job, "sha": record["sha"], "problems": problems},
                     int(cfg.job_record_ttl_seconds))
    fingerprints = sorted(stored)
    log.info("job %s: %s -> %d findings, %d fixes", job_id, job["repository"], len(findings), len(fingerprints))
    _enqueue_publishes(job_id, fingerprints)
    return {"job_id": job_id, "fixes": fingerprints, "remediated": True}
