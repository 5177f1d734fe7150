"""``sweep_open_prs()`` (Celery beat, every ``sweep_interval_seconds``): catch the check and status
events iacbot missed (a delivery lost, a receiver down, a status GitHub never sent a check event
for) by sending ``consider_merge`` for every PR that may still merge on its own.

The candidates come from Redis only (no token, no GitHub call): every repository's decisions per
pull request (workers.decision_store's ``iacbot:decision-prs:<owner/name>``). A PR is swept while
its publish-stage record makes it an automerge candidate (workers.automerge.is_candidate) and its
merge-stage record, if any, does not say it is settled (closed, or merged). consider_merge itself
reads the PR and records when it is no longer open, which ends its sweeping.

Each repository gets one synthetic ``checks_completed`` job per interval (at most
MAX_PULLS_PER_JOB PRs each), with a task id carrying the time bucket; a claim in Redis
(``iacbot:sweep:sent:<task id>``, expiring after two intervals) makes a second sweep in the same
interval (two beat processes, a redelivery) send nothing again.
"""
from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from typing import Any, Iterator

import redis

import jobs
from workers import decision_store
from workers.automerge import MAX_PULLS_PER_JOB, is_candidate, is_settled, publish_records
from workers.celery_app import MERGE_TASK, PUBLISH_QUEUE, SWEEP_TASK, app
from workers.runtime import redis_client, settings

log = logging.getLogger(__name__)

SENT_PREFIX = "iacbot:sweep:sent:"
#: Repositories, and PRs per repository, looked at per sweep (bounds on one run's cost).
MAX_REPOSITORIES = 10_000
MAX_PULLS_PER_REPOSITORY = 1_000


def _index_keys(r: redis.Redis) -> Iterator[str]:
    for i, key in enumerate(r.scan_iter(match=decision_store.PR_INDEX_PREFIX + "*", count=500)):
        if i >= MAX_REPOSITORIES:
            log.warning("sweep: more than %d repositories; the rest wait for the next sweep", MAX_REPOSITORIES)
            return
        yield key.decode() if isinstance(key, bytes) else key


def _record(raw) -> decision_store.DecisionRecord | None:
    if raw is None:
        return None
    try:
        return decision_store.DecisionRecord.from_json(json.loads(raw))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def open_candidates(r: redis.Redis) -> dict[tuple[str, int], dict[int, str]]:
    """(repository as recorded, installation id) -> {PR number: the commit iacbot published} to decide again."""
    found: dict[tuple[str, int], dict[int, str]] = defaultdict(dict)
    for key in _index_keys(r):
        repository = key[len(decision_store.PR_INDEX_PREFIX):]
        for publish in publish_records(r, repository, MAX_PULLS_PER_REPOSITORY):
            if not is_candidate(publish):
                continue
            merge = _record(r.hget(key, f"{int(publish.pr_number)}:{decision_store.MERGE}"))
            if not is_settled(merge):
                found[(publish.repository, publish.installation_id)][int(publish.pr_number)] = publish.head_sha
    return dict(found)


#: The job's ``event``: iacbot's own look, not a GitHub event (jobs.kinds.CHECK_EVENTS).
SWEEP_EVENT = "sweep"


def sweep(r: redis.Redis, interval: int, now: float | None = None, send=None) -> list[dict[str, Any]]:
    """Send consider_merge for every open candidate, once per ``interval``; the jobs sent."""
    now = time.time() if now is None else now
    bucket = int(now // interval)
    send = send or (lambda job, task_id: app.send_task(MERGE_TASK, args=[job], queue=PUBLISH_QUEUE,
                                                       task_id=task_id, ignore_result=True))
    sent = []
    for (repository, installation_id), pulls in sorted(open_candidates(r).items()):
        numbers = sorted(pulls)
        for start in range(0, len(numbers), MAX_PULLS_PER_JOB):
            chunk = numbers[start:start + MAX_PULLS_PER_JOB]
            task_id = f"sweep:{bucket}:{repository.lower()}:{start // MAX_PULLS_PER_JOB}"
            if not r.set(SENT_PREFIX + task_id, "1", nx=True, ex=2 * interval):
                continue  # this interval's sweep already sent it
            # A checks_completed job like the receiver's; head_sha is the first PR's published
            # commit (consider_merge reads every PR's head itself).
            job = jobs.ChecksCompleted(delivery_id=task_id, repository=repository, installation_id=installation_id,
                                       event=SWEEP_EVENT, head_sha=pulls[chunk[0]],
                                       pull_request_numbers=tuple(chunk)).to_message()
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
