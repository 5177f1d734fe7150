"""Celery tasks. Ids in, ids out; every task is idempotent (tasks are acked late).

:func:`ingest_job` records each job (webhook or findings API) once, durably, in a Redis stream
per repository (``iacbot:jobs:<owner>/<name>``; installation-wide jobs go to
``iacbot:jobs:installation:<id>``), then continues it: pushes, code-scanning alerts and findings
submissions go on to ``fetch_job`` (workers.chain), a closed pull request to
``record_pr_closed`` (workers.pr_closed).
"""
from __future__ import annotations

import json
import logging
from typing import Any

import redis

from workers.celery_app import FETCH_TASK, JOB_TASKS, PR_CLOSED_TASK, PUBLISH_QUEUE, REMEDIATE_QUEUE, app
from workers.runtime import redis_client

log = logging.getLogger(__name__)

JOBS_PREFIX = "iacbot:jobs:"
INGESTED_PREFIX = "iacbot:ingested:"
STREAM_MAXLEN = 10_000
#: Job kinds that become pull requests through fetch -> (scan ->) remediate -> publish.
CHAINED_KINDS = frozenset({"scan_push", "code_scanning_alert", "findings_submitted"})

# Atomic "record once": the marker and the stream entry are written together or not at all.
_RECORD_ONCE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, redis.call('GET', KEYS[1])} end
local entry = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*',
                         'delivery_id', ARGV[1], 'kind', ARGV[2], 'job', ARGV[3])
redis.call('SET', KEYS[1], entry, 'EX', tonumber(ARGV[4]))
return {1, entry}
"""



def jobs_key(job: dict[str, Any]) -> str:
    repository = job.get("repository")
    if repository:
        return JOBS_PREFIX + repository
    return f"{JOBS_PREFIX}installation:{job['installation_id']}"


def _validate(job: Any, task_id: str | None) -> tuple[dict[str, Any], str]:
    if not isinstance(job, dict) or job.get("kind") not in JOB_TASKS:
        raise ValueError("ingest_job needs a job description with a known 'kind'")
    delivery_id = job.get("delivery_id") or task_id
    if not isinstance(delivery_id, str) or not delivery_id:
        raise ValueError("ingest_job needs a delivery id")
    if not job.get("repository") and not isinstance(job.get("installation_id"), int):
        raise ValueError("ingest_job needs a repository or an installation id")
    return job, delivery_id


@app.task(name="workers.tasks.ingest_job", bind=True,
          autoretry_for=(redis.ConnectionError, redis.TimeoutError),
          retry_backoff=True, retry_backoff_max=60, max_retries=8)
def ingest_job(self, job: dict[str, Any]) -> dict[str, Any]:
    """Record ``job`` once per delivery id; a second run (redelivery, retry) records nothing."""
    job, delivery_id = _validate(job, self.request.id)
    conf = self.app.conf
    client = redis_client(conf.iacbot_redis_url)
    key = jobs_key(job)
    recorded, entry = client.register_script(_RECORD_ONCE)(
        keys=[INGESTED_PREFIX + delivery_id, key],
        args=[delivery_id, job["kind"], json.dumps(job, sort_keys=True),
              int(conf.iacbot_job_record_ttl), STREAM_MAXLEN],
    )
    entry = entry.decode() if isinstance(entry, bytes) else entry
    log.info("delivery %s: job %s %s in %s (%s)", delivery_id, job["kind"],
             "recorded" if recorded else "already recorded", key, entry)
    _continue_chain(job, delivery_id)
    return {"delivery_id": delivery_id, "stream": key, "entry_id": entry,
            "recorded": bool(recorded)}


def _continue_chain(job: dict[str, Any], delivery_id: str) -> None:
    """Send the job's next step, on every run, not only the first: each step is idempotent per
    job id (a finished one only re-sends what follows it), so a crash between recording and
    sending cannot lose the job. The task ids make a second send of the same step recognisable.
    """
    if job["kind"] == "pull_request_closed":
        app.send_task(PR_CLOSED_TASK, args=[job], queue=PUBLISH_QUEUE, task_id=f"{delivery_id}:pr-closed",
                      ignore_result=True)
        return
    if job["kind"] not in CHAINED_KINDS:
        return
    from bot.settings import CommonSettings  # the chain's imports stay off the ingest path
    if CommonSettings().github_app_id is None:
        log.warning("delivery %s: recorded only: IACBOT_GITHUB_APP_ID is not set, so no fix follows", delivery_id)
        return
    # The delivery id is the job id of every later step.
    app.send_task(FETCH_TASK, args=[{**job, "delivery_id": delivery_id}], queue=REMEDIATE_QUEUE,
                  task_id=f"{delivery_id}:fetch", ignore_result=True)
