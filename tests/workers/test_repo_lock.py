"""workers.repo_lock against the real Redis: mutual exclusion, bounded waiting, a dead owner's lock
lapsing, and an owner never releasing a lock that has since passed to someone else."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.celery_worker import wait_for
from tests.paths import REPO
from tests.service.conftest import TEST_REDIS_URL, redis_db  # noqa: F401  (fixture)
from workers.repo_lock import RepoBusy, lock_key, new_lock, repo_lock


def test_the_key_ignores_case_and_surrounding_space():
    assert lock_key("Octo/Apps") == lock_key(" octo/apps") == "iacbot:lock:repo:octo/apps"
    assert lock_key("octo/apps") != lock_key("octo/apps2")


def test_threads_contending_for_one_repository_take_turns(redis_db):  # noqa: F811
    inside, most, done = [0], [0], []
    guard = threading.Lock()

    def work(i: int) -> None:
        name = "Octo/Apps" if i % 2 else "octo/apps"  # one repository however it is spelled
        with repo_lock(redis_db, name, ttl=5, wait=30):
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.02)  # widen the window in which a second holder would be seen
            with guard:
                inside[0] -= 1
            done.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(done) == list(range(8))
    assert most[0] == 1
    assert not redis_db.exists(lock_key("octo/apps"))  # every holder released


def test_other_repositories_are_not_blocked(redis_db):  # noqa: F811
    with repo_lock(redis_db, "octo/apps", ttl=5, wait=1):
        with repo_lock(redis_db, "octo/infra", ttl=5, wait=0):
            assert redis_db.exists(lock_key("octo/infra"))


def test_waiting_is_bounded_and_says_the_repository_is_busy(redis_db):  # noqa: F811
    with repo_lock(redis_db, "octo/apps", ttl=5, wait=1):
        with pytest.raises(RepoBusy, match="OCTO/apps is locked by another worker") as busy:
            with repo_lock(redis_db, "OCTO/apps", ttl=5, wait=0.2):
                pytest.fail("entered a lock another holder has")
    assert busy.value.repository == "OCTO/apps"
    with repo_lock(redis_db, "octo/apps", ttl=5, wait=0):  # free again once released
        pass


HOLDER = """
import sys, time, redis
from workers.repo_lock import repo_lock
client = redis.Redis.from_url(sys.argv[1])
with repo_lock(client, "octo/apps", ttl=0.5, wait=5):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_live_owner_keeps_the_lock_past_its_ttl_and_a_killed_one_loses_it(redis_db):  # noqa: F811
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, TEST_REDIS_URL], cwd=REPO, stdout=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True)
    try:
        assert holder.stdout.readline().strip() == b"held"
        # Renewed while the owner lives: still busy after four TTLs of waiting.
        with pytest.raises(RepoBusy):
            with repo_lock(redis_db, "octo/apps", ttl=5, wait=2):
                pass
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        # Nobody renews a dead owner's lock: it lapses within one TTL and the next worker gets it.
        with repo_lock(redis_db, "octo/apps", ttl=5, wait=10):
            assert redis_db.pttl(lock_key("octo/apps")) > 1000  # ours now, with our TTL
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait(timeout=10)


def test_an_owner_whose_lock_lapsed_does_not_release_the_next_holders(redis_db, caplog):  # noqa: F811
    key = lock_key("octo/apps")
    with repo_lock(redis_db, "octo/apps", ttl=0.3, wait=1, max_hold=0):  # stops renewing at once
        wait_for(lambda: not redis_db.exists(key), 10, "the unrenewed lock to lapse")
        successor = new_lock(redis_db, "octo/apps", ttl=30)
        assert successor.acquire(blocking=False)
        token = redis_db.get(key)
    # The first owner's release ran (on leaving the block) and must have left the successor's lock alone.
    assert redis_db.get(key) == token
    assert successor.owned()
    assert "had lapsed before release" in caplog.text
    successor.release()
    assert not redis_db.exists(key)


def test_an_owner_takes_back_its_own_lock_at_once_and_no_other_owner_can(redis_db):  # noqa: F811
    key = lock_key("octo/apps")
    # Left by an earlier run of task-1 that Redis died under: nobody renews it, nobody released it.
    redis_db.set(key, "task-1", px=600_000)
    with repo_lock(redis_db, "octo/apps", ttl=5, wait=0, owner="task-1"):
        assert redis_db.get(key) == b"task-1" and redis_db.pttl(key) <= 5000  # ours, with our TTL
        with pytest.raises(RepoBusy):  # another task cannot take a lock a live owner holds
            with repo_lock(redis_db, "octo/apps", ttl=5, wait=0.2, owner="task-2"):
                pytest.fail("entered a lock another task holds")
    assert not redis_db.exists(key)  # released on leaving
    with repo_lock(redis_db, "octo/apps", ttl=5, wait=0):  # an unnamed holder's random token
        with pytest.raises(RepoBusy):
            with repo_lock(redis_db, "octo/apps", ttl=5, wait=0.2, owner="task-1"):
                pytest.fail("entered a lock another holder has")
