"""The cap on iacbot's open pull requests per repository (Renovate's ``prConcurrentLimit``). Pure.

Before opening a NEW pull request, publishing counts iacbot's open PRs in the repository; at the
cap the fix waits (workers.pr_cap queues it). Updating or keeping the PR that already carries a
finding is never capped. Only PRs the App opened (its bot account, as the API reports the
author) from an ``iacbot/`` branch of the repository itself count: PRs someone else opens from
branches named like iacbot's cannot fill the cap.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, NamedTuple, Protocol

from policies.decision import Because
from policies.reasons import Reason

#: The setting that sets the cap (0: no cap); named in what a deferred fix says.
SETTING = "IACBOT_MAX_OPEN_PRS_PER_REPO"
# iacbot's branch prefix is a fact of the branch scheme (jobs.branches.BOT_BRANCH_PREFIX), which
# policies does not import: the caller passes it in.


class Author(Protocol):
    """Who counts as iacbot (bot.github.ownership.AppIdentity): the App's bot account."""

    def authored(self, login: str | None, user_type: str | None) -> bool: ...


@dataclass(frozen=True)
class CapVerdict:
    publish: bool
    because: Because

    @property
    def reason(self) -> str:
        return self.because.text()


class PullHead(NamedTuple):
    ref: str                 # head branch name
    repository: str | None   # the head branch's repository (None: a deleted fork)
    base: str                # base branch name
    author: str | None = None       # the PR's user, as the API gives it: login ...
    author_type: str | None = None  # ... and type ("Bot" for an App's bot account)


@dataclass(frozen=True)
class OpenPulls:
    count: int        # iacbot's open PRs in the repository (opened by the App, from an iacbot/ branch)
    has_branch: bool  # an open PR (anyone's) is from the finding's branch onto the default branch


def may_open_pr(open_count: int, cap: int, pr_exists: bool) -> CapVerdict:
    """May publishing go ahead, given iacbot's open PRs in the repository and the cap (0: none)?"""
    if pr_exists:
        return CapVerdict(True, Because(Reason.PR_EXISTS))
    if cap <= 0:
        return CapVerdict(True, Because(Reason.NO_PR_CAP, f"{SETTING}=0"))
    if open_count < cap:
        return CapVerdict(True, Because(Reason.UNDER_PR_CAP, f"{open_count} of at most {cap}"))
    return CapVerdict(False, Because(Reason.AT_PR_CAP, f"{open_count} of at most {cap}; {SETTING}"))


def is_bot_branch(head: PullHead, repository: str, prefix: str) -> bool:
    """Named like iacbot's (``prefix``) and in the repository itself: a fork can name a branch
    iacbot/... too."""
    return (bool(prefix) and head.ref.startswith(prefix) and head.repository is not None
            and head.repository.lower() == repository.strip().lower())


def count_open(heads: Iterable[PullHead], repository: str, branch: str, base: str, app: Author,
               prefix: str) -> OpenPulls:
    """iacbot's PRs among the open ``heads`` (from an iacbot branch, named with ``prefix``, and
    opened by the App: a person who pushes an iacbot/ branch and opens PRs from it cannot fill
    the cap), and whether any PR is ``branch`` onto ``base`` (publishing then opens no new one)."""
    count, has_branch = 0, False
    for head in heads:
        if not is_bot_branch(head, repository, prefix):
            continue
        count += bool(app.authored(head.author, head.author_type))
        has_branch = has_branch or (head.ref == branch and head.base == base)
    return OpenPulls(count, has_branch)


def frees_slot(iacbot_branch: bool, repository: object) -> bool:
    """Does a close free one of the slots the cap counts? Any close of a PR from one of iacbot's
    branches of the repository does (merged, declined, or closed by a bot); whether the App really
    opened it is checked by the caller against the API before anything is sent."""
    return bool(iacbot_branch) and isinstance(repository, str) and bool(repository)
