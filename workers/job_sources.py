"""What each kind of job reads from GitHub before remediation, always with a READ-scoped token.

* ``scan_push``: the changed files (and sibling .tf files) at the pushed head; they are then scanned.
  When the payload may not list them all (forced, or too many commits), the trees are compared.
* ``code_scanning_alert``: the alert (GET, security_events:read), its one finding and its file.
* ``findings_submitted``: the findings of a stored submission and the files they name.

The alert is always fetched, even when the webhook carried its instance: jobs hold ids only.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import redis

from bot.github.auth import Token
from fixers.iac_files import MAX_PUSH_FILES  # also what the receiver puts in a push job
from fixers.models import Finding
from workers.code_scanning import ALERT_PERMISSIONS, alert_commit, finding_from_alert
from workers.github_fetch import (
    READ_PERMISSIONS,
    FetchError,
    FetchUnavailable,
    changed_paths,
    default_branch,
    default_branch_head,
    fetch_contents,
    get_alert,
    iac_blobs,
    safe_path,
)
from workers.store import SUBMISSION_PREFIX
from workers.submissions import submission_findings

log = logging.getLogger(__name__)

_REQUIRED: dict[str, tuple[tuple[str, type], ...]] = {
    "scan_push": (("head_sha", str),),
    "code_scanning_alert": (("alert_number", int),),
    "findings_submitted": (("submission_id", str),),
}
FETCHED_KINDS = frozenset(_REQUIRED)


@dataclass
class Fetched:
    sha: str
    files: dict[str, bytes]
    findings: list[Finding] | None      # None: the files are to be scanned for findings
    problems: list[str] = field(default_factory=list)

    def record(self, job: dict[str, Any]) -> dict[str, Any]:
        findings = None if self.findings is None else [dataclasses.asdict(f) for f in self.findings]
        return {"job": job, "sha": self.sha, "findings": findings, "problems": self.problems}


def trigger(job: dict[str, Any], job_id: str) -> dict[str, Any]:
    """What set this job off, for the PR's provenance: the delivery or submission and its key ids. Pure."""
    kind = job.get("kind")
    if kind == "code_scanning_alert":
        return {"event": "code_scanning_alert", "delivery_id": job_id, "alert_number": job.get("alert_number")}
    if kind == "findings_submitted":
        return {"event": "findings_api", "submission_id": job.get("submission_id") or job_id,
                "tenant": job.get("tenant")}
    return {"event": "push", "delivery_id": job_id, "head_sha": job.get("head_sha")}


def validate(job: Any) -> dict[str, Any]:
    """The job, or ValueError naming the field that is missing or wrong."""
    if not isinstance(job, dict) or job.get("kind") not in FETCHED_KINDS:
        raise ValueError(f"fetch_job needs a job whose 'kind' is one of {sorted(FETCHED_KINDS)}")
    for key, kind in (("installation_id", int), ("repository", str), *_REQUIRED[job["kind"]]):
        if not isinstance(job.get(key), kind) or job.get(key) in ("", None):
            raise ValueError(f"{job['kind']} job lacks {key!r} ({kind.__name__})")
    return job


@dataclass(frozen=True)
class Plan:
    """Before any token: the permissions to ask for, and whatever Redis already says."""

    permissions: dict[str, str]
    findings: list[Finding] | None = None
    problems: tuple[str, ...] = ()


def plan(job: dict[str, Any], r: redis.Redis) -> Plan | str:
    """What to read for ``job``, or why there is nothing to do (logged by the caller)."""
    if job["kind"] == "code_scanning_alert":
        return Plan(ALERT_PERMISSIONS)
    if job["kind"] == "findings_submitted":
        loaded = submission_findings(r.get(SUBMISSION_PREFIX + job["submission_id"]), job)
        if isinstance(loaded, str):
            return loaded
        findings, problems = loaded
        return Plan(READ_PERMISSIONS, findings, tuple(problems))
    return Plan(READ_PERMISSIONS)


def fetch(job: dict[str, Any], plan_: Plan, token: Token) -> Fetched | str:
    """Read what ``job`` needs with ``token``; a reason string when there is nothing to remediate."""
    return _FETCHERS[job["kind"]](job, plan_, token)


def _push(job: dict[str, Any], _plan: Plan, token: Token) -> Fetched:
    changed = [p for p in job.get("changed_files") or [] if isinstance(p, str)]
    problems: list[str] = []
    if not job.get("files_complete", True):
        changed, problems = _push_diff(token, job, changed)
    files, more = fetch_contents(token, job["repository"], job["head_sha"], changed)
    return Fetched(job["head_sha"], files, None if files else [], problems + more)


def _push_diff(token: Token, job: dict[str, Any], listed: list[str]) -> tuple[list[str], list[str]]:
    """A forced push, or one with more commits than the payload lists, does not say every changed
    file: compare the IaC files of the trees before and after instead."""
    repository, head, before = job["repository"], job["head_sha"], job.get("before") or ""
    after = iac_blobs(token, repository, head)
    if after is None:
        return listed, [f"{repository}@{head[:12]}: tree too large to compare; only the files the push listed"]
    try:
        previous = iac_blobs(token, repository, before) if before.strip("0") else {}
    except FetchUnavailable:
        raise  # transient: the task retries rather than scanning everything
    except FetchError:  # GitHub may answer 422 rather than 404 for a commit it no longer has
        previous = None
    if previous is None:  # the old head is gone (force-push): every IaC file is new to us
        previous = {}
    changed = changed_paths(previous, after)
    if len(changed) > MAX_PUSH_FILES:
        return changed[:MAX_PUSH_FILES], [f"{repository}@{head[:12]}: {len(changed)} IaC files changed; "
                                          f"the first {MAX_PUSH_FILES} (by path) are scanned"]
    return changed, []


def _alert(job: dict[str, Any], _plan: Plan, token: Token) -> Fetched | str:
    repository, number = job["repository"], job["alert_number"]
    alert = get_alert(token, repository, number)
    if alert is None:
        return f"{repository} has no code-scanning alert {number}"
    finding = finding_from_alert(alert)
    if isinstance(finding, str):
        return finding
    # Fixes go to the default branch: an alert seen only on a pull request or another branch
    # describes code that is not there (yet).
    ref = job.get("ref") or (alert.get("most_recent_instance") or {}).get("ref")
    default = default_branch(token, repository)
    if ref and ref != f"refs/heads/{default}":
        return f"alert {number} is on {ref}, not on the default branch {default!r}"
    sha = job.get("commit_oid") or alert_commit(alert) or default_branch_head(token, repository, default)
    return _files_for(token, repository, sha, [finding], [])


def _submission(job: dict[str, Any], plan_: Plan, token: Token) -> Fetched | str:
    findings = plan_.findings or []
    if not findings:
        return f"submission {job['submission_id']} holds no findings"
    sha = job.get("commit_sha") or default_branch_head(token, job["repository"])
    return _files_for(token, job["repository"], sha, findings, list(plan_.problems))


def _files_for(token: Token, repository: str, sha: str, findings: list[Finding], problems: list[str]) -> Fetched:
    """The files the findings name (and their sibling .tf files); findings on unsafe paths are dropped."""
    safe = []
    for finding in findings:
        try:
            safe_path(finding.file)
        except FetchError as exc:
            problems.append(f"{finding.rule_id}: {exc}; not fixed")
            continue
        safe.append(finding)
    files, more = fetch_contents(token, repository, sha, sorted({f.file for f in safe}))
    return Fetched(sha, files, safe, problems + more)


_FETCHERS: dict[str, Callable[[dict[str, Any], Plan, Token], Fetched | str]] = {
    "scan_push": _push,
    "code_scanning_alert": _alert,
    "findings_submitted": _submission,
}
