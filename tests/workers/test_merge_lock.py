"""workers.merge_lock on the real Redis: one merge at a time per base branch, the merge call one at
a time per repository, neither the publish lock, and a task's retry takes its own lock back."""
from __future__ import annotations

import pytest

from tests.service.conftest import redis_db  # noqa: F401  (fixture)
from workers import merge_lock
from workers.repo_lock import repo_lock


def test_a_second_merge_into_the_same_base_is_busy_another_base_is_not(redis_db):  # noqa: F811
    with merge_lock.merge_lock(redis_db, "octo/apps", "main", ttl=5, wait=0.1, owner="task-1"):
        assert merge_lock.held(redis_db, "octo/apps", "main")
        assert merge_lock.held(redis_db, "Octo/Apps", "main")  # GitHub's names are case-insensitive
        assert not merge_lock.held(redis_db, "octo/apps", "main", owner="task-1")  # its own lock
        with pytest.raises(merge_lock.RepoBusy):
            with merge_lock.merge_lock(redis_db, "octo/apps", "main", ttl=5, wait=0.1, owner="task-2"):
                pass
        with merge_lock.merge_lock(redis_db, "octo/apps", "release", ttl=5, wait=0.1, owner="task-2"):
            assert merge_lock.held(redis_db, "octo/apps", "release")
    assert not merge_lock.held(redis_db, "octo/apps", "main")


def test_the_merge_locks_are_not_the_publish_lock(redis_db):  # noqa: F811
    with repo_lock(redis_db, "octo/apps", ttl=5, wait=0.1, owner="publish"):
        with merge_lock.merge_lock(redis_db, "octo/apps", "main", ttl=5, wait=0.1, owner="merge"), \
                merge_lock.count_lock(redis_db, "octo/apps", ttl=5, wait=0.1, owner="merge"):
            keys = {k.decode() for k in redis_db.keys("iacbot:lock:*")}
    assert keys == {"iacbot:lock:repo:octo/apps", merge_lock.merge_lock_key("octo/apps", "main"),
                    merge_lock.count_lock_key("octo/apps")}


def test_the_count_lock_serialises_merge_calls_across_base_branches(redis_db):  # noqa: F811
    with merge_lock.count_lock(redis_db, "octo/apps", ttl=5, wait=0.1, owner="task-1"):
        with pytest.raises(merge_lock.RepoBusy):
            with merge_lock.count_lock(redis_db, "octo/apps", ttl=5, wait=0.1, owner="task-2"):
                pass


def test_a_retry_of_the_same_task_takes_back_the_lock_it_could_not_release(redis_db):  # noqa: F811
    redis_db.set(merge_lock.merge_lock_key("octo/apps", "main"), "task-1", px=5000)  # left by a dead run
    with pytest.raises(merge_lock.RepoBusy):
        with merge_lock.merge_lock(redis_db, "octo/apps", "main", ttl=5, wait=0.1, owner="task-2"):
            pass
    with merge_lock.merge_lock(redis_db, "octo/apps", "main", ttl=5, wait=0.1, owner="task-1"):
        pass
    assert not merge_lock.held(redis_db, "octo/apps", "main")
