"""Check a signed provenance statement: the signature (any trusted key; keyid only a hint), the
payload type, the statement's shape and, given a repository and a commit, that every file subject
is the file at that commit and the git+commit subject (if any) is that commit.

Where envelopes are carried (docs/provenance.md):
* a PR body: the hidden block ``<!-- iacbot:attestation {ENVELOPE JSON} -->``, the JSON escaped like
  the provenance block (bot.quoting.comment_json: ``<``, ``>``, ``&``, ``@`` as \\u escapes);
* a local commit: a git note on the commit under ``refs/notes/iacbot`` holding the envelope JSON.
"""
from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bot.attest import MERGE_STATEMENT_TRAILER, STATEMENT_TRAILER, blocks, dsse, trailer_values
from bot.attest.blocks import ATTESTATION_MARK  # noqa: F401  (re-exported: verify.ATTESTATION_MARK)
from bot.attest.statement import (COMMIT_SUBJECT, change_digest, check_statement, commit_of, sha256_hex, stage_of,
                                  statement_digest)

NOTES_REF = "refs/notes/iacbot"
MAX_SUBJECT_BYTES = 10 * 1024 * 1024  # a file larger than this is not hashed: reported instead
_REV = re.compile(r"^[0-9A-Za-z_./^~-]{1,200}$")


@dataclass
class VerifyResult:
    ok: bool
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    statement: dict | None = None       # the statement, once its signature and shape held


def attestation_block(envelope: dsse.Envelope) -> str:
    """The hidden PR-body block carrying ``envelope``."""
    return blocks.block(envelope.to_json())


def envelope_from_pr_body(text: str) -> str | None:
    """The last attestation block's envelope JSON, or None."""
    found = blocks.envelopes(text)
    return found[-1] if found else None


def verify_envelope(envelope_text: str | bytes, trusted_keys: Iterable[Ed25519PublicKey],
                    repo: Path | None = None, commit: str | None = None) -> VerifyResult:
    result = VerifyResult(ok=False)
    try:
        envelope = dsse.parse(envelope_text)
    except dsse.EnvelopeError as exc:
        result.problems.append(str(exc))
        return result
    result.checked.append("envelope: DSSE JSON")
    if envelope.payload_type != dsse.IN_TOTO_PAYLOAD_TYPE:
        result.problems.append(f"payload type is {envelope.payload_type[:100]!r}, not {dsse.IN_TOTO_PAYLOAD_TYPE}")
        return result
    result.checked.append(f"payload type: {dsse.IN_TOTO_PAYLOAD_TYPE}")
    signer = dsse.verify(envelope, list(trusted_keys))
    if signer is None:
        result.problems.append("signature: not made by any trusted key over this payload (tampered, or signed by another key)")
        return result
    result.checked.append(f"signature: good, key {dsse.keyid(signer)[:16]}")
    try:
        statement = json.loads(envelope.payload)
    except (ValueError, RecursionError):
        result.problems.append("payload is not JSON")
        return result
    shape = check_statement(statement)
    if shape:
        result.problems += [f"statement: {p}" for p in shape]
        return result
    result.checked.append("statement: in-toto v1, iacbot provenance v1")
    result.statement = statement
    if repo is not None and commit is not None:
        _check_commit(statement, Path(repo), commit, result)
        _check_trailer(statement, Path(repo), commit, result)
    result.ok = not result.problems
    return result


def _git(repo: Path, *args: str, limit: int = MAX_SUBJECT_BYTES) -> bytes | None:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0 or len(done.stdout) > limit:
        return None
    return done.stdout


def resolve(repo: Path, rev: str) -> str | None:
    """The full commit id ``rev`` names, or None."""
    if not _REV.match(rev) or rev.startswith("-"):
        return None
    out = _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", limit=200)
    return out.decode().strip() if out else None


def note_of(repo: Path, commit: str) -> str | None:
    """The envelope in ``commit``'s git note under refs/notes/iacbot, or None."""
    out = _git(repo, "notes", f"--ref={NOTES_REF}", "show", commit, limit=dsse.MAX_ENVELOPE_BYTES + 1)
    return out.decode("utf-8", "replace").strip() if out else None


def _check_commit(statement: dict, repo: Path, rev: str, result: VerifyResult) -> None:
    commit = resolve(repo, rev)
    if commit is None:
        result.problems.append(f"commit {rev[:80]!r}: not found in {repo}")
        return
    if not any(s["name"] == COMMIT_SUBJECT for s in statement["subject"]):
        result.checked.append("no git+commit subject: tied to the commit by its files' digests only")
    for subject in statement["subject"]:
        name = subject["name"]
        if name == COMMIT_SUBJECT:
            if subject["digest"]["gitCommit"] != commit:
                result.problems.append(f"git+commit subject is {subject['digest']['gitCommit']}, not {commit}")
            else:
                result.checked.append(f"git+commit: {commit}")
            continue
        size = _git(repo, "cat-file", "-s", f"{commit}:{name}", limit=64)
        if size is None:
            result.problems.append(f"{name}: not in commit {commit[:12]}")
            continue
        if not size.strip().isdigit() or int(size) > MAX_SUBJECT_BYTES:
            result.problems.append(f"{name}: larger than {MAX_SUBJECT_BYTES} bytes, not hashed")
            continue
        data = _git(repo, "cat-file", "blob", f"{commit}:{name}")
        if data is None or sha256_hex(data) != subject["digest"]["sha256"]:
            result.problems.append(f"{name}: differs at commit {commit[:12]} from the file that was signed")
        else:
            result.checked.append(f"{name}: sha256 matches commit {commit[:12]}")


def message_of(repo: Path, commit: str) -> str | None:
    out = _git(repo, "log", "-1", "--format=%B", commit, "--", limit=1 << 20)
    return out.decode("utf-8", "replace") if out is not None else None


def _check_trailer(statement: dict, repo: Path, rev: str, result: VerifyResult) -> None:
    """commit -> statement: the commit's ``Iacbot-Statement`` trailer is the statement's change
    digest (statement.change_part: no git+commit subject, no policy; docs/provenance.md). A service
    statement (one with a stage) needs it; a local one is bound by its git note alone."""
    commit = resolve(repo, rev)
    if commit is None:
        return  # _check_commit said so
    message = message_of(repo, commit) or ""
    values = trailer_values(message, STATEMENT_TRAILER)
    want = change_digest(statement)
    if not values:
        if stage_of(statement) is not None:
            result.problems.append(f"commit {commit[:12]}: no {STATEMENT_TRAILER} trailer (iacbot's fix commits carry one)")
        else:
            result.checked.append(f"commit {commit[:12]}: no {STATEMENT_TRAILER} trailer (a local run: the note binds it)")
        return
    if values != [want]:
        result.problems.append(f"commit {commit[:12]}: {STATEMENT_TRAILER} trailer is {values[0][:80]!r}, "
                               f"not this statement's {want}")
    else:
        result.checked.append(f"commit {commit[:12]}: {STATEMENT_TRAILER} trailer names this statement")


def merge_trailer_of(repo: Path, merge: str) -> tuple[list[str], list[str]]:
    """(Iacbot-Merge-Statement trailer values, parent commit ids) of ``merge``."""
    message = message_of(repo, merge) or ""
    out = _git(repo, "rev-list", "--parents", "-n", "1", merge, limit=4096)
    parents = out.decode().split()[1:] if out else []
    return trailer_values(message, MERGE_STATEMENT_TRAILER), parents


def check_merge_commit(statement: dict, repo: Path, rev: str, result: VerifyResult) -> None:
    """A merge-stage statement against the merge commit iacbot made: its ``Iacbot-Merge-Statement``
    trailer is the statement's digest and the statement's git+commit is the merged head (a parent)."""
    merge = resolve(repo, rev)
    if merge is None:
        result.problems.append(f"commit {rev[:80]!r}: not found in {repo}")
        return
    values, parents = merge_trailer_of(repo, merge)
    if values != [statement_digest(statement)]:
        result.problems.append(f"merge commit {merge[:12]}: {MERGE_STATEMENT_TRAILER} trailer does not name this statement")
    else:
        result.checked.append(f"merge commit {merge[:12]}: {MERGE_STATEMENT_TRAILER} trailer names this statement")
    head = commit_of(statement)
    if head not in parents[1:]:
        result.problems.append(f"merge commit {merge[:12]}: the statement's commit {str(head)[:12]} is not the merged head")
    else:
        result.checked.append(f"merge commit {merge[:12]}: merged the statement's commit {head[:12]}")
