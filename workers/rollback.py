"""After one of iacbot's pull requests merged: watch what follows, and revert a fix that did not
work (docs/rollback.md).

    record_pr_closed (merged, iacbot's) ─► watch_merge ─► recheck_merge ─► consider_rollback ─► revert PR
                                           (publish: the   (remediate:       (publish: checks on  / issue /
    check_suite / check_run / status  ───────────────────────────────────►   merge vs parent,     verified /
    on a watched merge commit (workers.tasks)                                 policies.rollback)   held

* ``watch_merge``: reads the merged PR (read token): the merge commit and its first parent, the
  fix's files before (at the parent) and after (at the merge commit), who was asked to review and
  who reviewed; stores the watch record (workers.merge_watch) once.
* ``recheck_merge``: re-scans the fix's files (and, for Terraform, their directory) at the merge
  commit with checkov, the way verification does (the worker's long-lived scanner process), and
  asks: does a rule of the fix still fail on the same fingerprint (rule, resource, file)?
* ``consider_rollback``: the checks on the merge commit and on its parent (bot.github.merge_facts),
  the PR body's opt-out marker as the API gives it now, the policies' rollback settings, the day's
  revert count -> policies.rollback.decide. WAIT polls again later (a lost check event is caught);
  REVERT counts the revert atomically under the day's cap, marks the record ``reverting`` and opens
  the revert (bot.github.revert) with a signed statement in its body; NOT_CLEAN opens an issue
  that explains what to revert by hand. Every outcome is audited (workers.audit_log), a revert is
  recorded as a decline by evidence (workers.declined), and the dashboard is refreshed.

Crash-safe: a redelivered consider finds ``reverting`` and its claim (counted once), and
open_revert converges on the one branch and PR it (or a lost answer) made.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import tempfile
import time
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import Any

from github import GithubException
from github.Repository import Repository

from bot import quoting
from bot.attest import dsse, statement
from bot.attest.local_sign import iacbot_version
from bot.attest.verify import attestation_block, envelope_from_pr_body
from bot.audit.events import Event
from bot.github import merge_facts
from bot.github.auth import installation_session
from bot.github.client import client
from bot.github.publish import PublishError
from bot.github.repo_files import FOUND, read_at
from bot.github.revert import (
    ALREADY_REVERTED,
    CREATED,
    EXISTS,
    MAX_FILE_BYTES,
    NOT_CLEAN,
    RevertFile,
    ledger_key,
    open_revert,
    open_revert_issue,
)
from bot.local_scan import finding_from_check
from fixers import registry
from jobs.branches import fingerprint_from_branch
from jobs.kinds import PullRequestClosed
from policies import declines as decline_policy
from policies import rollback as policy
from policies.decide import decide_publish
from policies.decision import Because
from policies.facts import PublishFacts
from policies.reasons import EXPLAINED, Reason
from workers import audit_log, dashboard, decision_store, declined, job_sources, merge_watch, store, switches
from workers.celery_app import PUBLISH_QUEUE, RECHECK_TASK, REMEDIATE_QUEUE, ROLLBACK_TASK, WATCH_TASK, app
from workers.github_fetch import write_tree
from workers.policy_source import decline_expiry_days, load_policies
from workers.publish import LOCK_WAIT_SECONDS, TRANSIENT_RETRIES, lock_ttl, ownership, retry_countdown, retry_limit
from workers.repo_lock import RepoBusy, repo_lock
from workers.runtime import catalog, redis_client, scanner, settings
from workers.signing import SigningKeyMissing, signing_key

log = logging.getLogger(__name__)

WATCH_PERMISSIONS = {"contents": "read", "pull_requests": "read"}
RECHECK_PERMISSIONS = {"contents": "read"}
CHECKS_PERMISSIONS = {"contents": "read", "pull_requests": "read", "checks": "read", "statuses": "read"}
REVERT_PERMISSIONS = {"contents": "write", "pull_requests": "write", "issues": "write"}

#: How long a merge is watched: CI that has not reported by then proves nothing either way.
WATCH_SECONDS = 24 * 3600
#: The polls a waiting watch makes when no event comes: 30 s, doubling, at most 270 s apart (inside
#: the broker's visibility timeout, as every countdown).
FIRST_POLL_SECONDS = 30.0
MAX_POLL_SECONDS = 270.0
#: What one watch keeps: files (a fix changes one), reviewers, failing findings listed.
MAX_FILES = 50
MAX_REVIEWERS = 20
MAX_LISTED = 10
REVERT_LABEL = "iacbot:revert"
FIXER_ID = "iacbot-revert"


def _task_id(repository: str, merge_sha: str, step: str) -> str:
    return f"rollback:{repository.lower()}:{merge_sha}:{step}"


def start_watch(job: PullRequestClosed) -> None:
    """record_pr_closed recorded one of iacbot's PRs as merged: watch what follows."""
    app.send_task(WATCH_TASK, args=[job.to_message()], queue=PUBLISH_QUEUE,
                  task_id=f"{job.delivery_id or job.repository + '#' + str(job.number)}:watch", ignore_result=True)


def send_consider(repository: str, merge_sha: str, step: str, countdown: float | None = None) -> None:
    app.send_task(ROLLBACK_TASK, args=[repository, merge_sha], queue=PUBLISH_QUEUE,
                  task_id=_task_id(repository, merge_sha, step), countdown=countdown, ignore_result=True)


def _send_recheck(repository: str, merge_sha: str) -> None:
    app.send_task(RECHECK_TASK, args=[repository, merge_sha], queue=REMEDIATE_QUEUE,
                  task_id=_task_id(repository, merge_sha, "recheck"), ignore_result=True)


def _gh(cfg, token):
    return client(cfg.github_api_url, token, seconds_between_requests=0, seconds_between_writes=0, per_page=100)


def _retrying(task, cfg, what: str, exc: Exception):
    countdown = retry_countdown(exc, task.request.retries, limit=retry_limit(cfg.visibility_timeout_seconds))
    if isinstance(exc, RepoBusy):
        countdown = 2.0
    if countdown is None:
        raise exc
    log.warning("%s failed (%s); retry in %.1f s", what, exc, countdown)
    raise task.retry(exc=exc, countdown=countdown, max_retries=TRANSIENT_RETRIES) from None


# -- watch_merge ---------------------------------------------------------------------------------

@app.task(name=WATCH_TASK, bind=True)
def watch_merge(self, job: dict[str, Any]) -> dict[str, Any]:
    job = PullRequestClosed.from_message(job)  # ValueError naming the field that is wrong
    cfg = settings()
    try:
        return watch(cfg, redis_client(cfg.redis_url), job)
    except Exception as exc:
        _retrying(self, cfg, f"watching {job.repository}#{job.number}", exc)


def watch(cfg, r, job: PullRequestClosed) -> dict[str, Any]:
    repository, number = job.repository, job.number
    fingerprint = fingerprint_from_branch(job.head_ref or "")
    if fingerprint is None:
        return {"status": "ignored", "reason": "not a fix branch"}
    published = decision_store.for_pr(r, repository, number, decision_store.PUBLISH)
    app_identity = ownership(cfg, r).app
    with installation_session(cfg.github_app_id, cfg.app_private_key(), job.installation_id, repository,
                              WATCH_PERMISSIONS, cfg.github_api_url) as token:
        gh = _gh(cfg, token)
        try:
            repo = gh.get_repo(repository)
            pull = repo.get_pull(number)
            merge_sha = pull.merge_commit_sha
            if not pull.merged or not merge_sha:
                return {"status": "ignored", "reason": "not merged"}
            if merge_watch.load(r, repository, merge_sha) is None:
                record = _record(repo, pull, job, fingerprint, published, app_identity, r)
                record, created = merge_watch.create(r, record)
                log.info("%s#%s merged as %s: %s watch (parent %s)", repository, number, merge_sha[:12],
                         "new" if created else "existing", record["parent_sha"][:12])
        except GithubException as exc:
            raise PublishError(f"reading merged {repository}#{number}: HTTP {exc.status}", exc.status) from None
    _audit_merged_by_person(r, merge_watch.load(r, repository, merge_sha) or {}, repository, number, fingerprint)
    _send_recheck(repository, merge_sha)
    send_consider(repository, merge_sha, "watched")
    return {"status": "watching", "merge_sha": merge_sha}


def _audit_merged_by_person(r, watch: dict[str, Any], repository: str, number: int, fingerprint: str) -> None:
    """A person's merge, by the login GitHub gives as ``merged_by`` (iacbot's own merge is recorded by
    the merge task, under the same occurrence key). Outside the watch's creation, so a redelivery
    after a kill still records it, once."""
    if watch and not watch.get("merged_by_iacbot"):
        audit_log.record(r, Event.MERGED, repository=repository, subject=f"pr:{int(number)}",
                         actor=watch.get("merged_by") or "unknown",
                         details={"fingerprint": fingerprint, "merge_sha": watch.get("merge_sha")},
                         once=audit_log.merged_once(repository, number))


def _record(repo: Repository, pull, job: PullRequestClosed, fingerprint: str, published, app_identity,
            r) -> dict[str, Any]:
    merge_sha = pull.merge_commit_sha
    commit = repo.get_git_commit(merge_sha)
    parent = commit.parents[0].sha  # the default branch before the merge, whatever the merge method
    paths = list(published.fix.paths) if published is not None and published.fix.paths else \
        [f.filename for f in islice(pull.get_files(), MAX_FILES)]
    files = []
    for path in paths[:MAX_FILES]:
        before, after = read_at(repo, path, parent, MAX_FILE_BYTES), read_at(repo, path, merge_sha, MAX_FILE_BYTES)
        files.append({"path": path, "before": merge_watch.encode(before.data) if before.status == FOUND else None,
                      "before_status": before.status, "after": merge_watch.encode(after.data)
                      if after.status == FOUND else None, "after_status": after.status})
    users, teams = pull.get_review_requests()
    reviewers = [u.login for u in islice(users, MAX_REVIEWERS)]
    reviewers += [rv.user.login for rv in islice(pull.get_reviews(), 100) if rv.user is not None
                  and rv.user.type == "User"]
    merged_by = pull.merged_by
    if merged_by is not None and merged_by.type == "User":
        reviewers.append(merged_by.login)
    now = time.time()
    merged_at = pull.merged_at.timestamp() if pull.merged_at else now
    rule_ids = list(published.fix.rule_ids) if published is not None else []
    return {
        "repository": job.repository, "installation_id": job.installation_id, "pr_number": job.number,
        "fingerprint": fingerprint, "rule_ids": rule_ids, "resource": _resource(r, published),
        "merge_sha": merge_sha, "parent_sha": parent, "base_ref": pull.base.ref, "head_sha": pull.head.sha,
        "merged_at": merged_at,
        "merged_by": merged_by.login if merged_by is not None else None,
        "merged_by_iacbot": merged_by is not None and app_identity.authored(merged_by.login, merged_by.type),
        "files": files, "reviewers": sorted(dict.fromkeys(x for x in reviewers if x))[:MAX_REVIEWERS],
        "team_reviewers": sorted(t.slug for t in islice(teams, MAX_REVIEWERS)),
        "started_at": now, "deadline": now + WATCH_SECONDS, "state": merge_watch.WATCHING, "polls": 0,
        "recheck": None, "decision": None, "outcome": None,
    }


def _resource(r, published) -> str:
    """The finding's resource, from the fix iacbot stored (never from the PR body); "" once gone."""
    if published is None:
        return ""
    raw = r.hget(store.FIXES_PREFIX + published.job_id, published.fingerprint)
    try:
        return str(json.loads(raw)["finding"]["resource"]) if raw else ""
    except (ValueError, KeyError, TypeError):
        return ""


def _finding_text(record: dict[str, Any]) -> str:
    rules = ", ".join(record.get("rule_ids") or []) or "its rule"
    return f"{rules} on {record.get('resource') or record['fingerprint']}"


# -- recheck_merge -------------------------------------------------------------------------------

@app.task(name=RECHECK_TASK, bind=True)
def recheck_merge(self, repository: str, merge_sha: str) -> dict[str, Any]:
    cfg = settings()
    try:
        return recheck(cfg, redis_client(cfg.redis_url), repository, merge_sha)
    except Exception as exc:
        _retrying(self, cfg, f"re-scanning {repository}@{merge_sha[:12]}", exc)


def recheck(cfg, r, repository: str, merge_sha: str) -> dict[str, Any]:
    record = merge_watch.load(r, repository, merge_sha)
    if record is None:
        return {"status": "not-watched"}
    if record.get("recheck") is None:
        result = _rescan(cfg, record)
        merge_watch.update(r, repository, merge_sha,
                           lambda rec: {**rec, "recheck": result} if rec.get("recheck") is None else None)
        log.info("%s@%s: re-scan of %s: %s", repository, merge_sha[:12], record["fingerprint"], result["status"])
    send_consider(repository, merge_sha, "rechecked")
    return {"status": "rechecked", "recheck": (merge_watch.load(r, repository, merge_sha) or {}).get("recheck")}


def _rescan(cfg, record: dict[str, Any]) -> dict[str, Any]:
    repository, merge_sha = record["repository"], record["merge_sha"]
    paths = [f["path"] for f in record["files"] if f.get("after") is not None]
    job = {"kind": "scan_push", "repository": repository, "installation_id": record["installation_id"],
           "head_sha": merge_sha, "changed_files": paths, "files_complete": True}
    with installation_session(cfg.github_app_id, cfg.app_private_key(), record["installation_id"], repository,
                              RECHECK_PERMISSIONS, cfg.github_api_url) as token:
        fetched = job_sources.fetch(job, job_sources.Plan(RECHECK_PERMISSIONS), token)
    files = fetched.files if not isinstance(fetched, str) else {}
    problems = list(fetched.problems) if not isinstance(fetched, str) else [fetched]
    if not files:
        return {"status": policy.Recheck.BLIND.value, "subject": ", ".join(paths), "failing": [],
                "problems": problems[:MAX_LISTED], "at": time.time()}
    with tempfile.TemporaryDirectory(prefix="iacbot-recheck-") as tmp:
        root = Path(tmp)
        problems += write_tree(files, root)
        result = scanner().scan(root)
    rules = set(record.get("rule_ids") or [])
    failing = []
    for check in result.failed:
        finding = finding_from_check(check)
        finding = dataclasses.replace(finding, fix_class=registry.fix_class(finding, catalog()))
        if finding.fingerprint() == record["fingerprint"] and (not rules or finding.rule_id in rules):
            failing.append({"rule": finding.rule_id, "resource": finding.resource, "file": finding.file})
    seen = {c.file.lstrip("/") for c in result.failed + result.passed}
    blind = [p for p in paths if p in result.unscanned or p not in seen]
    status = policy.Recheck.STILL_FAILING if failing else policy.Recheck.BLIND if blind else policy.Recheck.CLEARED
    return {"status": status.value, "subject": ", ".join(blind), "failing": failing[:MAX_LISTED],
            "problems": [str(p) for p in problems[:MAX_LISTED]], "scanner_version": scanner().ping(),
            "at": time.time()}


# -- consider_rollback ---------------------------------------------------------------------------

@app.task(name=ROLLBACK_TASK, bind=True)
def consider_rollback(self, repository: str, merge_sha: str) -> dict[str, Any]:
    cfg = settings()
    try:
        return consider(cfg, redis_client(cfg.redis_url), repository, merge_sha, owner=self.request.id)
    except (SigningKeyMissing, ValueError):
        raise
    except Exception as exc:
        _retrying(self, cfg, f"considering the rollback of {repository}@{merge_sha[:12]}", exc)


def consider(cfg, r, repository: str, merge_sha: str, *, owner: str | None = None,
             now: float | None = None) -> dict[str, Any]:
    record = merge_watch.load(r, repository, merge_sha)
    if record is None:
        return {"status": "not-watched"}
    if record["state"] in merge_watch.FINAL_STATES:
        return {"status": record["state"], "outcome": record.get("outcome")}
    if record["state"] == merge_watch.REVERTING:  # a revert under way when a worker died: finish it
        return _revert(cfg, r, record, policy.RollbackDecision.from_json(record["decision"]), owner)
    now = time.time() if now is None else now
    decision, expiry_days, cap, automerge = _decide(cfg, r, record, now)
    where = f"{repository}#{record['pr_number']}@{merge_sha[:12]}"
    log.info("%s: rollback says %s (%s)", where, decision.verdict.value,
             ", ".join(f"{b.reason.value} {b.subject}".strip() for b in decision.reasons))
    if decision.verdict is policy.Verdict.WAIT:
        return _wait(r, record, decision, now, retry_limit(cfg.visibility_timeout_seconds))
    if decision.verdict is policy.Verdict.REVERT:
        try:
            signing_key(cfg)  # no key: nothing is counted or opened (no unsigned revert); decided again later
        except SigningKeyMissing as exc:
            _audit_unsigned(r, record, exc)
            raise
        allowed, count = merge_watch.claim_revert(r, repository, merge_sha, cap, now)
        if not allowed:  # another merge's revert took the last place since the decision
            decision = policy.RollbackDecision(policy.Verdict.HOLD, decision.reasons + (
                Because(Reason.REVERT_CAP_REACHED, f"{count} of at most {cap}"),))
        else:
            stored = merge_watch.update(r, repository, merge_sha, lambda rec: {
                **rec, "state": merge_watch.REVERTING, "decision": decision.to_json(), "decided_at": now,
                "decline_days": expiry_days, "automerge_revert": automerge}
                if rec["state"] == merge_watch.WATCHING else None)
            if stored["state"] != merge_watch.REVERTING:
                return {"status": stored["state"], "outcome": stored.get("outcome")}
            return _revert(cfg, r, stored, policy.RollbackDecision.from_json(stored["decision"]), owner)
    state = merge_watch.VERIFIED if decision.verdict is policy.Verdict.VERIFIED else merge_watch.HELD
    stored = merge_watch.update(r, repository, merge_sha, lambda rec: {
        **rec, "state": state, "decision": decision.to_json(), "decided_at": now,
        "outcome": {"status": state}} if rec["state"] == merge_watch.WATCHING else None)
    if stored["state"] == state and stored.get("decided_at") == now:
        event = Event.MERGE_VERIFIED if state == merge_watch.VERIFIED else Event.REVERT_BLOCKED
        _audit(r, event, record, {"reasons": [b.to_json() for b in decision.reasons]})
        dashboard.request_refresh(r, record["installation_id"], repository)
    return {"status": stored["state"], "decision": stored.get("decision")}


def _decide(cfg, r, record: dict[str, Any], now: float) -> tuple[policy.RollbackDecision, int, int, bool]:
    repository = record["repository"]
    with installation_session(cfg.github_app_id, cfg.app_private_key(), record["installation_id"], repository,
                              CHECKS_PERMISSIONS, cfg.github_api_url) as token:
        gh = _gh(cfg, token)
        try:
            repo = gh.get_repo(repository)
            body = repo.get_pull(int(record["pr_number"])).body
            parent_checks = merge_facts.checks_on(repo, record["parent_sha"])
            merge_checks = merge_facts.checks_on(repo, record["merge_sha"])
            default = repo.default_branch
        except GithubException as exc:
            raise PublishError(f"reading the checks of {repository}@{record['merge_sha'][:12]}: HTTP {exc.status}",
                               exc.status) from None
        policies = load_policies(cfg, gh, repository, default, installation_id=record["installation_id"], repo=repo)
    recheck = record.get("recheck") or {}
    effective = policy.effective(policies)
    facts = policy.RollbackFacts(
        pr_number=int(record["pr_number"]), recheck=policy.Recheck(recheck.get("status", "pending")),
        finding=_finding_text(record), parent_checks=parent_checks, merge_checks=merge_checks,
        opted_out=policy.opted_out(body), settings=effective,
        reverts_today=merge_watch.reverts_today(r, repository, now), watch_expired=now >= float(record["deadline"]),
        recheck_subject=str(recheck.get("subject") or ""))
    # Only the revert of a change iacbot merged on its own may merge on its own, and only if policy says so.
    automerge = bool(effective.automerge_reverts and record.get("merged_by_iacbot"))
    return policy.decide(facts), decline_expiry_days(policies), effective.max_reverts_per_day, automerge


def _wait(r, record: dict[str, Any], decision: policy.RollbackDecision, now: float,
          longest: float) -> dict[str, Any]:
    stored = merge_watch.update(r, record["repository"], record["merge_sha"], lambda rec: {
        **rec, "decision": decision.to_json(), "polls": int(rec.get("polls") or 0) + 1}
        if rec["state"] == merge_watch.WATCHING else None)
    polls = int(stored.get("polls") or 1)
    delay = min(MAX_POLL_SECONDS, longest, FIRST_POLL_SECONDS * 2 ** min(polls - 1, 8))
    # The last poll lands after the deadline, so an expired watch is decided, not left waiting.
    if now < float(record["deadline"]) + MAX_POLL_SECONDS:
        send_consider(record["repository"], record["merge_sha"], f"poll-{polls}", countdown=delay)
    return {"status": "waiting", "decision": decision.to_json(), "next_poll_seconds": delay}


# -- acting --------------------------------------------------------------------------------------

def _audit(r, event: Event, record: dict[str, Any], details: dict[str, Any]) -> None:
    # One occurrence per merge and event: a redelivered outcome is not recorded twice.
    audit_log.record(r, event, repository=record["repository"], subject=f"pr:{record['pr_number']}", actor="iacbot",
                     details={"fingerprint": record["fingerprint"], "merge_sha": record["merge_sha"], **details},
                     once=f"rollback:{record['repository'].lower()}:{record['merge_sha']}:{Event(event).value}")


def _audit_unsigned(r, record: dict[str, Any], exc: SigningKeyMissing) -> None:
    """A revert that is due but cannot be signed is held, and the log says why (once per merge)."""
    audit_log.record(r, Event.REVERT_BLOCKED, repository=record["repository"], subject=f"pr:{record['pr_number']}",
                     actor="iacbot", details={"fingerprint": record["fingerprint"], "merge_sha": record["merge_sha"],
                                              "status": "no-signing-key", "why": str(exc)},
                     once=f"rollback:{record['repository'].lower()}:{record['merge_sha']}:no-signing-key")


def _revert(cfg, r, record: dict[str, Any], decision: policy.RollbackDecision, owner: str | None) -> dict[str, Any]:
    repository, merge_sha = record["repository"], record["merge_sha"]
    key = signing_key(cfg)  # no key: no unsigned revert; the record stays "reverting" for the next try
    files = [RevertFile(f["path"], merge_watch.decode(f["before"]), merge_watch.decode(f["after"]))
             for f in record["files"] if f.get("after") is not None]
    unreadable = [f["path"] for f in record["files"] if f.get("after") is None]
    own = ownership(cfg, r)
    signed: dict[str, str] = {}

    def body(commit_sha: str, base_sha: str) -> str:
        envelope = _sign(record, decision, files, commit_sha, base_sha, own.app.bot_login, key)
        signed["digest"] = hashlib.sha256(envelope.dumps().encode()).hexdigest()
        return revert_body(record, decision) + "\n\n" + attestation_block(envelope) + "\n"

    ttl = lock_ttl(cfg.visibility_timeout_seconds)
    with repo_lock(r, repository, ttl=ttl, wait=min(LOCK_WAIT_SECONDS, ttl), owner=owner):
        # Under the lock: a concurrent consideration of the same merge may have finished the revert.
        current = merge_watch.load(r, repository, merge_sha)
        if current is None or current["state"] != merge_watch.REVERTING:
            return {"status": (current or {}).get("state", "not-watched"), "outcome": (current or {}).get("outcome")}
        return _revert_locked(cfg, r, record, decision, files, unreadable, own, body, signed)


def _revert_locked(cfg, r, record: dict[str, Any], decision: policy.RollbackDecision, files: list[RevertFile],
                   unreadable: list[str], own, body, signed: dict[str, str]) -> dict[str, Any]:
    """The revert PR (or the issue) and everything recorded about it; the repository's lock is held."""
    repository, number, merge_sha = record["repository"], int(record["pr_number"]), record["merge_sha"]
    with installation_session(cfg.github_app_id, cfg.app_private_key(), record["installation_id"], repository,
                              REVERT_PERMISSIONS, cfg.github_api_url) as token:
        gh = client(cfg.github_api_url, token, seconds_between_requests=0,
                    seconds_between_writes=cfg.github_write_interval_seconds, per_page=100)
        repo = gh.get_repo(repository)
        if unreadable or not files:
            result = None
            problems = tuple(f"{p}: iacbot could not read it at the merge commit" for p in unreadable)
        else:
            result = open_revert(gh, repository, original_pr=number, files=files, title=revert_title(record),
                                 body=body, commit_message=revert_message(record, decision), ownership=own,
                                 reviewers=record.get("reviewers") or (),
                                 team_reviewers=record.get("team_reviewers") or (), labels=(REVERT_LABEL,), repo=repo)
            problems = result.problems
        if result is not None and result.status in (CREATED, EXISTS) and record.get("automerge_revert"):
            _hand_to_automerge(cfg, r, gh, repo, record, result)
        issue = None
        if result is None or result.status == NOT_CLEAN:
            issue = open_revert_issue(gh, repository, original_pr=number, title=revert_title(record),
                                      body=issue_body(record, decision, problems), app=own.app, repo=repo)
    status = result.status if result is not None else NOT_CLEAN
    outcome = {"status": status, "revert_pr": result.pr_number if result else None,
               "revert_url": result.pr_url if result else None, "branch": result.branch if result else None,
               "commit_sha": result.commit_sha if result else None, "issue": issue,
               "reason": (result.reason if result else "") or "", "problems": list(problems)[:MAX_LISTED]}
    state = merge_watch.REVERTED if status in (CREATED, EXISTS, ALREADY_REVERTED) else \
        merge_watch.ISSUE if issue is not None else merge_watch.HELD
    # Recorded before the state is final: a kill in between leaves no gap, and the redelivery's
    # record of the same occurrence is not appended twice (audit_log's ``once``).
    if status in (CREATED, EXISTS, ALREADY_REVERTED):
        _record_reverted(r, record, outcome["revert_pr"] or 0)
        _audit(r, Event.REVERTED, record, {"revert_pr": outcome["revert_pr"], "status": status,
                                          "envelope_sha256": signed.get("digest"),
                                          "reasons": [b.to_json() for b in decision.reasons]})
    else:
        _audit(r, Event.REVERT_BLOCKED, record, {"status": status, "issue": issue, "problems": len(problems),
                                                "reasons": [b.to_json() for b in decision.reasons]})
    merge_watch.update(r, repository, merge_sha, lambda rec: {**rec, "state": state, "outcome": outcome,
                                                              "finished_at": time.time()})
    log.info("%s#%s: revert %s (PR %s, issue %s)", repository, number, status, outcome["revert_pr"], issue)
    dashboard.request_refresh(r, record["installation_id"], repository)
    return {"status": state, "outcome": outcome}


def _hand_to_automerge(cfg, r, gh, repo: Repository, record: dict[str, Any], result) -> None:
    """``rollback.automerge_reverts``: the revert of a change iacbot merged on its own gets a
    publish-stage decision of its own, made now by the policy as for a fix with the original's
    labels, files and size (under the revert's own ledger key, where bot.github.revert recorded
    its commit), so workers.automerge decides again on the revert PR's checks and merges it only
    under the same guardrails. No decision (no original record): the revert waits for a person."""
    original = decision_store.for_pr(r, record["repository"], int(record["pr_number"]), decision_store.PUBLISH)
    if original is None or result.pr_number is None or not result.commit_sha:
        log.info("%s#%s: no publish record of the original fix: the revert waits for a person",
                 record["repository"], record["pr_number"])
        return
    if decision_store.for_pr(r, record["repository"], result.pr_number, decision_store.PUBLISH) is not None:
        return  # an earlier run stored it
    fix = dataclasses.replace(original.fix, fingerprint=ledger_key(int(record["pr_number"])))
    # The revert's signed publish-stage statement, as publish_job keeps a fix's: the merge step
    # signs its merge-stage statement on it (and merges nothing without it). Taken from the PR
    # body, where this run or an earlier one put it; only a signature by iacbot's key counts there.
    found = envelope_from_pr_body(repo.get_pull(result.pr_number).body or "")
    try:
        envelope = json.loads(found) if found else None
    except ValueError:
        envelope = None
    default = repo.default_branch
    policies = load_policies(cfg, gh, record["repository"], default, installation_id=record["installation_id"],
                             repo=repo)
    now = datetime.now(timezone.utc)
    decision = decide_publish(policies, fix, PublishFacts(now, switches.global_on(cfg, r),
                                                          switches.repo_on(r, record["repository"])))
    decision_store.save(r, decision_store.DecisionRecord(
        record["repository"], int(record["installation_id"]), fix.fingerprint,
        _task_id(record["repository"], record["merge_sha"], "revert"), decision_store.PUBLISH, fix, decision,
        now.timestamp(), pr_number=result.pr_number, head_sha=result.commit_sha, base_ref=default,
        facts={"rollback": {"original_pr": int(record["pr_number"]), "merge_sha": record["merge_sha"]},
               "attestation": {"envelope": envelope}}))
    log.info("%s#%s: revert #%s may merge on its own: policy says %s", record["repository"], record["pr_number"],
             result.pr_number, decision.action.value)


def _record_reverted(r, record: dict[str, Any], revert_pr: int) -> None:
    first = record["files"][0]
    before, after = merge_watch.decode(first.get("before")), merge_watch.decode(first.get("after"))
    declined.record(r, decline_policy.reverted(
        record["repository"], record["fingerprint"], int(record["pr_number"]), file=first["path"],
        base_sha=record["parent_sha"], source_blob_sha=declined.git_blob_sha(before) if before is not None else None,
        fixed_blob_sha=declined.git_blob_sha(after) if after is not None else None, revert_pr=revert_pr,
        at=time.time(), expiry_days=int(record.get("decline_days") or decline_policy.DEFAULT_EXPIRY_DAYS)))


def _sign(record: dict[str, Any], decision: policy.RollbackDecision, files: list[RevertFile], commit_sha: str,
          base_sha: str, acted_by: str, key) -> dsse.Envelope:
    """The revert's provenance: the files as the revert leaves them, the original finding, the
    evidence of failure, and the original PR."""
    rules = list(record.get("rule_ids") or [])
    doc = statement.build(
        {f.path: f.before for f in files if f.before is not None},
        finding={"rule": rules[0] if rules else None, "rules": rules, "scanner": "checkov",
                 "resource": record.get("resource") or None, "fingerprint": record["fingerprint"],
                 "file": files[0].path if files else None,
                 "trigger": {"event": "rollback", "original_pr": int(record["pr_number"]),
                             "merge_sha": record["merge_sha"], "parent_sha": record["parent_sha"]}},
        location=None, fixer={"id": FIXER_ID, "version": iacbot_version()}, iacbot_version=iacbot_version(),
        verification={"text": "evidence of failure: " + "; ".join(_because(b) for b in decision.evidence()),
                      "evidence": json.dumps([b.to_json() for b in decision.reasons], sort_keys=True),
                      "recheck": json.dumps(record.get("recheck"), sort_keys=True),
                      "merge_sha": record["merge_sha"], "parent_sha": record["parent_sha"], "base_sha": base_sha,
                      # a deleted file has no bytes to be a subject; the commit subject ties it
                      "deleted": json.dumps(sorted(f.path for f in files if f.before is None)),
                      "scanner_version": (record.get("recheck") or {}).get("scanner_version")},
        # Stage "publish": the revert PR's first statement, which a merge-stage one may follow
        # (rollback.automerge_reverts) as it follows a fix's.
        policy={"stage": "publish", "decision": decision.to_json(), "original_pr": int(record["pr_number"]),
                "decided_at": record.get("decided_at")},
        identities={"analysed_by": "iacbot", "acted_by": acted_by}, commit=commit_sha)
    return dsse.sign(statement.canonical(doc), key)


def _because(b: Because) -> str:
    return f"{b.reason.value} ({b.subject})" if b.subject else b.reason.value


# -- text ----------------------------------------------------------------------------------------

def revert_title(record: dict[str, Any]) -> str:
    return f"Revert iacbot's fix from #{int(record['pr_number'])}: it did not work"


def _reasons_md(decision: policy.RollbackDecision) -> list[str]:
    return [f"* `{b.reason.value}`" + (f" ({quoting.md_code(b.subject, 300)})" if b.subject else "")
            + f": {EXPLAINED[b.reason]}" for b in decision.reasons]


def _files_md(record: dict[str, Any]) -> list[str]:
    return [f"* {quoting.md_code(f['path'], 300)}" for f in record["files"]]


def revert_body(record: dict[str, Any], decision: policy.RollbackDecision) -> str:
    n, sha = int(record["pr_number"]), record["merge_sha"]
    lines = [f"iacbot merged its fix from #{n} (merge commit `{sha[:12]}`, parent `{record['parent_sha'][:12]}`), "
             "and what followed shows the fix did not work:", "", *_reasons_md(decision), "",
             "This pull request restores exactly the fix's files and lines, as they were before it:", "",
             *_files_md(record), "",
             "Merge it to undo the fix. Close it to keep the fix: iacbot does not revert it again, and does not "
             "propose the same fix again while the file is unchanged.",
             "", "The provenance below is signed; it names the original pull request and the evidence "
             "(`iacbot provenance verify`)."]
    return "\n".join(lines)


def revert_message(record: dict[str, Any], decision: policy.RollbackDecision) -> str:
    evidence = ", ".join(b.reason.value for b in decision.evidence())
    return (f"Revert iacbot's fix from #{int(record['pr_number'])}: it did not work\n\n"
            f"Evidence at merge commit {record['merge_sha']}: {evidence}.\n")


def issue_body(record: dict[str, Any], decision: policy.RollbackDecision, problems) -> str:
    n, sha = int(record["pr_number"]), record["merge_sha"]
    lines = [f"iacbot's fix from #{n} (merge commit `{sha[:12]}`) did not work:", "", *_reasons_md(decision), "",
             "iacbot cannot revert it cleanly: the files changed since, and a revert would have to guess. "
             "Revert these by hand (`git revert -m 1 " + sha + "` restores the fix's lines, then resolve what "
             "changed since):", "", *_files_md(record), "", "What stands in the way:", "",
             *[f"* {quoting.md_text(p, 500)}" for p in list(problems)[:MAX_LISTED]]]
    return "\n".join(lines)
