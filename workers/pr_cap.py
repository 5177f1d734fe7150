"""A cap on iacbot's open pull requests per repository (Renovate's ``prConcurrentLimit``).

Too many bot PRs at once is what users of remediation bots complain about most. Before opening a
NEW pull request, publish_job counts iacbot's open PRs in the repository (inside the repository's
lock, so two workers cannot both take the last slot); at the cap the fix is not pushed but queued.
What counts and what the cap allows is decided in policies.pr_cap (pure, reasons from the closed
set); this module reads the open PRs from GitHub and keeps the queue in Redis.

The queue is a FIFO per repository in Redis, one entry per finding fingerprint:

* ``iacbot:deferred:<owner/name lower-case>``: sorted set, fingerprint -> when it was first deferred;
* ``iacbot:deferred-jobs:<owner/name lower-case>``: hash, fingerprint -> the job id whose stored fix
  to publish (the newest job's: its fix was made from the newest source).

When one of iacbot's PRs closes, record_pr_closed sends publish_job for the oldest entry and only
then removes it. A sent publish re-checks the cap, so sending one too many is harmless: it finds
the cap full and defers again at its old place (``since``), ahead of later arrivals.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import redis
from github.Repository import Repository

from bot.github.ownership import AppIdentity
from jobs.branches import BOT_BRANCH_PREFIX
from jobs.kinds import PullRequestClosed
from policies import pr_cap as policy
# Re-exported: publish_job reads the verdict and the counts from here.
from policies.pr_cap import SETTING, CapVerdict, OpenPulls, PullHead, may_open_pr  # noqa: F401
from workers.store import FIXES_PREFIX, repo_key

log = logging.getLogger(__name__)

DEFERRED = "deferred"  # publish outcome status
QUEUE_PREFIX = "iacbot:deferred:"
JOBS_PREFIX = "iacbot:deferred-jobs:"
#: Expired entries dropped in one go when looking for the next one to send.
MAX_DROPPED_PER_RELEASE = 100


@dataclass(frozen=True)
class Deferred:
    job_id: str
    fingerprint: str
    since: float  # when the finding was first deferred: its place in the queue


def frees_slot(job: PullRequestClosed | Mapping[str, Any]) -> bool:
    """Does this closed-PR job close one of the PRs the cap counts (merged, declined, or closed by a
    bot)? Any other message frees nothing."""
    if isinstance(job, Mapping):
        if job.get("kind") != PullRequestClosed.KIND:
            return False
        return policy.frees_slot(bool(job.get("iacbot_branch")), job.get("repository"))
    return policy.frees_slot(job.iacbot_branch, job.repository)


def is_bot_branch(head: PullHead, repository: str) -> bool:
    return policy.is_bot_branch(head, repository, BOT_BRANCH_PREFIX)


def count_open(heads: Iterable[PullHead], repository: str, branch: str, base: str, app: AppIdentity) -> OpenPulls:
    """policies.pr_cap.count_open with the branch scheme's prefix (jobs.branches)."""
    return policy.count_open(heads, repository, branch, base, app, BOT_BRANCH_PREFIX)


# -- GitHub ------------------------------------------------------------------------------------

def read_open_pulls(repo: Repository, repository: str, branch: str, base: str, app: AppIdentity) -> OpenPulls:
    """List the repository's open PRs (PyGithub follows the pages) and count iacbot's."""
    heads = (PullHead(p.head.ref, p.head.repo.full_name if p.head.repo is not None else None, p.base.ref,
                      p.user.login if p.user else None, p.user.type if p.user else None)
             for p in repo.get_pulls(state="open"))
    return count_open(heads, repository, branch, base, app)


# -- Redis -------------------------------------------------------------------------------------

def queue_key(repository: str) -> str:
    return repo_key(QUEUE_PREFIX, repository)


def jobs_key(repository: str) -> str:
    return repo_key(JOBS_PREFIX, repository)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def defer(client: redis.Redis, repository: str, job_id: str, fingerprint: str, ttl: int,
          since: float | None = None) -> int:
    """Queue ``fingerprint`` (its fix stored under ``job_id``); its 1-based place in the queue.

    A finding already queued keeps its (earlier) place. A first deferral names the job to publish
    (the newest wins); a re-deferral (``since`` given: the entry was sent and removed) does not
    replace a job that deferred the same finding meanwhile, as that one is newer.
    """
    qkey, jkey = queue_key(repository), jobs_key(repository)
    pipe = client.pipeline(transaction=True)
    pipe.zadd(qkey, {fingerprint: time.time() if since is None else since}, lt=True)  # lt: keep the earlier place
    (pipe.hset if since is None else pipe.hsetnx)(jkey, fingerprint, job_id)
    # The fixes expire after the job record TTL; a queue nobody releases goes with them.
    pipe.expire(qkey, ttl)
    pipe.expire(jkey, ttl)
    pipe.zrank(qkey, fingerprint)
    return int(pipe.execute()[-1]) + 1


def pending(client: redis.Redis, repository: str) -> list[Deferred]:
    """The queue, oldest first."""
    entries = client.zrange(queue_key(repository), 0, -1, withscores=True)
    jobs = client.hgetall(jobs_key(repository))
    return [Deferred(_text(jobs.get(fp, b"")), _text(fp), since) for fp, since in entries]


def oldest(client: redis.Redis, repository: str) -> Deferred | None:
    first = client.zrange(queue_key(repository), 0, 0, withscores=True)
    if not first:
        return None
    fp, since = first[0]
    job_id = client.hget(jobs_key(repository), fp)
    return Deferred(_text(job_id or b""), _text(fp), since)


def remove(client: redis.Redis, repository: str, entry: Deferred) -> bool:
    """Remove ``entry`` unless it changed meanwhile (re-deferred by a newer job: that one stays)."""
    qkey, jkey = queue_key(repository), jobs_key(repository)
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(qkey, jkey)
                since, job_id = pipe.zscore(qkey, entry.fingerprint), pipe.hget(jkey, entry.fingerprint)
                if since != entry.since or _text(job_id or b"") != entry.job_id:
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.zrem(qkey, entry.fingerprint)
                pipe.hdel(jkey, entry.fingerprint)
                pipe.execute()
                return True
            except redis.WatchError:
                continue


def discard(client: redis.Redis, repository: str, fingerprint: str) -> None:
    """The finding was published (or settled) some other way: its queue entry has no purpose left."""
    pipe = client.pipeline(transaction=True)
    pipe.zrem(queue_key(repository), fingerprint)
    pipe.hdel(jobs_key(repository), fingerprint)
    pipe.execute()


def release_next(client: redis.Redis, repository: str, send: Callable[[Deferred], None]) -> Deferred | None:
    """``send`` the oldest entry whose fix is still stored, then remove it; the entry sent, or None.

    Entries whose fix expired are dropped. If ``send`` raises, the entry stays queued.
    """
    for _ in range(MAX_DROPPED_PER_RELEASE):
        entry = oldest(client, repository)
        if entry is None:
            return None
        if not entry.job_id or not client.hexists(FIXES_PREFIX + entry.job_id, entry.fingerprint):
            log.warning("%s: deferred fix %s of job %s is no longer stored (expired); dropped from the queue",
                        repository, entry.fingerprint, entry.job_id or "?")
            remove(client, repository, entry)
            continue
        send(entry)
        remove(client, repository, entry)
        return entry
    return None
