"""``consider_merge(job)`` (queue publish): checks completed on a commit, so iacbot's pull requests
there that may merge on their own are decided again, right before the merge, and merged pinned.

The job is a ``checks_completed`` job (the receiver's, jobs-direction's ``workers.tasks`` sends it
for every check suite, check run and status event; workers.sweep sends synthetic ones):
``repository``, ``installation_id``, ``head_sha`` and ``pull_request_numbers``. With no numbers,
iacbot's candidate PRs whose published commit is ``head_sha`` are found in the decision store
(no GitHub call: a PR whose head is any other commit cannot merge on its own anyway).

For each PR, in this order:

1. its publish-stage decision (workers.decision_store.for_pr) must make it an automerge
   candidate: AUTOMERGE, or a rule that said automerge held only by what passes by itself (a
   closed window, a kill switch, the hourly limit). Nothing else is asked for (no token) when no
   PR of the job is one;
2. the switches and the hourly count are read (Redis), then the facts through the API
   (bot.github.merge_facts: head SHA, commits, files, checks on that head only), and the policy
   as it is NOW, at the default branch (workers.policy_source). The head SHA iacbot made comes
   from the publish record, never from the PR body or a later merge record;
3. ``policies.decide.decide_merge`` decides; the decision is stored (stage "merge") with the facts;
4. AUTOMERGE only: the base branch's merge lock (held: MERGE_IN_PROGRESS, decided again shortly),
   then the repository's merge-call lock, the switches and the hourly count read AGAIN and the
   decision made again with them (a switch turned on while a merge is in flight stops it there),
   then ``PUT .../merge`` pinned to the head SHA the facts were read at. 409/405/422: recorded,
   and a fresh decision is made later (the next check event or the sweep), never a retry of the
   PUT with the old one. Merged: recorded (decision_store.record_merge) and the dashboard refreshed.

Right before the PUT (after the re-check said AUTOMERGE) a merge-stage statement is signed
(bot.attest.signer.merge_statement: the publish statement's finding and evidence, the files as they
are at the head being merged, this decision) and edited into the PR body as a second attestation
block; the merge commit's ``Iacbot-Merge-Statement`` trailer names it. No signed publish statement,
a file at the head that is not the one signed, or no room in the body: not merged (STOPPED).
A worker killed after signing and before the PUT signs again on redelivery (the merge block is
replaced, never doubled); killed after the PUT, the merge is found and recorded once (ALREADY_MERGED).
Decisions, the signing and the merge are recorded in the audit log (workers.audit_log).

A PR that is not merging gets a short comment only when its lasting blocking reasons changed
since the last comment (``iacbot:merge-note:<owner/name>:<n>``): pending or missing checks and a
busy base are the normal wait, not news. Token: one repository, contents:write (the merge
commit), pull_requests:write, checks:read, statuses:read, issues:write (the comment); revoked
at the end. Transient failures retry the whole consideration as publish_job retries.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

import redis
from github import GithubException
from github.Repository import Repository

import jobs
from bot.attest import dsse
from bot.attest.signer import merge_statement, publish_statement
from bot.attest.statement import COMMIT_SUBJECT, canonical, statement_digest
from bot.audit.events import Event
from bot.github import merge_facts, pr_body, repo_files
from bot.github.auth import installation_session
from bot.github.client import client
from bot.github.merge import DEFAULT_METHOD, merge_message, merge_pinned, put_attestation, single_attempt_client
from bot.github.merge_note import blocked_note, lasting_reasons, post_note
from bot.github.ownership import AppIdentity, CommitLedger
from policies.decide import decide_merge
from policies.decision import Decision
from policies.facts import MergeFacts
from policies.reasons import Action, Reason
from workers import audit_log, dashboard, decision_store, merge_lock, policy_source, switches
from workers.celery_app import MERGE_TASK, app
from workers.publish import (
    LOCK_BUSY_RETRIES,
    github_error,
    lock_ttl,
    ownership,
    retry_budget,
    retry_countdown,
    retry_limit,
)
from workers.github_fetch import MAX_FILE_BYTES
from workers.runtime import redis_client, settings
from workers.signing import signing_key
from workers.store import repo_key

log = logging.getLogger(__name__)

MERGE_PERMISSIONS: dict[str, str] = {"contents": "write", "pull_requests": "write", "checks": "read",
                                     "statuses": "read", "issues": "write"}
HOUR = 3600.0
#: A job names at most this many PRs (the receiver keeps 50 of a check's PR list).
MAX_PULLS_PER_JOB = 50
#: PRs with decisions looked at in one repository (a job without PR numbers, the sweep).
MAX_INDEXED_PULLS = 1_000
#: How long a merge waits for another merge into the same base before deciding MERGE_IN_PROGRESS.
MERGE_LOCK_WAIT_SECONDS = 2.0
#: ... and for the repository's merge-call lock (held for one re-check and one PUT).
COUNT_LOCK_WAIT_SECONDS = 10.0
#: How long a merge note's last reasons are remembered (a PR open longer gets at most one more note).
NOTE_TTL_SECONDS = 90 * 24 * 3600
NOTE_PREFIX = "iacbot:merge-note:"
MERGE_STAGE = "merge"

# Outcomes of one PR's consideration.
NOT_CANDIDATE = "not-candidate"     # its stored decision does not allow an automatic merge
DECIDED = "decided"                 # decided again: not now (the reasons are stored)
BUSY = "busy"                       # another merge into its base is under way (or GitHub is still computing
                                    # mergeability): decided again shortly
STOPPED = "stopped"                 # the re-check right before the PUT said no (kill switch, hourly limit)
MERGED = "merged"
DECIDE_AGAIN = "decide-again"       # GitHub refused the pinned merge (409/405/422): a fresh decision later
ALREADY_MERGED = "already-merged"   # iacbot's earlier merge whose answer was lost, recorded now
REQUESTED = "requested"             # stored right before the PUT (its answer may be lost)


@dataclass(frozen=True)
class Considered:
    pr_number: int
    outcome: str
    action: str | None = None
    reasons: tuple[dict, ...] = ()
    merge: dict | None = None
    noted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"pr_number": self.pr_number, "outcome": self.outcome, "action": self.action,
                "reasons": list(self.reasons), "merge": self.merge, "noted": self.noted}


@dataclass
class Context:
    """What one consideration works with; tests and the red-team suite build it directly."""

    cfg: Any
    r: redis.Redis
    gh: Any                           # PyGithub client (the shared retry policy)
    repo: Repository                  # the repository through ``gh``
    merge_repo: Repository            # the same repository through a single-attempt client (the PUT)
    repository: str
    installation_id: int
    app: AppIdentity
    ledger: CommitLedger
    owner: str | None = None          # the Celery task id: owns the locks across its retries
    job_id: str = ""
    clock: Callable[[], float] = time.time
    method: str = DEFAULT_METHOD
    policies: Any = field(default=None)  # loaded once per job, on first need


# -- pure helpers ------------------------------------------------------------------------------

#: Publish-time reasons that can pass without the fix changing: a PR blocked only by these when
#: it was published (the policy's rule said automerge) is a candidate all the same.
WAITING_AT_PUBLISH = frozenset({Reason.OUTSIDE_WINDOW, Reason.KILL_SWITCH_GLOBAL, Reason.KILL_SWITCH_REPOSITORY,
                                Reason.HOURLY_LIMIT, Reason.MERGE_IN_PROGRESS})


def is_candidate(publish: decision_store.DecisionRecord | None) -> bool:
    """May this PR merge on its own at all? Its publish-stage record (the commit iacbot made and the
    decision made then) must say AUTOMERGE, or its rule said automerge and only a reason that
    passes by itself (a closed window, a kill switch) held it. decide_merge applies every guardrail
    again; this only spares PRs that can never merge a token and the API calls."""
    if publish is None or publish.stage != decision_store.PUBLISH or publish.pr_number is None \
            or not publish.head_sha:
        return False
    decision = publish.decision
    if decision.action is Action.AUTOMERGE:
        return True
    blocked = {b.reason for b in decision.blocked_by()}
    return decision.action is Action.PULL_REQUEST and bool(blocked) and blocked <= WAITING_AT_PUBLISH


def is_settled(merge: decision_store.DecisionRecord | None) -> bool:
    """A merge-stage record that says the PR is closed or merged: nothing left to decide."""
    return merge is not None and (merge.decision.has(Reason.PR_NOT_OPEN)
                                  or (merge.facts or {}).get("merge", {}).get("outcome") == "merged")


def soon(decision: Decision) -> bool:
    """Blocked only by what passes within seconds (another merge into the base, GitHub still
    computing mergeability): worth deciding again shortly, not at the next event or sweep."""
    blocked = decision.blocked_by()
    return bool(blocked) and all(b.reason is Reason.MERGE_IN_PROGRESS
                                 or (b.reason is Reason.NOT_MERGEABLE and b.subject == "unknown") for b in blocked)


def _changed(last: decision_store.DecisionRecord | None, decision: Decision) -> bool:
    return last is None or last.decision.action is not decision.action or last.decision.reasons != decision.reasons


def _merge_requested(merge: decision_store.DecisionRecord | None) -> str | None:
    """The head SHA iacbot last sent a merge request for and heard nothing back about, if any."""
    sent = (merge.facts or {}).get("merge") if merge is not None else None
    return sent.get("pinned_sha") if isinstance(sent, dict) and sent.get("outcome") == REQUESTED else None


def _reasons_json(decision: Decision) -> tuple[dict, ...]:
    return tuple(b.to_json() for b in decision.reasons)


def validate_job(job: Any) -> dict[str, Any]:
    """The checks_completed job (jobs.ChecksCompleted: the one definition the receiver uses too),
    as a message, its PR numbers without repeats. ValueError naming the field that is wrong."""
    checked = jobs.ChecksCompleted.from_message(job)
    numbers = list(dict.fromkeys(n for n in checked.pull_request_numbers if 0 < n < 2 ** 31))
    return {**checked.to_message(), "pull_request_numbers": numbers[:MAX_PULLS_PER_JOB]}


# -- one pull request --------------------------------------------------------------------------

def _now(ctx: Context) -> datetime:
    return datetime.fromtimestamp(ctx.clock(), timezone.utc)


def _redis_facts(ctx: Context) -> dict[str, Any]:
    """The switches and the hourly count, as they are this instant."""
    return {"global_kill_switch": switches.global_on(ctx.cfg, ctx.r),
            "repo_kill_switch": switches.repo_on(ctx.r, ctx.repository),
            "merges_last_hour": decision_store.merges_since(ctx.r, ctx.repository, ctx.clock() - HOUR)}


def _policies(ctx: Context):
    if ctx.policies is None:
        ctx.policies = policy_source.load_policies(ctx.cfg, ctx.gh, ctx.repository, ctx.repo.default_branch,
                                                   installation_id=ctx.installation_id, repo=ctx.repo)
    return ctx.policies


def _store(ctx: Context, record: decision_store.DecisionRecord, decision: Decision, facts: MergeFacts,
           audit: bool = True, **extra: Any) -> None:
    """Store the merge-stage decision (and, ``audit``, record it: False for the same decision
    stored again with the merge's result)."""
    data = {"merge_facts": merge_facts.facts_to_json(facts), "publish_job_id": record.job_id, **extra}
    # head_sha: the head decided on. A later decision compares the head with the PUBLISH record's
    # head_sha (the commit iacbot made), never with what a merge-stage record last saw.
    decision_store.save(ctx.r, decision_store.DecisionRecord(
        repository=ctx.repository, installation_id=ctx.installation_id, fingerprint=record.fingerprint,
        job_id=ctx.job_id, stage=decision_store.MERGE, fix=record.fix, decision=decision, decided_at=ctx.clock(),
        pr_number=record.pr_number, head_sha=facts.head_sha, base_ref=facts.base_ref, facts=data))
    if audit:
        audit_log.record(ctx.r, Event.DECIDED, repository=ctx.repository, subject=record.fingerprint, actor="iacbot",
                         details={"stage": MERGE_STAGE, "action": decision.action.value, "pr": record.pr_number,
                                  "sha": facts.head_sha, "reasons": [b.reason.value for b in decision.reasons][:50]})


def _audit_merged(ctx: Context, record: decision_store.DecisionRecord, number: int, sha: str,
                  merge_sha: str | None) -> None:
    audit_log.record(ctx.r, Event.MERGED, repository=ctx.repository, subject=f"pr:{int(number)}",
                     actor=ctx.app.bot_login, details={"fingerprint": record.fingerprint, "sha": sha,
                                                       "merge_sha": merge_sha},
                     once=audit_log.merged_once(ctx.repository, number))


def consider_pull(ctx: Context, number: int) -> Considered:
    """Decide PR ``number`` again and merge it if the decision says so (module docstring)."""
    record = decision_store.for_pr(ctx.r, ctx.repository, number, decision_store.PUBLISH)
    if not is_candidate(record):
        return Considered(number, NOT_CANDIDATE)
    last = decision_store.for_pr(ctx.r, ctx.repository, number, decision_store.MERGE)
    facts, state = _gather(ctx, record, number)
    lost_answer = state.merged and state.merged_by_iacbot and _merge_requested(last) == state.head_sha
    if lost_answer:
        # iacbot's PUT merged it but its answer never came back: count the merge now, once (the
        # record stored below no longer says a merge was requested).
        decision_store.record_merge(ctx.r, ctx.repository, number, state.head_sha, ctx.clock())
        _audit_merged(ctx, record, number, state.head_sha, None)
        log.info("%s#%s: merged by iacbot at %s (its answer was lost); recorded", ctx.repository, number,
                 state.head_sha[:12])
    facts = dataclasses.replace(
        facts, merge_in_progress=merge_lock.held(ctx.r, ctx.repository, facts.base_ref, ctx.owner))
    policies = _policies(ctx)
    decision = decide_merge(policies, record.fix, facts)
    _store(ctx, record, decision, facts)
    if lost_answer:
        return Considered(number, ALREADY_MERGED, decision.action.value, _reasons_json(decision))
    if _changed(last, decision):
        _refresh_dashboard(ctx, number)  # it lists what is blocked, and why
    if soon(decision):
        log.info("%s#%s: %s; deciding again shortly", ctx.repository, number,
                 ", ".join(f"{b.reason.value} ({b.subject})" for b in decision.blocked_by()))
        return Considered(number, BUSY, decision.action.value, _reasons_json(decision))
    if decision.action is not Action.AUTOMERGE:
        noted = _note(ctx, number, facts, decision)
        log.info("%s#%s: not merging: %s", ctx.repository, number,
                 ", ".join(b.reason.value for b in decision.blocked_by()) or decision.action.value)
        return Considered(number, DECIDED, decision.action.value, _reasons_json(decision), noted=noted)
    ttl = lock_ttl(ctx.cfg.visibility_timeout_seconds)
    try:
        with merge_lock.merge_lock(ctx.r, ctx.repository, facts.base_ref, ttl=ttl,
                                   wait=MERGE_LOCK_WAIT_SECONDS, owner=ctx.owner):
            done = _merge(ctx, number, record, policies, facts, ttl)
        return _after_refusal(ctx, number, record, done) if done.outcome == DECIDE_AGAIN else done
    except merge_lock.RepoBusy:
        busy = dataclasses.replace(facts, merge_in_progress=True)
        decision = decide_merge(policies, record.fix, busy)
        _store(ctx, record, decision, busy)
        log.info("%s#%s: another merge into %s is under way; deciding again later", ctx.repository, number,
                 facts.base_ref)
        return Considered(number, BUSY, decision.action.value, _reasons_json(decision))


def _gather(ctx: Context, record: decision_store.DecisionRecord, number: int):
    redis_facts = _redis_facts(ctx)  # before the API: a switch turned on from here on is seen at the re-check
    return merge_facts.gather(ctx.repo, number, app=ctx.app, ledger=ctx.ledger, repository=ctx.repository,
                              fingerprint=record.fingerprint, decided_head_sha=record.head_sha,
                              decided_base_ref=record.base_ref, now=_now(ctx),
                              **redis_facts)


def _after_refusal(ctx: Context, number: int, record, refused: Considered) -> Considered:
    """GitHub refused the pinned merge: the decision it was made on is spent. The facts are read
    again and decided again now (stored, for the dashboard and the note), and nothing is merged
    in this run: the next check event or the sweep may merge on a decision of its own."""
    facts, _ = _gather(ctx, record, number)
    decision = decide_merge(_policies(ctx), record.fix, facts)
    _store(ctx, record, decision, facts, merge=refused.merge)
    noted = decision.action is not Action.AUTOMERGE and _note(ctx, number, facts, decision)
    return dataclasses.replace(refused, action=decision.action.value, reasons=_reasons_json(decision), noted=noted)


def _merge(ctx: Context, number: int, record, policies, facts: MergeFacts, ttl: float) -> Considered:
    with merge_lock.count_lock(ctx.r, ctx.repository, ttl=ttl, wait=COUNT_LOCK_WAIT_SECONDS, owner=ctx.owner):
        # Immediately before the PUT: the switches and the count again, and the decision again.
        now = dataclasses.replace(facts, now=_now(ctx), **_redis_facts(ctx))
        decision = decide_merge(policies, record.fix, now)
        if decision.action is not Action.AUTOMERGE:
            _store(ctx, record, decision, now)
            log.warning("%s#%s: stopped right before merging: %s", ctx.repository, number,
                        ", ".join(b.reason.value for b in decision.blocked_by()) or decision.action.value)
            return Considered(number, STOPPED, decision.action.value, _reasons_json(decision))
        # Signed and in the PR body before the call: no merge without its merge-stage statement.
        signed = _sign_merge(ctx, number, record, decision, now)
        if signed is None:
            _store(ctx, record, decision, now, merge={"outcome": "unsigned", "pinned_sha": now.head_sha})
            return Considered(number, STOPPED, decision.action.value, _reasons_json(decision))
        # Written before the call: if GitHub merges and its answer is lost, the next run knows the
        # merge was iacbot's request (and counts it) rather than a person's.
        _store(ctx, record, decision, now, merge={"outcome": REQUESTED, "pinned_sha": now.head_sha, **signed})
        result = merge_pinned(ctx.merge_repo, number, now.head_sha, ctx.method,
                              merge_message(signed["statement_digest"]))
        if result.merged:
            decision_store.record_merge(ctx.r, ctx.repository, number, now.head_sha, ctx.clock())
            _audit_merged(ctx, record, number, now.head_sha, result.merge_sha)
    _store(ctx, record, decision, now, audit=False, merge={**result.to_json(), **signed})
    if not result.merged:
        log.info("%s#%s: GitHub refused the merge pinned to %s (HTTP %s %s): deciding again later",
                 ctx.repository, number, now.head_sha[:12], result.http_status, result.message)
        return Considered(number, DECIDE_AGAIN, decision.action.value, _reasons_json(decision), result.to_json())
    log.info("%s#%s: merged at %s (%s)", ctx.repository, number, now.head_sha[:12], result.merge_sha)
    _refresh_dashboard(ctx, number)  # the last automatic merges
    return Considered(number, MERGED, decision.action.value, _reasons_json(decision), result.to_json())


def _sign_merge(ctx: Context, number: int, record: decision_store.DecisionRecord, decision: Decision,
                facts: MergeFacts) -> dict[str, str] | None:
    """Sign the merge-stage statement and put it in PR ``number``'s body; its digests, or None
    (logged) when it cannot be signed truthfully: then nothing is merged. SigningKeyMissing raises."""
    key = signing_key(ctx.cfg)
    envelope = ((record.facts or {}).get("attestation") or {}).get("envelope")
    publish_doc = publish_statement(envelope, key) if isinstance(envelope, dict) else None
    if publish_doc is None:
        log.warning("%s#%s: no publish-stage statement signed by this key; not merging unsigned", ctx.repository, number)
        return None
    files: dict[str, bytes] = {}
    try:
        for subject in publish_doc["subject"]:
            if subject["name"] == COMMIT_SUBJECT:
                continue
            found = repo_files.read_at(ctx.repo, subject["name"], facts.head_sha, MAX_FILE_BYTES)
            if found.status != repo_files.FOUND:
                log.warning("%s#%s: %s at %s is %s; not merging", ctx.repository, number, subject["name"],
                            facts.head_sha[:12], found.status)
                return None
            files[subject["name"]] = found.data
        try:
            doc = merge_statement(publish_doc, files, facts.head_sha, decision, ctx.clock(), record.fix.to_json(),
                                  ctx.app.bot_login)
        except ValueError as exc:
            log.warning("%s#%s: %s; not merging", ctx.repository, number, exc)
            return None
        signed = dsse.sign(canonical(doc), key).to_json()
        if not put_attestation(ctx.repo, number, MERGE_STAGE, pr_body.attestation_block(signed)):
            log.warning("%s#%s: no room left in the body for the merge-stage statement; not merging", ctx.repository,
                        number)
            return None
    except GithubException as exc:
        raise github_error(exc, f"signing the merge of {ctx.repository}#{number}") from None
    digests = {"envelope_digest": dsse.envelope_digest(signed), "statement_digest": statement_digest(doc)}
    audit_log.record(ctx.r, Event.SIGNED, repository=ctx.repository, subject=record.fingerprint, actor="iacbot",
                     details={"stage": MERGE_STAGE, "pr": int(number), "sha": facts.head_sha, **digests})
    return digests


def _refresh_dashboard(ctx: Context, number: int) -> None:
    dashboard.request_refresh(ctx.r, ctx.installation_id, ctx.repository)  # never raises


# -- the quiet PR note -------------------------------------------------------------------------

def note_key(repository: str, number: int) -> str:
    return repo_key(NOTE_PREFIX, repository) + f":{int(number)}"


def _note(ctx: Context, number: int, facts: MergeFacts, decision: Decision) -> bool:
    """Comment on the PR only when its lasting blocking reasons differ from the last comment's."""
    if not (facts.pr_open and facts.pr_by_iacbot):
        return False  # never write on a closed PR or on anyone else's
    reasons = lasting_reasons(decision)
    key = note_key(ctx.repository, number)
    last = ctx.r.get(key)
    current = json.dumps(reasons)
    if (last.decode() if isinstance(last, bytes) else last) == current or (last is None and not reasons):
        return False
    if not post_note(ctx.repo, number, blocked_note(decision, reasons)):
        return False  # nothing remembered: the next decision tries again
    ctx.r.set(key, current, ex=NOTE_TTL_SECONDS)
    return True


# -- the job -----------------------------------------------------------------------------------

def candidate_numbers(r: redis.Redis, repository: str, numbers: list[int]) -> list[int]:
    return [n for n in numbers if is_candidate(decision_store.for_pr(r, repository, n, decision_store.PUBLISH))]


def publish_records(r: redis.Redis, repository: str, limit: int = MAX_INDEXED_PULLS):
    """The publish-stage records of (at most ``limit`` of) ``repository``'s PRs; unreadable ones skipped."""
    for i, (_, raw) in enumerate(r.hscan_iter(decision_store.pr_index_key(repository),
                                               match=f"*:{decision_store.PUBLISH}", count=500)):
        if i >= limit:
            log.warning("%s: more than %d PRs with decisions; the rest are not looked at", repository, limit)
            return
        try:
            yield decision_store.DecisionRecord.from_json(json.loads(raw))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue


def candidates_at(r: redis.Redis, repository: str, sha: str) -> list[int]:
    """A check event that names no PR (a commit status, a check on a fork's PR): iacbot's candidate
    PRs whose published commit is ``sha``. A PR whose head is anything else cannot merge anyway."""
    sha = sha.lower()
    return sorted({int(rec.pr_number) for rec in publish_records(r, repository)
                   if is_candidate(rec) and (rec.head_sha or "").lower() == sha})[:MAX_PULLS_PER_JOB]


def consider_job(cfg, r: redis.Redis, job: Mapping[str, Any], *, owner: str | None = None,
                 clock: Callable[[], float] = time.time, only: list[int] | None = None) -> list[Considered]:
    """Every PR of ``job`` (validated), considered one after another under one token."""
    job = validate_job(dict(job))
    repository, installation = job["repository"], job["installation_id"]
    numbers = only if only is not None else job["pull_request_numbers"]
    if not numbers:
        numbers = candidates_at(r, repository, job["head_sha"])
    candidates = candidate_numbers(r, repository, numbers)
    results = [Considered(n, NOT_CANDIDATE) for n in numbers if n not in candidates]
    if not candidates:
        return results  # no token asked for
    owners = ownership(cfg, r)
    with installation_session(cfg.github_app_id, cfg.app_private_key(), installation, repository,
                              MERGE_PERMISSIONS, cfg.github_api_url) as token:
        gh = client(cfg.github_api_url, token, seconds_between_requests=0,
                    seconds_between_writes=cfg.github_write_interval_seconds, per_page=100)
        merge_gh = single_attempt_client(cfg.github_api_url, token, seconds_between_requests=0,
                                         seconds_between_writes=cfg.github_write_interval_seconds, lazy=True)
        try:
            repo = gh.get_repo(repository)
            repo.default_branch  # noqa: B018  (one GET now, so a missing repository fails here)
        except GithubException as exc:
            raise github_error(exc, f"reading {repository}") from None
        ctx = Context(cfg, r, gh, repo, merge_gh.get_repo(repository), repository, installation,
                      owners.app, owners.commits, owner=owner, job_id=str(job.get("delivery_id") or owner or ""),
                      clock=clock)
        for number in candidates:
            results.append(consider_pull(ctx, number))
    return results


@app.task(name=MERGE_TASK, bind=True, queue="publish")
def consider_merge(self, job: dict[str, Any], only: list[int] | None = None) -> dict[str, Any]:
    """``only``: the PRs a retry is still about (those whose base was busy)."""
    cfg = settings()
    r = redis_client(cfg.redis_url)
    try:
        results = consider_job(cfg, r, job, owner=self.request.id, only=only)
    except ValueError as exc:  # a malformed job or a missing setting: no retry can help
        log.error("consider_merge: %s", exc)
        raise
    except Exception as exc:
        if isinstance(exc, merge_lock.RepoBusy):  # the merge-call lock: another PUT in this repository
            countdown, budget = random.uniform(1, lock_ttl(cfg.visibility_timeout_seconds)), LOCK_BUSY_RETRIES
        else:
            limit = retry_limit(cfg.visibility_timeout_seconds)
            countdown, budget = retry_countdown(exc, self.request.retries, limit=limit), retry_budget(exc, limit)
        if countdown is None or self.request.retries >= budget:
            log.error("consider_merge %s: failed for good: %s", job.get("repository"), exc)
            raise
        log.warning("consider_merge %s: %s; retry %d in %.1f s", job.get("repository"), exc,
                    self.request.retries + 1, countdown)
        raise self.retry(exc=exc, countdown=countdown, max_retries=budget) from None
    busy = [c.pr_number for c in results if c.outcome == BUSY]
    outcome = {"repository": job["repository"], "pulls": [c.to_json() for c in results]}
    if busy and self.request.retries < LOCK_BUSY_RETRIES:
        countdown = random.uniform(2, lock_ttl(cfg.visibility_timeout_seconds))
        log.info("consider_merge %s: %s waiting for another merge; deciding again in %.1f s", job["repository"],
                 busy, countdown)
        raise self.retry(args=[job], kwargs={"only": busy}, countdown=countdown, max_retries=LOCK_BUSY_RETRIES)
    return outcome
