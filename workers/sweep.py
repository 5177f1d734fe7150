"""``sweep_open_prs()`` (Celery beat, every ``sweep_interval_seconds``): catch the check and status
events iacbot missed (a delivery lost, a receiver down, a status GitHub never sent a check event
for) by sending ``consider_merge`` for every PR that may still merge on its own.

The candidates come from Redis only (no token, no GitHub call): the repositories iacbot made
commits in (``iacbot:own-commits:*``, workers.own_commits), the newest MAX_FINGERPRINTS of their
fingerprints, and each fingerprint's latest decision (workers.decision_store.latest). A decision
is swept while it is an automerge candidate and not settled (closed or merged: a merge-stage
record saying so). consider_merge itself reads the PR and decides whether it is still open.

Each repository gets one synthetic ``checks_completed`` job per interval (at most
MAX_PULLS_PER_JOB PRs each), with a task id carrying the time bucket; a claim in Redis
(``iacbot:sweep:sent:<task id>``, expiring after two intervals) makes a second sweep in the same
interval (two beat processes, a redelivery) send nothing again.
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any, Iterator

import redis

from workers import decision_store
from workers.automerge import MAX_PULLS_PER_JOB, is_candidate, is_settled
from workers.celery_app import MERGE_TASK, PUBLISH_QUEUE, SWEEP_TASK, app
from workers.own_commits import ledger_key
from workers.runtime import redis_client, settings
from workers.store import OWN_COMMITS_PREFIX

log = logging.getLogger(__name__)

SENT_PREFIX = "iacbot:sweep:sent:"
#: Per repository, the fingerprints of iacbot's newest commits looked at (an open PR's commit is
#: among the newest; one older than this many later commits waits for its next check event).
MAX_FINGERPRINTS = 500
#: Repositories looked at per sweep (a bound on one run's cost; the rest wait for the next).
MAX_REPOSITORIES = 10_000


def _repositories(r: redis.Redis) -> Iterator[str]:
    for i, key in enumerate(r.scan_iter(match=OWN_COMMITS_PREFIX + "*", count=500)):
        if i >= MAX_REPOSITORIES:
            log.warning("sweep: more than %d repositories; the rest wait for the next sweep", MAX_REPOSITORIES)
            return
        yield (key.decode() if isinstance(key, bytes) else key)[len(OWN_COMMITS_PREFIX):]


def _fingerprints(r: redis.Redis, repository: str) -> list[str]:
    seen: dict[str, None] = {}
    for member in r.zrevrange(ledger_key(repository), 0, MAX_FINGERPRINTS - 1):
        text = member.decode() if isinstance(member, bytes) else member
        fingerprint = text.rsplit(":", 1)[0]  # members are "<fingerprint>:<sha>"
        seen.setdefault(fingerprint, None)
    return list(seen)


def open_candidates(r: redis.Redis) -> dict[tuple[str, int], list[int]]:
    """(repository as recorded, installation id) -> the PR numbers to decide again."""
    found: dict[tuple[str, int], set[int]] = defaultdict(set)
    for repository in _repositories(r):
        for fingerprint in _fingerprints(r, repository):
            record = decision_store.latest(r, repository, fingerprint)
            if record is None or not is_candidate(record) or is_settled(record):
                continue
            # The PR's own latest record decides (a fingerprint's newer publish may name another PR).
            current = decision_store.for_pr(r, record.repository, record.pr_number)
            if current is not None and is_candidate(current) and not is_settled(current):
                found[(current.repository, current.installation_id)].add(int(current.pr_number))
    return {key: sorted(numbers) for key, numbers in found.items()}


def sweep(r: redis.Redis, interval: int, now: float | None = None, send=None) -> list[dict[str, Any]]:
    """Send consider_merge for every open candidate, once per ``interval``; the jobs sent."""
    now = time.time() if now is None else now
    bucket = int(now // interval)
    send = send or (lambda job, task_id: app.send_task(MERGE_TASK, args=[job], queue=PUBLISH_QUEUE,
                                                       task_id=task_id, ignore_result=True))
    sent = []
    for (repository, installation_id), numbers in sorted(open_candidates(r).items()):
        for start in range(0, len(numbers), MAX_PULLS_PER_JOB):
            chunk = numbers[start:start + MAX_PULLS_PER_JOB]
            task_id = f"sweep:{bucket}:{repository.lower()}:{start // MAX_PULLS_PER_JOB}"
            if not r.set(SENT_PREFIX + task_id, "1", nx=True, ex=2 * interval):
                continue  # this interval's sweep already sent it
            job = {"kind": "checks_completed", "event": "sweep", "delivery_id": task_id, "repository": repository,
                   "installation_id": installation_id, "head_sha": None, "pull_request_numbers": chunk}
            send(job, task_id)
            sent.append(job)
    if sent:
        log.info("sweep: %d PR(s) of %d repositories to decide again", sum(len(j["pull_request_numbers"]) for j in sent),
                 len({j["repository"] for j in sent}))
    return sent


@app.task(name=SWEEP_TASK, queue="publish", autoretry_for=(redis.ConnectionError, redis.TimeoutError),
          retry_backoff=True, retry_backoff_max=60, max_retries=5)
def sweep_open_prs() -> dict[str, Any]:
    cfg = settings()
    sent = sweep(redis_client(cfg.redis_url), cfg.sweep_interval_seconds)
    return {"jobs": len(sent), "pulls": sum(len(j["pull_request_numbers"]) for j in sent)}
