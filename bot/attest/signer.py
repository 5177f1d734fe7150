"""What the service's publisher signs with (bot.github.publish takes one; workers build it).

A fix's statement is built before its commit exists; the commit gets the ``Iacbot-Statement``
trailer (trailer_digest: the statement with no git+commit subject and no policy part, i.e. the
change itself), and once the commit exists the statement naming it is signed into the PR body's
block. The decision (policy part) is signed afresh whenever it is made again (a re-run of publish,
the merge stage) without touching the commit. docs/provenance.md, "The trailer".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.attest import STATEMENT_TRAILER, dsse, statement
from bot.attest.verify import attestation_block


@dataclass(frozen=True)
class Signer:
    key: Ed25519PrivateKey
    doc: Mapping[str, Any]          # the statement, without a git+commit subject

    @property
    def trailer(self) -> str:
        """The ``Iacbot-Statement`` trailer's value: ``sha256:<hex>``."""
        return statement.change_digest(self.doc)

    def envelope(self, commit: str) -> dsse.Envelope:
        return dsse.sign(statement.canonical(statement.with_commit(self.doc, commit)), self.key)

    def covers(self, files: Mapping[str, bytes]) -> bool:
        """Does the statement name exactly ``files`` (path -> the bytes committed)?"""
        named = {s["name"]: s["digest"].get("sha256") for s in self.doc["subject"] if s["name"] != statement.COMMIT_SUBJECT}
        return named == {path: statement.sha256_hex(data) for path, data in files.items()}

    def block(self, commit: str) -> str:
        """The PR body's ``iacbot:attestation`` block for the statement naming ``commit``."""
        return attestation_block(self.envelope(commit))

