"""The commits iacbot made, per repository, in Redis: the service's bot.github.ownership.CommitLedger.

publish_fix records each fix commit here before any branch points at it; publishing, the open-PR
cap and the close handler ask it whether a branch's commits are iacbot's. A sorted set per
repository (``workers.store.OWN_COMMITS_PREFIX``), member ``<fingerprint>:<sha>`` scored by when it
was recorded. No TTL (an open PR may live for months; the deployment persists Redis); the newest
MAX_PER_REPOSITORY entries are kept, so a forgotten one only makes iacbot leave an old branch alone.
"""
from __future__ import annotations

import time
from typing import Iterable

import redis

from workers.store import OWN_COMMITS_PREFIX, repo_key

#: Far more than iacbot's open PRs in any repository ever hold (the cap is 10 by default).
MAX_PER_REPOSITORY = 10_000


def ledger_key(repository: str) -> str:
    return repo_key(OWN_COMMITS_PREFIX, repository)


def _member(fingerprint: str, sha: str) -> str:
    return f"{fingerprint}:{sha.lower()}"


class RedisLedger:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def record(self, repository: str, fingerprint: str, sha: str) -> None:
        key = ledger_key(repository)
        pipe = self._redis.pipeline(transaction=True)
        pipe.zadd(key, {_member(fingerprint, sha): time.time()})
        pipe.zremrangebyrank(key, 0, -MAX_PER_REPOSITORY - 1)  # drop the oldest beyond the bound
        pipe.execute()

    def made(self, repository: str, fingerprint: str, shas: Iterable[str]) -> bool:
        members = [_member(fingerprint, sha) for sha in shas]
        if not members:
            return False
        return all(score is not None for score in self._redis.zmscore(ledger_key(repository), members))
