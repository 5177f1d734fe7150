"""The findings API's tenants: who may submit findings, for which repositories, proven how.

The file named by ``IACBOT_TENANTS_FILE`` (JSON, or YAML when it ends in .yaml/.yml)::

    tenants:
      - id: acme-ci                      # letters, digits, '.', '_', '-'
        installation_id: 12345           # the GitHub App installation that owns the repositories
        repositories: [acme/infra, acme-labs/*]   # exact owner/name, or owner/* for all of them
        token_sha256: 9f86d0...          # sha256 (hex) of the bearer token: printf %s "$TOKEN" | sha256sum
        hmac_secret_env: ACME_CI_HMAC    # or hmac_secret_file: /run/secrets/acme-ci (relative: to this file)

A tenant needs at least one credential. Secrets are never written in the file: a bearer token
only as its sha256, an HMAC secret only by reference. Any mistake stops startup with
:class:`TenantsFileError` naming the file and the field, never a secret's value.

Requests prove a tenant with ``Authorization: Bearer <token>``, or with ``X-Iacbot-Tenant``,
``X-Iacbot-Timestamp`` (unix seconds, at most :data:`MAX_SKEW_SECONDS` from our clock: a
captured request cannot be replayed later) and ``X-Iacbot-Signature-256: sha256=<hex of
HMAC-SHA256(secret, timestamp + "." + body)>``. :func:`authenticate` is pure: headers, body and
the time in; a tenant or :class:`Unauthorized` out. Comparisons are constant-time.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from bot.service.signature import sign, verify_signature

MAX_SKEW_SECONDS = 300
MIN_HMAC_SECRET_LENGTH = 16

_TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"
REPOSITORY = re.compile(rf"^{_OWNER}/[A-Za-z0-9._-]{{1,100}}$")
_PATTERN = re.compile(rf"^{_OWNER}/(?:\*|[A-Za-z0-9._-]{{1,100}})$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_FIELDS = {"id", "installation_id", "repositories", "token_sha256", "hmac_secret_env", "hmac_secret_file"}
_INLINE = {"token": "store only its sha256 as token_sha256",
           "hmac_secret": "reference it with hmac_secret_env or hmac_secret_file"}


class TenantsFileError(ValueError):
    """The tenants file is unusable; the message names the file and the field."""


class Unauthorized(Exception):
    """No tenant proven; ``detail`` is safe to return to the caller."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class Tenant:
    id: str
    installation_id: int
    repositories: tuple[str, ...]  # lowercased "owner/name" or "owner/*"
    token_sha256: bytes | None = field(default=None, repr=False)
    hmac_secret: bytes | None = field(default=None, repr=False)

    def allows(self, repository: str) -> bool:
        """GitHub names are case-insensitive, so is the match."""
        repository = repository.lower()
        owner = repository.split("/", 1)[0]
        return any(p == repository or p == f"{owner}/*" for p in self.repositories)


@dataclass(frozen=True)
class Tenants:
    tenants: tuple[Tenant, ...] = ()

    def by_id(self, tenant_id: str) -> Tenant | None:
        return next((t for t in self.tenants if t.id == tenant_id), None)


# --- loading ---------------------------------------------------------------------------------

def load_tenants(path: str | os.PathLike, environ: Mapping[str, str] = os.environ) -> Tenants:
    """Read and check the tenants file; TenantsFileError naming the file and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TenantsFileError(f"{path}: cannot read the tenants file ({type(exc).__name__})") from None
    raw = _parse(path, text)
    if not isinstance(raw, dict) or not isinstance(raw.get("tenants"), list):
        raise TenantsFileError(f"{path}: tenants: expected a top-level mapping with a 'tenants' list")
    tenants = [_tenant(path, f"tenants[{i}]", entry, environ) for i, entry in enumerate(raw["tenants"])]
    _unique(path, tenants)
    return Tenants(tuple(tenants))


def _parse(path: Path, text: str) -> Any:
    if path.suffix.lower() in (".yaml", ".yml"):
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError
        try:
            return YAML(typ="safe", pure=True).load(text)
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise TenantsFileError(f"{path}: not valid YAML{where}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TenantsFileError(f"{path}: not valid JSON at line {exc.lineno}: {exc.msg}") from None


def _tenant(path: Path, where: str, entry: Any, environ: Mapping[str, str]) -> Tenant:
    def fail(name: str, what: str) -> TenantsFileError:
        return TenantsFileError(f"{path}: {where}.{name}: {what}" if name else f"{path}: {where}: {what}")

    if not isinstance(entry, dict):
        raise fail("", "expected a mapping")
    for name, advice in _INLINE.items():
        if name in entry:
            raise fail(name, f"secrets are never written in the tenants file: {advice}")
    unknown = sorted(set(map(str, entry)) - _FIELDS)
    if unknown:
        raise fail(unknown[0], f"unknown field (allowed: {', '.join(sorted(_FIELDS))})")
    tenant_id = entry.get("id")
    if not isinstance(tenant_id, str) or not _TENANT_ID.match(tenant_id):
        raise fail("id", "required: 1-64 letters, digits, '.', '_' or '-'")
    installation = entry.get("installation_id")
    if not isinstance(installation, int) or isinstance(installation, bool) or installation <= 0:
        raise fail("installation_id", "required: the GitHub App installation id (a positive integer)")
    repositories = entry.get("repositories")
    if not isinstance(repositories, list) or not repositories:
        raise fail("repositories", "required: a non-empty list of owner/name or owner/*")
    for i, pattern in enumerate(repositories):
        if not isinstance(pattern, str) or not _PATTERN.match(pattern):
            raise fail(f"repositories[{i}]", "expected owner/name or owner/*")
    token = entry.get("token_sha256")
    if token is not None and (not isinstance(token, str) or not _HEX64.match(token)):
        raise fail("token_sha256", "expected 64 hexadecimal digits (the sha256 of the token)")
    secret = _hmac_secret(path, entry, fail, environ)
    if token is None and secret is None:
        raise fail("", "no credential: set token_sha256, hmac_secret_env or hmac_secret_file")
    return Tenant(id=tenant_id, installation_id=installation,
                  repositories=tuple(p.lower() for p in repositories),
                  token_sha256=bytes.fromhex(token) if token else None, hmac_secret=secret)


def _hmac_secret(path: Path, entry: dict, fail, environ: Mapping[str, str]) -> bytes | None:
    if "hmac_secret_env" in entry and "hmac_secret_file" in entry:
        raise fail("hmac_secret_file", "set hmac_secret_env or hmac_secret_file, not both")
    if "hmac_secret_env" in entry:
        name = entry["hmac_secret_env"]
        if not isinstance(name, str) or not name:
            raise fail("hmac_secret_env", "expected the name of an environment variable")
        value, origin = environ.get(name), f"environment variable {name}"
        if value is None:
            raise fail("hmac_secret_env", f"{origin} is not set")
    elif "hmac_secret_file" in entry:
        name = entry["hmac_secret_file"]
        if not isinstance(name, str) or not name:
            raise fail("hmac_secret_file", "expected a file path")
        secret_path = path.parent / name  # an absolute name stays absolute
        try:
            value = secret_path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise fail("hmac_secret_file", f"cannot read {secret_path} ({type(exc).__name__})") from None
        origin = str(secret_path)
    else:
        return None
    if len(value.strip()) < MIN_HMAC_SECRET_LENGTH:
        field_name = "hmac_secret_env" if "hmac_secret_env" in entry else "hmac_secret_file"
        raise fail(field_name, f"the secret in {origin} is shorter than {MIN_HMAC_SECRET_LENGTH} characters")
    return value.encode()


def _unique(path: Path, tenants: list[Tenant]) -> None:
    seen_ids: dict[str, int] = {}
    seen_tokens: dict[bytes, int] = {}
    for i, tenant in enumerate(tenants):
        if tenant.id in seen_ids:
            raise TenantsFileError(f"{path}: tenants[{i}].id: {tenant.id!r} is also tenants[{seen_ids[tenant.id]}]")
        seen_ids[tenant.id] = i
        if tenant.token_sha256 is not None:
            if tenant.token_sha256 in seen_tokens:
                raise TenantsFileError(f"{path}: tenants[{i}].token_sha256: the same token as "
                                       f"tenants[{seen_tokens[tenant.token_sha256]}]")
            seen_tokens[tenant.token_sha256] = i


# --- authentication (pure) -----------------------------------------------------------------------

BAD_CREDENTIAL = "unknown tenant or invalid credential"


def authenticate(tenants: Tenants, headers: Mapping[str, str], body: bytes, now: float) -> Tenant:
    """The tenant these request headers prove, or Unauthorized with a detail safe to return."""
    authorization = headers.get("authorization")
    signature = headers.get("x-iacbot-signature-256")
    if authorization and signature:
        raise Unauthorized("use one authentication method: Authorization or X-Iacbot-Signature-256")
    if authorization:
        return _bearer(tenants, authorization)
    if signature:
        return _signed(tenants, headers, body, signature, now)
    raise Unauthorized("missing credentials: Authorization: Bearer <token>, or X-Iacbot-Tenant, "
                       "X-Iacbot-Timestamp and X-Iacbot-Signature-256")


def _bearer(tenants: Tenants, authorization: str) -> Tenant:
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Authorization: expected 'Bearer <token>'")
    digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
    found = None
    for tenant in tenants.tenants:  # every tenant compared, no early exit
        if tenant.token_sha256 is not None and hmac.compare_digest(digest, tenant.token_sha256):
            found = tenant
    if found is None:
        raise Unauthorized(BAD_CREDENTIAL)
    return found


def _signed(tenants: Tenants, headers: Mapping[str, str], body: bytes, signature: str, now: float) -> Tenant:
    tenant_id = headers.get("x-iacbot-tenant")
    timestamp = headers.get("x-iacbot-timestamp")
    if not tenant_id:
        raise Unauthorized("missing X-Iacbot-Tenant header")
    if not timestamp:
        raise Unauthorized("missing X-Iacbot-Timestamp header")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise Unauthorized("X-Iacbot-Timestamp: expected unix time in whole seconds")
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        raise Unauthorized(f"X-Iacbot-Timestamp: more than {MAX_SKEW_SECONDS} s from the server's clock")
    tenant = tenants.by_id(tenant_id)
    # The same sha256=<hex> HMAC as GitHub's webhook signature, over timestamp + "." + body.
    if tenant is None or tenant.hmac_secret is None or \
            not verify_signature(tenant.hmac_secret, _signed_message(timestamp, body), signature):
        raise Unauthorized(BAD_CREDENTIAL)
    return tenant


def _signed_message(timestamp: str | int, body: bytes) -> bytes:
    return str(timestamp).encode() + b"." + body


def sign_request(secret: bytes, timestamp: int, body: bytes) -> str:
    """The X-Iacbot-Signature-256 value a client sends (for clients and tests)."""
    return sign(secret, _signed_message(timestamp, body))
