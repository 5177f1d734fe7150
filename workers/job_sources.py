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
from pathlib import PurePosixPath
from typing import Any, Callable

import redis

from bot.github.auth import Token
from fixers.models import Finding
from workers import job_parts, repo_paths
from workers.code_scanning import ALERT_PERMISSIONS, alert_commit, finding_from_alert
from workers.github_fetch import (
    READ_PERMISSIONS,
    FetchError,
    FetchUnavailable,
    Tree,
    changed_paths,
    default_branch,
    default_branch_head,
    get_alert,
    read_files,
    read_tree,
    terraform_siblings,
)
from workers.job_parts import PART_FILES
from workers.store import SUBMISSION_PREFIX
from workers.submissions import submission_findings

log = logging.getLogger(__name__)

_REQUIRED: dict[str, tuple[tuple[str, type], ...]] = {
    "scan_push": (("head_sha", str),),
    "code_scanning_alert": (("alert_number", int),),
    "findings_submitted": (("submission_id", str),),
}
FETCHED_KINDS = frozenset(_REQUIRED)
#: Kinds whose files may be split over continuation jobs (workers.job_parts).
SPLIT_KINDS = frozenset({"scan_push", "findings_submitted"})


@dataclass
class Fetched:
    sha: str
    files: dict[str, bytes]
    findings: list[Finding] | None      # None: the files are to be scanned for findings
    problems: list[str] = field(default_factory=list)
    continuations: list[dict[str, Any]] = field(default_factory=list)  # jobs for the further parts

    def record(self, job: dict[str, Any]) -> dict[str, Any]:
        findings = None if self.findings is None else [dataclasses.asdict(f) for f in self.findings]
        return {"job": job, "sha": self.sha, "findings": findings, "problems": self.problems,
                "continuations": self.continuations}


def trigger(job: dict[str, Any], job_id: str) -> dict[str, Any]:
    """What set this job off, for the PR's provenance: the delivery or submission and its key ids
    (a continuation's are those of the job it continues). Pure."""
    kind = job.get("kind")
    job_id = job.get("part_of") or job_id
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
    if PART_FILES in job:
        part = job[PART_FILES]
        if (job["kind"] not in SPLIT_KINDS or not isinstance(part, list) or len(part) > job_parts.MAX_JOB_FILES
                or not all(isinstance(p, str) for p in part) or not isinstance(job.get("part_of"), str)):
            raise ValueError(f"{job['kind']} job has a malformed {PART_FILES!r} (at most "
                             f"{job_parts.MAX_JOB_FILES} paths, with 'part_of')")
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
    repository, head = job["repository"], job["head_sha"]
    listed = list(job.get("changed_files") or [])
    complete = job.get("files_complete", True)
    if PART_FILES not in job and complete and not listed:
        return Fetched(head, {}, [])
    tree = read_tree(token, repository, head)
    if PART_FILES in job:
        return _part(token, job, head, tree, None)
    problems: list[str] = []
    if not complete:
        listed, problems = _push_diff(token, job, listed, tree)
    return _first_part(token, job, head, tree, listed, None, problems)


def _push_diff(token: Token, job: dict[str, Any], listed: list, tree: Tree | None) -> tuple[list, list[str]]:
    """A forced push, or one with more commits than the payload lists, does not say every changed
    file: compare the IaC files of the trees before and after instead."""
    repository, head, before = job["repository"], job["head_sha"], job.get("before") or ""
    if tree is None:
        return listed, [f"{repository}@{head[:12]}: tree too large to compare; only the files the push listed"]
    try:
        previous = read_tree(token, repository, before) if before.strip("0") else None
    except FetchUnavailable:
        raise  # transient: the task retries rather than scanning everything
    except FetchError:  # GitHub may answer 422 rather than 404 for a commit it no longer has
        previous = None
    # No old tree (a new branch, a force-push's vanished head): every IaC file is new to us.
    return changed_paths({} if previous is None else previous.iac_blobs(), tree.iac_blobs()), []


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
    # The submission's own problems are reported once, by the job it came in as.
    problems = [] if PART_FILES in job else list(plan_.problems)
    return _files_for(token, job["repository"], sha, findings, problems, job)


def _files_for(token: Token, repository: str, sha: str, findings: list[Finding], problems: list[str],
               job: dict[str, Any] | None = None) -> Fetched:
    """The files the findings name (and their sibling .tf files) at ``sha``, for findings on safe
    paths; a finding on an unsafe path is dropped with a problem naming it."""
    tree = read_tree(token, repository, sha)
    if job is not None and PART_FILES in job:
        return _part(token, job, sha, tree, findings)
    safe = []
    for finding in findings:
        why = repo_paths.refusal(finding.file)
        if why is None:
            safe.append(finding)
        else:
            problems.append(f"{finding.rule_id}: {repo_paths.refused(finding.file, why, 'not fixed')}")
    return _first_part(token, job or {"repository": repository}, sha, tree, [f.file for f in safe], safe, problems)


def _first_part(token: Token, job: dict[str, Any], sha: str, tree: Tree | None, wanted: list,
                findings: list[Finding] | None, problems: list[str]) -> Fetched:
    """Read the first part of the ``wanted`` files' scopes; the further parts become continuation
    jobs (workers.job_parts), and what is beyond them or unsafe becomes a problem."""
    repository = job["repository"]
    what = "not scanned" if findings is None else "not fixed"
    safe = []
    for path in dict.fromkeys(wanted):
        why = repo_paths.refusal(path)
        if why is None:
            safe.append(path)
        else:
            problems.append(repo_paths.refused(path, why, what))
    directories = sorted({str(PurePosixPath(p).parent) for p in safe if repo_paths.is_terraform_path(p)})
    siblings = []
    for path in terraform_siblings(token, repository, sha, directories, tree) if directories else []:
        why = repo_paths.refusal(path)
        if why is None:
            siblings.append(path)
        else:  # the rest of its directory is still read and fixed
            problems.append(repo_paths.refused(path, why, "left out of its directory's scan"))
    split = job_parts.split(job_parts.scopes(safe, siblings))
    problems += split.problems(f"{repository}@{sha[:12]}")
    first = list(split.parts[0]) if split.parts else []
    files, more = read_files(token, repository, sha, first, tree)
    continuations = [job_parts.continuation(job, job["delivery_id"], number, part)
                     for number, part in enumerate(split.parts[1:], start=2)] if "delivery_id" in job else []
    if len(split.parts) > 1 and not continuations:  # no job id to continue under: say so
        problems.append(f"{repository}@{sha[:12]}: {sum(map(len, split.parts[1:]))} more files; not scanned")
    return Fetched(sha, files, _on(findings, first, files), problems + more, continuations)


def _part(token: Token, job: dict[str, Any], sha: str, tree: Tree | None, findings: list[Finding] | None) -> Fetched:
    """A continuation: exactly the files of its part, as the first job chose them."""
    paths = [p for p in job[PART_FILES] if repo_paths.is_safe(p)]
    files, problems = read_files(token, job["repository"], sha, paths, tree)
    return Fetched(sha, files, _on(findings, paths, files), problems)


def _on(findings: list[Finding] | None, paths: list[str], files: dict[str, bytes]) -> list[Finding] | None:
    """The findings on ``paths``; for a scan (None), None while there is something to scan."""
    if findings is None:
        return None if files else []
    wanted = set(paths)
    return [f for f in findings if f.file in wanted]


_FETCHERS: dict[str, Callable[[dict[str, Any], Plan, Token], Fetched | str]] = {
    "scan_push": _push,
    "code_scanning_alert": _alert,
    "findings_submitted": _submission,
}
