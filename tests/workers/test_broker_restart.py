"""A Redis restart with the deployed persistence loses no accepted job (issue 7, item 2).

Redis runs from deploy/redis.conf (AOF, appendfsync everysec, noeviction) in a temporary directory;
the receiver checks that it is durable (IACBOT_BROKER_DURABILITY=check, the default) and spools what
it cannot enqueue; a REAL main worker (remediate, publish) turns findings-API submissions into PRs
on the GitHub double. Findings are posted (202 queued), Redis is stopped after some PRs (SHUTDOWN
NOSAVE, or SIGKILL), more findings arrive while it is down (202 spooled), and Redis starts again
on the same directory. Every accepted finding becomes exactly one PR and its publish is recorded
(with the default visibility timeout: nothing waits for a lock's TTL or a lease to lapse), and
every one posted again (the dedup state survived) answers duplicate."""
from __future__ import annotations

import hashlib
import json
import os

import pytest
from fastapi.testclient import TestClient

from bot.service.app import create_app
from bot.service.settings import Settings
from tests.celery_worker import celery_worker, wait_for
from tests.github_double import GitHubDouble
from tests.redis_server import redis_server
from tests.workers.manifests import PRIVILEGED_DEPLOYMENT
from tests.workers.test_pipeline_findings import sarif_for
from workers.store import PUBLISHED_PREFIX

APP_ID = 474747
SECRET = "restart-webhook-secret-0123456"
TOKEN = "restart-tenant-token-0123456789"
QUEUED_BEFORE = 10   # posted while Redis is up
SPOOLED_DURING = 2   # posted while it is down
STOP_AFTER_PRS = 3   # Redis goes down once this many PRs exist: in the middle of the next publish
VARIANTS = ("shutdown-nosave", "sigkill")


def repositories(variant: str) -> list[str]:
    return [f"octo/{variant}-{i:02d}" for i in range(QUEUED_BEFORE + SPOOLED_DURING)]


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module")
def gh(private_key):
    with GitHubDouble() as double:
        names = [name for variant in VARIANTS for name in repositories(variant)]
        for name in names:
            double.create_repo(name, files={"k8s/web.yaml": PRIVILEGED_DEPLOYMENT})
        double.installation = double.install_app(APP_ID, private_key.read_text(), repos=names)
        yield double
        assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


@pytest.fixture(scope="module")
def worker(redis, gh, private_key, tmp_path_factory):
    log = tmp_path_factory.mktemp("logs") / "main.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACBOT_")}
    env.update({"IACBOT_REDIS_URL": redis.url, "IACBOT_GITHUB_API_URL": gh.base_url,
                "IACBOT_GITHUB_APP_ID": str(APP_ID), "IACBOT_GITHUB_APP_PRIVATE_KEY_FILE": str(private_key),
                "IACBOT_GITHUB_WRITE_INTERVAL_SECONDS": "0"})  # the default visibility timeout
    with celery_worker("remediate,publish", env, log, "restart") as proc:
        yield proc, log


@pytest.fixture(scope="module")
def receiver(redis, gh, tmp_path_factory):
    folder = tmp_path_factory.mktemp("receiver")
    tenants = folder / "tenants.json"
    tenants.write_text(json.dumps({"tenants": [{
        "id": "octo-sec", "installation_id": gh.installation.id, "repositories": ["octo/*"],
        "token_sha256": hashlib.sha256(TOKEN.encode()).hexdigest()}]}))
    settings = Settings(webhook_secret=SECRET, redis_url=redis.url, tenants_file=str(tenants),
                        broker_durability="check", spool_dir=str(folder / "spool"))
    with TestClient(create_app(settings)) as client:  # the lifespan runs the spool's drainer
        yield client, folder / "spool"


def submit(client, repository: str) -> tuple[int, str]:
    return post(client, repository)[:2]


def post(client, repository: str) -> tuple[int, str, str | None]:
    """(HTTP status, the answer's status, the submission id: the job id)."""
    answer = client.post("/v1/findings", content=sarif_for("CKV_K8S_16", "k8s/web.yaml", 1, 21),
                         params={"repository": repository},
                         headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    body = answer.json()
    return answer.status_code, body.get("status", answer.text), body.get("submission_id")


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_redis_restart_loses_no_accepted_finding(variant, redis, gh, worker, receiver):
    proc, log = worker
    client, spool = receiver
    names = repositories(variant)
    before, during = names[:QUEUED_BEFORE], names[QUEUED_BEFORE:]
    pulls = lambda: {name: len(gh.repo(name).pulls) for name in names}  # noqa: E731

    queued = [post(client, name) for name in before]
    assert [answer[:2] for answer in queued] == [(202, "queued")] * len(before)
    wait_for(lambda: sum(pulls().values()) >= STOP_AFTER_PRS, 60, f"{STOP_AFTER_PRS} PRs", log)
    if variant == "sigkill":
        redis.kill()
    else:
        redis.shutdown_nosave()
    assert sum(pulls().values()) < len(before), "every PR was made before the restart: nothing was tested"
    spooled = [post(client, name) for name in during]
    assert [answer[:2] for answer in spooled] == [(202, "spooled")] * len(during)
    assert len(list(spool.glob("*.json"))) == len(during)
    redis.start()  # the same data directory

    wait_for(lambda: all(pulls().values()), 90, "a PR for every accepted finding", log)
    assert pulls() == {name: 1 for name in names}, "exactly one PR per accepted finding"
    # Every accepted job's publish ended and was recorded, the one Redis died under included: its
    # unsent retry went back to the queue and took back its own repository lock at once, long
    # before the default visibility timeout would have handed it out again.
    jobs = [answer[2] for answer in queued + spooled]
    wait_for(lambda: all(redis.client().hlen(PUBLISHED_PREFIX + job) for job in jobs), 60,
             "every accepted job's publish to be recorded", log)
    assert not list(spool.glob("*.json"))
    # The dedup state survived: every accepted submission, sent again, is a duplicate.
    assert [submit(client, name) for name in names] == [(202, "duplicate")] * len(names)
    assert pulls() == {name: 1 for name in names}
    assert proc.poll() is None, "the worker reconnected instead of dying"
