"""Read from GitHub with a READ-scoped installation token: files at one sha (with, for Terraform,
their sibling .tf files), a repository's default-branch head, a code-scanning alert.

Paths are checked before anything is used: nothing lands outside the destination directory.
"""
from __future__ import annotations

import base64
import logging
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import requests

from bot.github import http
from bot.github.auth import Token
from bot.github.errors import GitHubRetryLater
from fixers.iac_files import is_iac_path

log = logging.getLogger(__name__)

READ_PERMISSIONS = {"contents": "read"}
MAX_FILE_BYTES = 1024 * 1024
_TIMEOUT = 30


class FetchError(Exception):
    """A file could not be read from GitHub. Never carries a credential."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class FetchUnavailable(FetchError):
    """GitHub could not be reached or answered 5xx/429: worth retrying later."""


def safe_path(path: str) -> PurePosixPath:
    p = PurePosixPath(path)
    if not path or p.is_absolute() or ".." in p.parts or "\\" in path or "\x00" in path:
        raise FetchError(f"refusing unsafe repository path {path!r}")
    return p


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


def _tree_blobs(token: Token, repository: str, sha: str) -> dict[str, str] | None:
    """{path: blob sha} of every file in the tree at ``sha`` (one recursive read); None when GitHub
    cut the tree short ("truncated") or the commit is gone (a force-push's old head may be)."""
    tree = get_json(token, f"/repos/{repository}/git/trees/{sha}", {"recursive": "1"}, f"{repository} tree at {sha}")
    if not isinstance(tree, dict) or tree.get("truncated"):
        return None
    return {str(e.get("path", "")): e.get("sha") for e in tree.get("tree") or [] if e.get("type") == "blob"}


def iac_blobs(token: Token, repository: str, sha: str) -> dict[str, str] | None:
    """{path: blob sha} of every IaC file at ``sha``; None as for :func:`_tree_blobs`."""
    blobs = _tree_blobs(token, repository, sha)
    return None if blobs is None else {path: blob for path, blob in blobs.items() if is_iac_path(path)}


def changed_paths(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Paths added or modified from ``before`` to ``after`` (removed ones need no fix). Pure."""
    return sorted(path for path, blob in after.items() if before.get(path) != blob)


def wanted_paths(token: Token, repository: str, sha: str, changed_files: list[str]) -> list[str]:
    """The changed files plus every .tf file in the directory of each changed .tf file."""
    paths = dict.fromkeys(str(safe_path(p)) for p in changed_files)
    directories = sorted({str(PurePosixPath(p).parent) for p in paths if p.endswith(".tf")})
    for path in _tf_files_in(token, repository, sha, directories) if directories else []:
        paths[str(safe_path(path))] = None
    return sorted(paths)


def _tf_files_in(token: Token, repository: str, sha: str, directories: list[str]) -> list[str]:
    # One recursive tree read serves every directory; when GitHub cuts a very large tree short,
    # each directory is listed through the contents API instead.
    blobs = _tree_blobs(token, repository, sha)
    if blobs is not None:
        wanted = set(directories)
        return [path for path in blobs if path.endswith(".tf") and str(PurePosixPath(path).parent) in wanted]
    found = []
    for directory in directories:
        listing = _get(token, repository, "" if directory == "." else directory, sha)
        for entry in listing if isinstance(listing, list) else []:
            if entry.get("type") == "file" and str(entry.get("path", "")).endswith(".tf"):
                found.append(entry["path"])
    return found


def fetch_contents(token: Token, repository: str, sha: str,
                   changed_files: list[str]) -> tuple[dict[str, bytes], list[str]]:
    """({path: exact bytes} of the wanted files, problems)."""
    contents: dict[str, bytes] = {}
    problems: list[str] = []
    for path in wanted_paths(token, repository, sha, changed_files):
        data = _get(token, repository, path, sha)
        if not isinstance(data, dict) or data.get("type") != "file":
            problems.append(f"{path}: not a file at {sha} (removed, a directory or a link); skipped")
            continue
        if int(data.get("size") or 0) > MAX_FILE_BYTES or data.get("encoding") != "base64":
            problems.append(f"{path}: larger than {MAX_FILE_BYTES} bytes; skipped")
            continue
        contents[path] = base64.b64decode(data.get("content") or "")
    log.info("%s@%s: fetched %d files", repository, sha[:12], len(contents))
    return contents, problems


def write_tree(contents: dict[str, bytes], dest: Path) -> None:
    """Write ``contents`` (repository paths -> bytes) under ``dest``; unsafe paths are refused."""
    for path, data in contents.items():
        target = dest / safe_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

