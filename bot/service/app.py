"""The service: FastAPI app factory.

``POST /webhooks/github``: before reading, a missing or malformed X-Hub-Signature-256 (401) and
a declared Content-Length over the cap (413); then the body, read with bounded size, time and
concurrency (413, 408, 503; bot.service.http) -> signature (401) -> JSON with bounded nesting
(400) -> route ->
ignored (202) or claim delivery id + enqueue + 202 queued / duplicate. The handler only
enqueues a small job description; all work happens in the worker.
``POST /v1/findings``: the findings API (bot.service.findings_api), through the same enqueue.
``/healthz``, ``/readyz``, ``/metrics`` (Prometheus) and ``/openapi.json`` (this API described).

Production: ``uvicorn --factory bot.service.app:app_from_env --loop uvloop --http
bot.service.uvicorn_http:HttpTools --no-access-log --timeout-keep-alive 5 --limit-concurrency 512
--workers <cores>`` with ``IACBOT_WEBHOOK_SECRET`` set (scripts/bench_ingest.py measures exactly
that command).

As deployed the broker is the delivery store's own Redis, so dedup and enqueue are one atomic
script call from the event loop (deliveries.AtomicEnqueue with broker.task_message); an
injected ``enqueue`` (another publisher, tests) goes through claim -> enqueue -> confirm.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from typing import Any, AsyncIterator

import anyio.to_thread
import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from bot.service import api_models, broker, openapi
from bot.service.aredis import LoopLocalRedis
from bot.service.deliveries import AtomicEnqueue, ClaimThenEnqueue, DeliveryStore, Enqueue, Outcome, Submit
from bot.service.durability import ACCEPTING, Verdict, startup_verdict
from bot.service.events import Ignored, Job, route
from bot.service.findings_api import EXTRA_SCHEMAS, add_findings_api
from bot.service.http import SMALL_BODY_BYTES, BodyReader, BodyRefused
from bot.service.json_body import MAX_JSON_DEPTH, TooDeep, loads_bounded
from bot.service.settings import Settings
from bot.service.signature import is_well_formed, verify_signature
from bot.service.spool import BrokerGuard, Spool, SpoolingSubmit
from bot.service.tenants import Tenants, load_tenants

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/github"
# GitHub sends a GUID; anything else is refused before it becomes a Redis key or a task id.
_DELIVERY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
_EVENT_NAME = re.compile(r"^[a-z_]{1,64}$")


def celery_enqueue(settings: Settings) -> Enqueue:
    """Publish jobs with Celery's own publisher (``send_task``) to the broker in ``settings``."""
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


def atomic_submit(settings: Settings, client: LoopLocalRedis) -> Submit:
    """Dedup + enqueue in one script on the broker's Redis (the deployed configuration)."""
    from workers.celery_app import job_target

    sender = broker.origin()

    def message_for(job: dict[str, Any], delivery_id: str) -> tuple[str, str]:
        task, queue = job_target(job)
        return queue, broker.task_message(task, queue, job, delivery_id, sender)

    return AtomicEnqueue(client, settings.delivery_ttl_seconds, message_for)


def create_app(settings: Settings, enqueue: Enqueue | None = None) -> FastAPI:
    """The app; raises TenantsFileError (naming file and field) when the tenants file is bad, and
    BrokerNotDurable when Redis answers but would lose queued jobs on a restart (durability)."""
    secret = settings.webhook_secret.get_secret_value().encode()
    max_body = settings.max_body_bytes
    bodies = BodyReader(settings.max_large_bodies, settings.body_timeout_seconds)
    tenants = load_tenants(settings.tenants_file) if settings.tenants_file else Tenants()
    if not tenants.tenants:
        log.info("findings API: no tenants configured (IACBOT_TENANTS_FILE); every request gets 401")
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=1)
    aclient = LoopLocalRedis(settings.redis_url, socket_timeout=2, socket_connect_timeout=1)
    store = DeliveryStore(client, settings.delivery_ttl_seconds)
    broker_submit: Submit = (atomic_submit(settings, aclient) if enqueue is None
                             else ClaimThenEnqueue(store, enqueue))
    guard = BrokerGuard(settings.broker_durability, aclient,
                        startup_verdict(client, settings.broker_durability))
    spool = (Spool(settings.spool_dir, settings.spool_max_bytes, settings.spool_max_entries)
             if settings.spool_dir else None)
    if spool is None:
        log.warning("no IACBOT_SPOOL_DIR: a delivery the broker cannot take is answered 503 and kept nowhere")
    submit = SpoolingSubmit(broker_submit, guard, spool)

    registry = CollectorRegistry()
    deliveries = Counter("iacbot_webhook_deliveries", "Webhook deliveries by event and outcome",
                         ["event", "outcome"], registry=registry)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        drainer = asyncio.create_task(submit.drain_forever()) if spool else None
        yield
        if drainer is not None:
            drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drainer
        await aclient.aclose()
        client.close()

    app = FastAPI(title="iacbot", version="0.1.0", docs_url=None, redoc_url=None, lifespan=lifespan,
                  openapi_url="/openapi.json",
                  description="GitHub App webhook receiver and findings API of iacbot: each accepted "
                              "delivery or submission becomes exactly one job on the broker.")
    app.state.settings = settings
    app.state.redis = client
    app.state.deliveries = store
    app.state.submit = submit
    app.state.metrics_registry = registry

    def answer(code: int, event: str, outcome: str, delivery: str | None,
               headers: dict[str, str] | None = None, **body: Any) -> JSONResponse:
        deliveries.labels(event=event, outcome=outcome).inc()
        log.info("webhook delivery=%s event=%s outcome=%s", delivery or "-", event, outcome)
        return JSONResponse(status_code=code, content={"status": body.pop("status", outcome),
                                                         **body}, headers=headers)

    @app.post(WEBHOOK_PATH, status_code=202, tags=["github"], summary="Receive a GitHub App webhook delivery",
              responses=_WEBHOOK_RESPONSES, openapi_extra=_WEBHOOK_OPENAPI)
    async def github_webhook(request: Request) -> JSONResponse:
        raw_delivery = request.headers.get("x-github-delivery")
        delivery = raw_delivery if raw_delivery and _DELIVERY_ID.match(raw_delivery) else None
        signature = request.headers.get("x-hub-signature-256")
        if not is_well_formed(signature):  # refused before a byte of the body is read
            return answer(401, "unverified", "bad_signature", delivery, {"Connection": "close"},
                          status="error", detail="missing or invalid X-Hub-Signature-256")
        try:
            body = await bodies.read(request, max_body)
        except BodyRefused as refused:
            return answer(refused.status, "unverified", refused.outcome, delivery,
                          bodies.refusal_headers(refused), status="error", detail=refused.detail)
        if not verify_signature(secret, body, signature):
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
            # A large body is parsed and routed off the event loop, so other deliveries keep flowing.
            routed = (await anyio.to_thread.run_sync(parse_and_route, event, body) if len(body) > SMALL_BODY_BYTES
                      else parse_and_route(event, body))
        except TooDeep as exc:
            return answer(400, event_label, "malformed", delivery, status="error",
                          detail=f"body is not accepted: {exc}")
        except ValueError:
            return answer(400, event_label, "malformed", delivery, status="error",
                          detail="body is not valid JSON")

        if isinstance(routed, Ignored):
            return answer(202, event_label, "ignored", delivery, status="ignored",
                          reason=routed.reason)
        if delivery is None:
            return answer(400, event_label, "bad_request", None, status="error",
                          detail="missing or malformed X-GitHub-Delivery header")

        job = {**routed, "event": event, "delivery_id": delivery}
        try:
            outcome = await submit(delivery, job, None, body_sha256=hashlib.sha256(body).hexdigest())
        except redis.RedisError as exc:
            log.warning("delivery %s: Redis unavailable for dedup (%s)", delivery,
                        type(exc).__name__)
            return answer(503, event_label, "redis_unavailable", delivery, status="error",
                          detail="delivery store unavailable; send it again later")
        if outcome is Outcome.QUEUED:
            return answer(202, event_label, "queued", delivery, status="queued",
                          job=job["kind"], delivery_id=delivery)
        if outcome is Outcome.DUPLICATE:
            return answer(202, event_label, "duplicate", delivery, status="duplicate",
                          delivery_id=delivery)
        if outcome is Outcome.SPOOLED:
            return answer(202, event_label, "spooled", delivery, status="spooled",
                          job=job["kind"], delivery_id=delivery)
        if outcome is Outcome.IN_PROGRESS:
            return answer(409, event_label, "in_progress", delivery, status="in_progress",
                          detail="this delivery is being enqueued by another request")
        return answer(503, event_label, "enqueue_failed", delivery, status="error",
                      detail="could not enqueue or spool the job; send it again later")

    add_findings_api(app, tenants=tenants, submit=submit, bodies=bodies,
                     max_body=settings.findings_max_body_bytes,
                     record_ttl=settings.job_record_ttl_seconds, registry=registry)

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers",
             response_model=api_models.Health)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"],
             summary="Readiness: Redis (dedup store and broker) answers and is durable",
             response_model=api_models.Ready,
             responses={503: {"model": api_models.Ready,
                              "description": "Redis unreachable, or not durable (broker says why)"}})
    async def readyz() -> JSONResponse:
        verdict = await guard.refresh()
        ready = verdict in ACCEPTING
        return JSONResponse(status_code=200 if ready else 503, content={
            "status": "ready" if ready else "unavailable",
            "redis": "unreachable" if verdict is Verdict.UNREACHABLE else "ok",
            "broker": verdict.value})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             responses={200: {"description": "Prometheus text exposition format",
                              "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}})
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    openapi.install(app, EXTRA_SCHEMAS)
    return app


def parse_and_route(event: str, body: bytes) -> Job | Ignored:
    """The delivery's job or why none; TooDeep or ValueError when the body is not acceptable JSON."""
    return route(event, loads_bounded(body))


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory``: settings from the ``IACBOT_*`` environment."""
    return create_app(Settings())


def _error(description: str) -> dict[str, Any]:
    return {"model": api_models.Error, "description": description}


_WEBHOOK_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": api_models.WebhookAnswer,
          "description": "queued (the job is on the broker), spooled (the broker could not take it: kept on "
                         "the receiver's disk and enqueued when the broker is back), duplicate (this delivery "
                         "id or this signed body was queued before) or ignored (no job needed; reason says why)"},
    400: _error("missing X-GitHub-Event or X-GitHub-Delivery, or a body that is not JSON or is nested deeper "
                f"than {MAX_JSON_DEPTH} levels"),
    401: _error("X-Hub-Signature-256 missing or malformed (refused before the body is read), or not the "
                "body's signature under the webhook secret"),
    408: _error("the body did not arrive within IACBOT_BODY_TIMEOUT_SECONDS"),
    409: {"model": api_models.InProgress, "description": "another request is enqueueing this delivery now"},
    413: _error("body (or its declared Content-Length) larger than IACBOT_MAX_BODY_BYTES"),
    415: _error("form-encoded delivery: set the webhook content type to application/json"),
    503: _error("too many large bodies being received at once (Retry-After), or the broker unavailable and "
                "the spool full or not configured: nothing kept the delivery. GitHub does not send it again "
                "by itself: redeliver it from the App's delivery log"),
}


_WEBHOOK_OPENAPI: dict[str, Any] = {
    "description": "GitHub's delivery, verified before it is parsed. The same X-GitHub-Delivery, or the same "
                   "signed body under another id, starts no second job; 202 means the job is on the durable "
                   "broker (queued) or in the receiver's spool (spooled).",
    "security": [{"githubSignature": []}],
    "parameters": [
        openapi.header("X-GitHub-Event", "the event name (push, code_scanning_alert, installation, ...)",
                       required=True),
        openapi.header("X-GitHub-Delivery", "the delivery's GUID: the dedup key and the job's id",
                       _DELIVERY_ID.pattern, required=True),
        openapi.header("X-Hub-Signature-256", "sha256=<hex of HMAC-SHA256(webhook secret, raw body)>",
                       r"^sha256=[0-9a-fA-F]{64}$", required=True),
    ],
    "requestBody": {
        "required": True,
        "description": "the event's payload exactly as GitHub sent it (raw bytes: the signature covers them)",
        "content": {"application/json": {"schema": {
            "type": "object", "additionalProperties": True,
            "externalDocs": {"url": "https://docs.github.com/en/webhooks/webhook-events-and-payloads"}}}},
    },
}
