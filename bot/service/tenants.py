r"""The findings API's tenants: who may submit findings, for which repositories, proven how.

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
HMAC-SHA256(secret, message)>``, where the message (:func:`signed_message`) is::

    <timestamp>\n<METHOD>\n<path>\n<canonical query>\n<Idempotency-Key or empty>\n<raw body>

so a captured request cannot be replayed for another repository, commit, format or key. The
first scheme (timestamp + "." + body) covered the body only and is refused, by name.

Everything the headers can tell is checked before the body is read (:func:`claim_from_headers`);
the signature over the body after (:func:`verify_claim`). Both are pure; comparisons are
constant-time.
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

from bot.github.names import is_repository_pattern
from bot.service.signature import is_well_formed, sign, verify_signature

MAX_SKEW_SECONDS = 300
MIN_HMAC_SECRET_LENGTH = 16

_TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
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
        if not is_repository_pattern(pattern):
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
SIGNATURE_HEADER = "x-iacbot-signature-256"


@dataclass(frozen=True)
class SignedRequest:
    """What a tenant's signature covers besides the timestamp and the body: everything that
    decides what the request does (where it goes, for which repository and commit, under
    which idempotency key)."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]  # decoded (name, value) pairs, in any order
    idempotency_key: str = ""


@dataclass(frozen=True)
class Claim:
    """The tenant the headers name, checked as far as headers allow (before the body is read).

    ``signature`` is None when the headers proved the tenant already (a bearer token); else the
    X-Iacbot-Signature-256 value that :func:`verify_claim` must find over the request and body.
    """

    tenant: Tenant
    signature: str | None = field(default=None, repr=False)
    timestamp: str = ""


def claim_from_headers(tenants: Tenants, headers: Mapping[str, str], now: float) -> Claim:
    """Everything checkable without the body: the bearer token in full; for a signature, the
    headers' presence and form, the timestamp's skew and that the tenant exists with a secret."""
    authorization = headers.get("authorization")
    signature = headers.get(SIGNATURE_HEADER)
    if authorization and signature:
        raise Unauthorized("use one authentication method: Authorization or X-Iacbot-Signature-256")
    if authorization:
        return Claim(_bearer(tenants, authorization))
    if signature:
        return _signature_claim(tenants, headers, signature, now)
    raise Unauthorized("missing credentials: Authorization: Bearer <token>, or X-Iacbot-Tenant, "
                       "X-Iacbot-Timestamp and X-Iacbot-Signature-256")


def verify_claim(claim: Claim, request: SignedRequest, body: bytes) -> Tenant:
    """The claimed tenant once the signature (if any) is that of ``request`` and ``body``."""
    if claim.signature is None:
        return claim.tenant
    secret = claim.tenant.hmac_secret or b""
    if verify_signature(secret, signed_message(claim.timestamp, request, body), claim.signature):
        return claim.tenant
    if verify_signature(secret, _retired_message(claim.timestamp, body), claim.signature):
        raise Unauthorized("X-Iacbot-Signature-256: the retired signature over timestamp + '.' + body is "
                           "refused: it does not cover the query (see the README for what to sign)")
    raise Unauthorized(BAD_CREDENTIAL)


def authenticate(tenants: Tenants, headers: Mapping[str, str], request: SignedRequest, body: bytes,
                 now: float) -> Tenant:
    """The tenant these headers prove for this request and body, or Unauthorized (detail safe to return)."""
    return verify_claim(claim_from_headers(tenants, headers, now), request, body)


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


def _signature_claim(tenants: Tenants, headers: Mapping[str, str], signature: str, now: float) -> Claim:
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
    if not is_well_formed(signature):
        raise Unauthorized("X-Iacbot-Signature-256: expected sha256=<64 hexadecimal digits>")
    tenant = tenants.by_id(tenant_id)
    if tenant is None or tenant.hmac_secret is None:
        raise Unauthorized(BAD_CREDENTIAL)
    return Claim(tenant, signature, timestamp)


def canonical_query(pairs: tuple[tuple[str, str], ...]) -> str:
    """``name=value`` pairs, decoded, sorted by name then value, joined with '&'. Pure.

    Values are not re-encoded, so a client signs the query exactly as it types it in the URL
    (with names in sorted order). The API accepts only values that cannot hold '&', '=' or a
    newline, so two accepted queries never share a canonical form.
    """
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def signed_message(timestamp: str | int, request: SignedRequest, body: bytes) -> bytes:
    """timestamp, METHOD, path, canonical query and Idempotency-Key (empty when absent), one per
    line, then the raw body. Pure."""
    head = "\n".join((str(timestamp), request.method.upper(), request.path, canonical_query(request.query),
                      request.idempotency_key))
    return head.encode() + b"\n" + body


def _retired_message(timestamp: str | int, body: bytes) -> bytes:
    """The first scheme (timestamp + "." + body): recognised only to refuse it by name."""
    return str(timestamp).encode() + b"." + body


def sign_request(secret: bytes, timestamp: int, request: SignedRequest, body: bytes) -> str:
    """The X-Iacbot-Signature-256 value a client sends (for clients and tests)."""
    return sign(secret, signed_message(timestamp, request, body))
