"""The OpenAPI description's parts that FastAPI cannot infer from the routes: the security
schemes (GitHub's webhook signature, the findings API's bearer token and HMAC headers) and
schemas that only a hand-written request body refers to."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

SECURITY_SCHEMES: dict[str, Any] = {
    "githubSignature": {
        "type": "apiKey", "in": "header", "name": "X-Hub-Signature-256",
        "description": "sha256=<hex of HMAC-SHA256(webhook secret, raw body)>, as GitHub signs deliveries",
    },
    "bearerToken": {
        "type": "http", "scheme": "bearer",
        "description": "a tenant's token; the server keeps only its sha256 (tenants file)",
    },
    "tenantHmac": {
        "type": "apiKey", "in": "header", "name": "X-Iacbot-Signature-256",
        "description": "sha256=<hex of HMAC-SHA256(tenant secret, message)>, the message being X-Iacbot-Timestamp, "
                       "the method (POST), the path (/v1/findings), the query's name=value pairs sorted by name "
                       "and joined with '&' (values as typed, not re-encoded), and the Idempotency-Key (empty "
                       "when absent), each followed by a newline (LF), then the raw body. The retired "
                       'X-Iacbot-Timestamp + "." + body scheme is refused.',
    },
    "tenantId": {"type": "apiKey", "in": "header", "name": "X-Iacbot-Tenant",
                 "description": "the tenant id, with X-Iacbot-Signature-256"},
    "tenantTimestamp": {"type": "apiKey", "in": "header", "name": "X-Iacbot-Timestamp",
                        "description": "unix seconds; refused when more than 300 s from the server's clock"},
}


def header(name: str, description: str, pattern: str | None = None, *, required: bool = False) -> dict[str, Any]:
    """An OpenAPI header parameter, for routes that read their headers by hand (raw-body routes)."""
    schema: dict[str, Any] = {"type": "string"}
    if pattern:
        schema["pattern"] = pattern
    return {"name": name, "in": "header", "required": required, "description": description, "schema": schema}


def install(app: FastAPI, extra_schemas: dict[str, type[BaseModel]]) -> None:
    """Make ``app.openapi()`` (served at /openapi.json) include the parts above; built once."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            components = schema.setdefault("components", {})
            components["securitySchemes"] = SECURITY_SCHEMES
            schemas = components.setdefault("schemas", {})
            for name, model in extra_schemas.items():
                definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(definition.pop("$defs", {}))
                schemas[name] = definition
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
