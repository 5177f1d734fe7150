"""The Celery app of the main environment: Redis broker and result backend, three queues,
at-least-once delivery.

``celery -A workers.celery_app worker -Q remediate,publish`` finds :data:`app`, configured from
the ``IACBOT_*`` environment (:class:`bot.settings.CommonSettings`; a worker needs no
webhook secret). The web app builds its own instance with :func:`make_celery` from its
Settings and publishes by task name, so it never imports the task code.

Each queue is served by its own identity:

* ``scan``: checkov, in the scanner environment (``scanner/iacbot_scanner/worker.py``, its own
  Celery app); it holds no GitHub credential at all, and gets the files through Redis;
* ``remediate``: ingest, fetch (READ-scoped tokens), locate, fix and verify;
* ``publish``: branch, commit and PR (the only WRITE-scoped tokens).

Tasks are acknowledged late and re-queued if a worker dies, so every task must be
idempotent (the webhook's delivery id is the job id and the idempotency key). A message whose
task killed its worker MAX_DELIVERIES times is dead-lettered instead (delivery_guard).
"""
from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from bot.settings import CommonSettings
from jobs import KINDS
from scanner.iacbot_scanner.delivery_guard import RESTORE_OPTIONS, GuardedTask

# The scanner environment's Celery app (scanner/iacbot_scanner/worker.py) cannot import this
# module (no pydantic-settings there), so it repeats these names and the settings below;
# tests/workers/test_pipeline_config.py checks that both agree.
QUEUES = ("scan", "remediate", "publish")
SCAN_QUEUE, REMEDIATE_QUEUE, PUBLISH_QUEUE = QUEUES

INGEST_TASK = "workers.tasks.ingest_job"
FETCH_TASK = "workers.chain.fetch_job"              # read-only token: the files (and alert) to Redis
SCAN_TASK = "iacbot_scanner.worker.scan_job"        # checkov env: files in Redis -> raw results
REMEDIATE_TASK = "workers.chain.remediate_job"      # locate, fix, verify; store the fixes
PUBLISH_TASK = "workers.publish.publish_job"        # one stored fix -> one PR (write token)
PR_CLOSED_TASK = "workers.pr_closed.record_pr_closed"
MERGE_TASK = "workers.automerge.consider_merge"      # checks completed (or the sweep): decide again, merge pinned to the head
SWEEP_TASK = "workers.sweep.sweep_open_prs"         # periodic: catch check and status events that were missed
DASHBOARD_TASK = "workers.dashboard.refresh_dashboard"  # the repository's dashboard issue
WATCH_TASK = "workers.rollback.watch_merge"          # iacbot's PR merged: store the watch on its merge commit
RECHECK_TASK = "workers.rollback.recheck_merge"      # read token + checkov: is the finding still there at the merge?
ROLLBACK_TASK = "workers.rollback.consider_rollback"  # the checks merge vs parent: verified, revert, wait or hold

#: Ingest is bookkeeping in the main environment; the scan queue's workers cannot run it.
INGEST_QUEUE = REMEDIATE_QUEUE

TASK_ROUTES: dict[str, dict[str, str]] = {
    INGEST_TASK: {"queue": INGEST_QUEUE},
    "workers.tasks.scan_*": {"queue": SCAN_QUEUE},
    "workers.tasks.remediate_*": {"queue": REMEDIATE_QUEUE},
    "workers.tasks.publish_*": {"queue": PUBLISH_QUEUE},
    FETCH_TASK: {"queue": REMEDIATE_QUEUE},
    SCAN_TASK: {"queue": SCAN_QUEUE},
    REMEDIATE_TASK: {"queue": REMEDIATE_QUEUE},
    PUBLISH_TASK: {"queue": PUBLISH_QUEUE},
    PR_CLOSED_TASK: {"queue": PUBLISH_QUEUE},
    MERGE_TASK: {"queue": PUBLISH_QUEUE},
    SWEEP_TASK: {"queue": PUBLISH_QUEUE},
    WATCH_TASK: {"queue": PUBLISH_QUEUE},
    RECHECK_TASK: {"queue": REMEDIATE_QUEUE},
    ROLLBACK_TASK: {"queue": PUBLISH_QUEUE},
}

#: Which task and queue each job kind (jobs.KINDS: what bot.service.events and the findings API
#: build) goes to: every job is recorded by ingest_job, which continues the chain for the kinds
#: that have one.
JOB_TASKS: dict[str, tuple[str, str]] = {kind: (INGEST_TASK, INGEST_QUEUE) for kind in KINDS}

#: Publishing must fail fast when the broker is down: the webhook answers 503 instead.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2,
                        "interval_max": 0.5}


def make_celery(settings: CommonSettings | None = None) -> Celery:
    settings = settings or CommonSettings()
    # GuardedTask: every task's deliveries are counted (a message that keeps killing workers is
    # dead-lettered) and its broker lease renewed while it runs; the scan app uses the same class.
    celery = Celery("iacbot", include=["workers.tasks", "workers.chain", "workers.publish", "workers.pr_closed",
                                       "workers.automerge", "workers.sweep", "workers.dashboard",
                                       "workers.rollback"],
                    task_cls=GuardedTask)
    celery.conf.update(
        broker_url=settings.redis_url,
        result_backend=settings.redis_url,
        task_queues=[Queue(name, Exchange(name, type="direct"), routing_key=name)
                     for name in QUEUES],
        task_default_queue=REMEDIATE_QUEUE,
        task_routes=TASK_ROUTES,
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
        # running task renews it (delivery_guard), and expired ones are looked for every 10 s.
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_seconds, **RESTORE_OPTIONS},
        result_expires=24 * 3600,
        task_publish_retry_policy=PUBLISH_RETRY_POLICY,
        # Read by the tasks (workers.tasks) for their own Redis records.
        iacbot_redis_url=settings.redis_url,
        iacbot_job_record_ttl=settings.job_record_ttl_seconds,
        # `celery -A workers.celery_app beat` (one process, scripts/serve): the sweep of iacbot's
        # open pull requests for check and status events that were missed (workers.sweep). A run
        # that finds the previous one's jobs still within the interval sends nothing twice.
        beat_schedule=beat_schedule(settings),
    )
    return celery


def beat_schedule(settings: CommonSettings) -> dict[str, dict[str, Any]]:
    interval = float(settings.sweep_interval_seconds)
    # expires: a sweep that waited a whole interval in the queue is stale; the next one replaces it.
    return {"sweep-open-prs": {"task": SWEEP_TASK, "schedule": interval,
                               "options": {"queue": PUBLISH_QUEUE, "expires": interval}}}


def job_target(job: dict[str, Any]) -> tuple[str, str]:
    """(task name, queue) for a job description; KeyError for an unknown kind."""
    return JOB_TASKS[job["kind"]]


app = make_celery()
