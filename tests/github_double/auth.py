"""Who is calling, and may they do this? GitHub App rules, kept small but enforced.

* An App authenticates with an RS256 JWT signed by its private key (``iss`` = app id); the
  double verifies the signature with the public key given to ``install_app``.
* The JWT buys installation tokens, optionally down-scoped to some repositories and
  permissions; asking for more than the installation has is a 422, as on GitHub.
* A token outside its repositories sees 404 (GitHub hides what you cannot see); inside them,
  missing permission is 403 "Resource not accessible by integration".
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt

from .state import App, Installation, Repo, Token, World

LEVELS = {"read": 1, "write": 2, "admin": 3}
TOKEN_TTL = 3600


class HTTPError(Exception):
    """Raised anywhere in a handler; app.py turns it into GitHub's error body."""

    def __init__(self, status: int, message: str, errors: list | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors


@dataclass
class Caller:
    kind: str  # "app" | "installation" | "anonymous"
    app: App | None = None
    token: Token | None = None


def authenticate(world: World, authorization: str | None) -> Caller:
    if not authorization:
        return Caller("anonymous")
    scheme, _, credential = authorization.partition(" ")
    scheme, credential = scheme.lower(), credential.strip()
    if scheme not in ("token", "bearer") or not credential:
        raise HTTPError(401, "Bad credentials")
    if credential.count(".") == 2:  # a JWT; installation tokens never contain dots
        return Caller("app", app=_verify_jwt(world, credential))
    token = world.tokens.get(credential)
    if token is None or token.revoked or token.expires_at < time.time():
        raise HTTPError(401, "Bad credentials")
    return Caller("installation", token=token)


def _verify_jwt(world: World, encoded: str) -> App:
    try:
        claimed = jwt.decode(encoded, options={"verify_signature": False})
        app = world.apps.get(int(claimed.get("iss")))
    except (jwt.PyJWTError, TypeError, ValueError):
        raise HTTPError(401, "A JSON web token could not be decoded")
    if app is None:
        raise HTTPError(401, "Integration not found")
    try:
        # GitHub allows 60 s of clock drift and at most 10 min between iat and exp.
        claims = jwt.decode(encoded, app.public_key_pem, algorithms=["RS256"], leeway=60,
                            options={"require": ["iat", "exp", "iss"]})
    except jwt.ExpiredSignatureError:
        raise HTTPError(401, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires")
    except jwt.PyJWTError:
        raise HTTPError(401, "A JSON web token could not be decoded")
    if claims["exp"] - claims["iat"] > 660:
        raise HTTPError(401, "'Expiration time' claim ('exp') is too far in the future")
    return app


def require_app(caller: Caller) -> App:
    if caller.kind != "app":
        raise HTTPError(401, "A JSON web token could not be decoded")
    return caller.app


def issue_token(world: World, inst: Installation, body: dict) -> Token:
    """POST /app/installations/{id}/access_tokens with its down-scoping rules."""
    repo_ids = list(inst.repo_ids)
    names, ids = body.get("repositories"), body.get("repository_ids")
    if names is not None or ids is not None:
        by_name = {world.repos[k].name.lower(): world.repos[k].id for k in world.repos
                   if world.repos[k].owner.lower() == inst.account.lower()}
        wanted = [by_name.get(n.lower(), -1) for n in names or []] + list(ids or [])
        if any(w not in inst.repo_ids for w in wanted):
            raise HTTPError(422, "There is at least one repository that does not exist or is not accessible to the parent installation.")
        repo_ids = sorted(set(wanted))
    permissions = dict(inst.permissions)
    if body.get("permissions") is not None:
        for scope, level in body["permissions"].items():
            if LEVELS.get(level, 99) > LEVELS.get(inst.permissions.get(scope, ""), 0):
                raise HTTPError(422, "The permissions requested are not granted to this installation.")
        permissions = dict(body["permissions"])
        permissions.setdefault("metadata", "read")  # GitHub always grants metadata:read
    # Longer than 40 characters on purpose: real tokens may be, and code must not assume 40.
    token = Token("ghs_" + secrets.token_urlsafe(45), inst.id, repo_ids, permissions,
                  time.time() + TOKEN_TTL)
    world.tokens[token.value] = token
    return token


def authorize_repo(caller: Caller, repo: Repo | None, scope: str, level: str) -> Repo:
    """Return the repository if the caller may use `scope` at `level` on it, else raise."""
    if repo is None:
        raise HTTPError(404, "Not Found")
    if caller.kind == "anonymous":
        if repo.private:
            raise HTTPError(404, "Not Found")
        if level != "read":
            raise HTTPError(401, "Requires authentication")
        return repo
    if caller.kind == "app":  # the JWT itself reaches no repository content
        if repo.private:
            raise HTTPError(404, "Not Found")
        raise HTTPError(403, "Resource not accessible by integration")
    token = caller.token
    if repo.id not in token.repo_ids:
        raise HTTPError(404, "Not Found")
    if LEVELS.get(token.permissions.get(scope, ""), 0) < LEVELS[level]:
        raise HTTPError(403, "Resource not accessible by integration")
    return repo
