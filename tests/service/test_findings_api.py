"""POST /v1/findings over HTTP (TestClient) with the real Redis and the deployed enqueue path:
submissions land in Redis and their jobs on the broker's list in the test database."""
import base64
import hashlib
import json
import time

import pytest
from fastapi.testclient import TestClient

from bot.service.app import create_app
from bot.service.findings_api import FINDINGS_PATH, SUBMISSION_PREFIX
from bot.service.settings import Settings
from bot.service.tenants import SignedRequest, TenantsFileError, sign_request
from tests.paths import REPO
from tests.service.conftest import SECRET, TEST_REDIS_URL
from tests.service.test_app import INGEST_QUEUE

FIXTURES = REPO / "tests" / "fixtures" / "findings"
SARIF = (FIXTURES / "results.sarif").read_bytes()
CHECKOV = (FIXTURES / "checkov.json").read_bytes()
TOKEN = "acme-token-0123456789abcdef"
HMAC_SECRET = "acme-hmac-secret-0123456789"
COMMIT = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"


@pytest.fixture
def tenants_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_ACME_HMAC", HMAC_SECRET)
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps({"tenants": [
        {"id": "acme", "installation_id": 42, "repositories": ["acme/infra", "acme-labs/*"],
         "token_sha256": hashlib.sha256(TOKEN.encode()).hexdigest(), "hmac_secret_env": "TEST_ACME_HMAC"},
        {"id": "beta", "installation_id": 43, "repositories": ["beta/*"],
         "token_sha256": hashlib.sha256(b"beta-token-0123456789").hexdigest()},
    ]}))
    return path


@pytest.fixture
def app_settings(redis_db, tenants_file):
    return Settings(webhook_secret=SECRET, redis_url=TEST_REDIS_URL, tenants_file=str(tenants_file),
                    findings_max_body_bytes=32 * 1024, job_record_ttl_seconds=600)


@pytest.fixture
def client(app_settings):
    with TestClient(create_app(app_settings)) as c:
        yield c


BEARER = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def signed(body, repository="acme/infra", ts=None, secret=HMAC_SECRET, key="", **params):
    """X-Iacbot-* headers signing this body for this query (what a tenant's CI computes)."""
    ts = int(time.time()) if ts is None else ts
    query = tuple({"repository": repository, **params}.items())
    request = SignedRequest("POST", FINDINGS_PATH, query, key)
    headers = {"X-Iacbot-Tenant": "acme", "X-Iacbot-Timestamp": str(ts),
               "X-Iacbot-Signature-256": sign_request(secret.encode(), ts, request, body)}
    return {**headers, "Idempotency-Key": key} if key else headers


def post(client, body, repository="acme/infra", headers=BEARER, **params):
    return client.post(FINDINGS_PATH, content=body, headers=headers,
                       params={"repository": repository, **params} if repository else params)


def jobs(redis_db):
    out = []
    for raw in redis_db.lrange(INGEST_QUEUE, 0, -1):
        message = json.loads(raw)
        [job], _, _ = json.loads(base64.b64decode(message["body"]))
        assert message["headers"]["id"] == job["delivery_id"]
        out.append(job)
    return out


def test_sarif_queued_once_with_its_record(client, redis_db):
    r = post(client, SARIF, commit_sha=COMMIT.upper())
    assert r.status_code == 202, r.text
    answer = r.json()
    assert answer["status"] == "queued" and answer["findings"] == 2
    assert answer["problems"] == [
        "body: runs[0].results[2]: field 'locations[0].physicalLocation.artifactLocation.uri': "
        "absolute path 'file:///etc/passwd': give paths relative to the repository root",
        "body: runs[0].results[3]: missing field 'ruleId'",
    ]
    sid = answer["submission_id"]
    [job] = jobs(redis_db)
    assert job == {"kind": "findings_submitted", "submission_id": sid, "tenant": "acme", "installation_id": 42,
                   "repository": "acme/infra", "commit_sha": COMMIT, "delivery_id": sid}
    record = json.loads(redis_db.get(SUBMISSION_PREFIX + sid))
    assert 500 < redis_db.ttl(SUBMISSION_PREFIX + sid) <= 600
    assert {k: record[k] for k in ("tenant", "installation_id", "repository", "commit_sha")} == {
        "tenant": "acme", "installation_id": 42, "repository": "acme/infra", "commit_sha": COMMIT}
    assert record["problems"] == answer["problems"]
    ebs, web = record["findings"]
    assert ebs == {"rule_id": "CKV_AWS_3", "file": "terraform/main.tf", "resource": "", "line_start": 11,
                   "line_end": 15, "severity": "HIGH", "source": "sarif:checkov", "message": "EBS not encrypted",
                   "evaluated_keys": [], "fix_class": ""}
    assert web["resource"] == "Deployment.shop.web" and web["severity"] == "MEDIUM"

    again = post(client, SARIF, commit_sha=COMMIT)  # an identical retry
    assert again.status_code == 202 and again.json()["status"] == "duplicate"
    assert again.json()["submission_id"] == sid
    assert len(jobs(redis_db)) == 1


def test_checkov_signed_with_hmac(client, redis_db):
    r = post(client, CHECKOV, repository="acme-labs/k8s", headers=signed(CHECKOV, "acme-labs/k8s"))
    assert r.status_code == 202, r.text
    assert r.json()["findings"] == 2
    assert [p.split(": ", 2)[1] for p in r.json()["problems"]] == ["report 0, failed_checks[1]",
                                                                   "report 0, failed_checks[2]"]
    assert "leaves the repository" in r.json()["problems"][0]
    [job] = jobs(redis_db)
    assert job["repository"] == "acme-labs/k8s" and job["commit_sha"] is None
    record = json.loads(redis_db.get(SUBMISSION_PREFIX + job["submission_id"]))
    assert [(f["rule_id"], f["file"], f["evaluated_keys"]) for f in record["findings"]] == [
        ("CKV_K8S_20", "k8s/web.yaml", ["spec/template/spec/containers/[0]/securityContext/allowPrivilegeEscalation"]),
        ("CKV_AWS_3", "terraform/main.tf", ["encrypted"])]


def test_normalized_format_names_bad_fields(client, redis_db):
    body = json.dumps({"findings": [
        {"rule_id": "CKV_AWS_20", "file": "./s3/main.tf", "resource": "aws_s3_bucket.data", "line_start": 3},
        {"rule_id": "CKV_AWS_21", "file": "s3/main.tf", "line_start": -1},
        {"file": "s3/main.tf"},
        {"rule_id": "X", "file": "../etc/passwd"},
        {"rule_id": "X", "file": "a.tf", "colour": "red"},
    ]}).encode()
    r = post(client, body, format="iacbot")
    assert r.status_code == 202, r.text
    assert r.json()["findings"] == 1
    assert r.json()["problems"] == [
        "body: findings[1].line_start: Input should be greater than or equal to 0",
        "body: findings[2].rule_id: Field required",
        "body: findings[3].file: '../etc/passwd' leaves the repository ('..')",
        "body: findings[4].colour: Extra inputs are not permitted",
    ]
    [job] = jobs(redis_db)
    [finding] = json.loads(redis_db.get(SUBMISSION_PREFIX + job["submission_id"]))["findings"]
    assert finding["file"] == "s3/main.tf" and finding["line_end"] == 3 and finding["source"] == "api"


# Headers are made when the test runs, not at collection: a signature's timestamp made at
# collection is stale by the time a long suite reaches this test.
@pytest.mark.parametrize("headers,detail", [
    (lambda: {}, "missing credentials"),
    (lambda: {"Authorization": "Bearer not-a-known-token"}, "unknown tenant or invalid credential"),
    (lambda: signed(SARIF, ts=int(time.time()) - 301), "more than 300 s"),
    (lambda: signed(SARIF, secret="not-the-secret-000000"), "unknown tenant or invalid credential"),
])
def test_unauthenticated_401(client, redis_db, headers, detail):
    r = post(client, SARIF, headers=headers())
    assert r.status_code == 401 and detail in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert jobs(redis_db) == [] and redis_db.keys(SUBMISSION_PREFIX + "*") == []


@pytest.mark.parametrize("replayed", [
    {"repository": "acme-labs/other"},                         # another repository of the same tenant
    {"repository": "acme-labs/k8s", "commit_sha": COMMIT},     # another commit
    {"repository": "acme-labs/k8s", "format": "checkov"},
])
def test_signed_request_cannot_be_replayed_with_another_query(client, redis_db, replayed):
    """The signature covers method, path and query: a captured request sent for another repository
    or commit_sha is refused, and nothing is queued."""
    headers = signed(CHECKOV, "acme-labs/k8s")
    r = client.post(FINDINGS_PATH, content=CHECKOV, headers=headers, params=replayed)
    assert r.status_code == 401 and "invalid credential" in r.json()["detail"], r.text
    assert jobs(redis_db) == []
    r = client.post(FINDINGS_PATH, content=CHECKOV, headers=headers, params={"repository": "acme-labs/k8s"})
    assert r.status_code == 202  # the original, as signed


def test_signed_idempotency_key(client, redis_db):
    """The Idempotency-Key is signed too: a replay under a fresh key is refused, not a second job."""
    headers = signed(SARIF, key="run-1")
    assert post(client, SARIF, headers=headers).status_code == 202
    r = post(client, SARIF, headers={**headers, "Idempotency-Key": "run-2"})
    assert r.status_code == 401 and len(jobs(redis_db)) == 1


def test_retired_body_only_signature_is_refused_by_name(client, redis_db):
    from bot.service.signature import sign
    ts = int(time.time())
    headers = {"X-Iacbot-Tenant": "acme", "X-Iacbot-Timestamp": str(ts),
               "X-Iacbot-Signature-256": sign(HMAC_SECRET.encode(), f"{ts}.".encode() + SARIF)}
    r = post(client, SARIF, headers=headers)
    assert r.status_code == 401 and "retired signature" in r.json()["detail"] and jobs(redis_db) == []


def test_deeply_nested_json_400_names_the_limit(client, redis_db):
    from bot.service.json_body import MAX_JSON_DEPTH
    body = b'{"findings": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    r = post(client, body)
    assert r.status_code == 400 and f"nested deeper than {MAX_JSON_DEPTH} levels" in r.json()["detail"], r.text


def test_files_over_the_cap_are_refused_as_a_problem(client, redis_db):
    from bot.service.findings_doc import MAX_SUBMISSION_FILES
    files = [f"{i}.tf" for i in range(MAX_SUBMISSION_FILES + 50)]
    body = json.dumps({"findings": [{"rule_id": "CKV_AWS_20", "file": f} for f in files]}).encode()
    r = post(client, body)
    assert r.status_code == 202 and r.json()["findings"] == MAX_SUBMISSION_FILES
    [problem] = r.json()["problems"]
    assert "50 findings refused" in problem and f"'{files[MAX_SUBMISSION_FILES]}'" in problem
    [job] = jobs(redis_db)
    record = json.loads(redis_db.get(SUBMISSION_PREFIX + job["submission_id"]))
    assert len(record["findings"]) == MAX_SUBMISSION_FILES and record["problems"] == [problem]


def test_repository_not_allowed_403(client, redis_db):
    r = post(client, SARIF, repository="acme/other")
    assert r.status_code == 403 and "acme/other" in r.json()["detail"]
    r = post(client, SARIF, repository="beta/x")  # another tenant's owner
    assert r.status_code == 403
    assert jobs(redis_db) == []


@pytest.mark.parametrize("body,params,detail", [
    (b"{nope", {}, "body is not valid JSON: Expecting property name"),
    (b'{"something": []}', {}, "neither SARIF 2.1.0"),
    (b'{"runs": {}}', {}, "neither SARIF"),
    (b'{"findings": {}}', {}, "findings: expected a list"),
    (b'[{"results": []}]', {}, "report 0: expected 'results' with a 'failed_checks' list"),
    (SARIF, {"commit_sha": "abc"}, "commit_sha: expected 40 hexadecimal digits"),
    (SARIF, {"format": "xml"}, "format: expected one of sarif, checkov, iacbot"),
    (SARIF, {"repository": ""}, "repository: required query parameter"),
    (SARIF, {"repository": "../x"}, "repository: required query parameter"),
    (SARIF, {"repository": "acme-labs/.."}, "repository: required query parameter"),
    (SARIF, {"repository": "acme-labs/."}, "repository: required query parameter"),
    (SARIF, {"colour": "red"}, "colour: unknown query parameter"),
])
def test_bad_request_400_names_the_problem(client, redis_db, body, params, detail):
    r = post(client, body, **{"repository": "acme/infra", **params})
    assert r.status_code == 400 and detail in r.json()["detail"], r.text
    assert jobs(redis_db) == []


def test_repeated_query_parameter_400(client, redis_db):
    r = client.post(FINDINGS_PATH + "?repository=acme/infra&repository=acme-labs/x", content=SARIF, headers=BEARER)
    assert r.status_code == 400 and r.json()["detail"] == "repository: given more than once"
    assert jobs(redis_db) == []


def test_bad_idempotency_key_400(client):
    r = post(client, SARIF, headers={**BEARER, "Idempotency-Key": "has space"})
    assert r.status_code == 400 and r.json()["detail"].startswith("Idempotency-Key:")


def test_too_large_413(client):
    body = b'{"findings": [' + b" " * (32 * 1024) + b"]}"
    assert post(client, body).status_code == 413


def test_idempotency_key_per_tenant(client, redis_db):
    key = {"Idempotency-Key": "nightly-2026-01-01"}
    first = post(client, SARIF, headers={**BEARER, **key})
    changed = post(client, CHECKOV, headers={**BEARER, **key})  # same key, other body: the first stands
    assert first.json()["status"] == "queued" and changed.json()["status"] == "duplicate"
    assert changed.json()["submission_id"] == first.json()["submission_id"]
    beta = post(client, SARIF, repository="beta/app",
                headers={"Authorization": "Bearer beta-token-0123456789", **key})
    assert beta.json()["status"] == "queued" and beta.json()["submission_id"] != first.json()["submission_id"]
    assert [j["tenant"] for j in jobs(redis_db)] == ["beta", "acme"]


def test_nothing_readable_422_and_empty_200(client, redis_db):
    r = post(client, json.dumps({"findings": [{"rule_id": "X"}]}).encode())
    assert r.status_code == 422 and r.json()["problems"] == ["body: findings[0].file: Field required"]
    r = post(client, b'{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "t"}}, "results": []}]}')
    assert r.status_code == 200 and r.json() == {"status": "empty", "findings": 0, "problems": []}
    assert jobs(redis_db) == []


def test_broker_refusal_leaves_no_record_and_no_claim(client, redis_db):
    redis_db.set(INGEST_QUEUE, "not a list")  # LPUSH fails inside the script
    r = post(client, SARIF)
    assert r.status_code == 503 and r.json()["submission_id"].startswith("sub-")
    assert redis_db.keys(SUBMISSION_PREFIX + "*") == [] and redis_db.keys("iacbot:delivery:*") == []
    redis_db.delete(INGEST_QUEUE)
    assert post(client, SARIF).json()["status"] == "queued"  # the retry goes through


def test_metrics_and_no_credentials_in_logs(client, caplog):
    caplog.set_level("DEBUG")
    post(client, SARIF)
    post(client, SARIF)
    post(client, SARIF, headers={"Authorization": "Bearer wrong-token-0000"})
    text = client.get("/metrics").text
    assert 'iacbot_findings_submissions_total{outcome="queued",tenant="acme"} 1.0' in text
    assert 'iacbot_findings_submissions_total{outcome="duplicate",tenant="acme"} 1.0' in text
    assert 'iacbot_findings_submissions_total{outcome="unauthorized",tenant="unauthenticated"} 1.0' in text
    assert 'iacbot_findings_entries_total{result="queued",tenant="acme"} 2.0' in text
    assert "tenant=acme outcome=queued" in caplog.text
    for secret in (TOKEN, "wrong-token-0000", HMAC_SECRET):
        assert secret not in caplog.text and secret not in text


def test_bad_tenants_file_fails_startup(tmp_path, redis_db):
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps({"tenants": [{"id": "x", "installation_id": 1, "repositories": ["a/b"],
                                             "token": "inline-token-1234"}]}))
    settings = Settings(webhook_secret=SECRET, redis_url=TEST_REDIS_URL, tenants_file=str(path))
    with pytest.raises(TenantsFileError) as err:
        create_app(settings)
    assert str(path) in str(err.value) and "tenants[0].token" in str(err.value)
    assert "inline-token-1234" not in str(err.value)


def test_no_tenants_configured_401(settings, redis_db):
    with TestClient(create_app(settings)) as c:
        assert post(c, SARIF).status_code == 401
