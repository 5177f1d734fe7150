"""The facts a merge decision is made from, read through the API right before the merge.

Nothing here comes from text a person could write (PR body, commit messages, branch names):

* the PR: its state, its author (the App's bot account, ``AppIdentity.authored``), GitHub's
  ``mergeable``, base ref and head SHA;
* every commit base..head (``GET /pulls/{n}/commits``): whether iacbot's ledger recorded making
  it for this fix's fingerprint, and whether the API's ``author`` AND ``committer`` users are the
  App's bot account (Renovate learnt that the committer matters: a commit iacbot authored and a
  person re-committed is a person's commit);
* the changed files (``GET /pulls/{n}/files``), a rename counting both its paths;
* the checks ONLY on the head SHA: check runs (with the App that posted each) and commit statuses
  (the latest per context). Checks on any other commit are never asked for.

Costs are bounded and fail closed: GitHub lists at most 250 commits, and iacbot reads at most
MAX_FILES files and MAX_CHECKS check runs or statuses. A PR with more commits or files than are
read gets a placeholder that no guardrail accepts (an unrecorded commit, a file outside the fix);
a check listing longer than iacbot reads is dropped whole, so every required check is missing.

The worker passes in what is not GitHub's to know: the fingerprint and head SHA iacbot
published (its stored decision, never the PR body), the switches, the hourly count and the clock.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Iterable

import requests
from github import GithubException
from github.Repository import Repository

from bot.github.errors import GitHubRetryLater
from bot.github.ownership import AppIdentity, CommitLedger
from bot.github.publish import PublishError, github_message
from policies.facts import ChangedFile, CheckFacts, CommitFacts, MergeFacts

log = logging.getLogger(__name__)

#: GitHub's own limit for GET /pulls/{n}/commits.
MAX_COMMITS = 250
#: A fix changes one file; a PR with more than this many is far outside any fix already.
MAX_FILES = 300
#: Check runs, and commit statuses, read on the head commit (10 pages of 100 each).
MAX_CHECKS = 1000
#: A path longer than this is cut (with a mark no real path ends in) before it is stored.
MAX_PATH_CHARS = 1000
PER_PAGE = 100
#: Reads of a PR whose mergeability GitHub is still computing, a second apart (then: unknown,
#: which blocks, and the merge task decides again shortly).
MERGEABLE_READS = 3
MERGEABLE_WAIT_SECONDS = 1.0

#: Placeholders that no guardrail accepts (they are not iacbot's commits, not the fix's files).
COMMITS_BEYOND = "more-commits-than-github-lists"
FILES_BEYOND = "(more files than iacbot reads)"

# Commit status states -> (check status, conclusion), as a check run would say it.
_STATUS_STATES = {"pending": ("in_progress", None), "success": ("completed", "success"),
                  "failure": ("completed", "failure"), "error": ("completed", "error")}


@dataclass(frozen=True)
class PullState:
    """What the worker needs beside the facts: was the PR merged already, and by iacbot?"""

    number: int
    state: str
    merged: bool
    merged_by_iacbot: bool
    merge_commit_sha: str | None
    head_sha: str
    base_ref: str


def gather(repo: Repository, number: int, *, app: AppIdentity, ledger: CommitLedger, repository: str,
           fingerprint: str, decided_head_sha: str | None, now: datetime, decided_base_ref: str | None = None,
           global_kill_switch: bool = False,
           repo_kill_switch: bool = False, merges_last_hour: int = 0,
           merge_in_progress: bool = False) -> tuple[MergeFacts, PullState]:
    """The MergeFacts of PR ``number`` now, and its PullState. Raises PublishError (GitHub failed:
    ``retryable`` for 5xx and lost connections) or GitHubRetryLater (a rate limit)."""
    step = f"reading {repository}#{number}"
    try:
        pull = _pull_with_mergeable(repo, int(number))
        head_sha, base_ref = str(pull.head.sha), str(pull.base.ref)
        user = pull.user
        by_iacbot = app.authored(user.login if user else None, user.type if user else None)
        merged_by = pull.merged_by
        state = PullState(int(number), str(pull.state), bool(pull.merged),
                          bool(pull.merged) and merged_by is not None and app.authored(merged_by.login, merged_by.type),
                          pull.merge_commit_sha, head_sha, base_ref)
        step = f"listing the commits of {repository}#{number}"
        commits = _commits(pull, app, ledger, repository, fingerprint)
        step = f"listing the files of {repository}#{number}"
        files = _files(pull)
        step = f"reading the checks on {head_sha[:12]}"
        checks = checks_on(repo, head_sha)
    except GithubException as exc:
        raise PublishError(f"{step} failed: HTTP {exc.status} {github_message(exc)}".rstrip(), exc.status,
                           "merge facts") from None
    except requests.RequestException as exc:
        raise PublishError(f"{step} failed: cannot reach GitHub ({type(exc).__name__})", None, "merge facts") from None
    except GitHubRetryLater as exc:
        raise GitHubRetryLater(exc.retry_after, f"{step} paused: {exc.message}") from None
    facts = MergeFacts(
        now=now, pr_open=state.state == "open" and not state.merged, pr_by_iacbot=by_iacbot,
        mergeable=_mergeable(pull), base_ref=base_ref, head_sha=head_sha, decided_head_sha=decided_head_sha,
        commits=commits, files=files, checks=checks, global_kill_switch=global_kill_switch,
        repo_kill_switch=repo_kill_switch, merges_last_hour=merges_last_hour, merge_in_progress=merge_in_progress,
        decided_base_ref=decided_base_ref)
    return facts, state


def _pull_with_mergeable(repo: Repository, number: int):
    """GET the PR; while GitHub is still computing ``mergeable`` (null, as right after the base
    moved), read it again a few times, as GitHub's documentation advises. Every fact is taken
    from the last read, so the head and its mergeability belong together."""
    pull = repo.get_pull(number)
    for _ in range(MERGEABLE_READS - 1):
        if pull.mergeable is not None or pull.state != "open":
            break
        time.sleep(MERGEABLE_WAIT_SECONDS)
        pull = repo.get_pull(number)
    return pull


#: GitHub's mergeable_state values under which a merge call would be refused (405): a conflict,
#: a draft, branch protection's rules not met (approvals, its own required checks) or a base the
#: PR must first be brought up to date with. Known before the call, so no PUT is spent on them.
REFUSING_STATES = frozenset({"dirty", "draft", "blocked", "behind"})


def _mergeable(pull) -> bool | None:
    if pull.mergeable and pull.mergeable_state in REFUSING_STATES:
        return False
    return pull.mergeable


def _is_app(app: AppIdentity, user) -> bool:
    """The API's user object for a commit's author or committer: None when GitHub matched no account."""
    return user is not None and app.authored(user.login, user.type)


def _commits(pull, app: AppIdentity, ledger: CommitLedger, repository: str,
             fingerprint: str) -> tuple[CommitFacts, ...]:
    listed = list(_bounded(pull.get_commits(), MAX_COMMITS))
    found = tuple(CommitFacts(str(c.sha), ledger.made(repository, fingerprint, [str(c.sha)]),
                              _is_app(app, c.author), _is_app(app, c.committer)) for c in listed)
    if int(pull.commits or 0) > len(found):
        # Commits GitHub does not list cannot be vouched for.
        log.warning("%s#%s has %s commits, %d listed: the rest count as foreign", repository, pull.number,
                    pull.commits, len(found))
        found += (CommitFacts(COMMITS_BEYOND, False, False, False),)
    return found


def _path(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_PATH_CHARS else text[:MAX_PATH_CHARS] + "\u2026(cut)"


def _files(pull) -> tuple[ChangedFile, ...]:
    found: list[ChangedFile] = []
    listed = 0
    for f in _bounded(pull.get_files(), MAX_FILES):
        listed += 1
        found.append(ChangedFile(_path(f.filename), int(f.additions or 0) + int(f.deletions or 0)))
        if f.previous_filename:  # a rename changes the old path too (it disappears)
            found.append(ChangedFile(_path(f.previous_filename), 0))
    if int(pull.changed_files or 0) > listed:
        found.append(ChangedFile(FILES_BEYOND, 0))
    return tuple(found)


def checks_on(repo: Repository, sha: str) -> tuple[CheckFacts, ...]:
    """The check runs (with their Apps) and the latest commit status per context on commit ``sha``,
    bounded as above (a listing longer than MAX_CHECKS reads as none). Raises GithubException."""
    return _check_runs(repo, sha) + _statuses(repo, sha)


def _check_runs(repo: Repository, sha: str) -> tuple[CheckFacts, ...]:
    runs = repo.get_commit(sha).get_check_runs()
    listed = list(_bounded(runs, MAX_CHECKS + 1))
    if len(listed) > MAX_CHECKS:
        log.warning("%s: more than %d check runs on %s: none is read, so every required check is missing",
                    repo.full_name, MAX_CHECKS, sha[:12])
        return ()
    return tuple(CheckFacts(str(run.name), str(run.head_sha), str(run.status), run.conclusion,
                            run.app.slug if run.app is not None else None, "check_run") for run in listed)


def _statuses(repo: Repository, sha: str) -> tuple[CheckFacts, ...]:
    """GET /commits/{sha}/status lists the latest status per context, paginated; total_count says
    how many contexts there are."""
    url = f"{repo.url}/commits/{sha}/status"
    latest: dict[str, CheckFacts] = {}
    total = None
    for page in range(1, MAX_CHECKS // PER_PAGE + 2):
        _, data = repo.requester.requestJsonAndCheck("GET", url, parameters={"per_page": PER_PAGE, "page": page})
        statuses = data.get("statuses") or [] if isinstance(data, dict) else []
        total = data.get("total_count") if isinstance(data, dict) else None
        for s in statuses:
            context, state = s.get("context"), s.get("state")
            if not isinstance(context, str) or state not in _STATUS_STATES or context in latest:
                continue  # the first seen of a context is its latest
            status, conclusion = _STATUS_STATES[state]
            latest[context] = CheckFacts(context, sha, status, conclusion, None, "status")
        if not statuses or len(statuses) < PER_PAGE or (isinstance(total, int) and len(latest) >= total):
            break
        if len(latest) > MAX_CHECKS:
            break
    if len(latest) > MAX_CHECKS or (isinstance(total, int) and total > MAX_CHECKS):
        log.warning("%s: more than %d commit statuses on %s: none is read", repo.full_name, MAX_CHECKS, sha[:12])
        return ()
    return tuple(latest.values())


def _bounded(items: Iterable, limit: int):
    for i, item in enumerate(items):
        if i >= limit:
            return
        yield item


#: Of each list (commits, files, checks), this many are stored with a decision, and how many there
#: were: a hostile PR's thousand statuses must not make every stored decision (and the capped
#: history of them) a megabyte. The decision's reasons name every commit, file and check that mattered.
STORED_ITEMS = 50


def facts_to_json(facts: MergeFacts) -> dict[str, Any]:
    """The facts as stored with the decision (workers.decision_store): JSON-able, times in ISO 8601,
    each list cut to STORED_ITEMS with its full length beside it."""
    data = asdict(facts)
    data["now"] = facts.now.isoformat()
    for name in ("commits", "files", "checks"):
        data[f"{name}_total"] = len(data[name])
        data[name] = data[name][:STORED_ITEMS]
    return data
