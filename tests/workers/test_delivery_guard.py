"""Poison messages and the broker's visibility timeout, on REAL workers and Redis
(scanner/iacbot_scanner/delivery_guard.py, the base Task of both Celery apps).

* A message whose task kills its worker every time (here: SIGKILL, as the out-of-memory killer
  sends, while publish_job waits on a request the GitHub double holds) is taken out of the queue
  after MAX_DELIVERIES deaths, recorded in the dead-letter stream with its reason, and the
  workers go on with the next message.
* A task that runs longer than the visibility timeout on a live worker is not handed to a second
  worker (its lease is renewed); when that worker is killed, another live worker takes the task
  within one visibility timeout and one restore sweep.
"""
from __future__ import annotations

import os
import signal
import time
import uuid

from bot.provenance import branch_name
from scanner.iacbot_scanner.delivery_guard import MAX_DELIVERIES, RESTORE_OPTIONS, DeadLetterReason
from tests.celery_worker import celery_worker, wait_for
from tests.service.conftest import redis_db  # noqa: F401  (fixture)
from tests.workers.test_reliability import (  # noqa: F401  (fixtures gh, private_key, celery)
    celery,
    gh,
    make_fix,
    outcome,
    private_key,
    pulls_from,
    send_publish,
    store_fix,
    worker_env,
)
from workers import store
from workers.celery_app import PUBLISH_TASK

VISIBILITY = 3   # seconds
SWEEP = RESTORE_OPTIONS["unacked_restore_interval"] * RESTORE_OPTIONS["unacked_restore_throttle"]


def kill(proc) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def visible_again(r) -> bool:
    """The dead worker's message is older than the visibility timeout: a worker will take it back."""
    return bool(r.zrangebyscore("unacked_index", 0, time.time() - VISIBILITY - 0.5))


def stored_fix(r, gh):
    """A verified fix stored as the remediate step stores it: (fix, job id, fingerprint, publish task id)."""
    fix = make_fix()
    job_id = str(uuid.uuid4())
    fp = store_fix(r, job_id, gh.installation.id, fix)
    return fix, job_id, fp, f"{job_id}:publish:{fp}"


def test_a_message_that_keeps_killing_its_worker_is_dead_lettered_and_the_workers_go_on(
        gh, redis_db, private_key, celery, tmp_path):  # noqa: F811
    env = worker_env(gh, private_key, IACBOT_VISIBILITY_TIMEOUT_SECONDS=str(VISIBILITY))
    poison, job_id, fp, task_id = stored_fix(redis_db, gh)
    # Every delivery of this task reaches its first write and is killed there.
    gh.inject_fault("POST", r"/git/blobs$", 0, delay=30, times=MAX_DELIVERIES)
    send_publish(celery, job_id, fp)
    for death in range(1, MAX_DELIVERIES + 1):
        log = tmp_path / f"doomed-{death}.log"
        with celery_worker("publish", env, log, f"doomed{death}") as doomed:
            wait_for(lambda: len(gh.faults_served) == death, 60, f"delivery {death} to reach the held write", log)
            assert int(redis_db.get(store.DELIVERIES_PREFIX + task_id)) == death
            kill(doomed)
        wait_for(lambda: visible_again(redis_db), 30, "the dead worker's message to become visible again")

    log = tmp_path / "survivor.log"
    with celery_worker("publish", env, log, "survivor") as survivor:
        letters = wait_for(lambda: redis_db.xrange(store.DEAD_LETTERS_KEY), 60, "the dead-letter record", log)
        entry = {k.decode(): v.decode() for k, v in letters[0][1].items()}
        assert [len(letters), entry["task"], entry["task_id"], entry["reason"], entry["deliveries"]] == \
            [1, PUBLISH_TASK, task_id, DeadLetterReason.WORKER_LOST.value, str(MAX_DELIVERIES + 1)]
        assert job_id in entry["arguments"] and fp in entry["arguments"] and entry["queue"] == "publish"
        assert f"{task_id}]: taken out of the queue (worker lost" in log.read_text()
        wait_for(lambda: redis_db.zcard("unacked_index") == 0, 30, "the poison message to leave the broker", log)
        assert redis_db.get(store.DELIVERIES_PREFIX + task_id) is None
        assert len(gh.faults_served) == MAX_DELIVERIES  # the last delivery did not run the task
        assert pulls_from(gh, branch_name(poison.attempt)) == []
        assert outcome(redis_db, job_id, fp) is None

        # The service goes on: the next message (the same fix, found again by a later job) is
        # served by the same worker.
        other = str(uuid.uuid4())
        fp2 = store_fix(redis_db, other, gh.installation.id, make_fix())
        send_publish(celery, other, fp2)
        done = wait_for(lambda: outcome(redis_db, other, fp2), 60, "the next fix to be published", log)
        assert done["status"] == "created", done
        assert survivor.poll() is None
        assert redis_db.get(store.DELIVERIES_PREFIX + f"{other}:publish:{fp2}") is None  # ended: not counted


def test_a_long_task_keeps_its_lease_and_a_dead_workers_task_returns_within_the_visibility_timeout(
        gh, redis_db, private_key, celery, tmp_path):  # noqa: F811
    env = worker_env(gh, private_key, IACBOT_VISIBILITY_TIMEOUT_SECONDS=str(VISIBILITY))
    fix, job_id, fp, task_id = stored_fix(redis_db, gh)
    # Held much longer than the visibility timeout and than a restore sweep.
    held = VISIBILITY + 2 * SWEEP
    gh.inject_fault("POST", r"/git/blobs$", 0, delay=held)
    logs = {name: tmp_path / f"{name}.log" for name in ("a", "b")}
    with celery_worker("publish", env, logs["a"], "lease-a") as a, celery_worker("publish", env, logs["b"], "lease-b") as b:
        procs = {"a": a, "b": b}
        send_publish(celery, job_id, fp)
        wait_for(lambda: len(gh.faults_served) == 1, 60, "a worker to reach the held write")
        holder = next(name for name, log in logs.items() if task_id in log.read_text())
        other = "b" if holder == "a" else "a"
        # The held request is answered after `held` seconds; meanwhile both workers swept for
        # expired leases at least twice, and the other one never took the running task.
        first = wait_for(lambda: outcome(redis_db, job_id, fp), held + 60, "the long task to finish", logs[holder])
        assert first["status"] == "created"
        assert task_id not in logs[other].read_text()
        assert logs[holder].read_text().count(f"[{task_id}] received") == 1

        # Now a worker dies holding a task: the live one takes it within VISIBILITY + SWEEP.
        redis_db.hdel(store.PUBLISHED_PREFIX + job_id, fp)
        again = f"{task_id}:again"
        served = len(gh.faults_served)
        gh.inject_fault("GET", r"/pulls$", 0, delay=held)  # the PR exists now: publishing it again only reads
        celery.send_task(PUBLISH_TASK, args=[job_id, fp], queue="publish", task_id=again, ignore_result=True)
        wait_for(lambda: len(gh.faults_served) > served, 60, "a worker to reach the held read")
        holder = next(name for name, log in logs.items() if again in log.read_text())
        survivor = "b" if holder == "a" else "a"
        kill(procs[holder])
        redelivered = wait_for(lambda: outcome(redis_db, job_id, fp), VISIBILITY + SWEEP + 30,
                               "the dead worker's task to be taken by the live worker", logs[survivor])
        assert redelivered["status"] == "exists" and redelivered["pr_number"] == first["pr_number"]
        assert again in logs[survivor].read_text()
        assert procs[survivor].poll() is None
    assert [p.number for p in pulls_from(gh, branch_name(fix.attempt))] == [first["pr_number"]]
