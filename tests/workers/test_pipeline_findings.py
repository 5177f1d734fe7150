"""Findings that arrive already located become PRs on REAL workers without a scan step: a GitHub
code-scanning alert (a signed webhook delivery, with and without its most recent instance) and a
findings submission stored in Redis. One main-env worker (queues remediate,publish) fetches the
alert and the files with a read-only token, remediates only that finding (verification re-scans)
and publishes. The worker and the GitHub double live for the whole module; each test has its own
repository."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import uuid

import pytest
from fastapi.testclient import TestClient
from github import Auth, Github

from bot.github.auth import installation_token
from bot.github.pr_body import read_provenance
from bot.service.app import create_app
from bot.service.settings import CommonSettings, Settings
from fixers.models import Finding
from tests.celery_worker import celery_worker, wait_for
from tests.github_double import GitHubDouble
from tests.github_double.webhooks import code_scanning_delivery
from tests.paths import REPO
from tests.service.conftest import TEST_REDIS_URL, redis_db  # noqa: F401  (fixture)
from tests.workers.manifests import PRIVILEGED_DEPLOYMENT
from workers.celery_app import INGEST_QUEUE, INGEST_TASK, make_celery
from workers.store import (FETCHED_PREFIX, FILES_PREFIX, FIXES_PREFIX, PUBLISHED_PREFIX, REMEDIATED_PREFIX, SCAN_PREFIX,
                           SUBMISSION_PREFIX)

APP_ID = 434343
SECRET = "webhook-secret-for-tests-only"
MANIFEST = PRIVILEGED_DEPLOYMENT.replace("privileged: true\n",
                                        "privileged: true  # keep: a comment the fix must not lose\n")
FIXED_MANIFEST = MANIFEST.replace("privileged: true ", "privileged: false ")
MAIN_TF = """resource "aws_instance" "web" {
  ami           = var.ami
  instance_type = "t3.micro"
}
"""
FIXED_MAIN_TF = MAIN_TF.replace('"t3.micro"\n', '"t3.micro"\n  metadata_options {\n    http_tokens = "required"\n  }\n')
VARIABLES_TF = 'variable "ami" {\n  default = "ami-123"\n}\n'
NO_RESOURCES = (REPO / "tests" / "fixtures" / "engine" / "one-fix" / "app.yaml").read_text()
HELMISH = (REPO / "tests" / "fixtures" / "engine" / "checkov-blind" / "k8s" / "web.yaml").read_text()
REPOS = {
    "octo/alert-k8s": {"k8s/web.yaml": MANIFEST},
    "octo/one-fix": {"k8s/app.yaml": NO_RESOURCES},
    "octo/helmish": {"k8s/web.yaml": HELMISH},
    "octo/alert-tf": {"infra/main.tf": MAIN_TF, "infra/variables.tf": VARIABLES_TF, "README.md": "# tf\n"},
    "octo/submitted": {"k8s/web.yaml": MANIFEST, "README.md": "# submitted\n"},
    "octo/submitted-http": {"k8s/web.yaml": MANIFEST},
}


@pytest.fixture(scope="module")
def gh(private_key):
    with GitHubDouble() as double:
        for name, files in REPOS.items():
            double.create_repo(name, files=files)
        double.installation = double.install_app(APP_ID, private_key.read_text(), repos=list(REPOS))
        yield double
        assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


@pytest.fixture(scope="module")
def worker(gh, private_key, tmp_path_factory):
    log = tmp_path_factory.mktemp("logs") / "main.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACBOT_")}
    env.update({"IACBOT_REDIS_URL": TEST_REDIS_URL, "IACBOT_GITHUB_API_URL": gh.base_url,
                "IACBOT_GITHUB_APP_ID": str(APP_ID), "IACBOT_GITHUB_APP_PRIVATE_KEY_FILE": str(private_key),
                "IACBOT_GITHUB_WRITE_INTERVAL_SECONDS": "0"})
    with celery_worker("remediate,publish", env, log, "findings") as proc:
        yield proc, log


def published(redis_db, job_id: str) -> dict[str, dict] | None:  # noqa: F811
    fixes = redis_db.hkeys(FIXES_PREFIX + job_id)
    done = {k.decode(): json.loads(v) for k, v in redis_db.hgetall(PUBLISHED_PREFIX + job_id).items()}
    return done if fixes and len(done) == len(fixes) else None


def reader(gh, private_key, repository: str):
    token = installation_token(APP_ID, private_key.read_text(), gh.installation.id, repository,
                               {"contents": "read", "pull_requests": "read"}, gh.base_url)
    return Github(base_url=gh.base_url, auth=Auth.Token(token.value), seconds_between_requests=0,
                  seconds_between_writes=0).get_repo(repository)


def the_one_pr(gh, private_key, repository: str, outcomes: dict[str, dict]):
    """The single PR the job opened, with the text of each file it changed (base -> head)."""
    assert [o["status"] for o in outcomes.values()] == ["created"], outcomes
    api = reader(gh, private_key, repository)
    [pull] = list(api.get_pulls(state="all"))
    assert pull.number == next(iter(outcomes.values()))["pr_number"]
    def blobs(sha: str) -> dict[str, str]:
        return {e.path: e.sha for e in api.get_git_tree(sha, recursive=True).tree if e.type == "blob"}

    base, head = blobs(pull.base.sha), blobs(pull.head.sha)
    changed = {path: api.get_contents(path, ref=pull.head.sha).decoded_content.decode()
               for path in sorted(set(base) | set(head)) if base.get(path) != head.get(path)}
    return pull, changed


def post_delivery(headers: dict, body: bytes) -> str:
    client = TestClient(create_app(Settings(webhook_secret=SECRET, redis_url=TEST_REDIS_URL)))
    answer = client.post("/webhooks/github", content=body, headers=headers)
    assert answer.status_code == 202 and answer.json()["status"] == "queued", answer.text
    return headers["X-GitHub-Delivery"]


def test_code_scanning_alert_with_its_instance_becomes_one_pr(worker, gh, redis_db, private_key):  # noqa: F811
    proc, log = worker
    repository = "octo/alert-k8s"
    number = gh.add_code_scanning_alert(repository, "CKV_K8S_16", "k8s/web.yaml", 1, 21,
                                        message="Container should not be privileged")
    delivery_id = post_delivery(*code_scanning_delivery(gh, repository, number, SECRET))

    outcomes = wait_for(lambda: published(redis_db, delivery_id), 90, "the alert's fix to be published", log)
    pull, changed = the_one_pr(gh, private_key, repository, outcomes)
    assert changed == {"k8s/web.yaml": FIXED_MANIFEST}
    provenance = read_provenance(pull.body)
    assert provenance["rule"] == "CKV_K8S_16" and provenance["file"] == "k8s/web.yaml"
    assert provenance["source"] == "code-scanning:checkov"
    assert provenance["trigger"] == {"event": "code_scanning_alert", "delivery_id": delivery_id, "alert_number": number}
    assert provenance["base_sha"] == gh.repo(repository).refs["refs/heads/main"]
    # Only the alert's finding was remediated (the manifest fails many more rules), and no scan ran.
    assert len(redis_db.hkeys(FIXES_PREFIX + delivery_id)) == 1 and not redis_db.exists(SCAN_PREFIX + delivery_id)
    assert proc.poll() is None


def test_code_scanning_alert_without_instance_fetches_it_and_the_sibling_tf_files(worker, gh, redis_db,  # noqa: F811
                                                                                  private_key):
    proc, log = worker
    repository = "octo/alert-tf"
    number = gh.add_code_scanning_alert(repository, "CKV_AWS_79", "infra/main.tf", 1, 4,
                                        message="Ensure Instance Metadata Service Version 1 is not enabled")
    delivery_id = post_delivery(*code_scanning_delivery(gh, repository, number, SECRET, with_instance=False))

    outcomes = wait_for(lambda: published(redis_db, delivery_id), 90, "the alert's fix to be published", log)
    pull, changed = the_one_pr(gh, private_key, repository, outcomes)
    assert changed == {"infra/main.tf": FIXED_MAIN_TF}
    assert read_provenance(pull.body)["rule"] == "CKV_AWS_79"
    assert read_provenance(pull.body)["resource"] == "aws_instance.web"
    fetched = {k.decode() for k in redis_db.hkeys(FILES_PREFIX + delivery_id)}
    assert fetched == {"infra/main.tf", "infra/variables.tf"}  # the siblings, not README.md
    assert proc.poll() is None


def test_findings_submission_becomes_one_pr_and_a_missing_one_ends_cleanly(worker, gh, redis_db,  # noqa: F811
                                                                           private_key):
    proc, log = worker
    repository = "octo/submitted"
    submission_id, job_id = str(uuid.uuid4()), str(uuid.uuid4())
    finding = Finding(rule_id="CKV_K8S_16", file="k8s/web.yaml", resource="", line_start=1, line_end=21,
                      source="sarif:checkov", message="Container should not be privileged")
    outside = dataclasses.replace(finding, file="../../etc/passwd")
    redis_db.set(SUBMISSION_PREFIX + submission_id, json.dumps({
        "tenant": "acme", "installation_id": gh.installation.id, "repository": repository, "commit_sha": None,
        "findings": [dataclasses.asdict(finding), dataclasses.asdict(outside)], "problems": []}), ex=600)
    job = {"kind": "findings_submitted", "submission_id": submission_id, "tenant": "acme",
           "installation_id": gh.installation.id, "repository": repository, "commit_sha": None,
           "delivery_id": job_id}
    celery = make_celery(CommonSettings(redis_url=TEST_REDIS_URL))
    celery.send_task(INGEST_TASK, args=[job], queue=INGEST_QUEUE, task_id=job_id, ignore_result=True)

    outcomes = wait_for(lambda: published(redis_db, job_id), 90, "the submission's fix to be published", log)
    pull, changed = the_one_pr(gh, private_key, repository, outcomes)
    assert changed == {"k8s/web.yaml": FIXED_MANIFEST}
    assert read_provenance(pull.body)["rule"] == "CKV_K8S_16"
    assert read_provenance(pull.body)["base_sha"] == gh.repo(repository).refs["refs/heads/main"]
    assert "CKV_K8S_16: '../../etc/passwd': unsafe repository path (a '..' component" in log.read_text()

    gone_id = str(uuid.uuid4())
    gone = {**job, "submission_id": "expired-" + gone_id, "delivery_id": gone_id}
    celery.send_task(INGEST_TASK, args=[gone], queue=INGEST_QUEUE, task_id=gone_id, ignore_result=True)
    wait_for(lambda: f"submission expired-{gone_id} is not in Redis" in log.read_text(), 30,
             "the missing submission to be reported", log)
    assert not redis_db.exists(FETCHED_PREFIX + gone_id) and not redis_db.exists(FIXES_PREFIX + gone_id)
    assert len(list(reader(gh, private_key, repository).get_pulls(state="all"))) == 1
    assert proc.poll() is None


def test_an_alert_on_a_pull_request_ref_opens_nothing(worker, gh, redis_db, private_key):  # noqa: F811
    proc, log = worker
    repository = "octo/alert-k8s"
    before = len(gh.repo(repository).pulls)
    number = gh.add_code_scanning_alert(repository, "CKV_K8S_16", "k8s/web.yaml", 1, 21, ref="refs/pull/3/merge",
                                        commit_sha=gh.repo(repository).refs["refs/heads/main"])
    delivery_id = post_delivery(*code_scanning_delivery(gh, repository, number, SECRET))
    wait_for(lambda: f"job {delivery_id}: alert {number} is on refs/pull/3/merge, not on the default branch 'main'"
             in log.read_text(), 30, "the alert to be skipped", log)
    assert not redis_db.exists(FETCHED_PREFIX + delivery_id) and len(gh.repo(repository).pulls) == before
    assert proc.poll() is None


def sarif_for(rule_id: str, path: str, start: int, end: int) -> bytes:
    """A minimal SARIF 2.1.0 log, as any scanner would upload it."""
    result = {"ruleId": rule_id, "level": "error", "message": {"text": "Container should not be privileged"},
              "locations": [{"physicalLocation": {"artifactLocation": {"uri": path},
                                                  "region": {"startLine": start, "endLine": end}}}]}
    return json.dumps({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "checkov"}},
                                                      "results": [result]}]}).encode()


def test_sarif_to_the_findings_api_becomes_one_pr_and_a_retry_adds_none(worker, gh, redis_db,  # noqa: F811
                                                                          private_key, tmp_path):
    """The whole HTTP path: POST /v1/findings (bearer-authenticated tenant) -> the receiver's enqueue ->
    ingest_job -> fetch -> remediate -> publish -> one PR; posting the same document again is a duplicate."""
    proc, log = worker
    repository, token = "octo/submitted-http", "tenant-token-0123456789abcdef"
    tenants = tmp_path / "tenants.json"
    tenants.write_text(json.dumps({"tenants": [{
        "id": "octo-sec", "installation_id": gh.installation.id, "repositories": [repository],
        "token_sha256": hashlib.sha256(token.encode()).hexdigest()}]}))
    client = TestClient(create_app(Settings(webhook_secret=SECRET, redis_url=TEST_REDIS_URL,
                                            tenants_file=str(tenants))))
    body = sarif_for("CKV_K8S_16", "k8s/web.yaml", 1, 21)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    answer = client.post("/v1/findings", content=body, headers=headers, params={"repository": repository})
    assert answer.status_code == 202 and answer.json()["status"] == "queued", answer.text
    job_id = answer.json()["submission_id"]
    outcomes = wait_for(lambda: published(redis_db, job_id), 90, "the submitted finding's fix to be published", log)
    pull, changed = the_one_pr(gh, private_key, repository, outcomes)
    assert changed == {"k8s/web.yaml": FIXED_MANIFEST}
    assert read_provenance(pull.body)["rule"] == "CKV_K8S_16"
    assert read_provenance(pull.body)["trigger"] == {"event": "findings_api", "submission_id": job_id,
                                                     "tenant": "octo-sec"}

    again = client.post("/v1/findings", content=body, headers=headers, params={"repository": repository})
    assert again.status_code == 202 and again.json()["status"] == "duplicate", again.text
    assert again.json()["submission_id"] == job_id
    assert len(list(reader(gh, private_key, repository).get_pulls(state="all"))) == 1
    assert proc.poll() is None


def submit(gh, redis_db, repository: str, findings: list[Finding]) -> str:  # noqa: F811
    """A findings submission stored as the findings API stores it, and its job sent: the job id."""
    submission_id, job_id = str(uuid.uuid4()), str(uuid.uuid4())
    redis_db.set(SUBMISSION_PREFIX + submission_id, json.dumps({
        "tenant": "acme", "installation_id": gh.installation.id, "repository": repository, "commit_sha": None,
        "findings": [dataclasses.asdict(f) for f in findings], "problems": []}), ex=600)
    job = {"kind": "findings_submitted", "submission_id": submission_id, "tenant": "acme",
           "installation_id": gh.installation.id, "repository": repository, "commit_sha": None, "delivery_id": job_id}
    make_celery(CommonSettings(redis_url=TEST_REDIS_URL)).send_task(INGEST_TASK, args=[job], queue=INGEST_QUEUE,
                                                                     task_id=job_id, ignore_result=True)
    return job_id


RESOURCE_RULES = ["CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13"]


def test_the_findings_of_one_fingerprint_become_one_pr_holding_all_of_them(worker, gh, redis_db,  # noqa: F811
                                                                           private_key):
    """Issue 7 item 9: four findings, one fix class on one resource: one stored fix, one PR, all four values."""
    proc, log = worker
    repository = "octo/one-fix"
    findings = [Finding(rule_id=rule, file="k8s/app.yaml", resource="", line_start=1, line_end=18,
                        source="sarif:checkov", message=f"{rule} resources") for rule in RESOURCE_RULES]
    job_id = submit(gh, redis_db, repository, findings)

    outcomes = wait_for(lambda: published(redis_db, job_id), 90, "the fix to be published", log)
    pull, changed = the_one_pr(gh, private_key, repository, outcomes)
    assert list(changed) == ["k8s/app.yaml"]
    for value in ("cpu: 100m", "memory: 128Mi", "cpu: 500m", "memory: 512Mi"):
        assert value in changed["k8s/app.yaml"]
    assert all(any(line.startswith(f"- **`{rule}`**: ") for line in pull.body.splitlines()) for rule in RESOURCE_RULES)
    assert read_provenance(pull.body)["rules"] == RESOURCE_RULES
    [stored] = [json.loads(v) for v in redis_db.hvals(FIXES_PREFIX + job_id)]
    assert [f["rule_id"] for f in stored["findings"]] == RESOURCE_RULES
    api = reader(gh, private_key, repository)
    message = api.get_git_commit(pull.head.sha).message
    assert [line for line in message.splitlines() if line.startswith("Iacbot-Rule:")] == [
        f"Iacbot-Rule: {rule}" for rule in RESOURCE_RULES]
    assert proc.poll() is None


def test_a_fix_on_a_file_checkov_skips_is_not_published(worker, gh, redis_db):  # noqa: F811
    """Issue 7 item 8: checkov runs no check on a Helm-ish manifest, so its re-scan proves nothing."""
    proc, log = worker
    repository = "octo/helmish"
    finding = Finding(rule_id="CKV_K8S_16", file="k8s/web.yaml", resource="", line_start=1, line_end=20,
                      source="sarif:kube-linter", message="Container should not be privileged")
    job_id = submit(gh, redis_db, repository, [finding])
    reason = ("k8s/web.yaml: CKV_K8S_16 not fixed: patch not verified: checkov ran no check on k8s/web.yaml "
              "(it skips or cannot read the file): the re-scan proves nothing")
    wait_for(lambda: f"job {job_id}: {reason}" in log.read_text(), 90, "the unverifiable fix to be reported", log)
    wait_for(lambda: redis_db.exists(REMEDIATED_PREFIX + job_id), 30, "the job to be remediated", log)
    assert redis_db.hlen(FIXES_PREFIX + job_id) == 0 and gh.repo(repository).pulls == {}
    assert proc.poll() is None
