"""Fetch the files a push changed (and, for Terraform, their sibling .tf files) at one sha.

Reads through the contents API with an installation token that should be READ-scoped. Paths
are checked before anything is written: nothing lands outside the destination directory.
"""
from __future__ import annotations

import base64
import logging
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import requests

from bot.github.auth import Token

log = logging.getLogger(__name__)

READ_PERMISSIONS = {"contents": "read"}
MAX_FILE_BYTES = 1024 * 1024
_TIMEOUT = 30


class FetchError(Exception):
    """A file could not be read from GitHub. Never carries a credential."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def safe_path(path: str) -> PurePosixPath:
    p = PurePosixPath(path)
    if not path or p.is_absolute() or ".." in p.parts or "\\" in path or "\x00" in path:
        raise FetchError(f"refusing unsafe repository path {path!r}")
    return p


def _get(token: Token, repository: str, path: str, sha: str) -> object | None:
    url = f"{token.base_url}/repos/{repository}/contents/{quote(path)}"
    try:
        r = requests.get(url, params={"ref": sha}, timeout=_TIMEOUT,
                         headers={"Authorization": f"token {token.value}",
                                  "Accept": "application/vnd.github+json",
                                  "X-GitHub-Api-Version": "2022-11-28"})
    except requests.RequestException as exc:
        raise FetchError(f"cannot reach {token.base_url} to read {repository}/{path}: "
                         f"{type(exc).__name__}") from None
    if r.status_code == 404:
        return None
    if r.status_code != 200:
        raise FetchError(f"reading {repository}/{path} at {sha} failed: HTTP {r.status_code}", r.status_code)
    return r.json()


def wanted_paths(token: Token, repository: str, sha: str, changed_files: list[str]) -> list[str]:
    """The changed files plus every .tf file in the directory of each changed .tf file."""
    paths = dict.fromkeys(str(safe_path(p)) for p in changed_files)
    for directory in sorted({str(PurePosixPath(p).parent) for p in paths if p.endswith(".tf")}):
        listing = _get(token, repository, "" if directory == "." else directory, sha)
        for entry in listing if isinstance(listing, list) else []:
            if entry.get("type") == "file" and str(entry.get("path", "")).endswith(".tf"):
                paths[str(safe_path(entry["path"]))] = None
    return sorted(paths)


def fetch_files(token: Token, repository: str, sha: str, changed_files: list[str],
                dest: Path) -> tuple[list[str], list[str]]:
    """Write the wanted files under ``dest``; returns (paths written, problems)."""
    written, problems = [], []
    for path in wanted_paths(token, repository, sha, changed_files):
        data = _get(token, repository, path, sha)
        if not isinstance(data, dict) or data.get("type") != "file":
            problems.append(f"{path}: not a file at {sha} (removed, a directory or a link); skipped")
            continue
        if int(data.get("size") or 0) > MAX_FILE_BYTES or data.get("encoding") != "base64":
            problems.append(f"{path}: larger than {MAX_FILE_BYTES} bytes; skipped")
            continue
        target = dest / safe_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(data.get("content") or ""))
        written.append(path)
    log.info("%s@%s: fetched %d files", repository, sha[:12], len(written))
    return written, problems
