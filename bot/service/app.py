"""The webhook receiver: FastAPI app factory.

``POST /webhooks/github``: size cap (413) -> signature (401) -> JSON (400) -> route ->
ignored (202) or claim delivery id + enqueue + 202 queued / duplicate. The handler only
enqueues a small job description; all work happens in the worker.

Run: ``uvicorn --factory bot.service.app:app_from_env`` with ``IACBOT_WEBHOOK_SECRET`` set.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any, Callable

import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from starlette.concurrency import run_in_threadpool

from bot.service.deliveries import DeliveryStore, Outcome, claim_and_enqueue
from bot.service.events import Ignored, route
from bot.service.settings import Settings
from bot.service.signature import verify_signature

log = logging.getLogger(__name__)

Enqueue = Callable[[dict[str, Any], str], Any]

WEBHOOK_PATH = "/webhooks/github"
# GitHub sends a GUID; anything else is refused before it becomes a Redis key or a task id.
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
_EVENT_NAME = re.compile(r"^[a-z_]{1,64}$")


class _TooLarge(Exception):
    pass


def celery_enqueue(settings: Settings) -> Enqueue:
    """Publish jobs to Celery on the Redis broker named in ``settings``."""
    from workers.celery_app import PUBLISH_RETRY_POLICY, job_target, make_celery

    celery = make_celery(settings)

    def enqueue(job: dict[str, Any], delivery_id: str) -> None:
        task_name, queue = job_target(job)
        # Returns once Redis holds the message; raises if the broker cannot take it.
        # ignore_result: the web app never waits for a result, and asking for one would make
        # the publisher subscribe to the result backend (retrying ~20 s when it is down).
        celery.send_task(task_name, args=[job], queue=queue, task_id=delivery_id,
                         retry=True, retry_policy=PUBLISH_RETRY_POLICY, ignore_result=True)

    return enqueue


def create_app(settings: Settings, enqueue: Enqueue | None = None) -> FastAPI:
    secret = settings.webhook_secret.get_secret_value().encode()
    max_body = settings.max_body_bytes
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2,
                                  socket_connect_timeout=1)
    store = DeliveryStore(client, settings.delivery_ttl_seconds)
    if enqueue is None:
        enqueue = celery_enqueue(settings)

    registry = CollectorRegistry()
    deliveries = Counter("iacbot_webhook_deliveries", "Webhook deliveries by event and outcome",
                         ["event", "outcome"], registry=registry)

    app = FastAPI(title="iacbot", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.redis = client
    app.state.deliveries = store
    app.state.metrics_registry = registry

    def answer(code: int, event: str, outcome: str, delivery: str | None,
               **body: Any) -> JSONResponse:
        deliveries.labels(event=event, outcome=outcome).inc()
        log.info("webhook delivery=%s event=%s outcome=%s", delivery or "-", event, outcome)
        return JSONResponse(status_code=code, content={"status": body.pop("status", outcome),
                                                         **body})

    async def read_capped(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                if int(declared) > max_body:
                    raise _TooLarge
            except ValueError:
                pass  # the server rejects a malformed length; the streamed count still caps
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body:
                raise _TooLarge
        return bytes(body)

    @app.post(WEBHOOK_PATH)
    async def github_webhook(request: Request) -> JSONResponse:
        raw_delivery = request.headers.get("x-github-delivery")
        delivery = raw_delivery if raw_delivery and _DELIVERY_ID.match(raw_delivery) else None
        try:
            body = await read_capped(request)
        except _TooLarge:
            return answer(413, "unverified", "too_large", delivery, status="error",
                          detail=f"body larger than {max_body} bytes")
        if not verify_signature(secret, body, request.headers.get("x-hub-signature-256")):
            return answer(401, "unverified", "bad_signature", delivery, status="error",
                          detail="missing or invalid X-Hub-Signature-256")
        event = request.headers.get("x-github-event") or ""
        event_label = event if _EVENT_NAME.match(event) else "other"
        if not event:
            return answer(400, "other", "bad_request", delivery, status="error",
                          detail="missing X-GitHub-Event header")
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/x-www-form-urlencoded"):
            return answer(415, event_label, "bad_request", delivery, status="error",
                          detail="set the webhook content type to application/json")
        try:
            payload = json.loads(body)
        except ValueError:
            return answer(400, event_label, "malformed", delivery, status="error",
                          detail="body is not valid JSON")

        routed = route(event, payload)
        if isinstance(routed, Ignored):
            return answer(202, event_label, "ignored", delivery, status="ignored",
                          reason=routed.reason)
        if delivery is None:
            return answer(400, event_label, "bad_request", None, status="error",
                          detail="missing or malformed X-GitHub-Delivery header")

        job = {**routed, "event": event, "delivery_id": delivery}
        try:
            outcome = await run_in_threadpool(claim_and_enqueue, store, delivery, job, enqueue)
        except redis.RedisError as exc:
            log.warning("delivery %s: Redis unavailable for dedup (%s)", delivery,
                        type(exc).__name__)
            return answer(503, event_label, "redis_unavailable", delivery, status="error",
                          detail="delivery store unavailable; redeliver later")
        if outcome is Outcome.QUEUED:
            return answer(202, event_label, "queued", delivery, status="queued",
                          job=job["kind"], delivery_id=delivery)
        if outcome is Outcome.DUPLICATE:
            return answer(202, event_label, "duplicate", delivery, status="duplicate",
                          delivery_id=delivery)
        if outcome is Outcome.IN_PROGRESS:
            return answer(409, event_label, "in_progress", delivery, status="in_progress",
                          detail="this delivery is being enqueued by another request")
        return answer(503, event_label, "enqueue_failed", delivery, status="error",
                      detail="could not enqueue the job; redeliver later")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        try:
            await run_in_threadpool(client.ping)
        except redis.RedisError as exc:
            log.warning("readyz: Redis unreachable (%s)", type(exc).__name__)
            return JSONResponse(status_code=503,
                                content={"status": "unavailable", "redis": "unreachable"})
        return JSONResponse(status_code=200, content={"status": "ready", "redis": "ok"})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory``: settings from the ``IACBOT_*`` environment."""
    return create_app(Settings())
