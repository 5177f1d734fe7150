"""The publish queue's tasks: the only ones holding WRITE-scoped tokens.

``publish_job(job_id, fingerprint)``: one stored, verified fix -> one pull request. The fix was
stored by the remediate step under ``iacbot:fixes:<job_id>`` (a hash keyed by fingerprint).
Idempotent through ``publish_fix``; the outcome is recorded under ``iacbot:published:<job_id>``.
Branch operations hold the repository's lock (workers.repo_lock). A fix whose last PR a person
closed unmerged is not published again unless its file changed since (workers.declined). A NEW
pull request is opened only while iacbot has fewer than ``max_open_prs_per_repo`` open in the
repository; otherwise the fix is queued ("deferred", workers.pr_cap).

``record_pr_closed(job)``: a pull_request closed job on an iacbot branch -> merged or declined,
recorded per repository and fingerprint; any close of an iacbot PR (a bot's too) frees a slot, so
the repository's oldest deferred fix is sent to publish_job.

Transient failures (GitHub 5xx, a rate limit, a lost connection, a busy repository) retry with
a countdown; a 4xx or a malformed record fails at once, with a message saying what to do.
"""
from __future__ import annotations

import json
import logging
import random
from typing import Any, Mapping

import redis
import requests
from github import GithubException
from github.Repository import Repository
from kombu.exceptions import OperationalError

from bot.github.auth import PUBLISH_PERMISSIONS, AuthError, installation_session
from bot.github.client import client
from bot.github.errors import GitHubRetryLater
from bot.github.pr_body import read_provenance
from bot.github.publish import PublishError, publish_fix
from bot.provenance import branch_name
from workers import declined, pr_cap
from workers.celery_app import PR_CLOSED_TASK, PUBLISH_QUEUE, PUBLISH_TASK, app
from workers.chain import _redis, catalog, settings
from workers.remediation import fix_from_json
from workers.repo_lock import RepoBusy, repo_lock
from workers.store import FIXES_PREFIX, PUBLISHED_PREFIX

log = logging.getLogger(__name__)

#: Reading a closed PR and the file it changed: nothing more.
PR_READ_PERMISSIONS = {"contents": "read", "pull_requests": "read"}

#: A live owner renews its repository lock; a dead one's lapses within this (and never outlives
#: the broker's visibility timeout, after which the task is redelivered anyway).
LOCK_TTL_CAP_SECONDS = 60
#: How long a task waits in-process for the repository's lock before handing back with a retry
#: (at most one lock TTL: by then a dead owner's lock has lapsed, so a longer wait is for a live one).
LOCK_WAIT_SECONDS = 10.0
LOCK_BUSY_RETRIES = 40
TRANSIENT_RETRIES = 10
BACKOFF_CAP_SECONDS = 300.0

# kombu's OperationalError: the broker did not take a task (record_pr_closed sends the next deferred fix).
_TRANSIENT_TYPES = (redis.ConnectionError, redis.TimeoutError, requests.ConnectionError, requests.Timeout,
                    OperationalError)


# -- pure policy -------------------------------------------------------------------------------

def lock_ttl(visibility_timeout: float) -> float:
    return float(max(1, min(LOCK_TTL_CAP_SECONDS, visibility_timeout)))


def retry_countdown(exc: BaseException, retries: int, rng: random.Random | None = None) -> float | None:
    """Seconds to wait before retrying after ``exc`` (the ``retries``-th retry), or None: do not retry.

    GitHub's own answer wins (GitHubRetryLater: a rate limit longer than a call may wait); server
    errors, a token endpoint that did not answer and lost connections back off exponentially with
    jitter; a 4xx is a request that will fail the same way again.
    """
    jitter = (rng or random).uniform(0, 1)  # many jobs paused by one rate limit should not return at once
    if isinstance(exc, GitHubRetryLater):
        return exc.countdown + jitter
    if isinstance(exc, PublishError):
        transient = exc.retryable or exc.status == 429
    elif isinstance(exc, AuthError):  # no status: the token endpoint could not be reached
        transient = exc.status is None or exc.status == 429 or exc.status >= 500
    else:
        transient = isinstance(exc, _TRANSIENT_TYPES)
    if not transient:
        return None
    base = min(BACKOFF_CAP_SECONDS, 2.0 ** retries)
    return (rng or random).uniform(base / 2, base)


def _github_error(exc: GithubException, what: str) -> PublishError:
    message = exc.data.get("message", "") if isinstance(exc.data, dict) else ""
    return PublishError(f"{what} failed: HTTP {exc.status} {message}".rstrip(), exc.status)


# -- publish_job -------------------------------------------------------------------------------

def _outcome(job_id: str, fingerprint: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"job_id": job_id, "fingerprint": fingerprint, "status": status, "branch": None,
            "pr_number": None, "pr_url": None, **extra}


def _source_blob_sha(repo: Repository, path: str, ref: str) -> str | None:
    """The git blob sha of ``path`` at ``ref``; None when there is no such file."""
    try:
        content = repo.get_contents(path, ref=ref)
    except GithubException as exc:
        if exc.status == 404:
            return None
        raise _github_error(exc, f"reading {path} at {ref[:12]}") from None
    return None if isinstance(content, list) else content.sha


def _publish(job_id: str, fingerprint: str, data: Mapping[str, Any], deferred_since: float | None) -> dict[str, Any]:
    cfg = settings()
    r = _redis(cfg.redis_url)
    fix = fix_from_json(data, catalog())
    repository = data["repository"]
    decision = declined.load(r, repository, fingerprint)
    interval = cfg.github_write_interval_seconds
    ttl = lock_ttl(cfg.visibility_timeout_seconds)
    cap = cfg.max_open_prs_per_repo
    with repo_lock(r, repository, ttl=ttl, wait=min(LOCK_WAIT_SECONDS, ttl)), \
            installation_session(cfg.github_app_id, cfg.app_private_key(), data["installation_id"], repository,
                                 PUBLISH_PERMISSIONS, cfg.github_api_url) as token:
        gh = client(cfg.github_api_url, token, seconds_between_requests=min(interval, 0.25),
                    seconds_between_writes=interval, per_page=100)
        repo = default = None
        if (decision is not None and decision.outcome == declined.DECLINED) or cap > 0:
            try:
                repo = gh.get_repo(repository)
                default = repo.default_branch
            except GithubException as exc:
                raise _github_error(exc, f"reading {repository}") from None
        if decision is not None and decision.outcome == declined.DECLINED:
            current = _source_blob_sha(repo, fix.path, default)
            verdict = declined.verdict(decision, current)
            log.info("job %s: %s: %s", job_id, fingerprint, verdict.reason)
            if not verdict.publish:
                return _outcome(job_id, fingerprint, declined.DECLINED, declined_pr=decision.pr_number,
                                reason=verdict.reason)
        if cap > 0:
            # Counted under the repository's lock: no other publish can take the last slot meanwhile.
            try:
                pulls = pr_cap.read_open_pulls(repo, repository, branch_name(fix.attempt), default)
            except GithubException as exc:
                raise _github_error(exc, f"listing the open pull requests of {repository}") from None
            allowed = pr_cap.may_open_pr(pulls.count, cap, pulls.has_branch)
            if not allowed.publish:
                place = pr_cap.defer(r, repository, job_id, fingerprint, int(cfg.job_record_ttl_seconds),
                                     since=deferred_since)
                log.info("job %s: %s deferred (place %d in %s's queue): %s", job_id, fingerprint, place,
                         repository, allowed.reason)
                return _outcome(job_id, fingerprint, pr_cap.DEFERRED, reason=allowed.reason, open_prs=pulls.count,
                                cap=cap, queue_place=place)
        result = publish_fix(gh, repository, fix.attempt, fix.new_text, fix.verification)
    log.info("job %s: %s %s PR #%s", job_id, fingerprint, result.status, result.pr_number)
    pr_cap.discard(r, repository, fingerprint)  # published: a queued entry for it would only waste a freed slot
    return _outcome(job_id, fingerprint, result.status, branch=result.branch, pr_number=result.pr_number,
                    pr_url=result.pr_url)


def _record(r: redis.Redis, cfg, job_id: str, fingerprint: str, outcome: dict[str, Any]) -> None:
    pipe = r.pipeline(transaction=True)
    pipe.hset(PUBLISHED_PREFIX + job_id, fingerprint, json.dumps(outcome))
    pipe.expire(PUBLISHED_PREFIX + job_id, int(cfg.job_record_ttl_seconds))
    pipe.execute()


@app.task(name=PUBLISH_TASK, bind=True, queue="publish")
def publish_job(self, job_id: str, fingerprint: str, deferred_since: float | None = None) -> dict[str, Any]:
    """``deferred_since``: set when sent from the deferred queue, so a re-deferral keeps its place."""
    cfg = settings()
    r = _redis(cfg.redis_url)
    try:
        raw = r.hget(FIXES_PREFIX + job_id, fingerprint)
        if raw is None:
            log.warning("job %s: no stored fix %s (expired?); nothing to publish", job_id, fingerprint)
            return _outcome(job_id, fingerprint, "missing")
        outcome = _publish(job_id, fingerprint, json.loads(raw), deferred_since)
        _record(r, cfg, job_id, fingerprint, outcome)
        return outcome
    except Exception as exc:
        if isinstance(exc, RepoBusy):
            countdown, budget = random.uniform(1, lock_ttl(cfg.visibility_timeout_seconds)), LOCK_BUSY_RETRIES
        else:
            countdown, budget = retry_countdown(exc, self.request.retries), TRANSIENT_RETRIES
        if countdown is None or self.request.retries >= budget:
            # Visible where the outcomes are read; PublishError/AuthError messages hold no credential.
            _record(r, cfg, job_id, fingerprint, _outcome(job_id, fingerprint, "failed", reason=str(exc)))
            log.error("job %s: publishing %s failed for good: %s", job_id, fingerprint, exc)
            raise
        log.warning("job %s: publishing %s: %s; retry %d in %.1f s", job_id, fingerprint, exc,
                    self.request.retries + 1, countdown)
        raise self.retry(exc=exc, countdown=countdown, max_retries=budget) from None


# -- record_pr_closed --------------------------------------------------------------------------

def _changed_file(repo: Repository, head_sha: str) -> tuple[str, str] | None:
    """(path, parent sha) of the one file the bot's commit ``head_sha`` changed, or None."""
    commit = repo.get_git_commit(head_sha)
    if len(commit.parents) != 1:
        return None
    parent = repo.get_git_commit(commit.parents[0].sha)

    def blobs(tree_sha: str) -> dict[str, str]:
        return {e.path: e.sha for e in repo.get_git_tree(tree_sha, recursive=True).tree if e.type == "blob"}

    before, after = blobs(parent.tree.sha), blobs(commit.tree.sha)
    changed = [p for p in before.keys() | after.keys() if before.get(p) != after.get(p)]
    return (changed[0], parent.sha) if len(changed) == 1 else None


def _declined_decision(cfg, job: Mapping[str, Any], fingerprint: str) -> declined.PrDecision:
    """Read the closed PR's provenance (or, if a person edited it away, the bot's commit) to learn
    which file at which base the fix was made from, and that file's blob sha there."""
    repository, number = job["repository"], int(job["number"])
    file = base_sha = blob = None
    with installation_session(cfg.github_app_id, cfg.app_private_key(), job["installation_id"], repository,
                              PR_READ_PERMISSIONS, cfg.github_api_url) as token:
        gh = client(cfg.github_api_url, token, seconds_between_requests=0, seconds_between_writes=0)
        try:
            repo = gh.get_repo(repository)
            pull = repo.get_pull(number)
            prov = read_provenance(pull.body) or {}
            if prov.get("fingerprint") == fingerprint and prov.get("file") and prov.get("base_sha"):
                file, base_sha = str(prov["file"]), str(prov["base_sha"])
            else:
                log.info("%s#%s: no provenance block for %s; reading the bot's commit", repository, number,
                         fingerprint)
                found = _changed_file(repo, job.get("head_sha") or pull.head.sha)
                if found is not None:
                    file, base_sha = found
            if file and base_sha:
                blob = _source_blob_sha(repo, file, base_sha)
        except GithubException as exc:
            raise _github_error(exc, f"reading {repository}#{number}") from None
    return declined.PrDecision(declined.DECLINED, repository, fingerprint, number, file, base_sha, blob)


def _send_next_deferred(cfg, repository: str, closed_pr: Any) -> dict[str, str] | None:
    """A slot under the cap is free: send publish_job for the repository's oldest deferred fix."""
    def send(entry: pr_cap.Deferred) -> None:
        # A task id of its own per close: the fix's first publish already used f"{job}:publish:{fp}".
        app.send_task(PUBLISH_TASK, args=[entry.job_id, entry.fingerprint], kwargs={"deferred_since": entry.since},
                      queue=PUBLISH_QUEUE, task_id=f"{entry.job_id}:publish:{entry.fingerprint}:after-{closed_pr}",
                      ignore_result=True)

    sent = pr_cap.release_next(_redis(cfg.redis_url), repository, send)
    if sent is None:
        return None
    log.info("%s#%s closed: publishing deferred fix %s of job %s", repository, closed_pr, sent.fingerprint,
             sent.job_id)
    return {"job_id": sent.job_id, "fingerprint": sent.fingerprint}


@app.task(name=PR_CLOSED_TASK, bind=True, queue="publish")
def record_pr_closed(self, job: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(job, dict):
        raise ValueError("record_pr_closed needs a pull_request_closed job description")
    kind = declined.classify_close(job)
    where = f"{job.get('repository')}#{job.get('number')}"
    frees = pr_cap.frees_slot(job)  # a bot's close records nothing but still frees a slot
    if kind.outcome is None and not frees:
        log.info("%s: nothing to record: %s", where, kind.reason)
        return {"status": "ignored", "reason": kind.reason}
    if kind.outcome is not None:
        for key, typ in (("installation_id", int), ("repository", str), ("number", int)):
            if not isinstance(job.get(key), typ):
                raise ValueError(f"pull_request_closed job lacks {key}")
    cfg = settings()
    fingerprint = declined.fingerprint_from_branch(str(job.get("head_ref") or ""))
    kept = sent = None
    try:
        if kind.outcome is not None:
            decision = (declined.PrDecision(declined.MERGED, job["repository"], fingerprint, job["number"])
                        if kind.outcome == declined.MERGED else _declined_decision(cfg, job, fingerprint))
            kept = declined.record(_redis(cfg.redis_url), decision)
        if frees:
            # After recording: a retry re-records (idempotent) and may send one more, which is harmless
            # (the publish re-checks the cap and, still full, keeps its place in the queue).
            sent = _send_next_deferred(cfg, job["repository"], job.get("number"))
    except Exception as exc:
        countdown = retry_countdown(exc, self.request.retries)
        if countdown is None:
            raise
        log.warning("%s: recording the close failed (%s); retry in %.1f s", where, exc, countdown)
        raise self.retry(exc=exc, countdown=countdown, max_retries=TRANSIENT_RETRIES) from None
    if kept is None:
        log.info("%s: nothing to record: %s", where, kind.reason)
        return {"status": "ignored", "reason": kind.reason, "sent_deferred": sent}
    log.info("%s: %s %s (source %s)", where, fingerprint, kept.outcome, kept.source_blob_sha)
    return {"status": kept.outcome, "fingerprint": fingerprint, "pr_number": kept.pr_number,
            "source_blob_sha": kept.source_blob_sha, "sent_deferred": sent}
