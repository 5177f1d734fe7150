"""A fresh signing key per test, and its public key as a trusted key file."""
from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.attest import keys


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def pub(tmp_path, key) -> Path:
    path = tmp_path / "trusted.pub.pem"
    path.write_bytes(keys.public_pem(key.public_key()))
    return path
