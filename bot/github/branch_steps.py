"""The Git data API steps a branch-and-PR writer takes (bot.github.publish for fixes,
bot.github.revert for reverts), each safe to repeat: a retried POST whose first answer was lost
finds what it made and uses it, and a branch or PR someone else made is reported, never taken."""
from __future__ import annotations

import hashlib
import json

from github import GithubException
from github.GitCommit import GitCommit
from github.Repository import Repository

from bot.github.ownership import Ownership

#: How far back the default branch's first-parent history is searched for a former head.
HISTORY_LIMIT = 200


def git_blob_sha(data: str | bytes) -> str:
    """The SHA git (and GitHub's contents API) names a blob with this content by."""
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest()


class Progress:
    """The step under way, for error messages ("while creating the pull request")."""

    def __init__(self) -> None:
        self.step = "starting"

    def at(self, step: str) -> "Progress":
        self.step = step
        return self



def open_pull(repo: Repository, branch: str, base: str):
    pulls = list(repo.get_pulls(state="open", head=f"{repo.owner.login}:{branch}", base=base))
    return pulls[0] if pulls else None



def unprocessable(exc: GithubException, text: str) -> bool:
    return exc.status == 422 and text.lower() in json.dumps(exc.data).lower()



def create_ref(repo: Repository, branch: str, sha: str) -> bool:
    """Create the branch at `sha`. A retried POST may find it made by its own first try (the
    answer was lost): that is success. False when the branch exists at another commit."""
    try:
        repo.create_git_ref(f"refs/heads/{branch}", sha)
        return True
    except GithubException as exc:
        if not unprocessable(exc, "Reference already exists"):
            raise
    return repo.get_git_ref(f"heads/{branch}").object.sha == sha



def create_pull(repo: Repository, base: str, branch: str, title: str, text: str, ownership: Ownership):
    """Open the PR; if a (retried) request finds one already open for the branch, that one is ours
    when the App opened it. None when a PR someone else opened is in the way."""
    try:
        return repo.create_pull(base=base, head=branch, title=title, body=text, maintainer_can_modify=False)
    except GithubException as exc:
        if not unprocessable(exc, "A pull request already exists"):
            raise
        pr = open_pull(repo, branch, base)
        if pr is None:
            raise
        if not ownership.app.authored(pr.user.login, pr.user.type):
            return None
        pr.edit(title=title, body=text)
        return pr



def ref_or_none(repo: Repository, ref: str):
    try:
        return repo.get_git_ref(ref)
    except GithubException as exc:
        if exc.status == 404:
            return None
        raise



def in_history(repo: Repository, head: GitCommit, sha: str) -> bool:
    """Is `sha` a commit the default branch has pointed at (first-parent walk from its head)?"""
    current = head
    for _ in range(HISTORY_LIMIT):
        if current.sha == sha:
            return True
        if not current.parents:
            return False
        current = repo.get_git_commit(current.parents[0].sha)
    return False
