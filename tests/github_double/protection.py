"""Branch protection's required status checks, and what the checks on one commit add up to.

Pure functions over a Repo (the caller holds the world's lock). GitHub's rules kept here:
* a required check is satisfied by a check run of that name or a commit status of that context
  (case-insensitive) on the PR's head commit, from the required App when `app_id` is set;
* for protection, `success`, `neutral` and `skipped` pass (GitHub's rule, looser than iacbot's);
* only the latest check run per (App, name) and the latest status per context count;
* a check given without `app_id` is pinned to the App that most recently provided it, if any;
  `app_id: -1` (stored as None) lets any source satisfy it.
"""
from __future__ import annotations

from .state import CheckRun, CommitStatus, Repo

PASSING_CONCLUSIONS = frozenset({"success", "neutral", "skipped"})
FAILING_STATUS_STATES = frozenset({"error", "failure"})


def latest_check_runs(repo: Repo, sha: str) -> list[CheckRun]:
    """The most recent run of each name, per App, on `sha` (GitHub's `filter=latest`)."""
    runs = sorted((r for r in repo.check_runs.values() if r.head_sha == sha), key=lambda r: r.id)
    return list({(r.app_id, r.name): r for r in runs}.values())


def latest_statuses(repo: Repo, sha: str) -> list[CommitStatus]:
    """The most recent status of each context (case-insensitive) on `sha`, oldest context first."""
    latest: dict[str, CommitStatus] = {}
    for status in repo.statuses:
        if status.sha == sha:
            latest.pop(status.context.lower(), None)
            latest[status.context.lower()] = status
    return list(latest.values())


def combined_state(statuses: list[CommitStatus]) -> str:
    """GitHub's combined state: failure if any is error/failure, pending if none or any pending."""
    states = {s.state for s in statuses}
    if states & FAILING_STATUS_STATES:
        return "failure"
    if not states or "pending" in states:
        return "pending"
    return "success"


def normalise(repo: Repo, body: dict) -> dict:
    """The stored settings for PUT .../protection (GitHub replaces the whole protection)."""
    checks_in = body.get("required_status_checks")
    required = None
    if checks_in is not None:
        checks = []
        for item in checks_in.get("checks") or [{"context": c} for c in checks_in.get("contexts") or []]:
            app_id = item.get("app_id")
            if "app_id" not in item:
                app_id = _recent_app(repo, item["context"])
            checks.append({"context": item["context"], "app_id": None if app_id == -1 else app_id})
        required = {"strict": bool(checks_in.get("strict")), "checks": checks}
    return {
        "required_status_checks": required,
        "enforce_admins": bool(body.get("enforce_admins")),
        "required_pull_request_reviews": body.get("required_pull_request_reviews"),
        "restrictions": body.get("restrictions"),
        "required_linear_history": bool(body.get("required_linear_history")),
        "allow_force_pushes": bool(body.get("allow_force_pushes")),
        "allow_deletions": bool(body.get("allow_deletions")),
        "block_creations": bool(body.get("block_creations")),
        "required_conversation_resolution": bool(body.get("required_conversation_resolution")),
        "lock_branch": bool(body.get("lock_branch")),
        "allow_fork_syncing": bool(body.get("allow_fork_syncing")),
    }


def _recent_app(repo: Repo, context: str) -> int | None:
    runs = [r for r in repo.check_runs.values() if r.name == context]
    return max(runs, key=lambda r: r.id).app_id if runs else None


def required_checks(repo: Repo, branch: str) -> list[dict]:
    settings = repo.protection.get(branch)
    if settings is None or settings["required_status_checks"] is None:
        return []
    return list(settings["required_status_checks"]["checks"])


def outcome(repo: Repo, sha: str, context: str, app_id: int | None) -> str:
    """"passing", "failing", "pending" or "missing" for one required check on commit `sha`."""
    runs = [r for r in latest_check_runs(repo, sha) if r.name == context and app_id in (None, r.app_id)]
    statuses = [s for s in latest_statuses(repo, sha)
                if s.context.lower() == context.lower() and app_id in (None, s.app_id)]
    if any(r.status == "completed" and r.conclusion in PASSING_CONCLUSIONS for r in runs) \
            or any(s.state == "success" for s in statuses):
        return "passing"
    if any(r.status == "completed" for r in runs) or any(s.state in FAILING_STATUS_STATES for s in statuses):
        return "failing"
    return "pending" if runs or statuses else "missing"


def blocking_message(repo: Repo, branch: str, head_sha: str) -> str | None:
    """Why protection refuses the merge (GitHub's 405 wording), or None."""
    for check in required_checks(repo, branch):
        state = outcome(repo, head_sha, check["context"], check["app_id"])
        if state == "failing":
            return f'Required status check "{check["context"]}" is failing.'  # the double's wording
        if state != "passing":
            return f'Required status check "{check["context"]}" is expected.'  # GitHub's
    return None


def behind(repo: Repo, branch: str, base_sha: str, head_sha: str) -> bool:
    """Strict protection: the head must contain the base branch's head."""
    settings = repo.protection.get(branch)
    strict = bool(settings and settings["required_status_checks"] and settings["required_status_checks"]["strict"])
    return strict and not repo.objects.is_ancestor(base_sha, head_sha)


def any_failing(repo: Repo, sha: str) -> bool:
    """Some check or status on `sha` is not green (GitHub's `unstable` when none is required)."""
    runs = latest_check_runs(repo, sha)
    return any(r.status == "completed" and r.conclusion not in PASSING_CONCLUSIONS for r in runs) \
        or combined_state(latest_statuses(repo, sha)) == "failure"
