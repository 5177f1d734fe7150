"""A declined PR is a risk acceptance, end to end on a REAL publish worker, the real Redis and the
GitHub double: a person closes iacbot's PR; the close is recorded with who closed it, when and until
when; publishing the finding again is refused while the acceptance holds (reason ``declined``); once
it has expired the finding is proposed again, and the expiry is logged and recorded (the record's
``expired_at``, an ``expired`` risk event): nothing expires silently.

A test cannot wait 90 days: the recorded acceptance is moved 91 days into the past instead, which
is exactly what the worker's clock would see then.
"""
from __future__ import annotations

import json
import uuid

from policies import declines
from tests.celery_worker import celery_worker, wait_for
from tests.paths import REPO
from tests.service.conftest import redis_db  # noqa: F401  (fixture)
from tests.workers.test_forged_pr import send_close
from tests.workers.test_reliability import (  # noqa: F401  (fixtures gh, private_key, celery)
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

DAY = declines.DAY_SECONDS


def publish(celery, redis_db, gh, fix, log) -> dict:  # noqa: F811
    job = str(uuid.uuid4())
    send_publish(celery, job, store_fix(redis_db, job, gh.installation.id, fix))
    return wait_for(lambda: outcome(redis_db, job, fix.fingerprint), 60, "the publish outcome", log)


def test_a_declined_fix_returns_after_its_acceptance_expires_and_the_expiry_is_recorded(  # noqa: F811
        gh, redis_db, private_key, celery, tmp_path):  # noqa: F811
    fix = make_fix()
    log = tmp_path / "worker.log"
    with celery_worker("publish", worker_env(gh, private_key), log, "risk"):
        first = publish(celery, redis_db, gh, fix, log)
        assert first["status"] == "created", first
        gh.close_pull(REPO_NAME, first["pr_number"], login="alice")  # a person says no
        send_close(gh, celery, first["pr_number"])
        accepted = wait_for(lambda: declined.load(redis_db, REPO_NAME, fix.fingerprint), 60, "the decline", log)
        assert (accepted.closed_by, accepted.expires_at) == ("alice", accepted.closed_at + 90 * DAY)

        held = publish(celery, redis_db, gh, fix, log)
        assert held["status"] == "declined" and held["declined_pr"] == first["pr_number"], held
        assert held["reason"].startswith(f"declined (#{first['pr_number']} until {declines.iso(accepted.expires_at)})")
        assert [r.fingerprint for r in declined.accepted_risks(redis_db, REPO_NAME)] == [fix.fingerprint]

        # 91 days later, as far as the record is concerned.
        moved = {**accepted.to_json(), "closed_at": accepted.closed_at - 91 * DAY,
                 "expires_at": accepted.expires_at - 91 * DAY, "recorded_at": accepted.recorded_at - 91 * DAY}
        redis_db.hset(declined.decisions_key(REPO_NAME), fix.fingerprint, json.dumps(moved))
        back = publish(celery, redis_db, gh, fix, log)
        assert back["status"] == "created" and back["pr_number"] != first["pr_number"], back
    text = log.read_text()
    assert f"decline-expired (#{first['pr_number']} on {declines.iso(moved['expires_at'])})" in text
    assert f"the risk acceptance of {fix.fingerprint} (PR #{first['pr_number']}, declined by alice) expired" \
        in text
    record = declined.load(redis_db, REPO_NAME, fix.fingerprint)
    assert record.expired_at is not None and record.expired_at > moved["expires_at"]
    assert [e["event"] for e in declined.risk_events(redis_db, REPO_NAME)] == ["expired", "accepted"]
    assert declined.accepted_risks(redis_db, REPO_NAME) == []
    pulls = gh.repo(REPO_NAME).pulls
    assert pulls[first["pr_number"]].state == "closed" and pulls[back["pr_number"]].state == "open"


def test_the_term_of_an_acceptance_is_the_central_policys(gh, redis_db, private_key, celery, tmp_path):  # noqa: F811
    policy = tmp_path / "policy.yml"
    policy.write_text((REPO / "policies" / "defaults" / "default.yml").read_text()
                      .replace("expire_after_days: 90", "expire_after_days: 7"))
    fix = make_fix()
    log = tmp_path / "worker.log"
    with celery_worker("publish", worker_env(gh, private_key, IACBOT_POLICY_FILE=str(policy)), log, "term"):
        first = publish(celery, redis_db, gh, fix, log)
        assert first["status"] == "created", first
        gh.close_pull(REPO_NAME, first["pr_number"], login="alice")
        send_close(gh, celery, first["pr_number"])
        accepted = wait_for(lambda: declined.load(redis_db, REPO_NAME, fix.fingerprint), 60, "the decline", log)
    assert accepted.expires_at == accepted.closed_at + 7 * DAY
    assert f"risk accepted by alice until {declines.iso(accepted.expires_at)}" in log.read_text()
