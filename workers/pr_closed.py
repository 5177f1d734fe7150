"""``record_pr_closed(job)`` (queue publish): one of iacbot's pull requests was closed.

Only a PR that is really iacbot's counts: the API must say the App's bot account opened it, and
its head commit must be one iacbot recorded making for the finding (bot.github.ownership). A PR
someone opened from a branch named like iacbot's, with whatever commit message, is ignored with
a log line: it records no decline and frees no slot.

Merged -> recorded as merged. Closed unmerged by a person -> recorded as DECLINED, a risk
acceptance: who closed it (the signed webhook's sender), when (GitHub's ``closed_at``), until when
(the central policy's ``declines.expire_after_days`` later, 90 days without one), and the blob
sha of the file the fix was made from, so publish_job skips that finding until the acceptance
expires or the file changes (decided in policies.declines, recorded by workers.declined). Any
close of an iacbot PR (a bot's too) frees a slot under the open-PR cap, so the repository's
oldest deferred fix is sent to publish_job (workers.pr_cap). Reads only, with a read-scoped token.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from github import GithubException
from github.Repository import Repository

from bot.github.auth import installation_session
from bot.github.client import client
from bot.github.ownership import Foreign, Ownership
from bot.github.pr_body import read_provenance
from jobs.branches import fingerprint_from_branch
from jobs.kinds import PullRequestClosed
from policies import declines as policy
from workers import declined, pr_cap, rollback
from workers.celery_app import PR_CLOSED_TASK, PUBLISH_QUEUE, PUBLISH_TASK, app
from workers.policy_source import decline_expiry_days, load_policies
from workers.publish import (TRANSIENT_RETRIES, github_error, ownership, retry_countdown, retry_limit,
                             source_blob_sha)
from workers.runtime import redis_client, settings

log = logging.getLogger(__name__)

#: Reading a closed PR and the file it changed: nothing more.
PR_READ_PERMISSIONS = {"contents": "read", "pull_requests": "read"}


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


def _not_ours(pull, owner: Ownership, repository: str, fingerprint: str | None) -> Foreign | None:
    if not owner.app.authored(pull.user.login if pull.user else None, pull.user.type if pull.user else None):
        return Foreign.PR_AUTHOR
    if fingerprint is None or not owner.commits.made(repository, fingerprint, [pull.head.sha]):
        return Foreign.COMMITS
    return None


def _closed_at(pull, job: PullRequestClosed, now: float) -> float:
    """When the PR was closed: the API's word, else the webhook's, else now."""
    when = getattr(pull, "closed_at", None)
    if isinstance(when, datetime):
        return when.timestamp()
    parsed = policy.parse_time(job.closed_at)
    return parsed if parsed is not None else now


def _declined_decision(repo: Repository, pull, job: PullRequestClosed, fingerprint: str,
                       expiry_days: int) -> declined.PrDecision:
    """Read the closed PR's provenance (or, if a person edited it away, the bot's commit) to learn
    which file at which base the fix was made from, and that file's blob sha there; the decline is
    a risk acceptance by the person who closed it, for the policy's term."""
    repository, number = job.repository, job.number
    file = base_sha = blob = None
    prov = read_provenance(pull.body) or {}
    if prov.get("fingerprint") == fingerprint and prov.get("file") and prov.get("base_sha"):
        file, base_sha = str(prov["file"]), str(prov["base_sha"])
    else:
        log.info("%s#%s: no provenance block for %s; reading the bot's commit", repository, number, fingerprint)
        found = _changed_file(repo, pull.head.sha)
        if found is not None:
            file, base_sha = found
    if file and base_sha:
        blob = source_blob_sha(repo, file, base_sha)
    now = time.time()
    return policy.declined(repository, fingerprint, number, file=file, base_sha=base_sha, source_blob_sha=blob,
                           closed_by=job.sender, closed_at=_closed_at(pull, job, now), recorded_at=now,
                           expiry_days=expiry_days)


def _decide(cfg, job: PullRequestClosed, kind: declined.CloseKind,
            fingerprint: str | None) -> tuple[Foreign | None, declined.PrDecision | None]:
    """Read the closed PR (read-scoped token): is it iacbot's, and what is to be recorded?"""
    repository, number = job.repository, job.number
    owner = ownership(cfg, redis_client(cfg.redis_url))
    with installation_session(cfg.github_app_id, cfg.app_private_key(), job.installation_id, repository,
                              PR_READ_PERMISSIONS, cfg.github_api_url) as token:
        gh = client(cfg.github_api_url, token, seconds_between_requests=0, seconds_between_writes=0)
        try:
            repo = gh.get_repo(repository)
            pull = repo.get_pull(number)
            foreign = _not_ours(pull, owner, repository, fingerprint)
            if foreign is not None or kind.outcome is None:
                return foreign, None
            if kind.outcome == declined.MERGED:
                return None, declined.PrDecision(declined.MERGED, repository, fingerprint, number,
                                                 closed_at=_closed_at(pull, job, time.time()))
            # The term is the central policy's as it is now (default 90 days when there is none usable).
            policies = load_policies(cfg, gh, repository, repo.default_branch, installation_id=job.installation_id,
                                     repo=repo)
            return None, _declined_decision(repo, pull, job, fingerprint, decline_expiry_days(policies))
        except GithubException as exc:
            raise github_error(exc, f"reading {repository}#{number}") from None


def _send_next_deferred(cfg, repository: str, closed_pr: Any) -> dict[str, str] | None:
    """A slot under the cap is free: send publish_job for the repository's oldest deferred fix."""
    def send(entry: pr_cap.Deferred) -> None:
        # A task id of its own per close: the fix's first publish already used f"{job}:publish:{fp}".
        app.send_task(PUBLISH_TASK, args=[entry.job_id, entry.fingerprint], kwargs={"deferred_since": entry.since},
                      queue=PUBLISH_QUEUE, task_id=f"{entry.job_id}:publish:{entry.fingerprint}:after-{closed_pr}",
                      ignore_result=True)

    sent = pr_cap.release_next(redis_client(cfg.redis_url), repository, send)
    if sent is None:
        return None
    log.info("%s#%s closed: publishing deferred fix %s of job %s", repository, closed_pr, sent.fingerprint,
             sent.job_id)
    return {"job_id": sent.job_id, "fingerprint": sent.fingerprint}


@app.task(name=PR_CLOSED_TASK, bind=True, queue="publish")
def record_pr_closed(self, job: dict[str, Any]) -> dict[str, Any]:
    job = PullRequestClosed.from_message(job)  # ValueError naming the field that is wrong
    kind = declined.classify_close(job)
    where = f"{job.repository}#{job.number}"
    frees = pr_cap.frees_slot(job)  # a bot's close records nothing but still frees a slot
    if kind.outcome is None and not frees:
        log.info("%s: nothing to record: %s", where, kind.reason)
        return {"status": "ignored", "reason": kind.reason}
    cfg = settings()
    fingerprint = fingerprint_from_branch(job.head_ref or "")
    kept = sent = None
    try:
        foreign, decision = _decide(cfg, job, kind, fingerprint)
        if foreign is not None:
            log.warning("%s: not iacbot's pull request (%s): nothing recorded", where, foreign.name)
            return {"status": "ignored", "reason": str(foreign), "foreign": foreign.name}
        if decision is not None:
            kept = declined.record(redis_client(cfg.redis_url), decision)
        if frees:
            # After recording: a retry re-records (idempotent) and may send one more, which is harmless
            # (the publish re-checks the cap and, still full, keeps its place in the queue).
            sent = _send_next_deferred(cfg, job.repository, job.number)
    except Exception as exc:
        countdown = retry_countdown(exc, self.request.retries, limit=retry_limit(cfg.visibility_timeout_seconds))
        if countdown is None:
            raise
        log.warning("%s: recording the close failed (%s); retry in %.1f s", where, exc, countdown)
        raise self.retry(exc=exc, countdown=countdown, max_retries=TRANSIENT_RETRIES) from None
    if kept is None:
        log.info("%s: nothing to record: %s", where, kind.reason)
        return {"status": "ignored", "reason": kind.reason, "sent_deferred": sent}
    if kept.outcome == declined.MERGED and decision is not None:
        rollback.start_watch(job)  # watch what follows the merge; revert a fix that did not work
    if kept.outcome == declined.DECLINED:
        log.info("%s: %s: %s: risk accepted by %s until %s (source %s)", where, fingerprint, kind.reason,
                 kept.closed_by or "an unknown person", policy.iso(policy.expires_at(kept)), kept.source_blob_sha)
    else:
        log.info("%s: %s: %s (source %s)", where, fingerprint, kind.reason, kept.source_blob_sha)
    return {"status": kept.outcome, "fingerprint": fingerprint, "pr_number": kept.pr_number,
            "reason": kind.reason, "source_blob_sha": kept.source_blob_sha, "closed_by": kept.closed_by,
            "closed_at": kept.closed_at, "expires_at": kept.expires_at, "sent_deferred": sent}
