"""Publish one verified fix as one pull request, through the Git data API.

Idempotent per finding fingerprint: the branch name comes from bot.provenance.branch_name, an
open PR on it is reused, and a branch is only ever rewritten when every commit on it is the
bot's own (Renovate's rule: never touch a branch someone else pushed to).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from github import Auth, Github, GithubException, InputGitTreeElement
from github.GitCommit import GitCommit
from github.Repository import Repository

from bot.github import pr_body
from bot.github.auth import Token
from bot.provenance import TRAILER_PREFIX, branch_name, commit_message
from fixers.engine import Attempt

log = logging.getLogger(__name__)

CREATED = "created"            # new branch, new PR
EXISTS = "exists"              # an open PR already carries this fix on the current base
UPDATED = "updated"            # the bot's branch was rebuilt on the moved default branch
FOREIGN_BRANCH = "foreign-branch"  # someone else's commits are on the branch: not touched

# How far back the default branch's first-parent history is searched for a former head.
HISTORY_LIMIT = 200


class PublishError(Exception):
    """Publishing failed; the message says what and what to do. Never carries a credential."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class PublishResult:
    status: str
    branch: str
    pr_number: int | None = None
    pr_url: str | None = None
    commit_sha: str | None = None
    base_sha: str | None = None
    reason: str = ""


def client(base_url: str, token: Token | str, **kwargs) -> Github:
    value = token.value if isinstance(token, Token) else token
    return Github(base_url=base_url, auth=Auth.Token(value), **kwargs)


def publish_fix(github: Github | tuple[str, Token | str], repo_full_name: str, attempt: Attempt,
                new_text: str, verification: str) -> PublishResult:
    """One fix (the whole new text of attempt.finding.file) -> one PR against the default branch."""
    if isinstance(github, tuple):
        github = client(*github)
    try:
        return _publish(github, repo_full_name, attempt, new_text, verification)
    except GithubException as exc:
        raise PublishError(_explain(exc, repo_full_name), exc.status) from None


def _explain(exc: GithubException, repo: str) -> str:
    message = exc.data.get("message", "") if isinstance(exc.data, dict) else ""
    hint = {
        401: "the token is invalid, expired or revoked; request a new installation token",
        403: "the installation token lacks a permission (contents:write and pull_requests:write are needed)",
        404: f"{repo} is not visible to this token; is the App installed there and the token scoped to it?",
        422: "GitHub rejected the request",
    }.get(exc.status, "unexpected GitHub error")
    return f"publishing to {repo} failed: HTTP {exc.status} {message}: {hint}".replace("  ", " ")


def _publish(gh: Github, repo_full_name: str, attempt: Attempt, new_text: str,
             verification: str) -> PublishResult:
    repo = gh.get_repo(repo_full_name)
    default = repo.default_branch
    branch = branch_name(attempt)
    if branch == default or branch in ("main", "master"):
        raise PublishError(f"refusing to publish onto the default branch {default!r}")
    head_sha = repo.get_git_ref(f"heads/{default}").object.sha
    head = repo.get_git_commit(head_sha)
    fingerprint = attempt.finding.fingerprint()

    pulls = list(repo.get_pulls(state="open", head=f"{repo.owner.login}:{branch}", base=default))
    pr = pulls[0] if pulls else None
    ref = _ref_or_none(repo, f"heads/{branch}")

    if ref is not None:
        tip = repo.get_git_commit(ref.object.sha)
        parents = [p.sha for p in tip.parents]
        ours = _is_ours(tip, fingerprint)
        if pr is not None and ours and parents == [head_sha]:
            log.info("%s: PR #%s already carries %s on the current base", repo_full_name, pr.number, branch)
            return PublishResult(EXISTS, branch, pr.number, pr.html_url, tip.sha, head_sha,
                                 "an open pull request already has this fix on the current default branch")
        if not (ours and len(parents) == 1 and _in_history(repo, head, parents[0])):
            log.warning("%s: branch %s has commits not made by iacbot; not pushing", repo_full_name, branch)
            return PublishResult(FOREIGN_BRANCH, branch, pr.number if pr else None, pr.html_url if pr else None,
                                 tip.sha, head_sha,
                                 f"branch {branch} carries commits iacbot did not make; it will not be "
                                 "overwritten. Delete the branch (or close the PR) to let iacbot redo the fix.")

    commit = _fix_commit(repo, head, attempt, new_text, verification)
    if commit is None:
        return PublishResult(EXISTS, branch, pr.number if pr else None, pr.html_url if pr else None, None,
                             head_sha, f"{attempt.finding.file} on {default} already has the fixed text")
    title, text = pr_body.title(attempt), pr_body.body(attempt, head_sha, verification)
    if ref is not None:
        ref.edit(commit.sha, force=True)
        status = UPDATED
    else:
        repo.create_git_ref(f"refs/heads/{branch}", commit.sha)
        status = CREATED
    if pr is None:
        pr = repo.create_pull(base=default, head=branch, title=title, body=text, maintainer_can_modify=False)
        pr.add_to_labels(*_labels(attempt))
        status = CREATED
    else:
        pr.edit(title=title, body=text)
    log.info("%s: %s PR #%s on %s", repo_full_name, status, pr.number, branch)
    return PublishResult(status, branch, pr.number, pr.html_url, commit.sha, head_sha)


def _labels(attempt: Attempt) -> list[str]:
    labels = ["iacbot"]
    if attempt.fixer is not None:
        labels.append(attempt.fixer.info.category.value)
    return labels


def _ref_or_none(repo: Repository, ref: str):
    try:
        return repo.get_git_ref(ref)
    except GithubException as exc:
        if exc.status == 404:
            return None
        raise


def _is_ours(commit: GitCommit, fingerprint: str) -> bool:
    trailer = f"{TRAILER_PREFIX}-Finding: {fingerprint}"
    return any(line.strip() == trailer for line in (commit.message or "").splitlines())


def _in_history(repo: Repository, head: GitCommit, sha: str) -> bool:
    """Is `sha` a commit the default branch has pointed at (first-parent walk from its head)?"""
    current = head
    for _ in range(HISTORY_LIMIT):
        if current.sha == sha:
            return True
        if not current.parents:
            return False
        current = repo.get_git_commit(current.parents[0].sha)
    return False


def _fix_commit(repo: Repository, head: GitCommit, attempt: Attempt, new_text: str,
                verification: str) -> GitCommit | None:
    """blob -> tree on the head's tree -> commit whose only parent is the default head."""
    path = attempt.finding.file
    blob = repo.create_git_blob(new_text, "utf-8")
    mode = "100644"
    try:
        current = repo.get_contents(path, ref=head.sha)
        if not isinstance(current, list) and current.sha == blob.sha:
            return None
    except GithubException as exc:
        if exc.status != 404:
            raise
    tree = repo.create_git_tree([InputGitTreeElement(path, mode, "blob", sha=blob.sha)], base_tree=head.tree)
    return repo.create_git_commit(commit_message(attempt, verification), tree, [head])
