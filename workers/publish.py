"""``publish_job(job_id, fingerprint)`` (queue publish): one stored, verified fix -> one pull request.

The fix was stored by the scan/remediate step under ``iacbot:fixes:<job_id>`` (a hash keyed by
fingerprint). Idempotent through ``publish_fix``; the outcome is recorded under
``iacbot:published:<job_id>``. Only this queue's workers use a write-scoped token.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from bot.github.auth import PUBLISH_PERMISSIONS, installation_session
from bot.github.publish import client, publish_fix
from workers.celery_app import PUBLISH_TASK, app
from workers.chain import _RETRYABLE, FIXES_PREFIX, PUBLISHED_PREFIX, _redis, catalog, settings
from workers.remediation import fix_from_json

log = logging.getLogger(__name__)


@app.task(name=PUBLISH_TASK, bind=True, autoretry_for=_RETRYABLE, retry_backoff=True,
          retry_backoff_max=60, max_retries=8)
def publish_job(self, job_id: str, fingerprint: str) -> dict[str, Any]:
    cfg = settings()
    r = _redis(cfg.redis_url)
    raw = r.hget(FIXES_PREFIX + job_id, fingerprint)
    if raw is None:
        log.warning("job %s: no stored fix %s (expired?); nothing to publish", job_id, fingerprint)
        return {"job_id": job_id, "fingerprint": fingerprint, "status": "missing"}
    data = json.loads(raw)
    fix = fix_from_json(data, catalog())
    repository = data["repository"]
    interval = cfg.github_write_interval_seconds
    with installation_session(cfg.github_app_id, cfg.app_private_key(), data["installation_id"], repository,
                              PUBLISH_PERMISSIONS, cfg.github_api_url) as token:
        gh = client(cfg.github_api_url, token, seconds_between_requests=min(interval, 0.25),
                    seconds_between_writes=interval)
        result = publish_fix(gh, repository, fix.attempt, fix.new_text, fix.verification)
    outcome = {"job_id": job_id, "fingerprint": fingerprint, "status": result.status,
               "branch": result.branch, "pr_number": result.pr_number, "pr_url": result.pr_url}
    r.hset(PUBLISHED_PREFIX + job_id, fingerprint, json.dumps(outcome))
    r.expire(PUBLISHED_PREFIX + job_id, int(cfg.job_record_ttl_seconds))
    log.info("job %s: %s %s PR #%s", job_id, fingerprint, result.status, result.pr_number)
    return outcome
