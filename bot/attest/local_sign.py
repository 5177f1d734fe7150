"""`iacbot fix --branch --signing-key FILE`: sign a branch commit's provenance statement and attach
the envelope as a git note under refs/notes/iacbot (the commit itself is not changed, so its id,
which the statement names as its git+commit subject, stays what was signed)."""
from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.attest import dsse, statement
from bot.attest.verify import NOTES_REF

LOCAL_IDENTITY = "iacbot-cli"


def iacbot_version() -> str:
    try:
        return importlib.metadata.version("iacbot")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def fixer_version(fixer) -> str:
    """sha256 of the fixer's module source: it changes whenever the fixer's code does."""
    try:
        source = inspect.getsource(inspect.getmodule(type(fixer)) or type(fixer))
    except (OSError, TypeError):
        return iacbot_version()
    return "sha256:" + hashlib.sha256(source.encode()).hexdigest()


def sign_commit(repo: Path, commit: str, files: dict[str, bytes], attempt, verification: str,
                key: Ed25519PrivateKey, scanner_version: str | None = None) -> dsse.Envelope:
    doc = statement.from_attempt(
        attempt, files, verification, iacbot_version(), fixer_version(attempt.fixer), scanner_version,
        trigger={"event": "local_run"},
        identities={"analysed_by": LOCAL_IDENTITY, "acted_by": LOCAL_IDENTITY}, commit=commit)
    envelope = dsse.sign(statement.canonical(doc), key)
    done = subprocess.run(["git", "-C", str(repo), "notes", f"--ref={NOTES_REF}", "add", "-f", "-F", "-", commit],
                          input=envelope.dumps(), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"git notes failed: {done.stderr.strip()}")
    return envelope
