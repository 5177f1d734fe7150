"""Pure routing: (GitHub event name, parsed payload) -> a typed job (jobs.kinds) or Ignored.

A job is a small description of ids and short values (its ``kind`` says which job), never a
whole payload; :func:`route` gives its message (``to_message()``), the JSON sent through Celery.
The worker re-fetches whatever else it needs through the API. Nothing here raises on a strange
payload: anything unexpected (including a value the job kind refuses) becomes ``Ignored`` with a
reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from bot.github.names import is_repository
from fixers.iac_files import MAX_PUSH_FILES, is_iac_path
from jobs import kinds
from jobs.branches import has_bot_prefix
from jobs.fields import JobFieldError
from jobs.kinds import MAX_PULL_REQUEST_NUMBERS, MAX_REPOSITORY_IDS

#: GitHub lists at most this many commits in a push payload; more means the list is cut.
PUSH_MAX_COMMITS = 2048

CODE_SCANNING_ACTIONS = frozenset({"created", "reopened", "appeared_in_branch"})
#: A commit status that has finished (``pending`` has not: nothing to decide yet).
FINAL_STATUS_STATES = frozenset({"success", "failure", "error"})

#: A job's message: what route() returns and Celery carries.
Job = dict[str, Any]

__all__ = ["HANDLED_EVENTS", "MAX_PUSH_FILES", "MAX_REPOSITORY_IDS", "Ignored", "Job", "changed_iac_files",
           "job_for", "route"]


@dataclass(frozen=True)
class Ignored:
    reason: str


class _Skip(Exception):
    """Raised inside a handler to ignore the event with a reason."""


def _installation_id(payload: dict) -> int:
    installation = payload.get("installation")
    if not isinstance(installation, dict) or not isinstance(installation.get("id"), int):
        raise _Skip("no installation id in payload: not delivered to a GitHub App installation")
    return installation["id"]


def _repo(payload: dict) -> dict:
    """installation_id, repository and repository_id: what every repository job starts with."""
    repo = payload.get("repository")
    if not isinstance(repo, dict) or not repo.get("full_name"):
        raise _Skip("no repository in payload")
    if not is_repository(repo["full_name"]):
        raise _Skip("repository.full_name is not a GitHub owner/name")
    return {"installation_id": _installation_id(payload), "repository": repo["full_name"],
            "repository_id": repo.get("id")}


def changed_iac_files(commits: list[dict]) -> list[str]:
    """IaC files added or modified across ``commits`` (in push order), minus those removed last."""
    present: dict[str, None] = {}
    for commit in commits:
        for path in (commit.get("added") or []) + (commit.get("modified") or []):
            if isinstance(path, str) and is_iac_path(path):
                present[path] = None
        for path in commit.get("removed") or []:
            present.pop(path, None)
    return sorted(present)


def _push(payload: dict) -> kinds.ScanPush:
    ref = payload.get("ref") or ""
    if ref.startswith("refs/tags/"):
        raise _Skip(f"tag push ({ref})")
    if payload.get("deleted"):
        raise _Skip(f"branch deleted ({ref})")
    if not ref.startswith("refs/heads/"):
        raise _Skip(f"push to a ref that is not a branch ({ref})")
    repository = payload.get("repository") or {}
    default_branch = repository.get("default_branch") or repository.get("master_branch")
    if not default_branch:
        raise _Skip("repository has no default branch in payload")
    branch = ref[len("refs/heads/"):]
    if branch != default_branch:
        raise _Skip(f"push to {branch!r}, not the default branch {default_branch!r}")
    commits = [c for c in payload.get("commits") or [] if isinstance(c, dict)]
    changed = changed_iac_files(commits)
    return kinds.ScanPush(
        **_repo(payload),
        ref=ref,
        before=payload.get("before"),
        head_sha=payload["after"],
        # At most MAX_PUSH_FILES paths, so the message stays small whatever the push listed.
        changed_files=changed[:MAX_PUSH_FILES],
        # False when the list may not tell every changed file (forced, too many commits, or
        # more files than a job carries): the worker then diffs before..head through the API.
        files_complete=bool(not payload.get("forced") and len(commits) < PUSH_MAX_COMMITS
                            and len(changed) <= MAX_PUSH_FILES),
    )


def _code_scanning_alert(payload: dict) -> kinds.CodeScanningAlert:
    action = payload.get("action")
    if action not in CODE_SCANNING_ACTIONS:
        raise _Skip(f"code_scanning_alert action {action!r} needs no work")
    alert = payload["alert"]
    rule = alert.get("rule") or {}
    tool = alert.get("tool") or {}
    return kinds.CodeScanningAlert(
        action=action,
        **_repo(payload),
        alert_number=alert["number"],
        rule_id=rule.get("id"),
        tool=tool.get("name"),
        ref=payload.get("ref") or None,
        commit_oid=payload.get("commit_oid") or None,
        # No location in the payload: the worker must GET the alert (and its instances).
        fetch_alert=alert.get("most_recent_instance") is None,
    )


def _ids(repos: Any) -> tuple[list[int], bool]:
    ids = [r["id"] for r in repos or [] if isinstance(r, dict) and isinstance(r.get("id"), int)]
    if len(ids) > MAX_REPOSITORY_IDS:
        return [], True
    return ids, False


def _installation(payload: dict, event: str) -> kinds.InstallationChanged:
    installation = payload.get("installation") or {}
    account = installation.get("account") or {}
    ids: dict[str, Any] = {}
    truncated = False
    if event == "installation":
        ids["repository_ids"], truncated = _ids(payload.get("repositories"))
    else:
        ids["repository_ids_added"], t1 = _ids(payload.get("repositories_added"))
        ids["repository_ids_removed"], t2 = _ids(payload.get("repositories_removed"))
        truncated = t1 or t2
    return kinds.InstallationChanged(
        event=event,
        action=payload.get("action"),
        installation_id=_installation_id(payload),
        account=account.get("login"),
        repository_selection=installation.get("repository_selection") or payload.get("repository_selection"),
        refetch_repositories=truncated,
        **ids,
    )


def _pull_request(payload: dict) -> kinds.PullRequestClosed:
    action = payload.get("action")
    if action != "closed":
        raise _Skip(f"pull_request action {action!r} needs no work")
    pr = payload["pull_request"]
    head = pr.get("head") or {}
    head_repo = head.get("repo") or {}
    repo = _repo(payload)
    head_ref = head.get("ref") or ""
    same_repo = head_repo.get("full_name") == repo["repository"]
    sender = payload.get("sender") or {}
    return kinds.PullRequestClosed(
        **repo,
        number=pr.get("number") or payload.get("number"),
        merged=bool(pr.get("merged")),
        head_ref=head_ref or None,
        head_sha=head.get("sha"),
        base_ref=(pr.get("base") or {}).get("ref"),
        # A fork can name a branch iacbot/...: only a branch in the repository itself is ours.
        iacbot_branch=has_bot_prefix(head_ref) and same_repo,
        # Who closed it, and when (a risk acceptance's owner and start): a close by another bot
        # is not a person declining the fix.
        sender=sender.get("login"),
        sender_type=sender.get("type"),
        closed_at=pr.get("closed_at"),
    )


def _checks(payload: dict, event: str) -> kinds.ChecksCompleted:
    action = payload.get("action")
    if action != "completed":
        raise _Skip(f"{event} action {action!r} needs no work")
    obj = payload[event]
    suite = obj if event == "check_suite" else (obj.get("check_suite") or {})
    app = obj.get("app") or {}
    return kinds.ChecksCompleted(
        event=event,
        **_repo(payload),
        check_id=obj.get("id"),
        head_sha=obj.get("head_sha") or suite.get("head_sha"),
        head_branch=suite.get("head_branch"),
        conclusion=obj.get("conclusion"),
        app_id=app.get("id"),
        pull_request_numbers=[
            p["number"] for p in obj.get("pull_requests") or [] if isinstance(p, dict) and "number" in p
        ][:MAX_PULL_REQUEST_NUMBERS],
    )


def _status(payload: dict) -> kinds.ChecksCompleted:
    """A commit status that finished is a checks_completed job too: some CI posts statuses, not
    checks. It names no pull request (GitHub does not say which PRs the commit is the head of)."""
    state = payload.get("state")
    if state not in FINAL_STATUS_STATES:
        raise _Skip(f"status state {state!r} has not finished")
    return kinds.ChecksCompleted(
        event="status",
        **_repo(payload),
        check_id=payload.get("id"),
        head_sha=payload["sha"],
        conclusion=state,
        context=payload.get("context"),
    )


_HANDLERS: dict[str, Callable[[dict, str], kinds.Job]] = {
    "push": lambda p, e: _push(p),
    "code_scanning_alert": lambda p, e: _code_scanning_alert(p),
    "installation": _installation,
    "installation_repositories": _installation,
    "pull_request": lambda p, e: _pull_request(p),
    "check_suite": _checks,
    "check_run": _checks,
    "status": lambda p, e: _status(p),
}

HANDLED_EVENTS = frozenset(_HANDLERS)


def route(event: str, payload: Any) -> Job | Ignored:
    """Map one delivery to a job's message, or say why it needs none. Never raises."""
    job = job_for(event, payload)
    return job if isinstance(job, Ignored) else job.to_message()


def job_for(event: str, payload: Any) -> kinds.Job | Ignored:
    """Map one delivery to a typed job, or say why it needs none. Never raises."""
    handler = _HANDLERS.get(event)
    if handler is None:
        if event == "ping":
            return Ignored("ping: the webhook is reachable")
        return Ignored(f"event {event!r} is not handled")
    if not isinstance(payload, dict):
        return Ignored(f"{event} payload is not a JSON object")
    try:
        return handler(payload, event)
    except _Skip as skip:
        return Ignored(str(skip))
    except JobFieldError as exc:  # a value of the wrong type or size for the job: named, not sent
        return Ignored(f"{event} payload gives a value the job refuses: {exc}")
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        return Ignored(f"{event} payload lacks an expected field ({type(exc).__name__}: {exc})")
