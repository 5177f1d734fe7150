"""Ed25519 keys for provenance: the private signing key (PEM PKCS8, unencrypted) and the trusted
public keys (PEM SubjectPublicKeyInfo), several at once so a key can be rotated (old and new both
trusted for a while). Errors name the file and what is wrong, never the key's bytes."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (Encoding, NoEncryption, PrivateFormat, PublicFormat,
                                                          load_pem_private_key, load_pem_public_key)

from bot.attest import PRIVATE_NAME, PUBLIC_NAME  # noqa: F401  (re-exported: keys.PRIVATE_NAME)

MAX_KEY_FILE_BYTES = 16 * 1024  # a PEM Ed25519 key is about 120 bytes


class KeyFileError(ValueError):
    """A key file that cannot be used; the message names the file."""


def _read(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise KeyFileError(f"{path}: larger than {MAX_KEY_FILE_BYTES} bytes, not a key file")
        return path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    data = _read(path)
    try:
        key = load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError(f"{path}: the key is encrypted; iacbot reads an unencrypted PKCS8 PEM key") from None
    except Exception as exc:  # cryptography raises ValueError or UnsupportedAlgorithm
        raise KeyFileError(f"{path}: not a PEM private key ({type(exc).__name__})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key ({type(key).__name__})")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    data = _read(path)
    try:
        key = load_pem_public_key(data)
    except Exception as exc:  # ValueError, UnsupportedAlgorithm
        raise KeyFileError(f"{path}: not a PEM public key ({type(exc).__name__})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an Ed25519 public key ({type(key).__name__})")
    return key


def load_public_keys(paths: Iterable[Path]) -> list[Ed25519PublicKey]:
    """Every trusted key; the first unusable file raises."""
    return [load_public_key(Path(p)) for p in paths]


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def keygen(directory: Path) -> tuple[Path, Path]:
    """A new key pair in ``directory``: the private key mode 0600, never overwriting a file."""
    directory.mkdir(parents=True, exist_ok=True)
    private, public = directory / PRIVATE_NAME, directory / PUBLIC_NAME
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # O_EXCL: refuse an existing key
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    with open(public, "xb") as out:
        out.write(public_pem(key.public_key()))
    return private, public
