"""Reliability of publishing, end to end on REAL parts: a Celery worker process, the real Redis
(broker and records) and the GitHub double (every exchange checked against GitHub's OpenAPI).

* a worker SIGKILLed in the middle of publishing is replaced, and the fix still lands, once;
* GitHub answering 5xx and secondary rate limits on the publish endpoints: still exactly one PR;
* a person closes the bot's PR unmerged: the same finding is not offered again until its file
  changes on the default branch (the close arrives as a signed webhook, through the receiver).

The fixes are stored the way the remediate step stores them (workers.store.save_fixes) and
published by sending publish_job by name, so these tests do not depend on the scan steps.
"""
from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from github import Auth, Github, InputGitTreeElement

from bot.github.auth import installation_token
from bot.provenance import branch_name
from bot.service.app import create_app
from bot.service.settings import CommonSettings, Settings
from fixers import registry
from fixers.catalog import load_catalog
from fixers.engine import FIXED, Attempt
from fixers.models import Finding
from tests.celery_worker import celery_worker, wait_for
from tests.github_double import GitHubDouble, new_app_key_pem
from tests.service.conftest import TEST_REDIS_URL, redis_db  # noqa: F401  (fixture)
from tests.workers.manifests import PRIVILEGED_DEPLOYMENT
from workers import declined, store
from workers.celery_app import PUBLISH_TASK, make_celery
from workers.remediation import Fix, fix_to_json

APP_ID = 515151
REPO_NAME = "octo/apps"
PATH = "k8s/web.yaml"
SECRET = "webhook-secret-for-reliability-tests"
MANIFEST = PRIVILEGED_DEPLOYMENT


def fixed(text: str) -> str:
    assert text.count("privileged: true") == 1
    return text.replace("privileged: true", "privileged: false")


def make_fix(path: str = PATH, source: str = MANIFEST, resource: str = "Deployment.shop.web") -> Fix:
    """The verified fix for CKV_K8S_16 (privileged container) the remediate step would store."""
    catalog = load_catalog()
    finding = Finding("CKV_K8S_16", path, resource, line_start=1, line_end=len(source.splitlines()),
                      message="Container should not be privileged")
    finding = Finding(**{**finding.__dict__, "fix_class": registry.fix_class(finding, catalog)})
    attempt = Attempt(finding, FIXED, fixer=registry.fixer_for(finding.rule_id, catalog),
                      summary=f"set privileged: false on {resource}")
    return Fix(attempt, path, fixed(source), "checkov: CKV_K8S_16 passes; nothing newly fails")


def store_fix(r, job_id: str, installation_id: int, fix: Fix, repository: str = REPO_NAME) -> str:
    """Store ``fix`` under ``job_id`` exactly as the remediate step does; its fingerprint."""
    data = {**fix_to_json(fix), "repository": repository, "installation_id": installation_id}
    store.save_fixes(r, job_id, {fix.fingerprint: data}, {"job": {"delivery_id": job_id}, "problems": []}, 3600)
    return fix.fingerprint


def send_publish(celery, job_id: str, fingerprint: str) -> None:
    celery.send_task(PUBLISH_TASK, args=[job_id, fingerprint], queue="publish",
                     task_id=f"{job_id}:publish:{fingerprint}", ignore_result=True)


def outcome(r, job_id: str, fingerprint: str) -> dict | None:
    raw = r.hget(store.PUBLISHED_PREFIX + job_id, fingerprint)
    return json.loads(raw) if raw is not None else None


def worker_env(gh: GitHubDouble, private_key: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "IACBOT_REDIS_URL": TEST_REDIS_URL, "IACBOT_GITHUB_API_URL": gh.base_url,
           "IACBOT_GITHUB_APP_ID": str(APP_ID), "IACBOT_GITHUB_APP_PRIVATE_KEY_FILE": str(private_key),
           "IACBOT_GITHUB_WRITE_INTERVAL_SECONDS": "0", **extra}
    env.pop("IACBOT_WEBHOOK_SECRET", None)
    env.pop("IACBOT_GITHUB_APP_PRIVATE_KEY", None)
    return env


def pulls_from(gh: GitHubDouble, branch: str) -> list:
    return [p for p in gh.repo(REPO_NAME).pulls.values() if p.head_ref == branch]


def file_on(gh: GitHubDouble, ref_or_sha: str, path: str = PATH) -> str:
    """A file's text at a commit of the double's repository (read through the API, as a client would)."""
    return gh.api.get_contents(path, ref=ref_or_sha).decoded_content.decode()


@pytest.fixture
def private_key(tmp_path) -> Path:
    path = tmp_path / "app.pem"
    path.write_text(new_app_key_pem())
    return path


@pytest.fixture
def gh(private_key, redis_db):  # noqa: F811  (redis_db first: the broker db is empty before a worker starts)
    with GitHubDouble() as double:
        double.create_repo(REPO_NAME, files={"README.md": "# apps\n", PATH: MANIFEST})
        double.installation = double.install_app(APP_ID, private_key.read_text(), repos=[REPO_NAME])
        token = installation_token(APP_ID, private_key.read_text(), double.installation.id, REPO_NAME,
                                   {"contents": "write", "pull_requests": "read"}, double.base_url)
        # The test's own client (contents:write): reads files and pushes to main like a person would.
        double.api = Github(base_url=double.base_url, auth=Auth.Token(token.value), seconds_between_requests=0,
                            seconds_between_writes=0).get_repo(REPO_NAME)
        yield double
        assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


@pytest.fixture
def celery():
    return make_celery(CommonSettings(redis_url=TEST_REDIS_URL))


VISIBILITY = 3  # seconds: how soon the broker hands a dead worker's task to another


def test_a_worker_killed_mid_publish_is_replaced_and_the_fix_lands_once(gh, redis_db, private_key, celery, tmp_path):  # noqa: F811
    conf = make_celery(CommonSettings(redis_url=TEST_REDIS_URL, visibility_timeout_seconds=VISIBILITY)).conf
    assert conf.broker_transport_options.get("visibility_timeout") == VISIBILITY, (
        "workers/celery_app.py must pass settings.visibility_timeout_seconds to broker_transport_options")
    env = worker_env(gh, private_key, IACBOT_VISIBILITY_TIMEOUT_SECONDS=str(VISIBILITY))
    fix = make_fix()
    job_id = str(uuid.uuid4())
    fp = store_fix(redis_db, job_id, gh.installation.id, fix)
    # Hold publish_fix's first write long enough to kill the worker inside it; the double answers
    # it only afterwards (a blob nobody refers to: harmless).
    gh.inject_fault("POST", r"/git/blobs$", 0, delay=8)

    with celery_worker("publish", env, tmp_path / "doomed.log", "doomed") as doomed:
        send_publish(celery, job_id, fp)
        wait_for(lambda: gh.faults_served, 30, "the worker to reach the held request", tmp_path / "doomed.log")
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
    assert outcome(redis_db, job_id, fp) is None and pulls_from(gh, branch_name(fix.attempt)) == []

    # The task is still unacknowledged in the broker; once it is older than the visibility
    # timeout, the next worker to start takes it back.
    wait_for(lambda: redis_db.zrangebyscore("unacked_index", 0, time.time() - VISIBILITY - 0.5), 30,
             "the dead worker's task to become visible again")
    log = tmp_path / "fresh.log"
    with celery_worker("publish", env, log, "fresh") as fresh:
        done = wait_for(lambda: outcome(redis_db, job_id, fp), 60, "the fix to be published by the new worker", log)
        assert fresh.poll() is None
    assert done["status"] == "created", done
    pulls = pulls_from(gh, branch_name(fix.attempt))
    assert [p.number for p in pulls] == [done["pr_number"]] and pulls[0].state == "open"
    assert file_on(gh, pulls[0].head_sha) == fix.new_text
    assert file_on(gh, "main") == MANIFEST
    assert redis_db.zcard("unacked_index") == 0  # acknowledged: not handed out a third time


def test_server_errors_and_secondary_rate_limits_still_give_exactly_one_pr(gh, redis_db, private_key, celery, tmp_path):  # noqa: F811
    fix = make_fix()
    job_id = str(uuid.uuid4())
    fp = store_fix(redis_db, job_id, gh.installation.id, fix)
    gh.inject_secondary_rate_limit("POST", r"/git/refs$", retry_after=1, times=1)
    # More 5xx than one call may retry in-process: publish_fix gives up, the TASK retries later.
    gh.inject_fault("POST", r"/git/trees$", 502, times=5)
    # The PR is created but the answer is lost (a 502 after handling): a retry must not open a second.
    gh.inject_fault("POST", r"/pulls$", 502, times=1, after_handling=True)

    log = tmp_path / "worker.log"
    with celery_worker("publish", worker_env(gh, private_key), log, "flaky") as proc:
        send_publish(celery, job_id, fp)
        done = wait_for(lambda: outcome(redis_db, job_id, fp), 90, "the fix to be published", log)
        assert proc.poll() is None
    assert done["status"] == "created", done
    pulls = pulls_from(gh, branch_name(fix.attempt))
    assert [p.number for p in pulls] == [done["pr_number"]]
    assert len(gh.repo(REPO_NAME).pulls) == 1
    assert file_on(gh, pulls[0].head_sha) == fix.new_text
    text = log.read_text()
    assert "retry 1 in" in text  # the task itself was retried, not only the HTTP calls
    assert len(gh.faults_served) == 1 + 5 + 1


def commit_to_main(gh: GitHubDouble, path: str, text: str) -> str:
    """Someone pushes a change of ``path`` to main (through the Git data API); the new head sha."""
    repo = gh.api
    ref = repo.get_git_ref("heads/main")
    head = repo.get_git_commit(ref.object.sha)
    blob = repo.create_git_blob(text, "utf-8")
    tree = repo.create_git_tree([InputGitTreeElement(path, "100644", "blob", sha=blob.sha)], base_tree=head.tree)
    commit = repo.create_git_commit(f"edit {path}", tree, [head])
    ref.edit(commit.sha)
    return commit.sha


def test_a_declined_pr_is_not_reopened_until_its_file_changes(gh, redis_db, private_key, celery, tmp_path):  # noqa: F811
    from tests.github_double.webhooks import pull_request_closed_delivery

    log = tmp_path / "worker.log"
    receiver = TestClient(create_app(Settings(webhook_secret=SECRET, redis_url=TEST_REDIS_URL)))
    fix = make_fix()
    branch = branch_name(fix.attempt)

    def publish(fix_: Fix) -> dict:
        job_id = str(uuid.uuid4())
        fp = store_fix(redis_db, job_id, gh.installation.id, fix_)
        send_publish(celery, job_id, fp)
        return wait_for(lambda: outcome(redis_db, job_id, fp), 60, f"job {job_id} to be published", log)

    with celery_worker("remediate,publish", worker_env(gh, private_key), log, "declines") as proc:
        first = publish(fix)
        assert first["status"] == "created", first
        tip = gh.repo(REPO_NAME).refs[f"refs/heads/{branch}"]

        # A person closes the PR without merging it; GitHub sends the signed pull_request delivery.
        gh.close_pull(REPO_NAME, first["pr_number"], merged=False)
        headers, body = pull_request_closed_delivery(gh, REPO_NAME, first["pr_number"], SECRET)
        assert receiver.post("/webhooks/github", content=body, headers=headers).json()["status"] == "queued"
        decision = wait_for(lambda: declined.load(redis_db, REPO_NAME, fix.fingerprint), 60,
                            "the decline to be recorded", log)
        assert decision.outcome == declined.DECLINED and decision.pr_number == first["pr_number"]
        assert decision.file == PATH and decision.source_blob_sha == declined.git_blob_sha(MANIFEST)

        # The same finding found again (a later push, an alert): nothing is offered.
        again = publish(fix)
        assert again["status"] == "declined" and again["pr_number"] is None, again
        assert f"declined (#{first['pr_number']} until " in again["reason"]  # the reason's code, PR and expiry
        assert len(gh.repo(REPO_NAME).pulls) == 1
        assert gh.repo(REPO_NAME).refs[f"refs/heads/{branch}"] == tip  # branch not pushed to

        # The file changes on main; the finding is still there: it is offered again.
        changed = MANIFEST.replace("replicas: 2", "replicas: 3")
        head = commit_to_main(gh, PATH, changed)
        third = publish(make_fix(source=changed))
        assert third["status"] == "created", third
        assert third["pr_number"] != first["pr_number"]
        assert proc.poll() is None
    pulls = {p.number: p for p in gh.repo(REPO_NAME).pulls.values()}
    assert pulls[first["pr_number"]].state == "closed" and pulls[third["pr_number"]].state == "open"
    new_tip = gh.api.get_git_commit(pulls[third["pr_number"]].head_sha)
    assert [p.sha for p in new_tip.parents] == [head]  # rebuilt on the changed main
    assert file_on(gh, new_tip.sha) == fixed(changed)
