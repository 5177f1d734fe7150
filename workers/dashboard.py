"""Keep a repository's dashboard issue current (task DASHBOARD_TASK, on the publish queue).

``refresh_dashboard(installation_id, repository)``: gather what the dashboard shows (the latest
decision of each fix from workers.decision_store, which of iacbot's PRs are open, accepted risks
from workers.declined, iacbot's automatic merges, the policies' problems, the merged fixes whose
watch ended from workers.merge_watch, the audit log's checkpoint status), render it
(bot.dashboard), re-read the issue right before writing it, and write only iacbot's section,
only when it changed. Sent after each publish decision (workers.publish) and after each
automatic merge (workers.automerge) and each rollback outcome (workers.rollback), through :func:`request_refresh`, which coalesces a burst
of requests for one repository into one refresh.

| key | what |
|---|---|
| ``iacbot:dashboard-pending:<owner/name>`` | string: a refresh is queued (deleted when it starts; expires after PENDING_TTL_SECONDS) |

The refresh holds the repository's lock (workers.repo_lock, as publishing does), so iacbot's
issues in a repository have one writer at a time. It also keeps the "Action required" issue
current (workers.policy_issue).
"""
from __future__ import annotations

import logging
import time
from typing import Any

import redis
import requests
from github import GithubException
from github.Repository import Repository
from kombu.exceptions import OperationalError

from bot import dashboard as render
from bot.github import issues
from bot.github.auth import AuthError, installation_session
from bot.github.client import client
from bot.github.errors import GitHubRetryLater
from bot.github.ownership import AppIdentity, app_identity
from bot.github.repo_files import FileUnavailable
from bot.quoting import md_code
from policies.model import PolicySet
from policies.rollback import RollbackDecision
from workers import audit_log, decision_store, declined, merge_watch, policy_issue
from workers.celery_app import DASHBOARD_TASK, PUBLISH_QUEUE, app
from workers.policy_source import decline_expiry_days, load_policies
from workers.repo_lock import RepoBusy, repo_lock
from workers.runtime import redis_client, settings
from workers.store import repo_key

log = logging.getLogger(__name__)

#: What writing the dashboard needs: read the policy and the open PRs, write the issue.
DASHBOARD_PERMISSIONS = {"contents": "read", "pull_requests": "read", "issues": "write"}
PENDING_PREFIX = "iacbot:dashboard-pending:"
#: A queued refresh that never started (a lost message) stops coalescing after this long.
PENDING_TTL_SECONDS = 300
#: iacbot's open pull requests looked at (GitHub lists 100 a page).
MAX_OPEN_PULLS = 1_000
RECENT_MERGES = 10
#: Merge watches looked at for the verified / reverted sections (newest first).
RECENT_WATCHES = 50
LOCK_TTL_SECONDS = 60
_TRANSIENT = (FileUnavailable, GitHubRetryLater, requests.ConnectionError, requests.Timeout,
              redis.ConnectionError, redis.TimeoutError, RepoBusy)


def pending_key(repository: str) -> str:
    return repo_key(PENDING_PREFIX, repository)


def request_refresh(r: redis.Redis, installation_id: int, repository: str) -> bool:
    """Queue one refresh of ``repository``'s dashboard unless one is queued already. Never raises
    (a dashboard a little late is better than a failed publish); True when a task was sent."""
    try:
        if not r.set(pending_key(repository), "1", nx=True, ex=PENDING_TTL_SECONDS):
            return False
        app.send_task(DASHBOARD_TASK, args=[int(installation_id), repository], queue=PUBLISH_QUEUE,
                      ignore_result=True)
        return True
    except (redis.RedisError, OperationalError) as exc:
        log.warning("%s: could not queue a dashboard refresh (%s)", repository, type(exc).__name__)
        try:
            r.delete(pending_key(repository))
        except redis.RedisError:
            pass
        return False


# -- gathering --------------------------------------------------------------------------------

def _entry(record: decision_store.DecisionRecord) -> render.Entry:
    fix = record.fix
    return render.Entry(record.fingerprint, fix.rule_ids, fix.fix_class, fix.paths, record.decision,
                        record.decided_at, record.pr_number, record.stage)


def open_pulls(repo: Repository, app_identity_: AppIdentity) -> tuple[set[int], bool]:
    """(numbers of iacbot's open PRs, whether the listing was cut short)."""
    numbers: set[int] = set()
    for i, pull in enumerate(repo.get_pulls(state="open")):
        if i >= MAX_OPEN_PULLS:
            return numbers, True
        user = pull.user
        if app_identity_.authored(user.login if user else None, user.type if user else None):
            numbers.add(pull.number)
    return numbers, False


def accepted(r: redis.Redis, repository: str, policies: PolicySet, now: float) -> tuple[render.AcceptedRisk, ...]:
    """The risk acceptances that hold (workers.declined; lapsed ones are recorded as expired there)."""
    risks = declined.accepted_risks(r, repository, now=now, expiry_days=decline_expiry_days(policies))
    return tuple(render.AcceptedRisk(x.fingerprint, x.pr_number, x.file, x.closed_by, x.closed_at, x.expires_at)
                 for x in risks)


def sections(r: redis.Redis, repository: str, policies: PolicySet, open_prs: set[int], cut: bool,
             now: float) -> render.Sections:
    groups = render.classify([_entry(x) for x in decision_store.all_latest(r, repository)], open_prs)
    merges = tuple(render.Merge(m["pr_number"], m["sha"], m["at"])
                   for m in decision_store.recent_merges(r, repository, RECENT_MERGES))
    problems = tuple(p.text() for p in (*policies.central_problems, *policies.repo_problems))
    notes = (f"iacbot looked at the first {MAX_OPEN_PULLS} open pull requests only; some of its own may be "
             "missing below.",) if cut else ()
    verified, reverted, not_reverted = watched(r, repository)
    return render.Sections(groups["waiting"], groups["blocked"], groups["automerging"], groups["recommended"],
                           groups["ignored"], accepted(r, repository, policies, now), merges, problems, notes,
                           verified, reverted, not_reverted, audit_line(r))


def watched(r: redis.Redis, repository: str) -> tuple[tuple[render.Watched, ...], ...]:
    """(verified, reverted, failed and not reverted): the merged fixes whose watch ended, newest first."""
    out: dict[str, list[render.Watched]] = {merge_watch.VERIFIED: [], merge_watch.REVERTED: [], merge_watch.HELD: []}
    for record in merge_watch.recent(r, repository, RECENT_WATCHES):
        state = merge_watch.REVERTED if record.get("state") == merge_watch.ISSUE else record.get("state")
        if state not in out or not record.get("decision"):
            continue
        decision = RollbackDecision.from_json(record["decision"])
        if state == merge_watch.HELD and not decision.evidence():
            continue  # held because nothing could be proven (checkov blind, CI silent): not a failure
        outcome = record.get("outcome") or {}
        out[state].append(render.Watched(int(record["pr_number"]), record["merge_sha"], record.get("decided_at"),
                                         tuple(record.get("rule_ids") or ()), decision.reasons,
                                         outcome.get("revert_pr"), outcome.get("issue")))
    return tuple(out[merge_watch.VERIFIED]), tuple(out[merge_watch.REVERTED]), tuple(out[merge_watch.HELD])


def audit_line(r: redis.Redis) -> str | None:
    """The audit log's size and last signed checkpoint (workers.audit_log.checkpoint_status)."""
    try:
        status = audit_log.checkpoint_status(r)
    except (redis.RedisError, ValueError) as exc:
        log.warning("the audit log's checkpoint status is unreadable: %s", type(exc).__name__)
        return "status unreadable now"
    if not status.signed:
        return f"{status.size} entries, no signed checkpoint yet"
    when = md_code(str(status.checkpoint_time or "unknown"), 40)
    return (f"{status.size} entries; the last signed checkpoint covers {status.checkpoint_size} (signed {when}), "
            f"{status.uncovered} after it")


# -- writing ----------------------------------------------------------------------------------

def write(repo: Repository, identity: AppIdentity, repository: str, s: render.Sections, now: float) -> str:
    """Write the dashboard issue; what was done (bot.github.issues' actions)."""
    found = issues.find(repo, identity, render.KIND, "open") or issues.find(repo, identity, render.KIND, "closed")
    if found is None:
        text = render.body(None, repository, s, now)
        return issues.ensure(repo, identity, render.KIND, render.TITLE, text).action
    current = issues.reread(repo, found.number)  # right before writing: keep what people just wrote
    if current is None or not issues.is_ours(current, identity, render.KIND):
        return issues.NONE
    text = render.body(current.body, repository, s, now)
    if text is None:
        log.warning("%s: people's text in dashboard #%s leaves no room for iacbot's section", repository,
                    found.number)
        return issues.NONE
    # A dashboard a person closed stays closed (they chose not to see it); its text is kept current.
    if _same_but_time(current.body or "", text):
        return issues.UNCHANGED
    current.edit(body=text)
    return issues.UPDATED


def _same_but_time(old: str, new: str) -> bool:
    """Only the "written at" line differs: do not write (and notify watchers) for nothing."""
    def strip(text: str) -> str:
        return "\n".join(line for line in text.split("\n") if not line.startswith("_Written by iacbot for "))
    return strip(old) == strip(new)


def refresh(cfg, r: redis.Redis, installation_id: int, repository: str) -> dict[str, Any]:
    now = time.time()
    identity = app_identity(cfg.github_app_id, cfg.app_private_key(), cfg.github_api_url)
    # The repository's lock (the one publishing holds): one writer of iacbot's issues at a time, so
    # never two dashboards or two "Action required" issues.
    with repo_lock(r, repository, ttl=LOCK_TTL_SECONDS, wait=10.0), \
            installation_session(cfg.github_app_id, cfg.app_private_key(), installation_id, repository,
                                 DASHBOARD_PERMISSIONS, cfg.github_api_url) as token:
        interval = cfg.github_write_interval_seconds
        # Reads paced as publish_job paces them (PyGithub's own default is 0.25 s a request).
        gh = client(cfg.github_api_url, token, seconds_between_requests=min(interval, 0.25),
                    seconds_between_writes=interval, per_page=100)
        repo = gh.get_repo(repository)
        policies = load_policies(cfg, gh, repository, repo.default_branch, installation_id=installation_id,
                                 repo=repo)
        # The policy issue too: a policy fixed in a repository where nothing is published still gets
        # its issue closed, after the next merge or decision anywhere in it.
        policy_issue.report(r, repo, identity, repository, policies, repo.default_branch, cfg.policy_repository or None)
        numbers, cut = open_pulls(repo, identity)
        done = write(repo, identity, repository, sections(r, repository, policies, numbers, cut, now), now)
    log.info("%s: dashboard %s", repository, done)
    return {"repository": repository, "dashboard": done}


@app.task(name=DASHBOARD_TASK, bind=True, queue=PUBLISH_QUEUE, max_retries=8)
def refresh_dashboard(self, installation_id: int, repository: str) -> dict[str, Any]:
    cfg = settings()
    r = redis_client(cfg.redis_url)
    r.delete(pending_key(repository))  # a decision from now on asks for another refresh
    try:
        return refresh(cfg, r, int(installation_id), repository)
    except Exception as exc:
        transient = isinstance(exc, _TRANSIENT) or (
            isinstance(exc, (GithubException, AuthError)) and (exc.status is None or exc.status == 429
                                                               or exc.status >= 500))
        if transient and self.request.retries < self.max_retries:
            countdown = exc.countdown if isinstance(exc, GitHubRetryLater) else min(120, 2 ** self.request.retries)
            raise self.retry(exc=exc, countdown=min(countdown, 0.9 * cfg.visibility_timeout_seconds)) from None
        log.error("%s: the dashboard could not be written: %s", repository, exc)
        return {"repository": repository, "dashboard": "failed", "reason": str(exc)[:300]}
