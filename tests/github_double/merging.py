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


Entry = tuple[str, str]  # (mode, sha) of a non-tree entry


def changed_entries(objects: ObjectStore, old_tree: str | None, new_tree: str | None,
                    prefix: str = "") -> dict[str, tuple[Entry | None, Entry | None]]:
    """{path: (before, after)} of every file that differs, descending only into sub-trees whose
    SHAs differ: a one-file change in a 3000-file repository reads a handful of trees."""
    if old_tree == new_tree:
        return {}
    old = {e.name: e for e in (objects.tree_entries(old_tree) or [])} if old_tree else {}
    new = {e.name: e for e in (objects.tree_entries(new_tree) or [])} if new_tree else {}
    out: dict[str, tuple[Entry | None, Entry | None]] = {}
    for name in sorted(set(old) | set(new)):
        o, n = old.get(name), new.get(name)
        if o == n:
            continue
        path = prefix + name
        o_tree = o.sha if o is not None and o.mode == TREE_MODE else None
        n_tree = n.sha if n is not None and n.mode == TREE_MODE else None
        if o_tree or n_tree:
            out.update(changed_entries(objects, o_tree, n_tree, path + "/"))
        o_file = (o.mode, o.sha) if o is not None and o_tree is None else None
        n_file = (n.mode, n.sha) if n is not None and n_tree is None else None
        if o_file != n_file:
            out[path] = (o_file, n_file)
    return out


def conflicts(objects: ObjectStore, base_sha: str, head_sha: str) -> list[str]:
    """The paths both sides changed differently since their merge base (what merge_trees refuses)."""
    common = objects.merge_base(base_sha, head_sha)
    root = objects.commit(common).tree if common else None
    ours = changed_entries(objects, root, objects.commit(base_sha).tree)
    theirs = changed_entries(objects, root, objects.commit(head_sha).tree)
    return sorted(p for p in set(ours) & set(theirs) if ours[p][1] != theirs[p][1])


def mergeability(repo: Repo, pr: PullRequest) -> Mergeability:
    if pr.state != "open":
        return Mergeability(None, "unknown", NOT_MERGEABLE)
    if conflicts(repo.objects, pr.base_sha, pr.head_sha) or pr.mergeable_override is False:
        return Mergeability(False, "dirty", NOT_MERGEABLE)
    if pr.draft:
        return Mergeability(True, "draft", "Pull Request is still a draft")
    blocked = protection.blocking_message(repo, pr.base_ref, pr.head_sha, pr)
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
    status: str  # added | removed | modified | changed (mode only) | renamed
    additions: int
    deletions: int
    sha: str  # the blob on the head side (the removed blob for a removal)
    patch: str | None  # None for binary content, as GitHub leaves it out
    previous_filename: str | None = None  # a rename's old path


def _lines(data: bytes) -> list[str] | None:
    if b"\0" in data:
        return None
    try:
        return data.decode().splitlines()
    except UnicodeDecodeError:
        return None


def _renames(changed: dict[str, tuple[Entry | None, Entry | None]]) -> dict[str, str]:
    """new path -> old path for files moved unchanged (same blob and mode): GitHub lists those as
    one `renamed` entry with `previous_filename` (it also pairs similar files; the double pairs
    identical ones only)."""
    removed: dict[Entry, list[str]] = {}
    for path, (before, after) in sorted(changed.items()):
        if after is None and before is not None:
            removed.setdefault(before, []).append(path)
    pairs = {}
    for path, (before, after) in sorted(changed.items()):
        if before is None and after is not None and removed.get(after):
            pairs[path] = removed[after].pop(0)
    return pairs


def file_changes(objects: ObjectStore, old_tree: str | None, new_tree: str) -> list[FileChange]:
    out = []
    changed = changed_entries(objects, old_tree, new_tree)
    renames = _renames(changed)
    moved_away = set(renames.values())
    for path, (before, after) in sorted(changed.items()):
        if path in moved_away:
            continue
        if path in renames:
            out.append(FileChange(path, "renamed", 0, 0, after[1], None, renames[path]))
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


def update_head(repo: Repo, pr: PullRequest, actor: str) -> str:
    """Merge the base branch into the PR's head branch (the "Update branch" button); returns the
    new head. ValueError on a conflict."""
    objects, now = repo.objects, int(time.time())
    tree = merged_tree(objects, pr.head_sha, pr.base_sha)
    text = f"Merge branch '{pr.base_ref}' into {pr.head_ref}\n"
    new = objects.put_commit(Commit(tree, (pr.head_sha, pr.base_sha), _who(actor, now),
                                    Signature(*people.WEB_FLOW, now), text))
    repo.refs[f"refs/heads/{pr.head_ref}"] = new
    pr.head_sha, pr.updated_at = new, float(now)
    return new
