"""The publish queue's main task, the only one holding a WRITE-scoped token (workers.pr_closed is
the queue's other task).

``publish_job(job_id, fingerprint)``: one stored, verified fix -> one pull request. The fix was
stored by the remediate step under ``iacbot:fixes:<job_id>`` (a hash keyed by fingerprint).
Idempotent through ``publish_fix``; the outcome is recorded under ``iacbot:published:<job_id>``.
Branch operations hold the repository's lock (workers.repo_lock). A fix whose last PR a person
closed unmerged is not published again unless its file changed since (workers.declined).

Then policy decides (gather facts, decide, act, record): the policies are read at the default
branch (workers.policy_source), the fix's facts come from its attempt and texts, the kill
switches from Redis (workers.switches), and ``policies.decide.decide_publish`` says:

* ``ignore``: no branch; outcome "ignored", with the rule that said so;
* ``recommend``: no branch; outcome "recommended", listed on the repository's dashboard;
* ``pull_request``: the PR is opened, labelled ``iacbot:review-required``, CODEOWNERS asked to review;
* ``automerge``: the PR is opened, labelled ``iacbot:automerge``; the merge task decides again
  once checks complete, and only it merges.

The decision (action and every reason) is shown in the PR's body and stored with the facts and
the policies' digests (workers.decision_store, stage "publish", with the commit iacbot made). A
policy with problems fails closed and is reported in the repository's "Action required" issue
(workers.policy_issue). A NEW pull request is opened only while iacbot has fewer than
``max_open_prs_per_repo`` open in the repository; otherwise the fix is queued ("deferred",
workers.pr_cap). After each decision the repository's dashboard is refreshed (workers.dashboard).

Every PR is signed (docs/provenance.md): the statement (from bot.attest.statement.from_attempt:
the fixed file's digest, the finding, the fixer, the evidence, the decision and who acted) is
signed with the service's key (workers.signing) and its envelope is in the PR body from the PR's
first moment; the fix commit carries the ``Iacbot-Statement`` trailer. No usable key: the publish
fails for good (SigningKeyMissing, recorded in the outcome) before any branch is pushed. The
signing, the PR and the decision are recorded in the audit log (workers.audit_log).

Transient failures (GitHub 5xx, a rate limit, a lost connection, a busy repository) retry with
a countdown; a 4xx or a malformed record fails at once, with a message saying what to do.
"""
from __future__ import annotations

import json
import logging
import math
import random
from datetime import datetime, timezone
from typing import Any, Mapping

import redis
import requests
from github import GithubException
from github.Repository import Repository
from kombu.exceptions import OperationalError

from bot.attest import dsse, statement
from bot.attest.local_sign import fixer_version, iacbot_version
from bot.attest.signer import Signer
from bot.audit.events import Event
from bot.decision_text import decision_lines, reason_labels
from bot.github import repo_files
from bot.github.auth import PUBLISH_PERMISSIONS, AuthError, installation_session
from bot.github.client import client
from bot.github.errors import GitHubRetryLater
from bot.github.ownership import Ownership, app_identity
from bot.github.publish import (AUTOMERGE_LABEL, CREATED, EXISTS, FOREIGN_BRANCH, REVIEW_REQUIRED_LABEL, UPDATED,
                                PublishError, github_message, publish_fix)
from bot.provenance import branch_name
from policies.decide import decide_publish
from policies.decision import Decision
from policies.facts import FixFacts, PublishFacts, fix_facts
from policies.model import PolicySet
from policies.reasons import Action
from workers import audit_log, decision_store, declined, policy_issue, pr_cap, switches
from workers.celery_app import PUBLISH_TASK, app
from workers.dashboard import request_refresh
from workers.decision_store import DecisionRecord
from workers.own_commits import RedisLedger
from workers.github_fetch import MAX_FILE_BYTES
from workers.policy_source import decline_expiry_days, load_policies
from workers.remediation import Fix, fix_from_json
from workers.repo_lock import RepoBusy, repo_lock
from workers.runtime import catalog, redis_client, settings
from workers.signing import signing_key
from workers.store import FILES_PREFIX, FIXES_PREFIX, PUBLISHED_PREFIX, REMEDIATED_PREFIX, load_json

log = logging.getLogger(__name__)

#: A live owner renews its repository lock; a dead one's lapses within this (and never outlives
#: the broker's visibility timeout, after which the task is redelivered anyway).
LOCK_TTL_CAP_SECONDS = 60
#: How long a task waits in-process for the repository's lock before handing back with a retry
#: (at most one lock TTL: by then a dead owner's lock has lapsed, so a longer wait is for a live one).
LOCK_WAIT_SECONDS = 10.0
LOCK_BUSY_RETRIES = 40
TRANSIENT_RETRIES = 10
#: GitHub's primary rate limit resets within the hour; a wait that long is taken as several
#: countdowns (each inside the visibility timeout), on top of the transient retries.
RATE_LIMIT_WINDOW_SECONDS = 3600
BACKOFF_CAP_SECONDS = 300.0

RECOMMENDED = "recommended"  # publish outcome status: policy said recommend (no branch)
IGNORED = "ignored"          # ... policy said ignore (no branch)
#: The PR label for each action that opens one.
ACTION_LABELS = {Action.PULL_REQUEST: REVIEW_REQUIRED_LABEL, Action.AUTOMERGE: AUTOMERGE_LABEL}
#: The statement's analysed_by: the remediate worker found, located, fixed and verified the change.
ANALYSED_BY = "iacbot-service:remediate"
PUBLISH_STAGE = "publish"

# kombu's OperationalError: the broker did not take a task (record_pr_closed sends the next deferred fix).
_TRANSIENT_TYPES = (redis.ConnectionError, redis.TimeoutError, requests.ConnectionError, requests.Timeout,
                    OperationalError)


# -- pure policy -------------------------------------------------------------------------------

def lock_ttl(visibility_timeout: float) -> float:
    return float(max(1, min(LOCK_TTL_CAP_SECONDS, visibility_timeout)))


def retry_limit(visibility_timeout: float) -> float:
    """The longest retry countdown a task may take: well inside the broker's visibility timeout."""
    return max(1.0, 0.9 * visibility_timeout)


def retry_countdown(exc: BaseException, retries: int, rng: random.Random | None = None,
                    limit: float | None = None) -> float | None:
    """Seconds to wait before retrying after ``exc`` (the ``retries``-th retry), or None: do not retry.

    GitHub's own answer wins (GitHubRetryLater: a rate limit longer than a call may wait); server
    errors, a token endpoint that did not answer and lost connections back off exponentially with
    jitter; a 4xx is a request that will fail the same way again. ``limit``: the longest wait
    allowed, below the broker's visibility timeout, since Redis hands a message a worker holds
    for longer than that to another worker as well (a primary rate limit may ask for an hour).
    """
    wait = _raw_countdown(exc, retries, rng or random)
    return wait if wait is None or not limit else min(wait, limit)


def retry_budget(exc: BaseException, limit: float) -> int:
    """How many retries a task may take for ``exc``: a rate limit may take an hour of countdowns
    of at most ``limit`` seconds each."""
    if isinstance(exc, GitHubRetryLater):
        return TRANSIENT_RETRIES + math.ceil(RATE_LIMIT_WINDOW_SECONDS / limit)
    return TRANSIENT_RETRIES


def _raw_countdown(exc: BaseException, retries: int, rng) -> float | None:
    jitter = rng.uniform(0, 1)  # many jobs paused by one rate limit should not return at once
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
    return rng.uniform(base / 2, base)


def github_error(exc: GithubException, what: str) -> PublishError:
    return PublishError(f"{what} failed: HTTP {exc.status} {github_message(exc)}".rstrip(), exc.status)


# -- publish_job -------------------------------------------------------------------------------

def _outcome(job_id: str, fingerprint: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"job_id": job_id, "fingerprint": fingerprint, "status": status, "branch": None,
            "pr_number": None, "pr_url": None, **extra}


def source_blob_sha(repo: Repository, path: str, ref: str) -> str | None:
    """The git blob sha of ``path`` at ``ref``; None when there is no such file."""
    try:
        content = repo.get_contents(path, ref=ref)
    except GithubException as exc:
        if exc.status == 404:
            return None
        raise github_error(exc, f"reading {path} at {ref[:12]}") from None
    return None if isinstance(content, list) else content.sha


def ownership(cfg, r: redis.Redis) -> Ownership:
    """The App's bot account (GET /app, once per process) and the commits iacbot recorded making."""
    return Ownership(app_identity(cfg.github_app_id, cfg.app_private_key(), cfg.github_api_url), RedisLedger(r))


def old_text(r: redis.Redis, job_id: str, fix: Fix, repo: Repository, default: str) -> str:
    """The text the fix was made from: the fetched file in Redis, else (expired) the file read at
    the commit it was fetched at (or the default branch's head). "" for a file that did not exist."""
    raw = r.hget(FILES_PREFIX + job_id, fix.path)
    if raw is None:
        record = load_json(r, REMEDIATED_PREFIX + job_id) or {}
        sha = record.get("sha") or repo_files.head_sha(repo, default)
        found = repo_files.read_at(repo, fix.path, sha, MAX_FILE_BYTES)
        raw = found.data if found.status == repo_files.FOUND else b""
    return raw.decode("utf-8", "replace")


def _policy_facts(policies: PolicySet) -> dict[str, Any]:
    return {"central_source": policies.central.source if policies.central else None,
            "repo_source": policies.repo.source if policies.repo else None,
            "central_problems": [p.text() for p in policies.central_problems[:20]],
            "repo_problems": [p.text() for p in policies.repo_problems[:20]]}


def _publish_facts_json(facts: PublishFacts) -> dict[str, Any]:
    return {"now": facts.now.isoformat(), "global_kill_switch": facts.global_kill_switch,
            "repo_kill_switch": facts.repo_kill_switch}


def _save_decision(r: redis.Redis, job_id: str, data: Mapping[str, Any], facts: FixFacts, verdict: Decision,
                   publish_facts: PublishFacts, policies: PolicySet, **where: Any) -> None:
    extra = {k: where.pop(k) for k in ("publish_status", "base_sha", "attestation") if k in where}
    decision_store.save(r, DecisionRecord(
        data["repository"], int(data["installation_id"]), facts.fingerprint, job_id, decision_store.PUBLISH, facts,
        verdict, publish_facts.now.timestamp(), facts={"publish": _publish_facts_json(publish_facts),
                                                        "policy": _policy_facts(policies), **extra}, **where))


def publish_signer(key, fix: Fix, data: Mapping[str, Any], chosen: Decision, decided_at: float,
                   facts: FixFacts, acted_by: str) -> Signer:
    """What the PR of ``fix`` is signed with: its statement (no commit yet) and the key."""
    doc = statement.from_attempt(
        fix.attempt, {fix.attempt.finding.file: fix.new_text.encode("utf-8")}, fix.verification, iacbot_version(),
        fixer_version(fix.attempt.fixer), data.get("scanner_version"), trigger=data.get("trigger"),
        decision=chosen, decided_at=decided_at, identities={"analysed_by": ANALYSED_BY, "acted_by": acted_by},
        stage=PUBLISH_STAGE, fix_facts=facts.to_json())
    return Signer(key, doc)


def _audit_decided(r: redis.Redis, repository: str, fingerprint: str, chosen: Decision, stage: str,
                   **details: Any) -> None:
    audit_log.record(r, Event.DECIDED, repository=repository, subject=fingerprint, actor="iacbot",
                     details={"stage": stage, "action": chosen.action.value,
                              "reasons": [b.reason.value for b in chosen.reasons][:50], **details})


def _audit_published(r: redis.Redis, repository: str, fingerprint: str, result, acted_by: str,
                     opened_before: bool) -> None:
    """signed, then pr_opened: right after publish_fix returned (the PR exists, signed). A re-run
    that finds the PR an earlier run opened (and was killed before recording) records it then."""
    if result.attestation is not None:
        audit_log.record(r, Event.SIGNED, repository=repository, subject=fingerprint, actor="iacbot",
                         details={"stage": PUBLISH_STAGE, "envelope_digest": dsse.envelope_digest(result.attestation),
                                  "pr": result.pr_number, "commit": result.commit_sha})
    if result.pr_number is not None and (result.status in (CREATED, UPDATED)
                                         or (result.status == EXISTS and not opened_before)):
        audit_log.record(r, Event.PR_OPENED, repository=repository, subject=f"pr:{int(result.pr_number)}",
                         actor=acted_by, details={"fingerprint": fingerprint, "status": result.status,
                                                  "sha": result.commit_sha, "branch": result.branch})


def _publish(job_id: str, fingerprint: str, data: Mapping[str, Any], deferred_since: float | None,
             task_id: str | None) -> dict[str, Any]:
    cfg = settings()
    # Before anything else: without a key nothing may be published (SigningKeyMissing: for good).
    key = signing_key(cfg)
    r = redis_client(cfg.redis_url)
    fix = fix_from_json(data, catalog())
    repository = data["repository"]
    installation_id = data["installation_id"]
    decision = declined.load(r, repository, fingerprint)
    interval = cfg.github_write_interval_seconds
    ttl = lock_ttl(cfg.visibility_timeout_seconds)
    cap = cfg.max_open_prs_per_repo
    owner = ownership(cfg, r)
    # The task's id owns the lock: a retry or redelivery of this task takes back a lock an earlier
    # run could not release (Redis died under it), without waiting for its TTL.
    with repo_lock(r, repository, ttl=ttl, wait=min(LOCK_WAIT_SECONDS, ttl), owner=task_id), \
            installation_session(cfg.github_app_id, cfg.app_private_key(), installation_id, repository,
                                 PUBLISH_PERMISSIONS, cfg.github_api_url) as token:
        gh = client(cfg.github_api_url, token, seconds_between_requests=min(interval, 0.25),
                    seconds_between_writes=interval, per_page=100)
        try:
            repo = gh.get_repo(repository)
            default = repo.default_branch
        except GithubException as exc:
            raise github_error(exc, f"reading {repository}") from None
        # The policies as they are now, at the default branch (fail closed, and say so, if they are bad).
        policies = load_policies(cfg, gh, repository, default, installation_id=installation_id, repo=repo)
        policy_issue.report(r, repo, owner.app, repository, policies, default, cfg.policy_repository or None)
        if decision is not None and decision.outcome == declined.DECLINED:
            current = source_blob_sha(repo, fix.path, default)
            verdict = declined.check(r, decision, current, expiry_days=decline_expiry_days(policies))  # records a lapse
            log.info("job %s: %s: %s", job_id, fingerprint, verdict.reason)
            if not verdict.publish:
                return _outcome(job_id, fingerprint, declined.DECLINED, declined_pr=decision.pr_number,
                                reason=verdict.reason)
        # -- decide: facts in, decision out --------------------------------------------------------
        facts = fix_facts(fix.attempt, repository, fix.path, old_text(r, job_id, fix, repo, default), fix.new_text)
        publish_facts = PublishFacts(datetime.now(timezone.utc), switches.global_on(cfg, r),
                                     switches.repo_on(r, repository))
        chosen = decide_publish(policies, facts, publish_facts)
        told = {"decision": chosen.to_json()}
        log.info("job %s: %s: policy says %s (%s)", job_id, fingerprint, chosen.action.value,
                 ", ".join(b.reason.value for b in chosen.reasons))
        if chosen.action in (Action.IGNORE, Action.RECOMMEND):
            _save_decision(r, job_id, data, facts, chosen, publish_facts, policies, base_ref=default)
            _audit_decided(r, repository, fingerprint, chosen, PUBLISH_STAGE)
            pr_cap.discard(r, repository, fingerprint)  # no PR will be opened: it waits for no slot
            request_refresh(r, installation_id, repository)
            status = IGNORED if chosen.action is Action.IGNORE else RECOMMENDED
            return _outcome(job_id, fingerprint, status, rule=chosen.rule, repo_rule=chosen.repo_rule, **told)
        if cap > 0:
            # Counted under the repository's lock: no other publish can take the last slot meanwhile.
            try:
                pulls = pr_cap.read_open_pulls(repo, repository, branch_name(fix.attempt), default, owner.app)
            except GithubException as exc:
                raise github_error(exc, f"listing the open pull requests of {repository}") from None
            allowed = pr_cap.may_open_pr(pulls.count, cap, pulls.has_branch)
            if not allowed.publish:
                place = pr_cap.defer(r, repository, job_id, fingerprint, int(cfg.job_record_ttl_seconds),
                                     since=deferred_since)
                log.info("job %s: %s deferred (place %d in %s's queue): %s", job_id, fingerprint, place,
                         repository, allowed.reason)
                return _outcome(job_id, fingerprint, pr_cap.DEFERRED, reason=allowed.reason, open_prs=pulls.count,
                                cap=cap, queue_place=place, **told)
        acted_by = owner.app.bot_login
        signer = publish_signer(key, fix, data, chosen, publish_facts.now.timestamp(), facts, acted_by)
        result = publish_fix(gh, repository, fix.attempt, fix.new_text, fix.verification, ownership=owner,
                             trigger=data.get("trigger"), repo=repo, fix=facts, decision_lines=decision_lines(chosen),
                             decision_labels=(ACTION_LABELS[chosen.action],
                                              *(reason_labels(chosen) if chosen.action is Action.PULL_REQUEST else ())),
                             request_reviews=chosen.action is Action.PULL_REQUEST, signer=signer)
        if result.status != FOREIGN_BRANCH:
            opened_before = result.pr_number is not None and decision_store.for_pr(
                r, repository, result.pr_number, decision_store.PUBLISH) is not None
            _audit_published(r, repository, fingerprint, result, acted_by, opened_before)
    log.info("job %s: %s %s PR #%s", job_id, fingerprint, result.status, result.pr_number)
    pr_cap.discard(r, repository, fingerprint)  # published: a queued entry for it would only waste a freed slot
    ours = result.status != FOREIGN_BRANCH  # a foreign branch's PR and head are not what iacbot published
    attestation = ({"envelope": result.attestation, "envelope_digest": dsse.envelope_digest(result.attestation)}
                   if ours and result.attestation is not None else None)
    _save_decision(r, job_id, data, facts, chosen, publish_facts, policies, base_ref=default,
                   pr_number=result.pr_number if ours else None, head_sha=result.commit_sha if ours else None,
                   publish_status=result.status, base_sha=result.base_sha, attestation=attestation)
    _audit_decided(r, repository, fingerprint, chosen, PUBLISH_STAGE,
                   **({"pr": result.pr_number} if ours and result.pr_number is not None else {}))
    request_refresh(r, installation_id, repository)
    return _outcome(job_id, fingerprint, result.status, branch=result.branch, pr_number=result.pr_number,
                    pr_url=result.pr_url, **told)


def _record(r: redis.Redis, cfg, job_id: str, fingerprint: str, outcome: dict[str, Any]) -> None:
    pipe = r.pipeline(transaction=True)
    pipe.hset(PUBLISHED_PREFIX + job_id, fingerprint, json.dumps(outcome))
    pipe.expire(PUBLISHED_PREFIX + job_id, int(cfg.job_record_ttl_seconds))
    pipe.execute()


@app.task(name=PUBLISH_TASK, bind=True, queue="publish")
def publish_job(self, job_id: str, fingerprint: str, deferred_since: float | None = None) -> dict[str, Any]:
    """``deferred_since``: set when sent from the deferred queue, so a re-deferral keeps its place."""
    cfg = settings()
    r = redis_client(cfg.redis_url)
    try:
        raw = r.hget(FIXES_PREFIX + job_id, fingerprint)
        if raw is None:
            log.warning("job %s: no stored fix %s (expired?); nothing to publish", job_id, fingerprint)
            return _outcome(job_id, fingerprint, "missing")
        outcome = _publish(job_id, fingerprint, json.loads(raw), deferred_since, self.request.id)
        _record(r, cfg, job_id, fingerprint, outcome)
        return outcome
    except Exception as exc:
        if isinstance(exc, RepoBusy):
            countdown, budget = random.uniform(1, lock_ttl(cfg.visibility_timeout_seconds)), LOCK_BUSY_RETRIES
        else:
            limit = retry_limit(cfg.visibility_timeout_seconds)
            countdown = retry_countdown(exc, self.request.retries, limit=limit)
            budget = retry_budget(exc, limit)
        if countdown is None or self.request.retries >= budget:
            # Visible where the outcomes are read; PublishError/AuthError messages hold no credential.
            _record(r, cfg, job_id, fingerprint, _outcome(job_id, fingerprint, "failed", reason=str(exc)))
            log.error("job %s: publishing %s failed for good: %s", job_id, fingerprint, exc)
            raise
        log.warning("job %s: publishing %s: %s; retry %d in %.1f s", job_id, fingerprint, exc,
                    self.request.retries + 1, countdown)
        raise self.retry(exc=exc, countdown=countdown, max_retries=budget) from None
