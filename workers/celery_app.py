"""The Celery app: Redis broker and result backend, three queues, at-least-once delivery.

``celery -A workers.celery_app worker -Q scan`` finds :data:`app`, configured from the
``IACBOT_*`` environment (:class:`bot.service.settings.CommonSettings`; a worker needs no
webhook secret). The web app builds its own instance with :func:`make_celery` from its
Settings and publishes by task name, so it never imports the task code.

Tasks are acknowledged late and re-queued if a worker dies, so every task must be
idempotent (the webhook's delivery id is the task id and the idempotency key).
"""
from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from bot.service.settings import CommonSettings

QUEUES = ("scan", "remediate", "publish")

INGEST_TASK = "workers.tasks.ingest_job"
SCAN_PUSH_TASK = "workers.chain.scan_push"
PUBLISH_TASK = "workers.publish.publish_job"

TASK_ROUTES: dict[str, dict[str, str]] = {
    INGEST_TASK: {"queue": "scan"},
    "workers.tasks.scan_*": {"queue": "scan"},
    "workers.tasks.remediate_*": {"queue": "remediate"},
    "workers.tasks.publish_*": {"queue": "publish"},
    SCAN_PUSH_TASK: {"queue": "scan"},
    PUBLISH_TASK: {"queue": "publish"},
}

#: Which task and queue each job kind (bot.service.events) goes to. In this slice every job
#: is recorded by ingest_job; the scan -> remediate -> publish chain starts from there.
JOB_TASKS: dict[str, tuple[str, str]] = {
    kind: (INGEST_TASK, "scan")
    for kind in ("scan_push", "code_scanning_alert", "installation_changed",
                 "pull_request_closed", "checks_completed", "findings_submitted")
}

#: Publishing must fail fast when the broker is down: the webhook answers 503 instead.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2,
                        "interval_max": 0.5}


def make_celery(settings: CommonSettings | None = None) -> Celery:
    settings = settings or CommonSettings()
    celery = Celery("iacbot", include=["workers.tasks", "workers.chain", "workers.publish"])
    celery.conf.update(
        broker_url=settings.redis_url,
        result_backend=settings.redis_url,
        task_queues=[Queue(name, Exchange(name, type="direct"), routing_key=name)
                     for name in QUEUES],
        task_default_queue="scan",
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
        # A task not acked within this time is handed to another worker (Redis transport).
        broker_transport_options={"visibility_timeout": 3600},
        result_expires=24 * 3600,
        task_publish_retry_policy=PUBLISH_RETRY_POLICY,
        # Read by the tasks (workers.tasks) for their own Redis records.
        iacbot_redis_url=settings.redis_url,
        iacbot_job_record_ttl=settings.job_record_ttl_seconds,
    )
    return celery


def job_target(job: dict[str, Any]) -> tuple[str, str]:
    """(task name, queue) for a job description; KeyError for an unknown kind."""
    return JOB_TASKS[job["kind"]]


app = make_celery()
