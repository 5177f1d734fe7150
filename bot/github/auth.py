"""GitHub App authentication: short-lived installation tokens, scoped to one repository.

PyGithub cannot down-scope a token to repositories (DESIGN.md), so the token request is a
direct POST /app/installations/{id}/access_tokens signed with the App's JWT. The token value
is wrapped so that it never shows in repr(), logs or exception messages.
"""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Iterator, Mapping

import jwt
import requests

from bot.github import http
from bot.github.errors import GitHubRetryLater
from bot.github.retry import RetryPolicy

log = logging.getLogger(__name__)

# What publishing a fix needs, and nothing more (metadata:read is always granted): the branch and
# commit, the pull request and its labels, and the repository's "Action required" issue when its
# policy is invalid (workers.policy_issue).
PUBLISH_PERMISSIONS: dict[str, str] = {"contents": "write", "pull_requests": "write", "issues": "write"}
DEFAULT_BASE_URL = "https://api.github.com"
_TIMEOUT = 30


class AuthError(Exception):
    """A token could not be obtained or revoked. Never carries a credential."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class Token:
    """An installation token. repr/str hide the value; read it with `.value` only to send it."""

    __slots__ = ("_value", "expires_at", "repositories", "permissions", "base_url")

    def __init__(self, value: str, expires_at: str = "", repositories: tuple[str, ...] = (),
                 permissions: Mapping[str, str] | None = None, base_url: str = DEFAULT_BASE_URL):
        self._value = value
        self.expires_at = expires_at
        self.repositories = tuple(repositories)
        self.permissions = dict(permissions or {})
        self.base_url = base_url.rstrip("/")

    @property
    def value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return (f"Token(<redacted>, repositories={list(self.repositories)!r}, "
                f"permissions={self.permissions!r}, expires_at={self.expires_at!r})")

    __str__ = __repr__

    def __reduce__(self):  # no pickling into task queues or caches
        raise TypeError("installation tokens are not serialisable")


def app_jwt(app_id: int | str, private_key_pem: str | bytes, now: float | None = None) -> str:
    """The App's own credential: RS256, backdated 60 s for clock drift, valid 9 minutes."""
    now = int(now if now is not None else time.time())
    return jwt.encode({"iat": now - 60, "exp": now + 540, "iss": str(app_id)}, private_key_pem, algorithm="RS256")


def _message(response: requests.Response) -> str:
    text = http.response_message(response)
    return (response.text if text is None else text)[:200]


def installation_token(app_id: int | str, private_key_pem: str | bytes, installation_id: int,
                       repository: str, permissions: Mapping[str, str] | None = None,
                       base_url: str = DEFAULT_BASE_URL, *, policy: RetryPolicy | None = None) -> Token:
    """A token for one repository (`name` or `owner/name`) with the given minimum permissions."""
    name = repository.split("/")[-1]
    perms = dict(PUBLISH_PERMISSIONS if permissions is None else permissions)
    base_url = base_url.rstrip("/")
    url = f"{base_url}/app/installations/{int(installation_id)}/access_tokens"
    try:
        r = http.request("POST", url, json={"repositories": [name], "permissions": perms}, timeout=_TIMEOUT,
                         policy=policy, headers={"Authorization": f"Bearer {app_jwt(app_id, private_key_pem)}",
                                                 **http.GITHUB_HEADERS})
    except requests.RequestException as exc:
        raise AuthError(f"cannot reach {base_url} to get an installation token: {type(exc).__name__}") from None
    if r.status_code != 201:
        raise AuthError(f"installation {installation_id} refused a token for {repository} with {perms}: "
                        f"HTTP {r.status_code} {_message(r)}", r.status_code)
    data = r.json()
    token = Token(data["token"], data.get("expires_at", ""),
                  tuple(x.get("full_name", "") for x in data.get("repositories") or ()) or (repository,),
                  data.get("permissions") or perms, base_url)
    log.info("installation token issued for %s with %s", repository, token.permissions)
    return token


def revoke(token: Token, *, policy: RetryPolicy | None = None) -> None:
    """DELETE /installation/token. A token already invalid (401) counts as revoked."""
    try:
        r = http.request("DELETE", f"{token.base_url}/installation/token", timeout=_TIMEOUT, policy=policy,
                         headers={"Authorization": f"token {token.value}", **http.GITHUB_HEADERS})
    except requests.RequestException as exc:
        raise AuthError(f"cannot reach {token.base_url} to revoke a token: {type(exc).__name__}") from None
    if r.status_code not in (204, 401):
        raise AuthError(f"token revocation failed: HTTP {r.status_code} {_message(r)}", r.status_code)
    log.info("installation token for %s revoked", ",".join(token.repositories))


@contextmanager
def installation_session(app_id: int | str, private_key_pem: str | bytes, installation_id: int,
                         repository: str, permissions: Mapping[str, str] | None = None,
                         base_url: str = DEFAULT_BASE_URL, *, policy: RetryPolicy | None = None) -> Iterator[Token]:
    """`with installation_session(...) as token:` — the token is revoked on every exit path."""
    token = installation_token(app_id, private_key_pem, installation_id, repository, permissions, base_url,
                               policy=policy)
    try:
        yield token
    finally:
        try:
            revoke(token, policy=policy)
        except (AuthError, GitHubRetryLater) as exc:  # it expires within the hour anyway; do not mask the body's result
            log.warning("%s", exc)
