"""Celery tasks. Ids in, ids out; every task is idempotent (tasks are acked late).

:func:`ingest_job` records each job (webhook or findings API) once, durably, in a Redis stream
per repository (``iacbot:jobs:<owner>/<name>``; installation-wide jobs go to
``iacbot:jobs:installation:<id>``), then continues it: pushes, code-scanning alerts and findings
submissions go on to ``fetch_job`` (workers.chain), a closed pull request to
``record_pr_closed`` (workers.pr_closed), finished checks or statuses to ``consider_merge``
(workers.automerge: decide again, merge pinned to the head) and, on the merge commit of a watched
fix, to ``consider_rollback`` (workers.rollback).

A job is read with ``jobs.from_message`` (the one typed definition the receiver built it with):
a message of an unknown kind, or with a field of the wrong type or size, is refused with the
field named, before anything is recorded.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import redis

import jobs
from bot.audit.events import Event
from workers import audit_log, merge_watch
from workers.celery_app import (
    FETCH_TASK,
    MERGE_TASK,
    PR_CLOSED_TASK,
    PUBLISH_QUEUE,
    REMEDIATE_QUEUE,
    ROLLBACK_TASK,
    app,
)
from workers.runtime import redis_client

log = logging.getLogger(__name__)

JOBS_PREFIX = "iacbot:jobs:"
INGESTED_PREFIX = "iacbot:ingested:"
STREAM_MAXLEN = 10_000
#: Job kinds that become pull requests through fetch -> (scan ->) remediate -> publish.
CHAINED_KINDS = frozenset({jobs.ScanPush.KIND, jobs.CodeScanningAlert.KIND, jobs.FindingsSubmitted.KIND})
#: Job kinds that ask for a fresh merge decision on iacbot's PR(s) at a head.
MERGE_KINDS = frozenset({jobs.ChecksCompleted.KIND})

# Atomic "record once": the marker and the stream entry are written together or not at all.
_RECORD_ONCE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, redis.call('GET', KEYS[1])} end
local entry = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*',
                         'delivery_id', ARGV[1], 'kind', ARGV[2], 'job', ARGV[3])
redis.call('SET', KEYS[1], entry, 'EX', tonumber(ARGV[4]))
return {1, entry}
"""



def jobs_key(job: dict[str, Any] | jobs.Job) -> str:
    if isinstance(job, jobs.Job):
        job = job.to_message()
    repository = job.get("repository")
    if repository:
        return JOBS_PREFIX + repository
    return f"{JOBS_PREFIX}installation:{job['installation_id']}"


def _validate(message: Any, task_id: str | None) -> tuple[jobs.Job, str]:
    """The typed job (ValueError naming the field that is wrong) and its delivery id."""
    job = jobs.from_message(message)
    delivery_id = job.delivery_id or task_id
    if not isinstance(delivery_id, str) or not delivery_id:
        raise ValueError("ingest_job needs a delivery id")
    return job, delivery_id


@app.task(name="workers.tasks.ingest_job", bind=True,
          autoretry_for=(redis.ConnectionError, redis.TimeoutError),
          retry_backoff=True, retry_backoff_max=60, max_retries=8)
def ingest_job(self, job: dict[str, Any]) -> dict[str, Any]:
    """Record ``job`` once per delivery id; a second run (redelivery, retry) records nothing."""
    typed, delivery_id = _validate(job, self.request.id)
    conf = self.app.conf
    client = redis_client(conf.iacbot_redis_url)
    key = jobs_key(typed)
    # What was checked is what is recorded (fields no kind defines are not).
    recorded, entry = client.register_script(_RECORD_ONCE)(
        keys=[INGESTED_PREFIX + delivery_id, key],
        args=[delivery_id, typed.kind, json.dumps(typed.to_message(), sort_keys=True),
              int(conf.iacbot_job_record_ttl), STREAM_MAXLEN],
    )
    entry = entry.decode() if isinstance(entry, bytes) else entry
    log.info("delivery %s: job %s %s in %s (%s)", delivery_id, typed.kind,
             "recorded" if recorded else "already recorded", key, entry)
    # On every run, not only the first: a worker killed between the two records it on redelivery,
    # and the once key (the delivery id) keeps a redelivery from recording it twice.
    audit_log.record(client, Event.RECEIVED, repository=getattr(typed, "repository", None), subject=delivery_id,
                     actor=audit_log.SERVICE_ACTOR, details={"kind": typed.kind, "stream_entry": entry},
                     once=f"received:{delivery_id}")
    _continue_chain(typed, delivery_id)
    return {"delivery_id": delivery_id, "stream": key, "entry_id": entry,
            "recorded": bool(recorded)}


def _continue_chain(job: jobs.Job, delivery_id: str) -> None:
    """Send the job's next step, on every run, not only the first: each step is idempotent per
    job id (a finished one only re-sends what follows it), so a crash between recording and
    sending cannot lose the job. The task ids make a second send of the same step recognisable.
    """
    if isinstance(job, jobs.PullRequestClosed):
        app.send_task(PR_CLOSED_TASK, args=[job.to_message()], queue=PUBLISH_QUEUE,
                      task_id=f"{delivery_id}:pr-closed", ignore_result=True)
        return
    if job.kind not in CHAINED_KINDS and job.kind not in MERGE_KINDS:
        return
    from bot.settings import CommonSettings  # the chain's imports stay off the ingest path
    if CommonSettings().github_app_id is None:
        log.warning("delivery %s: recorded only: IACBOT_GITHUB_APP_ID is not set, so no %s follows", delivery_id,
                    "fix" if job.kind in CHAINED_KINDS else "merge decision")
        return
    # The delivery id is the job id of every later step.
    message = job.but(delivery_id=delivery_id).to_message()
    if job.kind in MERGE_KINDS:
        app.send_task(MERGE_TASK, args=[message], queue=PUBLISH_QUEUE, task_id=f"{delivery_id}:merge",
                      ignore_result=True)
        # Checks on the merge commit of a watched fix: the rollback decides again too (workers.rollback).
        if merge_watch.watched(redis_client(app.conf.iacbot_redis_url), job.repository, job.head_sha):
            app.send_task(ROLLBACK_TASK, args=[job.repository, job.head_sha], queue=PUBLISH_QUEUE,
                          task_id=f"{delivery_id}:rollback", ignore_result=True)
        return
    app.send_task(FETCH_TASK, args=[message], queue=REMEDIATE_QUEUE, task_id=f"{delivery_id}:fetch",
                  ignore_result=True)
