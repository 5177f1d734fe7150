"""GitHub webhook signatures (``X-Hub-Signature-256: sha256=<hex>``). Pure, no I/O."""
from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(secret: bytes, body: bytes) -> str:
    """The header value GitHub would send for ``body`` signed with ``secret``."""
    return PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def is_well_formed(header: str | None) -> bool:
    """True when ``header`` looks like ``sha256=<64 hex digits>``: checkable before the body is read."""
    if not header or not header.startswith(PREFIX) or len(header) != len(PREFIX) + 64:
        return False
    return all(c in "0123456789abcdefABCDEF" for c in header[len(PREFIX):])


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """True only when ``header`` is a well-formed sha256 signature of ``body`` under ``secret``.

    The comparison is constant-time (:func:`hmac.compare_digest`). A missing header, another
    algorithm (``sha1=``), or a value that is not 64 hex digits is simply False.
    """
    if not secret or not is_well_formed(header):
        return False
    given_bytes = header[len(PREFIX):].encode("ascii")
    expected = sign(secret, body)[len(PREFIX):].encode("ascii")
    # GitHub sends lowercase hex; compare case-insensitively without branching on content.
    return hmac.compare_digest(expected, given_bytes.lower())
