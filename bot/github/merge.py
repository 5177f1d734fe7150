"""The merge call itself: ``PUT /repos/{owner}/{repo}/pulls/{n}/merge`` pinned to one head SHA.

Renovate, Kodiak and Bulldozer merge whatever the head is when their call arrives; iacbot sends
``sha``, so GitHub merges exactly the commit the decision was made about or nothing (409). Every
refusal (409 head moved, 405 not mergeable, 422 refused) is an answer, not an error: the caller
decides again later with fresh facts, and never sends the same PUT again with the old decision.
A 5xx or a lost connection raises PublishError (retryable), which the task turns into a retry of
the WHOLE consideration (facts, decision, then perhaps this call), never a bare repeat of the PUT.

The caller should pass a Repository from a client whose retry policy makes ONE attempt
(:func:`single_attempt_client`): the shared client repeats a request in-process after a 5xx, and
a merge repeated 30 s later would skip the kill-switch re-check made right before it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import requests
from github import Github, GithubException
from github.Repository import Repository

from bot.attest import MERGE_STATEMENT_TRAILER, blocks
from bot.github import pr_body
from bot.github.auth import Token
from bot.github.client import client
from bot.github.errors import GitHubRetryLater
from bot.github.publish import PublishError, github_message
from bot.github.retry import RetryPolicy

MERGE_METHODS = ("merge", "squash", "rebase")
#: "merge" keeps iacbot's own commit (the one its ledger recorded) in the base branch's history.
DEFAULT_METHOD = "merge"

MERGED = "merged"
HEAD_MOVED = "head-moved"          # 409: the PR's head is no longer ``sha``
NOT_MERGEABLE = "not-mergeable"    # 405: GitHub will not merge it as it is (conflict, protection, ...)
REFUSED = "refused"                # 422: GitHub refused the request (e.g. an unknown sha)

_OUTCOMES = {409: HEAD_MOVED, 405: NOT_MERGEABLE, 422: REFUSED}
_MESSAGE_LIMIT = 200
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class MergeResult:
    outcome: str                   # MERGED, HEAD_MOVED, NOT_MERGEABLE or REFUSED
    http_status: int
    pinned_sha: str                # the head SHA the call was pinned to
    merge_sha: str | None = None   # the merge commit, when merged
    message: str = ""              # GitHub's own message (capped), for logs and records

    @property
    def merged(self) -> bool:
        return self.outcome == MERGED

    @property
    def decide_again(self) -> bool:
        """Not merged: a fresh decision is needed later (the old one is spent)."""
        return not self.merged

    def to_json(self) -> dict:
        return {"outcome": self.outcome, "http_status": self.http_status, "pinned_sha": self.pinned_sha,
                "merge_sha": self.merge_sha, "message": self.message}


def single_attempt_client(base_url: str, token: Token | str, **kwargs) -> Github:
    """A client whose every call is tried once (5xx, rate limits: raised, not repeated in-process)."""
    kwargs.setdefault("per_page", 100)
    return client(base_url, token, policy=RetryPolicy(max_attempts=1, max_wait=0.0), **kwargs)


def merge_message(statement_digest: str) -> str:
    """The merge commit's message: its ``Iacbot-Merge-Statement`` trailer names the merge-stage
    statement (the one signed into the PR body right before this merge; docs/provenance.md)."""
    if not _DIGEST.match(statement_digest):
        raise ValueError("statement_digest must be sha256:<64 hex digits>")
    return f"Merged by iacbot after its merge-stage decision.\n\n{MERGE_STATEMENT_TRAILER}: {statement_digest}"


def put_attestation(repo: Repository, number: int, stage: str, block: str) -> bool:
    """Put ``block`` (a signed envelope's block) in PR ``number``'s body, replacing an earlier one of
    ``stage``. False (nothing written) when the body would exceed GitHub's limit. Raises
    GithubException like any call; the caller retries the whole consideration."""
    pr = repo.get_pull(int(number))
    text = blocks.with_stage_block(pr.body or "", stage, block)
    if not pr_body.fits(text):
        return False
    if text != (pr.body or ""):
        pr.edit(body=text)
    return True


def merge_pinned(repo: Repository, number: int, sha: str, method: str = DEFAULT_METHOD,
                 commit_message: str | None = None) -> MergeResult:
    """Merge PR ``number`` only if its head is ``sha``. Raises PublishError for 5xx, a lost
    connection (retryable) and 401/403/404 (not retryable: a permission or scope problem), and
    GitHubRetryLater for a rate limit; returns a MergeResult for 200, 405, 409 and 422.
    ``commit_message``: the merge commit's message (merge_message), GitHub's default when None."""
    if method not in MERGE_METHODS:
        raise ValueError(f"merge method must be one of {MERGE_METHODS}")
    if not isinstance(sha, str) or len(sha) not in (40, 64):
        raise ValueError("merge_pinned needs the full head SHA")
    where = f"merging {repo.full_name}#{number} at {sha[:12]}"
    try:
        _, data = repo.requester.requestJsonAndCheck(
            "PUT", f"{repo.url}/pulls/{int(number)}/merge",
            input={"sha": sha, "merge_method": method,
                   **({"commit_message": commit_message} if commit_message is not None else {})})
    except GithubException as exc:
        message = github_message(exc)[:_MESSAGE_LIMIT]
        outcome = _OUTCOMES.get(exc.status)
        if outcome is not None:
            return MergeResult(outcome, exc.status, sha, None, message)
        raise PublishError(f"{where} failed: HTTP {exc.status} {message}".rstrip(), exc.status, "merging") from None
    except requests.RequestException as exc:
        raise PublishError(f"{where} failed: cannot reach GitHub ({type(exc).__name__}); deciding again later",
                           None, "merging") from None
    except GitHubRetryLater as exc:
        raise GitHubRetryLater(exc.retry_after, f"{where} paused: {exc.message}") from None
    data = data if isinstance(data, dict) else {}
    if data.get("merged") is not True:  # 200 always says merged: true; anything else is not a merge
        return MergeResult(NOT_MERGEABLE, 200, sha, None, str(data.get("message") or "")[:_MESSAGE_LIMIT])
    merge_sha = data.get("sha") if isinstance(data.get("sha"), str) else None
    return MergeResult(MERGED, 200, sha, merge_sha, str(data.get("message") or "")[:_MESSAGE_LIMIT])
