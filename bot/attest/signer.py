"""What the service's publisher signs with (bot.github.publish takes one; workers build it).

A fix's statement is built before its commit exists; the commit gets the ``Iacbot-Statement``
trailer (statement.change_digest: the statement with no git+commit subject and no policy part, i.e. the
change itself), and once the commit exists the statement naming it is signed into the PR body's
block. The decision (policy part) is signed afresh whenever it is made again (a re-run of publish,
the merge stage) without touching the commit. docs/provenance.md, "The trailer".
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.attest import dsse, statement
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



def merge_statement(publish_doc: Mapping[str, Any], files_at_head: Mapping[str, bytes], head_sha: str, decision,
                    decided_at: float, fix_facts: Mapping[str, Any] | None, acted_by: str) -> dict:
    """The merge-stage statement: the publish statement's finding, fixer and evidence, with its
    subjects taken afresh at the head being merged (``files_at_head``: each file subject's bytes
    there) and the merge-stage decision. ValueError when a file at the head is not the one the
    publish stage signed (then nothing may be merged on it)."""
    doc = statement.without_commit(publish_doc)
    signed = {s["name"]: s["digest"].get("sha256") for s in doc["subject"]}
    fresh = {path: statement.sha256_hex(data) for path, data in files_at_head.items()}
    if fresh != signed:
        raise ValueError("the files at the head are not the ones the publish stage signed")
    doc["subject"] = [{"name": path, "digest": {"sha256": digest}} for path, digest in sorted(fresh.items())]
    doc["predicate"]["policy"] = statement.policy_part(decision, decided_at, "merge", fix_facts)
    doc["predicate"]["identities"] = {**doc["predicate"]["identities"], "acted_by": acted_by}
    return statement.with_commit(doc, head_sha)


def publish_statement(envelope_json: Mapping[str, Any], key: Ed25519PrivateKey) -> dict | None:
    """The statement of a publish-stage envelope this key signed (a record iacbot kept), or None."""
    try:
        envelope = dsse.parse(json.dumps(envelope_json))
    except dsse.EnvelopeError:
        return None
    if dsse.verify(envelope, [key.public_key()]) is None:
        return None
    doc = json.loads(envelope.payload)
    return doc if statement.stage_of(doc) == "publish" and not statement.check_statement(doc) else None
