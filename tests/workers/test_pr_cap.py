"""workers.pr_cap: the cap on iacbot's open pull requests per repository.

The decision (pure), the count of iacbot's PRs among a listing (pure, and against the GitHub double
across pages), the per-repository FIFO in the real Redis, and end to end on a REAL worker: with a cap
of 1, a second fix waits until a person closes the first PR, then becomes the second PR.
"""
from __future__ import annotations

import json
import logging
import uuid

import pytest
from github import Auth, Github

from bot.github.auth import installation_token
from bot.github.ownership import AppIdentity
from bot.provenance import branch_name
from bot.service.events import route
from tests.celery_worker import celery_worker, wait_for
from tests.github_double.state import PullRequest, next_id
from tests.github_double.webhooks import pull_request_closed_delivery
from tests.service.conftest import redis_db  # noqa: F401  (fixture)
from tests.workers.test_reliability import (  # noqa: F401  (fixtures gh, private_key, celery)
    APP_ID,
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
from jobs import branches
from workers import pr_cap
from workers.celery_app import PR_CLOSED_TASK, PUBLISH_TASK
from jobs.kinds import PullRequestClosed
from policies.reasons import Reason
from workers.pr_cap import PullHead, count_open, may_open_pr
from workers.store import FIXES_PREFIX

REPO = "Octo/Apps"
FP_A, FP_B, FP_C = "a" * 16, "b" * 16, "c" * 16
TTL = 3600


# -- the decision (pure: tests/policies/test_pr_cap.py), as publish_job reads it -----------------

def test_a_deferral_names_its_reason_and_how_to_change_the_cap():
    verdict = may_open_pr(3, 3, False)
    assert not verdict.publish and verdict.because.reason is Reason.AT_PR_CAP
    assert verdict.reason.startswith("at-pr-cap (3 of at most 3; IACBOT_MAX_OPEN_PRS_PER_REPO): ")


APP = AppIdentity("iacbot")
BOT = ("iacbot[bot]", "Bot")


def test_the_cap_counts_with_the_branch_scheme_of_jobs_branches():
    # Which PRs count is policies.pr_cap's (tests/policies/test_pr_cap.py); here only that the
    # worker's wrapper gives it the one branch prefix there is.
    heads = [PullHead(branches.branch_name("k8s.privileged", FP_A), "octo/apps", "main", *BOT),
             PullHead("fix/" + FP_B, "octo/apps", "main", *BOT)]
    assert count_open(heads, REPO, branches.branch_name("k8s.privileged", FP_A), "main", APP) == pr_cap.OpenPulls(1, True)


@pytest.mark.parametrize("job, frees", [
    ({"kind": "pull_request_closed", "repository": "octo/apps", "iacbot_branch": True}, True),
    (PullRequestClosed(installation_id=1, repository="octo/apps", number=2, iacbot_branch=True), True),
    (PullRequestClosed(installation_id=1, repository="octo/apps", number=2, iacbot_branch=False), False),
    ({"kind": "pull_request_closed", "repository": "octo/apps", "iacbot_branch": True, "sender_type": "Bot"}, True),
    ({"kind": "pull_request_closed", "repository": "octo/apps", "iacbot_branch": False}, False),
    ({"kind": "pull_request_closed", "iacbot_branch": True}, False),
    ({"kind": "scan_push", "repository": "octo/apps", "iacbot_branch": True}, False),
])
def test_any_close_of_an_iacbot_pr_frees_a_slot(job, frees):
    assert pr_cap.frees_slot(job) is frees


def test_the_open_prs_are_counted_across_pages(gh, private_key):  # noqa: F811
    repo = gh.repo(REPO_NAME)
    with gh.world.lock:
        main = repo.refs["refs/heads/main"]
        for i, (ref, login) in enumerate([("iacbot/a-" + FP_A, "iacbot[bot]"), ("feature/x", "iacbot[bot]"),
                                          ("iacbot/b-" + FP_B, "iacbot[bot]"), ("iacbot/d-" + FP_A, "mallory"),
                                          ("iacbot/c-" + FP_C, "iacbot[bot]"), ("fix/y", "iacbot[bot]")]):
            number, repo.next_number = repo.next_number, repo.next_number + 1
            repo.pulls[number] = PullRequest(next_id(), number, f"pr {i}", None, ref, "main", main, main, login)
        repo.pulls[repo.next_number - 1].state = "closed"  # closed PRs do not count
        repo.pulls[repo.next_number - 2].state = "closed"
    token = installation_token(APP_ID, private_key.read_text(), gh.installation.id, REPO_NAME,
                               {"pull_requests": "read"}, gh.base_url)
    api = Github(base_url=gh.base_url, auth=Auth.Token(token.value), per_page=1, seconds_between_requests=0,
                 seconds_between_writes=0).get_repo(REPO_NAME)
    assert pr_cap.read_open_pulls(api, REPO_NAME, "iacbot/a-" + FP_A, "main", APP) == pr_cap.OpenPulls(2, True)


# -- the FIFO in Redis ---------------------------------------------------------------------------

def queued(r) -> list[tuple[str, str]]:
    return [(e.fingerprint, e.job_id) for e in pr_cap.pending(r, REPO)]


def store(r, job_id: str, fingerprint: str) -> None:
    r.hset(FIXES_PREFIX + job_id, fingerprint, "{}")


def test_deferred_findings_queue_in_order_once_each(redis_db):  # noqa: F811
    assert pr_cap.defer(redis_db, REPO, "job1", FP_A, TTL) == 1
    assert pr_cap.defer(redis_db, REPO, "job1", FP_B, TTL) == 2
    # The same finding from a later job: keeps its place, the newer job's fix is the one to publish.
    assert pr_cap.defer(redis_db, "octo/APPS", "job2", FP_A, TTL) == 1
    assert queued(redis_db) == [(FP_A, "job2"), (FP_B, "job1")]
    assert 0 < redis_db.ttl(pr_cap.queue_key(REPO)) <= TTL and 0 < redis_db.ttl(pr_cap.jobs_key(REPO)) <= TTL
    assert pr_cap.pending(redis_db, "octo/other") == []


def test_a_close_sends_the_oldest_then_removes_it(redis_db):  # noqa: F811
    for job_id, fp in (("job1", FP_A), ("job2", FP_B)):
        store(redis_db, job_id, fp)
        pr_cap.defer(redis_db, REPO, job_id, fp, TTL)
    sent = []

    def send(entry):
        assert queued(redis_db)[0] == (entry.fingerprint, entry.job_id)  # still queued while being sent
        sent.append(entry)

    first = pr_cap.release_next(redis_db, REPO, send)
    assert (first.job_id, first.fingerprint) == ("job1", FP_A) and sent == [first]
    assert queued(redis_db) == [(FP_B, "job2")]
    assert pr_cap.release_next(redis_db, REPO, sent.append).fingerprint == FP_B
    assert pr_cap.release_next(redis_db, REPO, sent.append) is None and len(sent) == 2
    assert not redis_db.exists(pr_cap.queue_key(REPO), pr_cap.jobs_key(REPO))


def test_an_entry_stays_queued_if_sending_it_fails(redis_db):  # noqa: F811
    store(redis_db, "job1", FP_A)
    pr_cap.defer(redis_db, REPO, "job1", FP_A, TTL)

    def broker_down(entry):
        raise ConnectionError("broker down")

    with pytest.raises(ConnectionError):
        pr_cap.release_next(redis_db, REPO, broker_down)
    assert queued(redis_db) == [(FP_A, "job1")]


def test_an_entry_whose_fix_expired_is_dropped_with_a_log_line(redis_db, caplog):  # noqa: F811
    pr_cap.defer(redis_db, REPO, "gone", FP_A, TTL)
    store(redis_db, "job2", FP_B)
    pr_cap.defer(redis_db, REPO, "job2", FP_B, TTL)
    with caplog.at_level(logging.WARNING, logger="workers.pr_cap"):
        sent = pr_cap.release_next(redis_db, REPO, lambda entry: None)
    assert sent.fingerprint == FP_B and queued(redis_db) == []
    assert f"deferred fix {FP_A} of job gone is no longer stored" in caplog.text


def test_a_sent_fix_deferred_again_keeps_its_place(redis_db):  # noqa: F811
    for job_id, fp in (("job1", FP_A), ("job2", FP_B)):
        store(redis_db, job_id, fp)
        pr_cap.defer(redis_db, REPO, job_id, fp, TTL)
    sent = pr_cap.release_next(redis_db, REPO, lambda entry: None)
    pr_cap.defer(redis_db, REPO, "job3", FP_C, TTL)  # arrives while A's publish is on its way
    # A's publish finds the cap still full: back in front of B and C.
    assert pr_cap.defer(redis_db, REPO, sent.job_id, sent.fingerprint, TTL, since=sent.since) == 1
    assert queued(redis_db) == [(FP_A, "job1"), (FP_B, "job2"), (FP_C, "job3")]


def test_a_re_deferral_does_not_replace_a_newer_jobs_fix(redis_db):  # noqa: F811
    store(redis_db, "old", FP_A)
    pr_cap.defer(redis_db, REPO, "old", FP_A, TTL)
    pr_cap.defer(redis_db, REPO, "job2", FP_B, TTL)
    sent = pr_cap.release_next(redis_db, REPO, lambda entry: None)
    pr_cap.defer(redis_db, REPO, "new", FP_A, TTL)  # the finding found again meanwhile, queued last
    pr_cap.defer(redis_db, REPO, sent.job_id, FP_A, TTL, since=sent.since)
    assert queued(redis_db) == [(FP_A, "new"), (FP_B, "job2")]


def test_removing_a_changed_entry_leaves_it(redis_db):  # noqa: F811
    pr_cap.defer(redis_db, REPO, "old", FP_A, TTL)
    entry = pr_cap.oldest(redis_db, REPO)
    pr_cap.defer(redis_db, REPO, "new", FP_A, TTL)
    assert not pr_cap.remove(redis_db, REPO, entry)
    assert queued(redis_db) == [(FP_A, "new")]
    pr_cap.discard(redis_db, REPO, FP_A)
    assert queued(redis_db) == []


# -- on a real worker ----------------------------------------------------------------------------

def test_with_a_cap_of_one_the_second_fix_waits_for_the_first_pr_to_close(gh, redis_db, private_key,  # noqa: F811
                                                                         celery, tmp_path):  # noqa: F811
    fixes = [make_fix(), make_fix(path="k8s/api.yaml", resource="Deployment.shop.api"),
             make_fix(path="k8s/jobs.yaml", resource="Deployment.shop.jobs")]
    jobs = {fix.fingerprint: str(uuid.uuid4()) for fix in fixes}
    for fix in fixes:
        store_fix(redis_db, jobs[fix.fingerprint], gh.installation.id, fix)
    log = tmp_path / "worker.log"

    def done(fp: str, status: str | None = None) -> dict:
        def ready():
            found = outcome(redis_db, jobs[fp], fp)
            return found if found and (status is None or found["status"] == status) else None
        return wait_for(ready, 60, f"{fp} to be {status or 'published'}", log)

    with celery_worker("publish", worker_env(gh, private_key, IACBOT_MAX_OPEN_PRS_PER_REPO="1"), log, "cap"):
        for fix in fixes[:2]:
            send_publish(celery, jobs[fix.fingerprint], fix.fingerprint)
        first, second = sorted((done(fix.fingerprint) for fix in fixes[:2]), key=lambda o: o["status"])
        assert (first["status"], second["status"]) == ("created", "deferred"), (first, second)
        assert second["pr_number"] is None and second["reason"].startswith("at-pr-cap (1 of at most 1; ")
        assert "IACBOT_MAX_OPEN_PRS_PER_REPO" in second["reason"] and second["queue_place"] == 1
        waiting = next(f for f in fixes if f.fingerprint == second["fingerprint"])
        assert f"refs/heads/{branch_name(waiting.attempt)}" not in gh.repo(REPO_NAME).refs  # nothing pushed

        # The first finding found again by a later job: its open PR is kept, never capped.
        again = str(uuid.uuid4())
        store_fix(redis_db, again, gh.installation.id, next(f for f in fixes if f.fingerprint == first["fingerprint"]))
        send_publish(celery, again, first["fingerprint"])
        kept = wait_for(lambda: outcome(redis_db, again, first["fingerprint"]), 60, "the re-publish", log)
        assert (kept["status"], kept["pr_number"]) == ("exists", first["pr_number"]), kept

        # A third fix queues behind the second; the second, sent while the cap is still full
        # (a close redelivered, say), goes back to the front.
        third = fixes[2].fingerprint
        send_publish(celery, jobs[third], third)
        assert done(third, "deferred")["queue_place"] == 2

        def send(entry):
            celery.send_task(PUBLISH_TASK, args=[entry.job_id, entry.fingerprint],
                             kwargs={"deferred_since": entry.since}, queue="publish", ignore_result=True)

        assert pr_cap.release_next(redis_db, REPO_NAME, send).fingerprint == waiting.fingerprint
        wait_for(lambda: [e.fingerprint for e in pr_cap.pending(redis_db, REPO_NAME)] == [waiting.fingerprint, third],
                 60, "the second fix to be deferred again in front", log)

        # A person closes the first PR; the close is recorded and frees the slot for the second fix.
        gh.close_pull(REPO_NAME, first["pr_number"], merged=False)
        _, body = pull_request_closed_delivery(gh, REPO_NAME, first["pr_number"], "unused-secret-0123456789")
        celery.send_task(PR_CLOSED_TASK, args=[route("pull_request", json.loads(body))], queue="publish",
                         ignore_result=True)
        published = done(waiting.fingerprint, "created")
    pulls = gh.repo(REPO_NAME).pulls
    assert sorted(pulls) == sorted([first["pr_number"], published["pr_number"]])  # exactly two PRs in total
    assert pulls[first["pr_number"]].state == "closed" and pulls[published["pr_number"]].state == "open"
    assert pulls[published["pr_number"]].head_ref == branch_name(waiting.attempt)
    assert [(e.fingerprint, e.job_id) for e in pr_cap.pending(redis_db, REPO_NAME)] == [(third, jobs[third])]
    assert outcome(redis_db, jobs[third], third)["status"] == "deferred"
    assert f"#{first['pr_number']} closed: publishing deferred fix {waiting.fingerprint}" in log.read_text()
