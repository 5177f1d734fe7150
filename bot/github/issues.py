"""iacbot's own issues in a repository (the "Action required" issue, the dashboard): find, write
only when the text changed, close.

An issue is iacbot's when BOTH hold: its body carries iacbot's hidden marker for that kind
(``<!-- iacbot:issue:<kind> -->``) and the API gives its author as the App's bot account
(bot.github.ownership.AppIdentity). Anyone can paste the marker into an issue of their own;
nobody but the App can open an issue as ``<slug>[bot]``. A person's issue with the marker is
never edited, closed or counted.

Bounded: at most MAX_SCANNED issues are listed when looking for one (the App's issues only, when
GitHub honours ``creator``; pull requests, which the issues list also returns, are skipped).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from github import GithubException
from github.Issue import Issue
from github.Repository import Repository

from bot.github.ownership import AppIdentity

log = logging.getLogger(__name__)

#: GitHub refuses a body over 65,536 characters (counted here in UTF-16 units, with room to spare).
BODY_LIMIT = 65_000
TITLE_LIMIT = 256
MAX_SCANNED = 1_000

CREATED, UPDATED, REOPENED, UNCHANGED, CLOSED, NONE = "created", "updated", "reopened", "unchanged", "closed", "none"


@dataclass(frozen=True)
class IssueWrite:
    """What was done to iacbot's issue of one kind, and its number (None: there is none)."""

    action: str
    number: int | None = None
    url: str | None = None


def marker(kind: str) -> str:
    """The hidden line that names an issue of ``kind`` as iacbot's (with its author)."""
    if not kind.replace("-", "").isalnum():
        raise ValueError(f"an issue kind is letters, digits and dashes, not {kind!r}")
    return f"<!-- iacbot:issue:{kind} -->"


def units(text: str) -> int:
    """Length as GitHub may count it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def is_ours(issue: Issue, app: AppIdentity, kind: str) -> bool:
    if issue.pull_request is not None:
        return False
    user = issue.user
    return app.authored(user.login if user else None, user.type if user else None) and \
        marker(kind) in (issue.body or "")


def find(repo: Repository, app: AppIdentity, kind: str, state: str = "open", *, by_creator: bool = True) -> Issue | None:
    """iacbot's issue of ``kind`` in ``state`` ("open", "closed", "all"): the oldest open one (the
    one people have been reading), else the most recently closed. ``by_creator``: let GitHub list
    the App's issues only (``creator=<slug>[bot]``); either way the author is checked here."""
    found: list[Issue] = []
    narrowed = {"creator": app.bot_login} if by_creator else {}
    listing = repo.get_issues(state=state, sort="created", direction="asc", **narrowed)
    for i, issue in enumerate(listing):
        if i >= MAX_SCANNED:
            log.warning("%s: more than %d issues by %s; looked no further for the %s issue", repo.full_name,
                        MAX_SCANNED, app.bot_login, kind)
            break
        if is_ours(issue, app, kind):
            found.append(issue)
    if not found:
        return None
    open_ones = [i for i in found if i.state == "open"]
    return open_ones[0] if open_ones else found[-1]


def ensure(repo: Repository, app: AppIdentity, kind: str, title: str, body: str) -> IssueWrite:
    """Make iacbot's open issue of ``kind`` say ``title`` and ``body`` (which must carry the
    marker): create it, reopen the last closed one, or edit it; nothing when it says that already."""
    if marker(kind) not in body:
        raise ValueError("the body must carry the issue's marker, or iacbot could not find it again")
    if units(body) > BODY_LIMIT:
        raise ValueError(f"the issue body is over {BODY_LIMIT} characters")
    title = title[:TITLE_LIMIT]
    issue = find(repo, app, kind, "open") or find(repo, app, kind, "closed")
    if issue is None:
        # Before creating one, look once without GitHub's creator filter: should it not match the
        # App's bot account, the issue would otherwise be duplicated on every run.
        issue = find(repo, app, kind, "all", by_creator=False)
    if issue is None:
        created = repo.create_issue(title=title, body=body)
        log.info("%s: opened issue #%s (%s)", repo.full_name, created.number, kind)
        return IssueWrite(CREATED, created.number, created.html_url)
    if issue.state != "open":
        issue.edit(title=title, body=body, state="open")
        log.info("%s: reopened issue #%s (%s)", repo.full_name, issue.number, kind)
        return IssueWrite(REOPENED, issue.number, issue.html_url)
    if issue.title == title and (issue.body or "") == body:
        return IssueWrite(UNCHANGED, issue.number, issue.html_url)
    issue.edit(title=title, body=body)
    log.info("%s: updated issue #%s (%s)", repo.full_name, issue.number, kind)
    return IssueWrite(UPDATED, issue.number, issue.html_url)


def close(repo: Repository, app: AppIdentity, kind: str, body: str | None = None) -> IssueWrite:
    """Close iacbot's open issue of ``kind`` as completed (with a last ``body``, if given)."""
    issue = find(repo, app, kind, "open")
    if issue is None:
        return IssueWrite(NONE)
    if body is not None and (issue.body or "") != body:
        issue.edit(body=body, state="closed", state_reason="completed")
    else:
        issue.edit(state="closed", state_reason="completed")
    log.info("%s: closed issue #%s (%s)", repo.full_name, issue.number, kind)
    return IssueWrite(CLOSED, issue.number, issue.html_url)


def reread(repo: Repository, number: int) -> Issue | None:
    """The issue as it is now (right before a write that keeps what people wrote in it)."""
    try:
        return repo.get_issue(number)
    except GithubException as exc:
        if exc.status in (404, 410):
            return None
        raise


def write_body(issue: Issue, body: str) -> bool:
    """Set the body of an issue already found to be ours; False when it says that already."""
    if (issue.body or "") == body:
        return False
    issue.edit(body=body)
    return True
