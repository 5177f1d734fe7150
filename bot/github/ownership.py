"""Is a branch, a commit or a pull request iacbot's? Decided from facts a pusher cannot forge.

Branch names are predictable and commit messages are anybody's to write, so neither says who
made something. Two facts do:

* the commits iacbot created: their SHAs are recorded (a ``CommitLedger``, in Redis for the
  service: workers.own_commits) before any branch points at them, each for one finding
  fingerprint;
* the author of a pull request, as the API reports it: a PR opened with one of the App's
  installation tokens belongs to the App's bot account, login ``<app-slug>[bot]`` and type
  ``Bot``. No person can hold that login (GitHub logins cannot contain brackets), and the slug
  comes from ``GET /app`` with the App's own JWT, read once per process.
"""
from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from typing import Iterable, Protocol

import requests

from bot.github import http
from bot.github.auth import DEFAULT_BASE_URL, AuthError, app_jwt
from bot.github.retry import RetryPolicy

_TIMEOUT = 30


@dataclass(frozen=True)
class AppIdentity:
    """The GitHub App iacbot runs as, and the bot account its installation tokens act as."""

    slug: str

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"

    def authored(self, login: str | None, user_type: str | None) -> bool:
        """Is a user (a PR's author as the API gives it) this App's bot account?"""
        return (login or "").lower() == self.bot_login.lower() and (user_type or "") == "Bot"


class CommitLedger(Protocol):
    """The commits iacbot made, per repository and finding fingerprint."""

    def record(self, repository: str, fingerprint: str, sha: str) -> None:
        """Remember that iacbot made commit ``sha`` for ``fingerprint`` (before any ref names it)."""

    def made(self, repository: str, fingerprint: str, shas: Iterable[str]) -> bool:
        """Did iacbot make every one of ``shas`` for ``fingerprint``? False for none given."""


class MemoryLedger:
    """A CommitLedger in this process's memory (the CLI and tests; the service keeps it in Redis)."""

    def __init__(self) -> None:
        self._made: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def record(self, repository: str, fingerprint: str, sha: str) -> None:
        with self._lock:
            self._made.add((repository.strip().lower(), fingerprint, sha.lower()))

    def made(self, repository: str, fingerprint: str, shas: Iterable[str]) -> bool:
        wanted = [(repository.strip().lower(), fingerprint, s.lower()) for s in shas]
        with self._lock:
            return bool(wanted) and all(w in self._made for w in wanted)


@dataclass(frozen=True)
class Ownership:
    """What publish_fix and the workers check ownership against."""

    app: AppIdentity
    commits: CommitLedger


class Foreign(enum.Enum):
    """Why something on the bot's branch name is not iacbot's (a closed set, for outcomes and logs)."""

    PR_AUTHOR = "the open pull request from this branch was not opened by the iacbot App"
    COMMITS = "the branch carries commits iacbot did not make for this finding"

    def __str__(self) -> str:
        return self.value


# -- GET /app, once per process ----------------------------------------------------------------

_identities: dict[tuple[str, str], AppIdentity] = {}
_identities_lock = threading.Lock()


def app_identity(app_id: int | str, private_key_pem: str | bytes, base_url: str = DEFAULT_BASE_URL, *,
                 policy: RetryPolicy | None = None) -> AppIdentity:
    """The App's identity from ``GET /app`` (App JWT), asked once per process and App."""
    key = (base_url.rstrip("/"), str(app_id))
    with _identities_lock:
        known = _identities.get(key)
    if known is not None:
        return known
    url = f"{key[0]}/app"
    try:
        r = http.request("GET", url, timeout=_TIMEOUT, policy=policy,
                         headers={"Authorization": f"Bearer {app_jwt(app_id, private_key_pem)}",
                                  **http.GITHUB_HEADERS})
    except requests.RequestException as exc:
        raise AuthError(f"cannot reach {key[0]} to read the App's identity: {type(exc).__name__}") from None
    slug = r.json().get("slug") if r.status_code == 200 and r.headers.get("content-type", "").startswith(
        "application/json") else None
    if not isinstance(slug, str) or not slug:
        raise AuthError(f"GET /app for App {app_id} did not give its slug: HTTP {r.status_code}", r.status_code)
    identity = AppIdentity(slug)
    with _identities_lock:
        _identities[key] = identity
    return identity
