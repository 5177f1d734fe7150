"""What merging a pull request does to git objects, and what GitHub says about a PR before it.

Pure functions over a Repo (the caller holds the world's lock): whether a PR can merge and in
which `mergeable_state`, the three merge methods writing real commits, the commits a PR adds
and the files it changes (what GET .../pulls/{n}/commits, .../files and compare serve).
"""
from __future__ import annotations

import difflib
import time
from dataclasses import dataclass

from . import people, protection
from .gitobjects import TREE_MODE, Commit, ObjectStore, Signature
from .state import PullRequest, Repo

#: GitHub lists at most 250 commits for a PR (and in a comparison) and 3000 files.
MAX_COMMITS, MAX_FILES = 250, 3000
NOT_MERGEABLE = "Pull Request is not mergeable"


@dataclass(frozen=True)
class Mergeability:
    mergeable: bool | None
    state: str  # clean | dirty | blocked | behind | unstable | draft | unknown
    refusal: str | None  # the 405 message a merge would get now, None when it may merge


def merged_tree(objects: ObjectStore, base_sha: str, head_sha: str) -> str:
    """The tree of merging head into base; ValueError on a conflict."""
    common = objects.merge_base(base_sha, head_sha)
    return objects.merge_trees(objects.commit(common).tree if common else None,
                               objects.commit(base_sha).tree, objects.commit(head_sha).tree)


def mergeability(repo: Repo, pr: PullRequest) -> Mergeability:
    if pr.state != "open":
        return Mergeability(None, "unknown", NOT_MERGEABLE)
    try:
        merged_tree(repo.objects, pr.base_sha, pr.head_sha)
        conflict = False
    except ValueError:
        conflict = True
    if conflict or pr.mergeable_override is False:
        return Mergeability(False, "dirty", NOT_MERGEABLE)
    if pr.draft:
        return Mergeability(True, "draft", "Pull Request is still a draft")
    blocked = protection.blocking_message(repo, pr.base_ref, pr.head_sha)
    if blocked is not None:
        return Mergeability(True, "blocked", blocked)
    if protection.behind(repo, pr.base_ref, pr.base_sha, pr.head_sha):
        return Mergeability(True, "behind", "Head branch is out of date. Review and try the merge again.")
    if protection.any_failing(repo, pr.head_sha):
        return Mergeability(True, "unstable", None)
    return Mergeability(True, "clean", None)


def pull_commits(objects: ObjectStore, base_sha: str, head_sha: str) -> list[str]:
    """Commits reachable from head and not from base, parents before children (git log --reverse
    --topo-order base..head)."""
    in_base, todo = set(), [base_sha]
    while todo:
        sha = todo.pop()
        if sha not in in_base:
            in_base.add(sha)
            todo.extend(objects.commit(sha).parents)
    order, seen = [], set()
    stack = [(head_sha, False)]
    while stack:
        sha, expanded = stack.pop()
        if expanded:
            order.append(sha)
            continue
        if sha in seen or sha in in_base:
            continue
        seen.add(sha)
        stack.append((sha, True))
        for parent in reversed(objects.commit(sha).parents):
            stack.append((parent, False))
    return order


@dataclass(frozen=True)
class FileChange:
    filename: str
    status: str  # added | removed | modified | changed (mode only)
    additions: int
    deletions: int
    sha: str  # the blob on the head side (the removed blob for a removal)
    patch: str | None  # None for binary content, as GitHub leaves it out


def _lines(data: bytes) -> list[str] | None:
    if b"\0" in data:
        return None
    try:
        return data.decode().splitlines()
    except UnicodeDecodeError:
        return None


def file_changes(objects: ObjectStore, old_tree: str | None, new_tree: str) -> list[FileChange]:
    old, new = objects.flatten(old_tree), objects.flatten(new_tree)
    out = []
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if before == after:
            continue
        status = "added" if before is None else "removed" if after is None else \
            ("changed" if before[1] == after[1] else "modified")
        a = objects.get(before[1], "blob") or b"" if before and before[0] != TREE_MODE else b""
        b = objects.get(after[1], "blob") or b"" if after and after[0] != TREE_MODE else b""
        la, lb = _lines(a), _lines(b)
        if la is None or lb is None:
            out.append(FileChange(path, status, 0, 0, (after or before)[1], None))
            continue
        diff = list(difflib.unified_diff(la, lb, lineterm="", n=3))[2:]  # no ---/+++ header, as GitHub
        adds = sum(1 for line in diff if line.startswith("+"))
        dels = sum(1 for line in diff if line.startswith("-"))
        out.append(FileChange(path, status, adds, dels, (after or before)[1], "\n".join(diff)))
    return out


def _who(login: str, now: int) -> Signature:
    return Signature(login, people.noreply_email(login), now)


def merge(repo: Repo, pr: PullRequest, method: str, title: str | None, message: str | None,
          merger: str) -> str:
    """Merge `pr` by `method` as `merger` (a login): a real commit on the base branch, the PR
    recorded as merged. Returns the new base head. ValueError on a conflict."""
    objects, now = repo.objects, int(time.time())
    base_sha, head_sha = pr.base_sha, pr.head_sha
    tree = merged_tree(objects, base_sha, head_sha)
    web_flow = Signature(*people.WEB_FLOW, now)
    commits = pull_commits(objects, base_sha, head_sha)
    if method == "merge":
        text = f"{title or f'Merge pull request #{pr.number} from {repo.owner}/{pr.head_ref}'}\n\n" \
               f"{message if message is not None else pr.title}\n"
        new = objects.put_commit(Commit(tree, (base_sha, head_sha), _who(merger, now), web_flow, text))
    elif method == "squash":
        body = message if message is not None else "\n\n".join(
            "* " + objects.commit(c).message.strip() for c in commits)
        text = f"{title or f'{pr.title} (#{pr.number})'}\n\n{body}\n"
        new = objects.put_commit(Commit(tree, (base_sha,), _who(pr.user_login, now), web_flow, text))
    elif method == "rebase":
        new = base_sha
        for sha in commits:  # replay each commit: same author and message, GitHub as committer
            c = objects.commit(sha)
            parent_tree = objects.commit(c.parents[0]).tree if c.parents else None
            step = objects.merge_trees(parent_tree, objects.commit(new).tree, c.tree)
            new = objects.put_commit(Commit(step, (new,), c.author, web_flow, c.message))
    else:
        raise ValueError(f"unknown merge method {method}")
    repo.refs[f"refs/heads/{pr.base_ref}"] = new
    pr.state, pr.merged_at, pr.closed_at, pr.updated_at = "closed", float(now), float(now), float(now)
    pr.merge_commit_sha, pr.merged_by, pr.closed_by = new, merger, merger
    return new
