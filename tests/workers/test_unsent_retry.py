"""A task whose retry the broker does not take is not acknowledged (issue 7, item 2: nothing
accepted is lost).

Celery's Task.retry sends the retry as a new message and, when that send fails, rejects the
running message without requeue: once the broker can take that reject, the task is gone. Here a
REAL publish worker's writes to the broker (CELERY_BROKER_WRITE_URL, which Celery sends new
messages through) go as a Redis user that may not push onto a queue, as a full (noeviction) or
refusing Redis answers; its reads and acknowledgements go as the default user. GitHub answers the
first pull request with a secondary rate limit longer than a call may wait, so the task asks for a
retry, whose send is refused: the message must come back and the fix must still become its PR."""
from __future__ import annotations

import uuid

import pytest

from bot.service.settings import CommonSettings
from tests.celery_worker import celery_worker, wait_for
from tests.redis_server import redis_server
from tests.workers.test_reliability import (  # noqa: F401  (fixtures gh, private_key)
    REPO_NAME,
    gh,
    make_fix,
    outcome,
    private_key,
    redis_db,
    send_publish,
    store_fix,
    worker_env,
)
from workers.celery_app import make_celery

WRITER, PASSWORD = "publisher", "publisher-password-0123"


@pytest.fixture
def broker(tmp_path):
    with redis_server(tmp_path / "redis") as server:
        # Everything but putting a message on a queue (kombu's Redis transport pushes with LPUSH).
        server.client().acl_setuser(WRITER, enabled=True, passwords=[f"+{PASSWORD}"], keys=["~*"],
                                    channels=["&*"], commands=["+@all", "-lpush", "-rpush"])
        yield server


def test_a_task_whose_retry_the_broker_refused_runs_again(gh, private_key, broker, tmp_path):  # noqa: F811
    r = broker.client()
    fix = make_fix()
    job_id = str(uuid.uuid4())
    fp = store_fix(r, job_id, gh.installation.id, fix)
    gh.inject_secondary_rate_limit("POST", r"/pulls$", retry_after=120)  # beyond a call's own waits
    log = tmp_path / "worker.log"
    writer_url = f"redis://{WRITER}:{PASSWORD}@127.0.0.1:{broker.port}/0"
    env = worker_env(gh, private_key, IACBOT_REDIS_URL=broker.url, CELERY_BROKER_WRITE_URL=writer_url)
    with celery_worker("publish", env, log, "unsent"):
        send_publish(make_celery(CommonSettings(redis_url=broker.url)), job_id, fp)
        done = wait_for(lambda: outcome(r, job_id, fp), 60, "the task to run again and publish", log)
    text = log.read_text()
    assert "retry 1 in" in text, "the task did not ask for a retry: nothing was tested"
    assert "its retry could not be sent" in text and "goes back to its queue" in text
    assert done["status"] == "created", done
    assert len(gh.faults_served) == 1 and len(gh.repo(REPO_NAME).pulls) == 1
