"""Local git branches for fixes, written with plumbing: the user's checkout, index and current
branch are never touched, and an existing branch is never moved."""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path


class GitError(Exception):
    pass


def _git(repo: Path, *args: str, stdin: str | None = None, env: dict | None = None) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True,
                            env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise GitError(f"git {args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def toplevel(path: Path) -> Path:
    try:
        return Path(_git(path, "rev-parse", "--show-toplevel").strip())
    except GitError as exc:
        raise GitError(f"{path} is not inside a git repository (--branch needs one)") from exc


def branch_exists(repo: Path, branch: str) -> bool:
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"],
                          capture_output=True).returncode == 0


def committed_text(repo: Path, path: str) -> str | None:
    """The file's text at HEAD, or None when HEAD does not have it."""
    result = subprocess.run(["git", "-C", str(repo), "show", f"HEAD:{path}"], capture_output=True)
    if result.returncode != 0:
        return None
    try:
        return result.stdout.decode("utf-8")
    except UnicodeDecodeError:
        return None


def commit_on_new_branch(repo: Path, branch: str, path: str, text: str, message: str) -> str:
    """Create `branch` at a new commit whose parent is HEAD and whose only change is `path` = `text`."""
    entry = _git(repo, "ls-tree", "HEAD", "--", path).split()
    mode = entry[0] if entry else "100644"
    blob = _git(repo, "hash-object", "-w", "--stdin", stdin=text).strip()
    with tempfile.TemporaryDirectory() as scratch:
        index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        _git(repo, "read-tree", "HEAD", env=index)
        _git(repo, "update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}", env=index)
        tree = _git(repo, "write-tree", env=index).strip()
    commit = _git(repo, "commit-tree", tree, "-p", "HEAD", "-F", "-", stdin=message).strip()
    # The empty old value makes git refuse if the branch appeared meanwhile.
    _git(repo, "update-ref", f"refs/heads/{branch}", commit, "")
    return commit
