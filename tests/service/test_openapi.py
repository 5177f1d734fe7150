"""/openapi.json describes every route: paths, security schemes, parameters and response codes."""
import json

import pytest
from fastapi.testclient import TestClient

from bot.service.app import create_app


@pytest.fixture(scope="module")
def spec():
    from bot.service.settings import Settings
    from tests.service.conftest import SECRET
    app = create_app(Settings(webhook_secret=SECRET, redis_url="redis://127.0.0.1:1/11"), enqueue=lambda j, d: None)
    with TestClient(app) as client:
        r = client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def codes(operation):
    return {int(c) for c in operation["responses"]}


def test_paths_and_security_schemes(spec):
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {"/webhooks/github", "/v1/findings", "/healthz", "/readyz", "/metrics"}
    schemes = spec["components"]["securitySchemes"]
    assert schemes["githubSignature"] == {**schemes["githubSignature"], "type": "apiKey", "in": "header",
                                          "name": "X-Hub-Signature-256"}
    assert schemes["bearerToken"]["scheme"] == "bearer"
    assert {schemes[n]["name"] for n in ("tenantHmac", "tenantId", "tenantTimestamp")} == {
        "X-Iacbot-Signature-256", "X-Iacbot-Tenant", "X-Iacbot-Timestamp"}


def test_webhook_operation(spec):
    op = spec["paths"]["/webhooks/github"]["post"]
    assert op["security"] == [{"githubSignature": []}]
    headers = {p["name"]: p for p in op["parameters"] if p["in"] == "header"}
    assert set(headers) == {"X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256"}
    assert all(p["required"] for p in headers.values())
    assert "application/json" in op["requestBody"]["content"]
    assert codes(op) == {202, 400, 401, 408, 409, 413, 415, 503}
    answer = op["responses"]["202"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert spec["components"]["schemas"][answer]["properties"]["status"]["enum"] == ["queued", "spooled", "duplicate",
                                                                                   "ignored"]


def test_findings_operation(spec):
    op = spec["paths"]["/v1/findings"]["post"]
    assert {"bearerToken": []} in op["security"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["repository"]["required"] and params["repository"]["in"] == "query"
    assert not params["commit_sha"]["required"] and params["format"]["schema"]["enum"] == ["sarif", "checkov",
                                                                                           "iacbot"]
    assert params["Idempotency-Key"]["in"] == "header"
    assert codes(op) == {200, 202, 400, 401, 403, 408, 409, 413, 422, 503}
    variants = op["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert {"$ref": "#/components/schemas/FindingsDocument"} in variants
    finding = spec["components"]["schemas"]["FindingIn"]
    assert finding["required"] == ["rule_id", "file"] and finding["additionalProperties"] is False


def test_operations_endpoints(spec):
    assert codes(spec["paths"]["/readyz"]["get"]) == {200, 503}
    assert 200 in codes(spec["paths"]["/healthz"]["get"])
    assert "text/plain" in spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]


def test_no_promise_that_github_redelivers(spec):
    """GitHub does not send a failed delivery again by itself: nothing may say it will."""
    text = json.dumps(spec).lower()
    assert "github may redeliver" not in text and "redeliver later" not in text
    assert "does not send it again by itself" in text
