"""Read from GitHub with a READ-scoped installation token: a tree, the files it lists at one sha,
a repository's default-branch head, a code-scanning alert.

What a read costs is bounded before it is paid: one recursive tree read gives every path with its
blob sha, size and mode, so files over MAX_FILE_BYTES, links and submodules are refused unread,
identical files are read once (by blob sha), and the blobs are read FETCH_CONCURRENCY at a time.
Only when GitHub cuts a very large tree short ("truncated") is each file read through the
contents API instead, with the same concurrency. Paths are checked by workers.repo_paths before
anything is used: nothing lands outside the destination directory.
"""
from __future__ import annotations

import base64
import binascii
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Mapping, TypeVar
from urllib.parse import quote

import requests

from bot.github import http
from bot.github.auth import Token
from bot.github.errors import GitHubRetryLater
from fixers.iac_files import is_iac_path
from workers import repo_paths
from workers.repo_paths import is_terraform_path

log = logging.getLogger(__name__)

READ_PERMISSIONS = {"contents": "read"}
MAX_FILE_BYTES = 1024 * 1024
#: Reads in flight at once for one job: enough to hide GitHub's latency, few enough to stay
#: well clear of its secondary rate limit on concurrent requests.
FETCH_CONCURRENCY = 4
_TIMEOUT = 30
#: Git's modes for what the tree API calls a blob: regular and executable files are read; a
#: symbolic link (120000) is not a file to fix.
_FILE_MODES = frozenset({"100644", "100755"})
_LINK_MODE = "120000"

T = TypeVar("T")
R = TypeVar("R")


class FetchError(Exception):
    """A file could not be read from GitHub. Never carries a credential."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class FetchUnavailable(FetchError):
    """GitHub could not be reached or answered 5xx/429: worth retrying later."""


def get_json(token: Token, api_path: str, params: dict[str, str] | None = None, what: str = "") -> object | None:
    """GET ``api_path`` (below the API root); None for 404, FetchError for anything but 200."""
    what = what or api_path
    url = f"{token.base_url}{api_path}"
    try:  # transient failures are retried inside (bot.github.retry); what is left is reported
        r = http.request("GET", url, params=params, timeout=_TIMEOUT,
                         headers={**http.GITHUB_HEADERS, "Authorization": f"token {token.value}"})
    except GitHubRetryLater as exc:
        raise FetchUnavailable(f"reading {what}: GitHub asks to wait {exc.countdown} s", 429) from None
    except requests.RequestException as exc:
        raise FetchUnavailable(f"cannot reach {token.base_url} to read {what}: {type(exc).__name__}") from None
    if r.status_code == 404:
        return None
    if r.status_code >= 500 or r.status_code == 429:
        raise FetchUnavailable(f"reading {what} failed: HTTP {r.status_code}", r.status_code)
    if r.status_code != 200:
        raise FetchError(f"reading {what} failed: HTTP {r.status_code}", r.status_code)
    return r.json()


def _get(token: Token, repository: str, path: str, sha: str) -> object | None:
    return get_json(token, f"/repos/{repository}/contents/{quote(path)}", {"ref": sha},
                    f"{repository}/{path} at {sha}")


def default_branch(token: Token, repository: str) -> str:
    repo = get_json(token, f"/repos/{repository}", what=f"repository {repository}")
    branch = repo.get("default_branch") if isinstance(repo, dict) else None
    if not branch:
        raise FetchError(f"repository {repository} is not readable or has no default branch")
    return branch


def default_branch_head(token: Token, repository: str, branch: str | None = None) -> str:
    """The commit sha at the head of the repository's default branch (``branch`` when known)."""
    branch = branch or default_branch(token, repository)
    ref = get_json(token, f"/repos/{repository}/git/ref/heads/{quote(branch)}", what=f"{repository} branch {branch}")
    sha = (ref.get("object") or {}).get("sha") if isinstance(ref, dict) else None
    if not isinstance(sha, str):
        raise FetchError(f"{repository} branch {branch} has no head commit")
    return sha


def get_alert(token: Token, repository: str, alert_number: int) -> dict | None:
    """One code-scanning alert (needs security_events:read), or None when it does not exist."""
    alert = get_json(token, f"/repos/{repository}/code-scanning/alerts/{int(alert_number)}",
                     what=f"{repository} code-scanning alert {alert_number}")
    return alert if isinstance(alert, dict) else None


# --- trees ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TreeFile:
    """A tree entry that is not a directory: git's mode, its object's sha and (blobs) its size."""

    mode: str
    sha: str
    size: int


@dataclass(frozen=True)
class Tree:
    """Every entry but directories of the tree at one commit, by path exactly as git holds it
    (unchecked: callers apply workers.repo_paths to the paths they use)."""

    sha: str
    files: Mapping[str, TreeFile]

    def iac_blobs(self) -> dict[str, str]:
        """{path: blob sha} of every IaC file."""
        return {path: f.sha for path, f in self.files.items() if is_iac_path(path)}

    def terraform_files_in(self, directories: Iterable[str]) -> list[str]:
        wanted = set(directories)
        return sorted(path for path in self.files
                      if is_terraform_path(path) and str(PurePosixPath(path).parent) in wanted)


def read_tree(token: Token, repository: str, sha: str) -> Tree | None:
    """The tree at commit ``sha`` in one recursive read; None when GitHub cut it short
    ("truncated": more than 100,000 entries or 7 MB) or the commit is gone (a force-push's old
    head may be)."""
    tree = get_json(token, f"/repos/{repository}/git/trees/{sha}", {"recursive": "1"}, f"{repository} tree at {sha}")
    if not isinstance(tree, dict) or tree.get("truncated"):
        return None
    files = {}
    for entry in tree.get("tree") or []:
        path = entry.get("path") if isinstance(entry, dict) else None
        if isinstance(path, str) and entry.get("type") in ("blob", "commit") and isinstance(entry.get("sha"), str):
            files[path] = TreeFile(str(entry.get("mode")), entry["sha"], int(entry.get("size") or 0))
    return Tree(sha, files)


def changed_paths(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """Paths added or modified from ``before`` to ``after`` (removed ones need no fix). Pure."""
    return sorted(path for path, blob in after.items() if before.get(path) != blob)


def terraform_siblings(token: Token, repository: str, sha: str, directories: list[str],
                       tree: Tree | None) -> list[str]:
    """Every .tf file in ``directories`` (paths unchecked): from the tree when there is one, else
    one contents listing per directory (the caller bounds how many directories it asks for)."""
    if tree is not None:
        return tree.terraform_files_in(directories)
    listings = bounded_map(lambda d: _get(token, repository, "" if d == "." else d, sha), directories)
    return sorted(str(entry.get("path", "")) for listing in listings if isinstance(listing, list)
                  for entry in listing if isinstance(entry, dict) and entry.get("type") == "file"
                  and is_terraform_path(str(entry.get("path", ""))))


# --- files ------------------------------------------------------------------------------------

def bounded_map(function: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[function(item) for item in items]``, at most FETCH_CONCURRENCY at a time. The first
    exception is re-raised once the calls in flight end; calls not yet started are dropped."""
    items = list(items)
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=FETCH_CONCURRENCY, thread_name_prefix="iacbot-fetch") as pool:
        futures = [pool.submit(function, item) for item in items]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _unreadable(path: str, entry: TreeFile | None, sha: str) -> str | None:
    """Why the tree entry at ``path`` is not read, or None."""
    if entry is None:
        return f"{repo_paths.shown(path)}: not a file at {sha} (removed, or a directory); skipped"
    if entry.mode == _LINK_MODE:
        return f"{repo_paths.shown(path)}: a symbolic link; skipped"
    if entry.mode not in _FILE_MODES:
        return f"{repo_paths.shown(path)}: not a file at {sha} (a submodule); skipped"
    if entry.size > MAX_FILE_BYTES:
        return f"{repo_paths.shown(path)}: {entry.size} bytes, larger than {MAX_FILE_BYTES}; skipped"
    return None


def _blob(token: Token, repository: str, blob_sha: str) -> bytes | None:
    data = get_json(token, f"/repos/{repository}/git/blobs/{blob_sha}", what=f"{repository} blob {blob_sha}")
    return _decoded(data) if isinstance(data, dict) and data.get("encoding") == "base64" else None


def _decoded(data: dict) -> bytes | None:
    try:
        return base64.b64decode(data.get("content") or "")
    except (binascii.Error, ValueError, TypeError):
        return None


def _content(token: Token, repository: str, path: str, sha: str) -> bytes | str:
    """The file's bytes through the contents API, or why not (a problem line)."""
    data = _get(token, repository, path, sha)
    if not isinstance(data, dict) or data.get("type") != "file":
        return f"{repo_paths.shown(path)}: not a file at {sha} (removed, a directory or a link); skipped"
    if int(data.get("size") or 0) > MAX_FILE_BYTES or data.get("encoding") != "base64":
        return f"{repo_paths.shown(path)}: larger than {MAX_FILE_BYTES} bytes; skipped"
    decoded = _decoded(data)
    return f"{repo_paths.shown(path)}: unreadable content at {sha}; skipped" if decoded is None else decoded


def read_files(token: Token, repository: str, sha: str, paths: list[str],
               tree: Tree | None) -> tuple[dict[str, bytes], list[str]]:
    """({path: exact bytes}, problems) of ``paths`` (checked by the caller) at commit ``sha``:
    blobs named by ``tree``, each distinct blob read once; the contents API when ``tree`` is None."""
    contents: dict[str, bytes] = {}
    problems: list[str] = []
    if tree is None:
        for path, got in zip(paths, bounded_map(lambda p: _content(token, repository, p, sha), paths)):
            if isinstance(got, bytes):
                contents[path] = got
            else:
                problems.append(got)
    else:
        by_blob: dict[str, list[str]] = {}
        for path in paths:
            entry = tree.files.get(path)
            why = _unreadable(path, entry, sha)
            if why is None:
                by_blob.setdefault(entry.sha, []).append(path)
            else:
                problems.append(why)
        blobs = list(by_blob)
        for blob_sha, data in zip(blobs, bounded_map(lambda b: _blob(token, repository, b), blobs)):
            for path in by_blob[blob_sha]:
                if data is None or len(data) > MAX_FILE_BYTES:
                    problems.append(f"{repo_paths.shown(path)}: blob {blob_sha} not readable at {sha}; skipped")
                else:
                    contents[path] = data
    log.info("%s@%s: fetched %d files", repository, sha[:12], len(contents))
    return contents, problems


def write_tree(contents: Mapping[str, bytes], dest: Path) -> list[str]:
    """Write ``contents`` (repository paths -> bytes) under ``dest``; returns problems for the paths
    refused: unsafe ones, and those this file system cannot hold apart or at all."""
    problems = []
    for path, data in contents.items():
        why = repo_paths.refusal(path)
        if why is not None:
            problems.append(repo_paths.refused(path, why, "not fixed"))
            continue
        target = dest / path
        if target.exists():  # another name this file system takes for the same (case, normalisation)
            problems.append(f"{repo_paths.shown(path)}: the same file as another path here; not fixed")
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        except OSError as exc:  # e.g. a file where a directory must be
            problems.append(f"{repo_paths.shown(path)}: cannot be written ({exc.strerror}); not fixed")
    return problems
