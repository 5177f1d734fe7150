"""Keep a repository's "Action required: iacbot policy" issue in step with its policies: open
(or update) it while the PolicySet has problems, close it once there are none.

Never fatal: the issue is how people learn about a problem, but a pull request is opened (fail
closed means PRs still open) even when the issue cannot be written (issues turned off in the
repository, a permission missing, GitHub failing): that is logged and tried again next time.

Redis remembers whether an issue is open (``iacbot:policy-issue:<owner/name>``), so a valid
policy costs no issue listing on every publish; "none" is remembered for a day only, so an issue
opened meanwhile (Redis lost, a person reopened it) is closed within a day of valid policy.
"""
from __future__ import annotations

import hashlib
import logging

import redis
import requests
from github import GithubException
from github.Repository import Repository

from bot import policy_issue
from bot.audit.events import Event
from bot.github import issues
from bot.github.errors import GitHubRetryLater
from bot.github.ownership import AppIdentity
from policies.model import PolicySet
from workers import audit_log
from workers.store import repo_key

log = logging.getLogger(__name__)

STATE_PREFIX = "iacbot:policy-issue:"
OPEN, NONE = "open", "none"
NONE_TTL_SECONDS = 24 * 3600
FAILED = "failed"
AUDIT_PREFIX = "iacbot:policy-audit:"
MAX_AUDITED_PROBLEMS = 10


def state_key(repository: str) -> str:
    return repo_key(STATE_PREFIX, repository)


def problems_of(policies: PolicySet) -> tuple:
    return tuple(policies.central_problems) + tuple(policies.repo_problems)


def audit_key(repository: str) -> str:
    return repo_key(AUDIT_PREFIX, repository)


def _audit_problems(r: redis.Redis, repository: str, problems: tuple) -> None:
    """A policy_error entry when the problems changed (not on every event while they last).
    ``iacbot:policy-audit:<repo>`` holds "<digest> <generation>"; each change is a new generation, so
    problems that come back after a fix are recorded again, and the entry's once key (the
    generation) keeps a redelivery from recording one change twice."""
    texts = [str(p) for p in problems]
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:32] if texts else "none"
    raw = r.get(audit_key(repository))
    last, generation = (raw.decode().split(" ", 1) if raw else ("none", "0"))
    if last == digest:
        return
    generation = str(int(generation) + 1)
    if texts:
        audit_log.record(r, Event.POLICY_ERROR, repository=repository, subject="policy", actor=audit_log.SERVICE_ACTOR,
                         details={"problems": len(texts), "first": [t[:300] for t in texts[:MAX_AUDITED_PROBLEMS]],
                                  "digest": digest},
                         once=f"policy_error:{repository.lower()}:{generation}")
    r.set(audit_key(repository), f"{digest} {generation}")


def report(r: redis.Redis, repo: Repository, app: AppIdentity, repository: str, policies: PolicySet,
           default_branch: str, central_where: str | None) -> issues.IssueWrite:
    """Open, update or close the issue for ``policies``; IssueWrite("failed") when GitHub would not."""
    key = state_key(repository)
    try:
        if problems_of(policies):
            _audit_problems(r, repository, problems_of(policies))
            text = policy_issue.body(policies.central_problems, policies.repo_problems, default_branch,
                                     central_where)
            done = issues.ensure(repo, app, policy_issue.KIND, policy_issue.TITLE, text)
            r.set(key, OPEN)
            return done
        _audit_problems(r, repository, ())
        if r.get(key) == NONE.encode():
            return issues.IssueWrite(issues.NONE)
        done = issues.close(repo, app, policy_issue.KIND)
        r.set(key, NONE, ex=NONE_TTL_SECONDS)
        return done
    except (GithubException, GitHubRetryLater, requests.RequestException, ValueError) as exc:
        status = getattr(exc, "status", None)
        log.warning("%s: could not write the policy issue (%s%s); trying again next time", repository,
                    type(exc).__name__, f" HTTP {status}" if status else "")
        return issues.IssueWrite(FAILED)
