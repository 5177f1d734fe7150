"""The service's signing key (settings ``signing_key_file``), loaded once per process.

Every pull request iacbot opens carries a signed statement, so a worker without a usable key
refuses to publish rather than open an unsigned one (SigningKeyMissing, a permanent failure whose
message names the setting, never the key)."""
from __future__ import annotations

import functools
from pathlib import Path

from bot.attest import keys


class SigningKeyMissing(RuntimeError):
    """No usable signing key: nothing may be signed, so nothing is published."""


@functools.lru_cache(maxsize=4)
def _load(path: str):
    return keys.load_private_key(Path(path))


def signing_key(cfg):
    """The Ed25519 private key of ``cfg.signing_key_file``; SigningKeyMissing when unset or unusable."""
    if not cfg.signing_key_file:
        raise SigningKeyMissing("IACBOT_SIGNING_KEY_FILE is not set: iacbot signs every change it proposes "
                                "(create a key with `iacbot provenance keygen --out DIR`)")
    try:
        return _load(cfg.signing_key_file)
    except keys.KeyFileError as exc:
        raise SigningKeyMissing(f"IACBOT_SIGNING_KEY_FILE: {exc}") from None
