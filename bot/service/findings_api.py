"""``POST /v1/findings``: findings from any scanner or cloud tool become a queued job.

Order of checks. Before a byte of the body is read: the credential as far as headers tell
(401: a bearer token in full; for a signature its form, the timestamp and the tenant), the query
parameters and Idempotency-Key (400, naming the one that is wrong; unknown or repeated
parameters too), the declared Content-Length (413), and for a bearer token the repository (403).
Then the body, with bounded size, time and concurrency (413, 408, 503; bot.service.http) -> the
signature over method, path, query, key and body (401) -> repository allowed (403) -> the
document (400 when unreadable or nested too deep; bot.service.findings_doc) -> entries (those
that fail, or lie beyond the caps of MAX_SUBMISSION_FINDINGS findings and MAX_SUBMISSION_FILES
files, are listed as problems; when none is left: 422).

Accepted findings are stored as ``iacbot:submission:<id>`` (JSON: tenant, installation_id,
repository, commit_sha or null, findings as ``dataclasses.asdict(Finding)``, problems; TTL
``job_record_ttl_seconds``) together with, and only with, the small job
``{"kind": "findings_submitted", "submission_id", "tenant", "installation_id", "repository",
"commit_sha", "delivery_id"}``, through the webhook's own dedup + enqueue path with the
submission id as delivery id. 202 only once the job is on the broker.

The submission id is derived from the tenant and the ``Idempotency-Key`` when one is given
(a reused key is a duplicate, whatever the body), else from the tenant, repository, commit and
body: an identical retry, or a replay of a captured signed request, is a duplicate, not a
second job. Tenants get distinct ids for the same key, so no tenant can block another's.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import time
from typing import Any, Callable

import anyio.to_thread
import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter

from bot.service import api_models, openapi
from bot.service.deliveries import Outcome, Submit
from bot.github.names import REPOSITORY, is_repository
from bot.service.findings_doc import (
    FORMATS,
    MAX_SUBMISSION_FILES,
    MAX_SUBMISSION_FINDINGS,
    DocumentError,
    FindingsDocument,
    read_document,
)
from bot.service.http import SMALL_BODY_BYTES, BodyReader, BodyRefused
from bot.service.json_body import MAX_JSON_DEPTH
from bot.service.tenants import Claim, SignedRequest, Tenants, Unauthorized, claim_from_headers, verify_claim
from jobs.kinds import SUBMISSION_PREFIX, FindingsSubmitted  # noqa: F401  SUBMISSION_PREFIX: the key the worker reads back

log = logging.getLogger(__name__)

FINDINGS_PATH = "/v1/findings"
JOB_KIND = FindingsSubmitted.KIND
MAX_PROBLEMS_SHOWN = 100
_COMMIT = re.compile(r"^[0-9a-fA-F]{40}$")
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class _BadRequest(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def submission_id(tenant: str, repository: str, commit_sha: str | None, body: bytes,
                  idempotency_key: str | None) -> str:
    """The submission's id (also its delivery and task id). Pure."""
    digest = hashlib.sha256()
    if idempotency_key is not None:
        digest.update(b"key\0" + tenant.encode() + b"\0" + idempotency_key.encode())
    else:
        digest.update(b"body\0" + f"{tenant}\0{repository.lower()}\0{commit_sha or ''}\0".encode() + body)
    return "sub-" + digest.hexdigest()[:40]


_QUERY_NAMES = ("repository", "commit_sha", "format")


def _params(request: Request) -> tuple[str, str | None, str | None, str | None]:
    query = request.query_params
    for name in query:
        if name not in _QUERY_NAMES:
            raise _BadRequest(400, f"{name[:64]}: unknown query parameter (allowed: {', '.join(_QUERY_NAMES)})")
        if len(query.getlist(name)) > 1:
            raise _BadRequest(400, f"{name}: given more than once")
    repository = query.get("repository")
    if not repository or not is_repository(repository):
        raise _BadRequest(400, "repository: required query parameter, owner/name of a GitHub repository")
    commit = query.get("commit_sha")
    if commit is not None and not _COMMIT.match(commit):
        raise _BadRequest(400, "commit_sha: expected 40 hexadecimal digits (omit it for the default branch head)")
    fmt = query.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise _BadRequest(400, f"format: expected one of {', '.join(FORMATS)} (omit it to detect)")
    key = request.headers.get("idempotency-key")
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise _BadRequest(400, "Idempotency-Key: 1-128 letters, digits, '.', '_', ':' or '-'")
    return repository, commit.lower() if commit else None, fmt, key


def signed_request(request: Request) -> SignedRequest:
    """What the tenant's signature must cover of this request (bot.service.tenants.signed_message)."""
    # The route's own path, whatever prefix a proxy in front adds.
    return SignedRequest(request.method, FINDINGS_PATH, tuple(request.query_params.multi_items()),
                         request.headers.get("idempotency-key") or "")


def add_findings_api(app: FastAPI, *, tenants: Tenants, submit: Submit, bodies: BodyReader, max_body: int,
                     record_ttl: int, registry: CollectorRegistry,
                     clock: Callable[[], float] = time.time) -> None:
    submissions = Counter("iacbot_findings_submissions", "Findings API requests by tenant and outcome",
                          ["tenant", "outcome"], registry=registry)
    entries = Counter("iacbot_findings_entries", "Findings API entries queued or skipped, by tenant",
                      ["tenant", "result"], registry=registry)

    def answer(code: int, tenant: str, outcome: str, body: dict[str, Any],
               headers: dict[str, str] | None = None) -> JSONResponse:
        submissions.labels(tenant=tenant, outcome=outcome).inc()
        log.info("findings tenant=%s outcome=%s submission=%s", tenant, outcome, body.get("submission_id", "-"))
        return JSONResponse(status_code=code, content=body, headers=headers)

    def error(code: int, tenant: str, outcome: str, detail: str, headers: dict[str, str] | None = None,
              **extra: Any) -> JSONResponse:
        if code == 401:
            headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="iacbot"'}
        return answer(code, tenant, outcome, {"status": "error", "detail": detail, **extra}, headers)

    def proven(claim: Claim) -> str:
        """The tenant label for metrics and logs: a signature's tenant is only claimed until verified."""
        return claim.tenant.id if claim.signature is None else "unauthenticated"

    @app.post(FINDINGS_PATH, status_code=202, tags=["findings"], summary="Submit findings for a repository",
              responses=_RESPONSES, openapi_extra=_OPENAPI_EXTRA)
    async def submit_findings(request: Request) -> JSONResponse:
        # Everything the headers and the query can tell is checked before the body is read; the
        # unread rest of a refused body cannot share the connection with another request.
        close = {"Connection": "close"}
        try:
            claim = claim_from_headers(tenants, request.headers, clock())
        except Unauthorized as exc:
            return error(401, "unauthenticated", "unauthorized", exc.detail, close)
        try:
            repository, commit, fmt, key = _params(request)
        except _BadRequest as exc:
            return error(exc.code, proven(claim), "bad_request", exc.detail, close)
        forbidden = f"repository: tenant {claim.tenant.id!r} may not submit for {repository}"
        if claim.signature is None and not claim.tenant.allows(repository):
            return error(403, claim.tenant.id, "forbidden", forbidden, close)
        try:
            body = await bodies.read(request, max_body)
        except BodyRefused as refused:
            return error(refused.status, proven(claim), refused.outcome, refused.detail,
                         bodies.refusal_headers(refused))
        try:
            tenant = verify_claim(claim, signed_request(request), body)
        except Unauthorized as exc:
            return error(401, "unauthenticated", "unauthorized", exc.detail)
        if not tenant.allows(repository):
            return error(403, tenant.id, "forbidden", forbidden)
        try:
            if len(body) > SMALL_BODY_BYTES:  # parsed off the event loop, so webhooks keep flowing
                findings, problems = await anyio.to_thread.run_sync(read_document, body, fmt)
            else:
                findings, problems = read_document(body, fmt)
        except DocumentError as exc:
            return error(400, tenant.id, "malformed", str(exc))
        shown = _shown(problems)
        if not findings:
            if problems:
                return error(422, tenant.id, "no_findings", "no entry could be read", problems=shown)
            return answer(200, tenant.id, "empty", {"status": "empty", "findings": 0, "problems": []})

        sid = submission_id(tenant.id, repository, commit, body, key)
        record = json.dumps({"tenant": tenant.id, "installation_id": tenant.installation_id,
                             "repository": repository, "commit_sha": commit,
                             "findings": [dataclasses.asdict(f) for f in findings], "problems": problems})
        job = FindingsSubmitted(submission_id=sid, tenant=tenant.id, installation_id=tenant.installation_id,
                                repository=repository, commit_sha=commit, delivery_id=sid)
        try:
            outcome = await submit(sid, job.to_message(), (job.submission_key, record, record_ttl))
        except redis.RedisError as exc:
            log.warning("findings submission %s: Redis unavailable (%s)", sid, type(exc).__name__)
            return error(503, tenant.id, "redis_unavailable", "submission store unavailable; retry later",
                         submission_id=sid)
        if outcome is Outcome.IN_PROGRESS:
            return error(409, tenant.id, "in_progress", "this submission is being enqueued by another request",
                         submission_id=sid)
        if outcome is Outcome.ENQUEUE_FAILED:
            return error(503, tenant.id, "enqueue_failed", "could not enqueue the job; retry later",
                         submission_id=sid)
        if outcome is Outcome.QUEUED:
            entries.labels(tenant=tenant.id, result="queued").inc(len(findings))
            entries.labels(tenant=tenant.id, result="problem").inc(len(problems))
        return answer(202, tenant.id, outcome.value, {"status": outcome.value, "submission_id": sid,
                                                      "findings": len(findings), "problems": shown})


def _shown(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_PROBLEMS_SHOWN:
        return problems
    more = len(problems) - MAX_PROBLEMS_SHOWN
    return problems[:MAX_PROBLEMS_SHOWN] + [f"... and {more} more problems (all are kept with the submission)"]


def _error(description: str) -> dict[str, Any]:
    return {"model": api_models.Error, "description": description}


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": api_models.FindingsEmpty, "description": "the document holds no findings: nothing to do"},
    202: {"model": api_models.FindingsAnswer,
          "description": "queued (or a duplicate of a queued submission); problems name skipped entries"},
    400: _error(f"unreadable document or one nested deeper than {MAX_JSON_DEPTH} levels, or a bad, unknown "
                "or repeated query parameter or Idempotency-Key (named in detail)"),
    401: _error("unknown tenant, bad credential, X-Iacbot-Timestamp more than 300 s off, or a signature that "
                "is not over this method, path, query, Idempotency-Key and body (the retired body-only "
                "signature is refused by name)"),
    403: _error("the tenant may not submit for this repository"),
    408: _error("the body did not arrive within IACBOT_BODY_TIMEOUT_SECONDS"),
    409: {"model": api_models.InProgress, "description": "the same submission is being enqueued right now"},
    413: _error("body (or its declared Content-Length) larger than IACBOT_FINDINGS_MAX_BODY_BYTES"),
    422: {"model": api_models.FindingsRejected, "description": "no entry could be read; problems name each"},
    503: _error("too many large bodies being received at once (Retry-After), or Redis or the broker "
                "unavailable; retry later"),
}



_OPENAPI_EXTRA: dict[str, Any] = {
    "description": __doc__.split("\n\n", 1)[1],
    "security": [{"bearerToken": []}, {"tenantHmac": [], "tenantId": [], "tenantTimestamp": []}],
    "parameters": [
        {"name": "repository", "in": "query", "required": True, "description": "owner/name",
         "schema": {"type": "string", "pattern": REPOSITORY.pattern}},
        {"name": "commit_sha", "in": "query", "required": False,
         "description": "the commit the findings are about; absent: the default branch head",
         "schema": {"type": "string", "pattern": _COMMIT.pattern}},
        {"name": "format", "in": "query", "required": False, "description": "absent: detected from the body",
         "schema": {"type": "string", "enum": list(FORMATS)}},
        openapi.header("Idempotency-Key", "names the submission: a retry with the same key is a duplicate",
                       _IDEMPOTENCY_KEY.pattern),
    ],
    "requestBody": {
        "required": True,
        "description": "SARIF 2.1.0, checkov JSON (checkov -o json), or iacbot's normalized findings; at most "
                       f"{MAX_SUBMISSION_FINDINGS} findings on {MAX_SUBMISSION_FILES} distinct files are taken "
                       f"(the rest are refused as a problem), nested at most {MAX_JSON_DEPTH} levels",
        "content": {"application/json": {"schema": {"oneOf": [
            {"$ref": "#/components/schemas/FindingsDocument"},
            {"type": "object", "title": "SARIF 2.1.0", "required": ["runs"],
             "properties": {"version": {"type": "string", "enum": ["2.1.0"]}, "runs": {"type": "array"}},
             "externalDocs": {"url": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html"}},
            {"title": "checkov JSON", "description": "one checkov report, or a list of them",
             "oneOf": [{"type": "object", "required": ["results"]},
                       {"type": "array", "items": {"type": "object", "required": ["results"]}}]},
        ]}}},
    },
}

#: Schemas the description refers to that no route declares as a model.
EXTRA_SCHEMAS = {"FindingsDocument": FindingsDocument}
