"""One automatic merge at a time per base branch, and one merge call at a time per repository.

The mechanism is workers.repo_lock's (token owned by the task's id, renewed while its owner
lives, lapsing within one TTL of its death, bounded waiting); only the keys differ:

* ``merge_lock(r, repository, base)``: ``iacbot:lock:repo:<owner/name>:merge:<base>``, held from the
  decision to the recorded merge. A busy base means MERGE_IN_PROGRESS: decided again later.
* ``count_lock(r, repository)``: ``iacbot:lock:repo:<owner/name>:merges``, held only around the
  last re-check (switches, hourly count) and the PUT, so two merges into different base branches
  cannot both take the last merge of the hour.

Neither is the repository's publish lock (``iacbot:lock:repo:<owner/name>``): a merge does not
wait for a publish to another branch. Keys are lower-cased as repo_lock's are, so branches that
differ only in case share a lock (stricter, never looser).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import redis

from workers.repo_lock import RepoBusy, lock_key, repo_lock

__all__ = ["RepoBusy", "merge_lock", "count_lock", "merge_lock_key", "count_lock_key", "held"]

#: A base branch name is at most 255 bytes on GitHub; the key keeps at most this much of it.
_MAX_BASE = 255


def _merge_name(repository: str, base: str) -> str:
    return f"{repository}:merge:{base[:_MAX_BASE]}"


def _count_name(repository: str) -> str:
    return f"{repository}:merges"


def merge_lock_key(repository: str, base: str) -> str:
    return lock_key(_merge_name(repository, base))


def count_lock_key(repository: str) -> str:
    return lock_key(_count_name(repository))


def held(r: redis.Redis, repository: str, base: str, owner: str | None = None) -> bool:
    """Is a merge into ``base`` under way by anyone but ``owner`` (an earlier run of the same task)?"""
    token = r.get(merge_lock_key(repository, base))
    if token is None:
        return False
    return owner is None or token != owner.encode()


@contextmanager
def merge_lock(r: redis.Redis, repository: str, base: str, *, ttl: float, wait: float,
               owner: str | None = None) -> Iterator[None]:
    """Hold the base branch's merge lock; RepoBusy when another merge holds it past ``wait``."""
    with repo_lock(r, _merge_name(repository, base), ttl=ttl, wait=wait, owner=owner):
        yield


@contextmanager
def count_lock(r: redis.Redis, repository: str, *, ttl: float, wait: float,
               owner: str | None = None) -> Iterator[None]:
    """Hold the repository's merge-call lock (short: a re-check and one PUT)."""
    with repo_lock(r, _count_name(repository), ttl=ttl, wait=wait, owner=None if owner is None else owner + ":count"):
        yield
