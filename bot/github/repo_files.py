"""Read one small file of a repository at an exact commit, through the contents API, bounded.

For policy files (workers.policy_source): the bytes as they are at a commit the caller chose
(the default branch's head, never a pull request's), refused past a size limit before they are
decoded. Transient GitHub failures raise FileUnavailable (retry later); what a later try would
meet again (no such file, a directory, too large, not visible to the token) is an answer.
"""
from __future__ import annotations

from dataclasses import dataclass

import requests
from github import GithubException
from github.Repository import Repository

from bot.github.errors import GitHubRetryLater
from bot.github.publish import PublishError, github_message

FOUND, MISSING, TOO_LARGE, NOT_A_FILE, NOT_VISIBLE = "found", "missing", "too-large", "not-a-file", "not-visible"


class FileUnavailable(PublishError):
    """GitHub could not answer now (5xx, 429, no connection): try again later. A PublishError, so
    the publish task's retry rules (workers.publish.retry_countdown) apply as they are."""


@dataclass(frozen=True)
class RepoFile:
    status: str                 # FOUND, MISSING, TOO_LARGE, NOT_A_FILE or NOT_VISIBLE
    data: bytes = b""           # FOUND only
    sha: str = ""               # the commit it was read at
    size: int = 0               # as GitHub gives it (TOO_LARGE: how large)
    detail: str = ""            # GitHub's message, for NOT_VISIBLE


def _transient(exc: GithubException) -> bool:
    return exc.status is None or exc.status >= 500 or exc.status == 429


def head_sha(repo: Repository, branch: str) -> str:
    """The commit ``branch`` points at now; FileUnavailable when GitHub cannot say now."""
    try:
        return repo.get_git_ref(f"heads/{branch}").object.sha
    except GithubException as exc:
        if _transient(exc):
            raise FileUnavailable(f"reading the head of {repo.full_name}'s {branch}: HTTP {exc.status}", exc.status)
        raise
    except requests.RequestException as exc:
        raise FileUnavailable(f"reading the head of {branch}: cannot reach GitHub ({type(exc).__name__})") from None


def read_at(repo: Repository, path: str, sha: str, limit: int) -> RepoFile:
    """``path`` at commit ``sha``: its bytes when it is a file of at most ``limit`` bytes."""
    try:
        found = repo.get_contents(path, ref=sha)
    except GithubException as exc:
        if exc.status == 404:
            return RepoFile(MISSING, sha=sha)
        if exc.status in (401, 403):
            return RepoFile(NOT_VISIBLE, sha=sha, detail=f"HTTP {exc.status} {github_message(exc)}".strip())
        if _transient(exc):
            raise FileUnavailable(f"reading {path} at {sha[:12]}: HTTP {exc.status} {github_message(exc)}".strip(),
                                  exc.status) from None
        raise PublishError(f"reading {path} at {sha[:12]}: HTTP {exc.status} {github_message(exc)}".strip(),
                           exc.status) from None
    except requests.RequestException as exc:
        raise FileUnavailable(f"reading {path}: cannot reach GitHub ({type(exc).__name__})") from None
    except GitHubRetryLater:
        raise
    if isinstance(found, list) or getattr(found, "type", "file") != "file":
        return RepoFile(NOT_A_FILE, sha=sha)
    size = int(found.size or 0)
    if size > limit:
        return RepoFile(TOO_LARGE, sha=sha, size=size)
    data = found.decoded_content or b""
    if len(data) > limit:  # the size GitHub gave was wrong: trust the bytes
        return RepoFile(TOO_LARGE, sha=sha, size=len(data))
    return RepoFile(FOUND, data=data, sha=sha, size=len(data))
