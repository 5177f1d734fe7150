"""publish_job's retry policy (pure), and the task on a REAL worker against the GitHub double:
a request GitHub refuses (4xx) fails at once with the reason recorded, a busy repository is
retried later instead of blocking, and a fix that is not stored publishes nothing."""
from __future__ import annotations

import json
import random
import uuid

import pytest
import redis
import requests

from bot.github.auth import AuthError
from bot.github.errors import GitHubRetryLater
from bot.github.publish import PublishError
from bot.service.events import route
from bot.service.settings import CommonSettings
from tests.celery_worker import celery_worker, wait_for
from tests.github_double.webhooks import pull_request_closed_delivery
from tests.service.conftest import redis_db  # noqa: F401  (fixture)
from tests.workers.test_reliability import (  # noqa: F401  (fixtures gh, private_key, celery)
    MANIFEST,
    PATH,
    REPO_NAME,
    celery,
    gh,
    make_fix,
    outcome,
    private_key,
    send_publish,
    store_fix,
    worker_env,
)
from workers import declined
from workers.celery_app import PR_CLOSED_TASK
from workers.publish import (BACKOFF_CAP_SECONDS, LOCK_TTL_CAP_SECONDS, TRANSIENT_RETRIES, lock_ttl, retry_budget,
                             retry_countdown, retry_limit)
from workers.repo_lock import lock_key, new_lock

RNG = random.Random(7)


@pytest.mark.parametrize("exc", [
    PublishError("publishing to o/r failed while creating the pull request: HTTP 502", 502),
    PublishError("publishing to o/r failed: cannot reach GitHub (ConnectionError)", None),
    PublishError("secondary limit answered with 429", 429),
    AuthError("cannot reach http://x to get an installation token: ConnectTimeout"),
    AuthError("installation 7 refused a token: HTTP 503", 503),
    redis.ConnectionError("Redis went away"),
    requests.Timeout("read timed out"),
])
def test_transient_failures_back_off_exponentially_with_jitter(exc):
    waits = [retry_countdown(exc, n, RNG) for n in range(12)]
    for n, wait in enumerate(waits):
        base = min(BACKOFF_CAP_SECONDS, 2.0 ** n)
        assert base / 2 <= wait <= base
    assert waits[-1] > waits[0]


@pytest.mark.parametrize("exc", [
    PublishError("publishing to o/r failed: HTTP 422 Reference already exists", 422),
    PublishError("publishing to o/r failed: HTTP 403: the token lacks a permission", 403),
    PublishError("publishing to o/r failed: HTTP 404", 404),
    AuthError("installation 7 refused a token: HTTP 401 Bad credentials", 401),
    ValueError("fixer 'x' for CKV_1 is not registered here"),
    KeyError("repository"),
])
def test_requests_that_would_fail_again_are_not_retried(exc):
    assert retry_countdown(exc, 0, RNG) is None


def test_githubs_own_wait_wins_over_the_backoff():
    later = GitHubRetryLater(42.2, "secondary rate limit; retry in 42 s")
    for retries in (0, 9):
        wait = retry_countdown(later, retries, RNG)
        assert later.countdown <= wait <= later.countdown + 1


def test_a_long_wait_stays_inside_the_visibility_timeout():
    # A primary rate limit that resets in an hour: a countdown that long would outlive the broker's
    # visibility timeout and the message would be handed to a second worker meanwhile.
    later = GitHubRetryLater(3500, "primary rate limit; resets in 3500 s")
    assert retry_countdown(later, 0, RNG, limit=retry_limit(600)) == 540
    assert retry_countdown(later, 0, RNG) >= 3500
    assert retry_limit(0.5) == 1.0
    assert retry_countdown(PublishError("HTTP 502", 502), 9, RNG, limit=retry_limit(10)) <= 9  # backoff too


def test_an_hour_long_rate_limit_is_waited_out_in_countdowns_inside_the_default_visibility_timeout():
    limit = retry_limit(CommonSettings().visibility_timeout_seconds)
    later = GitHubRetryLater(3600, "primary rate limit; resets in an hour")
    budget = retry_budget(later, limit)
    waits = [retry_countdown(later, n, RNG, limit=limit) for n in range(budget)]
    assert max(waits) <= limit < CommonSettings().visibility_timeout_seconds
    assert sum(waits) >= 3600  # the budget outlasts the limit's reset
    assert retry_budget(PublishError("HTTP 502", 502), limit) == TRANSIENT_RETRIES


def test_the_lock_ttl_never_outlives_the_visibility_timeout():
    assert lock_ttl(3600) == LOCK_TTL_CAP_SECONDS
    assert lock_ttl(5) == 5
    assert lock_ttl(0.2) == 1


# -- on a real worker --------------------------------------------------------------------------

def test_a_request_github_refuses_fails_at_once_with_the_reason_recorded(gh, redis_db, private_key, celery,  # noqa: F811
                                                                       tmp_path):
    fix = make_fix()
    job_id = str(uuid.uuid4())
    fp = store_fix(redis_db, job_id, gh.installation.id, fix)
    gh.inject_fault("POST", r"/pulls$", 422, times=1)
    log = tmp_path / "worker.log"
    with celery_worker("publish", worker_env(gh, private_key), log, "refused"):
        send_publish(celery, job_id, fp)
        done = wait_for(lambda: outcome(redis_db, job_id, fp), 60, "the failure to be recorded", log)
    assert done["status"] == "failed" and done["pr_number"] is None
    assert "HTTP 422" in done["reason"] and "creating the pull request" in done["reason"], done
    assert len(gh.faults_served) == 1  # neither the HTTP layer nor the task asked again
    assert gh.repo(REPO_NAME).pulls == {}
    text = log.read_text()
    assert "failed for good" in text and "retry 1" not in text
    for token in gh.world.tokens:  # no credential in the record or the log
        assert token not in done["reason"] and token not in text


def test_a_busy_repository_is_retried_later_instead_of_blocking_a_worker(gh, redis_db, private_key, celery,  # noqa: F811
                                                                        tmp_path):
    fix = make_fix()
    job_id = str(uuid.uuid4())
    fp = store_fix(redis_db, job_id, gh.installation.id, fix)
    other = new_lock(redis_db, "OCTO/apps", ttl=60)  # another worker publishing to the same repository
    assert other.acquire(blocking=False)
    log = tmp_path / "worker.log"
    # A 2 s visibility timeout makes the lock TTL, and so the in-process wait, 2 s.
    with celery_worker("publish", worker_env(gh, private_key, IACBOT_VISIBILITY_TIMEOUT_SECONDS="2"), log, "busy"):
        send_publish(celery, job_id, fp)
        wait_for(lambda: b"is locked by another worker" in log.read_bytes(), 60, "the task to find the lock held",
                 log)
        assert outcome(redis_db, job_id, fp) is None and gh.repo(REPO_NAME).pulls == {}
        other.release()
        done = wait_for(lambda: outcome(redis_db, job_id, fp), 60, "the retried task to publish", log)
    assert done["status"] == "created", done
    assert "is locked by another worker (waited 2 s); retrying later; retry 1 in" in log.read_text()
    assert not redis_db.exists(lock_key("octo/apps"))


def test_a_close_is_read_from_the_bots_commit_if_provenance_was_edited_away(gh, redis_db,  # noqa: F811
                                                                           private_key, celery, tmp_path):  # noqa: F811
    declined_fix = make_fix()
    merged_fix = make_fix(path="k8s/api.yaml", resource="Deployment.shop.api")
    log = tmp_path / "worker.log"
    with celery_worker("publish", worker_env(gh, private_key), log, "closes"):
        prs = {}
        for fix in (declined_fix, merged_fix):
            job_id = str(uuid.uuid4())
            fp = store_fix(redis_db, job_id, gh.installation.id, fix)
            send_publish(celery, job_id, fp)
            prs[fp] = wait_for(lambda: outcome(redis_db, job_id, fp), 60, "the fix to be published", log)
        declined_pr = prs[declined_fix.fingerprint]["pr_number"]
        merged_pr = prs[merged_fix.fingerprint]["pr_number"]
        gh.repo(REPO_NAME).pulls[declined_pr].body = "Not now, thanks.\n"  # a person replaced the body
        gh.close_pull(REPO_NAME, declined_pr, merged=False)
        gh.close_pull(REPO_NAME, merged_pr, merged=True)
        for number in (declined_pr, merged_pr):
            _, body = pull_request_closed_delivery(gh, REPO_NAME, number, "unused-secret-0123456789")
            job = route("pull_request", json.loads(body))
            celery.send_task(PR_CLOSED_TASK, args=[job], queue="publish", ignore_result=True)
        wait_for(lambda: declined.load(redis_db, REPO_NAME, declined_fix.fingerprint)
                 and declined.load(redis_db, REPO_NAME, merged_fix.fingerprint), 60, "both closes recorded", log)
    no = declined.load(redis_db, REPO_NAME, declined_fix.fingerprint)
    assert (no.outcome, no.pr_number, no.file) == (declined.DECLINED, declined_pr, PATH)
    assert no.source_blob_sha == declined.git_blob_sha(MANIFEST)
    assert "no provenance block" in log.read_text()
    yes = declined.load(redis_db, REPO_NAME, merged_fix.fingerprint)
    assert (yes.outcome, yes.pr_number) == (declined.MERGED, merged_pr)


def test_a_retried_task_takes_back_the_lock_an_earlier_run_could_not_release(gh, redis_db, private_key,  # noqa: F811
                                                                             celery, tmp_path):
    fix = make_fix()
    job_id = str(uuid.uuid4())
    fp = store_fix(redis_db, job_id, gh.installation.id, fix)
    # What a publish that Redis died under leaves: its lock, held in this task's name, unrenewed
    # and unreleased, for longer than the test waits.
    redis_db.set(lock_key(REPO_NAME), f"{job_id}:publish:{fp}", px=600_000)
    log = tmp_path / "worker.log"
    with celery_worker("publish", worker_env(gh, private_key), log, "retaken"):
        send_publish(celery, job_id, fp)
        done = wait_for(lambda: outcome(redis_db, job_id, fp), 60, "the task to publish", log)
    assert done["status"] == "created", done
    text = log.read_text()
    assert "taken back by its owner" in text and "is locked by another worker" not in text
    assert not redis_db.exists(lock_key(REPO_NAME))
