"""Push -> PR on REAL workers, one identity per queue: a scan worker started from .venv-scanner
(queue scan, no GitHub credential in its environment) scans a vulnerable manifest that a main-env
worker (queues remediate,publish) fetched from the GitHub double; the main worker remediates it and
opens one PR per verified fix. The same job sent again, at any step, opens nothing new.

The workers and the double live for the whole module; each test uses its own repository."""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from github import Auth, Github

from bot.github.auth import installation_token, revoke
from bot.service.app import create_app
from bot.service.settings import CommonSettings, Settings
from tests.celery_worker import SCANNER_VENV, celery_worker, wait_for
from tests.github_double import GitHubDouble
from tests.github_double.webhooks import push_delivery
from tests.paths import REPO
from tests.service.conftest import TEST_REDIS_URL, redis_db  # noqa: F401  (fixture)
from tests.workers.manifests import PRIVILEGED_DEPLOYMENT
from workers.celery_app import FETCH_TASK, REMEDIATE_QUEUE, SCAN_QUEUE, SCAN_TASK, make_celery
from workers.store import DEAD_LETTERS_KEY, FIXES_PREFIX, PUBLISHED_PREFIX, REMEDIATED_PREFIX, SCAN_PREFIX

APP_ID = 424242
REPO_NAME = "octo/apps"
WEBHOOK_REPO = "octo/apps-webhook"
BOMB_REPO = "octo/apps-laughs"
MANIFEST = PRIVILEGED_DEPLOYMENT
BILLION_LAUGHS = (REPO / "tests" / "fixtures" / "hostile" / "billion-laughs.yaml").read_text()


@pytest.fixture(scope="module")
def gh(private_key):
    with GitHubDouble() as double:
        for name in (REPO_NAME, WEBHOOK_REPO):
            double.create_repo(name, files={"README.md": "# apps\n", "k8s/web.yaml": MANIFEST})
        double.create_repo(BOMB_REPO, files={"README.md": "# apps\n", "k8s/web.yaml": MANIFEST,
                                             "k8s/laughs.yaml": BILLION_LAUGHS,
                                             "k8s/api.yaml": MANIFEST.replace("name: web", "name: api")})
        double.installation = double.install_app(APP_ID, private_key.read_text(),
                                                 repos=[REPO_NAME, WEBHOOK_REPO, BOMB_REPO])
        yield double
        assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


def scan_worker_env() -> dict[str, str]:
    """What a scan worker gets: the broker, nothing of GitHub."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACBOT_")}
    return {**env, "IACBOT_REDIS_URL": TEST_REDIS_URL}


@pytest.fixture(scope="module")
def workers(gh, private_key, tmp_path_factory):
    logs = tmp_path_factory.mktemp("logs")
    env = {**os.environ, "IACBOT_REDIS_URL": TEST_REDIS_URL,
           "IACBOT_GITHUB_API_URL": gh.base_url, "IACBOT_GITHUB_APP_ID": str(APP_ID),
           "IACBOT_GITHUB_APP_PRIVATE_KEY_FILE": str(private_key),
           "IACBOT_GITHUB_WRITE_INTERVAL_SECONDS": "0"}
    env.pop("IACBOT_WEBHOOK_SECRET", None)
    env.pop("IACBOT_GITHUB_APP_PRIVATE_KEY", None)
    with celery_worker("scan", scan_worker_env(), logs / "scan.log", "scan", venv=SCANNER_VENV) as scan, \
            celery_worker("remediate,publish", env, logs / "main.log", "chain") as main:
        yield {"scan": (scan, logs / "scan.log"), "main": (main, logs / "main.log")}


def published(redis_db, job_id: str) -> dict[str, dict] | None:  # noqa: F811
    """The publish outcomes once every stored fix has one, else None."""
    fixes = redis_db.hkeys(FIXES_PREFIX + job_id)
    done = {k.decode(): json.loads(v) for k, v in redis_db.hgetall(PUBLISHED_PREFIX + job_id).items()}
    return done if fixes and len(done) == len(fixes) else None


def test_scan_worker_holds_no_github_credential(workers, private_key):
    proc, log = workers["scan"]
    environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
    names = {item.split(b"=", 1)[0].decode() for item in environ if item}
    assert not {n for n in names if n.startswith("IACBOT_GITHUB")}, names
    assert private_key.read_bytes().strip() not in b"\0".join(environ)
    assert "iacbot_scanner.worker.scan_job" in log.read_text() and proc.poll() is None


def test_push_becomes_one_pr_per_fix_and_a_redelivery_adds_none(workers, gh, redis_db, private_key):  # noqa: F811
    (scan_proc, scan_log), (proc, log) = workers["scan"], workers["main"]
    repo = gh.repo(REPO_NAME)
    head_sha = repo.refs["refs/heads/main"]
    job_id = str(uuid.uuid4())
    job = {"kind": "scan_push", "installation_id": gh.installation.id, "repository": REPO_NAME,
           "repository_id": repo.id, "ref": "refs/heads/main", "before": "0" * 40, "head_sha": head_sha,
           "changed_files": ["k8s/web.yaml"], "files_complete": True, "delivery_id": job_id}
    celery = make_celery(CommonSettings(redis_url=TEST_REDIS_URL))

    def send():
        celery.send_task(FETCH_TASK, args=[job], queue=REMEDIATE_QUEUE, task_id=job_id, ignore_result=True)

    reader = installation_token(APP_ID, private_key.read_text(), gh.installation.id, REPO_NAME,
                                {"contents": "read", "pull_requests": "read"}, gh.base_url)
    api = Github(base_url=gh.base_url, auth=Auth.Token(reader.value), seconds_between_requests=0,
                 seconds_between_writes=0).get_repo(REPO_NAME)

    def privileged_prs():
        pulls = list(api.get_pulls(state="all"))
        return pulls, [p for p in pulls if p.state == "open" and "privileged: false" in
                       api.get_contents("k8s/web.yaml", ref=p.head.sha).decoded_content.decode()]

    send()
    first = wait_for(lambda: published(redis_db, job_id), 90, "every fix to be published", log)
    assert {o["status"] for o in first.values()} == {"created"}, first
    pulls, privileged = privileged_prs()
    assert len(privileged) == 1, [p.title for p in pulls]
    assert len(pulls) == len(first) and all(p.state == "open" for p in pulls)
    assert api.get_contents("k8s/web.yaml", ref="main").decoded_content.decode() == MANIFEST
    # The scan ran in the scanner environment's worker, not in the main one.
    scan = json.loads(redis_db.get(SCAN_PREFIX + job_id))
    assert scan["checkov_version"] == "3.3.30" and any(r["check_id"] == "CKV_K8S_16" for r in scan["failed"])
    assert "scan_job" not in log.read_text() and f"job {job_id}: scanned 1 files" in scan_log.read_text()

    redis_db.delete(PUBLISHED_PREFIX + job_id)
    send()  # the same job again (a redelivery): no new fetch, scan or fix, no new PR
    again = wait_for(lambda: published(redis_db, job_id), 60, "the republished fixes", log)
    assert {o["status"] for o in again.values()} == {"exists"}, again
    assert {o["pr_number"] for o in again.values()} == {o["pr_number"] for o in first.values()}
    assert f"job {job_id}: already remediated" in log.read_text()

    redis_db.delete(PUBLISHED_PREFIX + job_id)
    celery.send_task(SCAN_TASK, args=[job_id], queue=SCAN_QUEUE, task_id=f"{job_id}:scan", ignore_result=True)
    third = wait_for(lambda: published(redis_db, job_id), 60, "the fixes republished after a scan redelivery", log)
    assert {o["status"] for o in third.values()} == {"exists"}, third
    assert f"job {job_id}: already scanned" in scan_log.read_text()
    assert scan_log.read_text().count(f"job {job_id}: scanned") == 1
    pulls2, privileged2 = privileged_prs()
    assert len(pulls2) == len(pulls) and [p.number for p in privileged2] == [privileged[0].number]
    assert proc.poll() is None and scan_proc.poll() is None
    revoke(reader)


def test_signed_push_webhook_becomes_a_pull_request(workers, gh, redis_db, private_key):  # noqa: F811
    """The whole path: GitHub's push delivery, signed -> the receiver -> ingest_job -> fetch_job
    -> scan_job (scanner env) -> remediate_job -> publish_job -> a PR on the double; the same
    delivery again opens nothing new."""
    proc, log = workers["main"]
    secret = "webhook-secret-for-tests-only"
    headers, body = push_delivery(gh, WEBHOOK_REPO, ["k8s/web.yaml"], secret)
    delivery_id = headers["X-GitHub-Delivery"]
    client = TestClient(create_app(Settings(webhook_secret=secret, redis_url=TEST_REDIS_URL)))

    assert client.post("/webhooks/github", content=body, headers=headers).json()["status"] == "queued"
    outcomes = wait_for(lambda: published(redis_db, delivery_id), 90, "the push's fixes to be published", log)
    assert {o["status"] for o in outcomes.values()} == {"created"}
    assert len(gh.repo(WEBHOOK_REPO).pulls) == len(outcomes)

    assert client.post("/webhooks/github", content=body, headers=headers).json()["status"] == "duplicate"
    time.sleep(1)
    assert len(gh.repo(WEBHOOK_REPO).pulls) == len(outcomes)
    assert proc.poll() is None
    # No credential in any worker's log or in anything the bot wrote; every task's token revoked.
    logs = [path.read_text() for path in log.parent.glob("*.log")]
    assert gh.leaked_tokens(*logs, gh.published_text(WEBHOOK_REPO)) == []
    assert private_key.read_text().splitlines()[1] not in "".join(logs)
    wait_for(lambda: gh.unrevoked_tokens() == [], 30, "every installation token to be revoked", log)


def test_an_alias_bomb_in_a_push_is_named_and_the_good_files_still_become_prs(workers, gh, redis_db):  # noqa: F811
    """A 1 KB "billion laughs" pushed next to two vulnerable manifests: the scan worker refuses it
    before checkov reads it, the job's problems name it, both manifests get their PRs, and no
    worker dies."""
    (scan_proc, scan_log), (proc, log) = workers["scan"], workers["main"]
    repo = gh.repo(BOMB_REPO)
    job_id = str(uuid.uuid4())
    job = {"kind": "scan_push", "installation_id": gh.installation.id, "repository": BOMB_REPO,
           "repository_id": repo.id, "ref": "refs/heads/main", "before": "0" * 40,
           "head_sha": repo.refs["refs/heads/main"],
           "changed_files": ["k8s/api.yaml", "k8s/laughs.yaml", "k8s/web.yaml"], "files_complete": True,
           "delivery_id": job_id}
    celery = make_celery(CommonSettings(redis_url=TEST_REDIS_URL))
    celery.send_task(FETCH_TASK, args=[job], queue=REMEDIATE_QUEUE, task_id=job_id, ignore_result=True)

    outcomes = wait_for(lambda: published(redis_db, job_id), 120, "the good files' fixes to be published", log)
    # Two manifests give more fixes than the open-PR cap (10): the rest wait their turn.
    assert {o["status"] for o in outcomes.values()} <= {"created", "deferred"}, outcomes
    created = {json.loads(redis_db.hget(FIXES_PREFIX + job_id, fp))["path"]
               for fp, o in outcomes.items() if o["status"] == "created"}
    assert created == {"k8s/api.yaml", "k8s/web.yaml"}
    assert len(repo.pulls) == sum(o["status"] == "created" for o in outcomes.values())
    bound = "k8s/laughs.yaml: refused (YAML alias expansion: expands to more than 200000 nodes); not scanned"
    assert bound in json.loads(redis_db.get(SCAN_PREFIX + job_id))["problems"]
    assert bound in json.loads(redis_db.get(REMEDIATED_PREFIX + job_id))["problems"]  # the job's problems
    assert f"job {job_id}: {bound}" in log.read_text()
    assert f"job {job_id}: scanned 3 files" in scan_log.read_text()
    # No worker was lost, nothing was dead-lettered, and the workers still serve.
    assert scan_proc.poll() is None and proc.poll() is None
    assert redis_db.xlen(DEAD_LETTERS_KEY) == 0
    assert "WorkerLostError" not in scan_log.read_text() and "MemoryError" not in scan_log.read_text()
