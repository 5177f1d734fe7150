"""A per-repository Redis lock around branch operations (publishing a fix, later rebasing, merging).

Two workers publishing to one repository at once would race on refs and PRs. The lock is keyed
by ``owner/name`` case-insensitively (GitHub's names are), holds a token so only its owner
can release it (compare-and-delete in Redis, redis-py's Lock), and has a short TTL that a thread
renews while the owner lives: a worker killed mid-task stops renewing, so its lock lapses within
one TTL instead of blocking the repository. The token is the owner's name when it has one (a
publish task's Celery id, the same on every retry and redelivery): a task that could not release
its lock (Redis died under it) takes it back at once when it runs again, instead of waiting out
the TTL; any other owner still cannot take a lock that is held. Waiting is bounded: :class:`RepoBusy` tells the task
to retry later (Celery ``self.retry``) rather than tie up a worker.
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Iterator

import redis
from redis.exceptions import LockError, LockNotOwnedError
from redis.lock import Lock

from workers.store import repo_key

log = logging.getLogger(__name__)

LOCK_PREFIX = "iacbot:lock:repo:"
#: A live owner stops renewing after this long: a task stuck for ten minutes must not hold the
#: repository forever (Celery has no time limit on these tasks).
MAX_HOLD_SECONDS = 600.0


class RepoBusy(Exception):
    """Another worker holds the repository's lock; retry the task later."""

    def __init__(self, repository: str, waited: float):
        super().__init__(f"{repository} is locked by another worker (waited {waited:g} s); retrying later")
        self.repository = repository
        self.waited = waited


def lock_key(repository: str) -> str:
    return repo_key(LOCK_PREFIX, repository)


def new_lock(client: redis.Redis, repository: str, ttl: float) -> Lock:
    # thread_local=False: the renewing thread must see the owner's token.
    return client.lock(lock_key(repository), timeout=ttl, sleep=0.05, thread_local=False)


def _renew(lock: Lock, repository: str, ttl: float, stop: threading.Event, max_hold: float) -> None:
    started = time.monotonic()
    while not stop.wait(ttl / 3):
        if time.monotonic() - started > max_hold:
            log.warning("lock on %s held over %g s; no longer renewed, it lapses in %g s", repository, max_hold, ttl)
            return
        try:
            lock.reacquire()
        except LockNotOwnedError:
            log.warning("lock on %s was lost (expired before renewal); another worker may hold it", repository)
            return
        except redis.RedisError as exc:  # try again at the next tick; the TTL covers a short outage
            log.warning("renewing the lock on %s failed: %s", repository, type(exc).__name__)


def _take_back(lock: Lock, owner: str) -> bool:
    """Whether the lock is already ``owner``'s (left by an earlier run of the same task): then its
    TTL is reset and it is held again (compare-and-expire in Redis, atomic)."""
    lock.local.token = lock.redis.get_encoder().encode(owner)
    try:
        return lock.reacquire()
    except LockNotOwnedError:
        lock.local.token = None
        return False


@contextmanager
def repo_lock(client: redis.Redis, repository: str, *, ttl: float, wait: float,
              max_hold: float = MAX_HOLD_SECONDS, owner: str | None = None) -> Iterator[Lock]:
    """Hold ``repository``'s lock for the ``with`` body; RepoBusy if not had within ``wait`` seconds.

    ``owner``: a name unique to the holder and stable across its retries (a Celery task id); None
    for a random token."""
    lock = new_lock(client, repository, ttl)
    if owner is not None and _take_back(lock, owner):
        log.info("lock on %s taken back by its owner (an earlier run could not release it)", repository)
    elif not lock.acquire(blocking=True, blocking_timeout=wait, token=owner):
        raise RepoBusy(repository, wait)
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(lock, repository, ttl, stop, max_hold),
                               name=f"repo-lock-{repository}", daemon=True)
    renewer.start()
    try:
        yield lock
    finally:
        stop.set()
        renewer.join()
        try:
            lock.release()  # compare-and-delete: never removes a lock someone else took since
        except LockNotOwnedError:
            log.warning("lock on %s had lapsed before release; another worker may have held it", repository)
        except (LockError, redis.RedisError) as exc:  # it lapses within one TTL anyway
            log.warning("releasing the lock on %s failed: %s", repository, type(exc).__name__)
