"""The pipeline's Redis records, one job id each. Each step writes its output in one transaction
(all of it or nothing), so a step redelivered after a crash either finds its output whole or
makes it again.

| key | written by | what |
|---|---|---|
| ``iacbot:submission:<id>`` | the findings API (bot.service) | JSON: a tenant's findings (workers.submissions) |
| ``iacbot:files:<job>`` | fetch_job | hash: repository path -> exact file bytes |
| ``iacbot:fetched:<job>`` | fetch_job | JSON: job, sha, findings (null: scan them), problems, continuations (jobs ``<job>:part<n>``) |
| ``iacbot:scan:<job>`` | scan_job (scanner env) | JSON: failed checkov records, parsing errors |
| ``iacbot:fixes:<job>`` | remediate_job | hash: fingerprint -> fix JSON (+ repository, installation_id) |
| ``iacbot:remediated:<job>`` | remediate_job | JSON: job, problems; set once the fixes are stored |
| ``iacbot:published:<job>`` | publish_job | hash: fingerprint -> publish outcome |
| ``iacbot:own-commits:<owner/name>`` | publish_job | sorted set: "<fingerprint>:<sha>" of each commit iacbot made -> when (workers.own_commits; no TTL, kept like the decisions) |
| ``iacbot:lock:repo:<owner/name>:merge:<base>`` | consider_merge | lock: one automatic merge at a time per base branch (workers.merge_lock) |
| ``iacbot:lock:repo:<owner/name>:merges`` | consider_merge | lock: the last re-check and the merge call, one at a time per repository |
| ``iacbot:merge-note:<owner/name>:<n>`` | consider_merge | JSON: the lasting reasons the last "not merging" comment on PR n gave (90 days) |
| ``iacbot:sweep:sent:<task id>`` | sweep_open_prs | marker: this interval's consider_merge for a repository was sent (two intervals) |
| ``iacbot:decisions:<owner/name>`` | publish_job, the merge task (workers.decision_store) | hash: fingerprint -> the latest DecisionRecord JSON (no TTL) |
| ``iacbot:decision-prs:<owner/name>`` | the same | hash: ``<pr>:<stage>`` -> the latest DecisionRecord of that stage for that PR (no TTL) |
| ``iacbot:decision-log:<owner/name>`` | the same | stream: every DecisionRecord saved, append-only, capped (workers.decision_store.HISTORY_LIMIT) |
| ``iacbot:automerges:<owner/name>`` | the merge task (workers.decision_store.record_merge) | sorted set: ``<pr>:<sha>`` -> when iacbot merged it (the hourly limit, the dashboard; capped) |
| ``iacbot:kill-switch`` | scripts/kill-switch (workers.switches) | string: present = no automatic merge anywhere (beside IACBOT_AUTOMERGE_KILL_SWITCH) |
| ``iacbot:kill-switch:<owner/name>`` | scripts/kill-switch --repo (workers.switches) | string: present = no automatic merge in that repository |
| ``iacbot:policy-issue:<owner/name>`` | publish_job (workers.policy_issue) | string: "open" while iacbot's "Action required" issue is open, "none" (for a day) when there is none: a valid policy costs no issue listing |
| ``iacbot:dashboard-pending:<owner/name>`` | publish_job, the merge task (workers.dashboard.request_refresh) | string: a dashboard refresh is queued (TTL 300 s) |
| ``iacbot:pr_decisions:<owner/name>`` | record_pr_closed | hash: fingerprint -> the last closed PR's decision: merged, or declined as a risk acceptance (closed_by, closed_at, expires_at, expired_at once found lapsed); no TTL (workers.declined) |
| ``iacbot:risk-events:<owner/name>`` | record_pr_closed, publish_job, the dashboard's listing | stream: ``accepted`` / ``expired`` risk acceptances (fingerprint, PR, closed_by, closed_at, expires_at, expired_at), newest 10,000 (workers.declined.risk_events) |
| ``iacbot:deferred:<owner/name>``, ``iacbot:deferred-jobs:<owner/name>`` | publish_job, record_pr_closed | sorted set and hash: fixes waiting under the open-PR cap (workers.pr_cap) |
| ``iacbot:merge-watch:<owner/name>:<merge sha>`` | record_pr_closed -> watch_merge, recheck_merge, consider_rollback | JSON: the watch on a merged fix (what it changed, the re-scan, the decision, the revert); 30 days (workers.merge_watch) |
| ``iacbot:merge-watches:<owner/name>`` | watch_merge | sorted set: merge sha -> when it merged, newest 1,000 (the dashboard's listing) |
| ``iacbot:reverts:<owner/name>:<YYYY-MM-DD>`` | consider_rollback | int: reverts begun that UTC day (the daily cap; 2 days) |
| ``iacbot:revert-claim:<owner/name>:<merge sha>`` | consider_rollback | marker: this merge's revert is counted (a redelivery is not counted again); 30 days |
| ``iacbot:deliveries:<task id>`` | every task (delivery_guard) | int: deliveries that started and never ended |
| ``iacbot:dead-letters`` | every task (delivery_guard) | stream: messages taken out of the queue, with why |
| ``iacbot:audit`` | every worker (workers.audit_log.record; keys in bot.audit.redis_log) | list: the audit log's lines, hash-chained entries and signed checkpoints, as `iacbot audit export` writes them; no TTL, never trimmed (docs/audit-log.md) |
| ``iacbot:audit:head`` | the same | JSON: the log's size, last entry hash, last checkpoint's size and time; appends WATCH it |
| ``iacbot:audit:once:<key>`` | the same | marker: the event of that occurrence (``received:<delivery>``, ``<job>:<fp>:<rules>:<event>``, ``declined:<repo>#<pr>:<fp>``...) is recorded (30 days) |
| ``iacbot:policy-audit:<owner/name>`` | publish_job (workers.policy_issue) | string: "<digest of the policy problems> <generation>": a policy_error entry per change of problems |
"""
from __future__ import annotations

import json
from typing import Any, Mapping

import redis

# The findings API (bot.service) writes the submission, so its key is defined with the job kind.
from jobs.kinds import SUBMISSION_PREFIX  # noqa: F401
# Defined with the mechanism that writes them, which the scan worker's environment shares.
from scanner.iacbot_scanner.delivery_guard import DEAD_LETTERS_KEY, DELIVERIES_PREFIX  # noqa: F401

FILES_PREFIX = "iacbot:files:"
FETCHED_PREFIX = "iacbot:fetched:"
SCAN_PREFIX = "iacbot:scan:"
FIXES_PREFIX = "iacbot:fixes:"
REMEDIATED_PREFIX = "iacbot:remediated:"
PUBLISHED_PREFIX = "iacbot:published:"
OWN_COMMITS_PREFIX = "iacbot:own-commits:"


def repo_key(prefix: str, repository: str) -> str:
    """A per-repository key: GitHub's owner/name is case-insensitive, so the key uses it lower-cased."""
    return prefix + repository.strip().lower()


def save_fetched(r: redis.Redis, job_id: str, record: Mapping[str, Any], files: Mapping[str, bytes],
                 ttl: int) -> None:
    pipe = r.pipeline(transaction=True)
    pipe.delete(FILES_PREFIX + job_id)
    if files:
        pipe.hset(FILES_PREFIX + job_id, mapping=dict(files))
        pipe.expire(FILES_PREFIX + job_id, ttl)
    pipe.set(FETCHED_PREFIX + job_id, json.dumps(record), ex=ttl)
    pipe.execute()


def load_json(r: redis.Redis, key: str) -> Any:
    raw = r.get(key)
    return None if raw is None else json.loads(raw)


def load_files(r: redis.Redis, job_id: str) -> dict[str, bytes]:
    # surrogateescape: a key that is not UTF-8 (never written by fetch_job) is refused by write_tree
    return {k.decode("utf-8", "surrogateescape"): v for k, v in r.hgetall(FILES_PREFIX + job_id).items()}


def save_fixes(r: redis.Redis, job_id: str, fixes: Mapping[str, Mapping[str, Any]], record: Mapping[str, Any],
               ttl: int) -> None:
    """The fixes (fingerprint -> JSON) and the marker that they are complete, together."""
    pipe = r.pipeline(transaction=True)
    pipe.delete(FIXES_PREFIX + job_id)
    for fingerprint, fix in fixes.items():
        pipe.hset(FIXES_PREFIX + job_id, fingerprint, json.dumps(fix))
    pipe.expire(FIXES_PREFIX + job_id, ttl)
    pipe.set(REMEDIATED_PREFIX + job_id, json.dumps(record), ex=ttl)
    pipe.execute()


def remediated(r: redis.Redis, job_id: str) -> bool:
    return bool(r.exists(REMEDIATED_PREFIX + job_id))


def stored_fingerprints(r: redis.Redis, job_id: str) -> list[str]:
    return sorted(k.decode() for k in r.hkeys(FIXES_PREFIX + job_id))
