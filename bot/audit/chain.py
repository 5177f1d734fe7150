"""The audit log's hash chain and its signed checkpoints, pure (docs/audit-log.md).

An entry is a JSON object ``{seq, time, event, repository, subject, actor, details, prev, hash}``:
``seq`` counts from 0, ``prev`` is the ``hash`` of the entry before it (64 zeros for seq 0) and
``hash`` is sha256 over the canonical JSON (sorted keys, no spaces, UTF-8) of the entry without
``hash``. Editing an entry breaks its hash; inserting, deleting or reordering one breaks a ``seq``
or a ``prev``. None of that needs a key, so whoever can write the log can also rewrite it whole:
a checkpoint ``{size, head, time}`` signed (DSSE, Ed25519) by the deployment's key pins the first
``size`` entries, so a rewrite or a truncation of them shows against it.

``verify`` names the FIRST bad line (its line number, and its seq for an entry) and why, from a
closed set of kinds. Nothing here reads files or Redis; cryptography is imported only when a
checkpoint is signed or its signature checked.
"""
from __future__ import annotations

import hashlib
import json
from array import array
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Iterable, Mapping, Sequence

from bot.audit.events import Event

CHECKPOINT_PAYLOAD_TYPE = "application/vnd.iacbot.audit-checkpoint+json"
GENESIS = "0" * 64
ENTRY_FIELDS = frozenset({"seq", "time", "event", "repository", "subject", "actor", "details", "prev", "hash"})
CHECKPOINT_FIELDS = frozenset({"size", "head", "time"})

#: One line of the log (an entry or a checkpoint) longer than this is not parsed.
MAX_LINE_BYTES = 64 * 1024
#: A log with more lines than this is not verified (about 800 MB of entries at 400 bytes each).
MAX_LINES = 2_000_000
#: An entry's details larger than this (canonical JSON) are replaced by a note of their size.
MAX_DETAILS_BYTES = 8 * 1024
MAX_FIELD_CHARS = 300  # repository, subject, actor


class Bad(str, Enum):
    """Why a line is bad: the closed set verify answers with."""
    EDITED = "edited"                  # the entry's hash does not match its content
    INSERTED = "inserted"              # an entry that is not part of the chain
    DELETED = "deleted"                # entries missing before this one
    REORDERED = "reordered"            # an entry out of its place
    TRUNCATED = "truncated"            # fewer entries than a checkpoint covers
    REWRITTEN = "rewritten"            # a checkpoint's head is not the entry it names
    BAD_CHECKPOINT = "bad_checkpoint"  # a checkpoint whose signature fails, or malformed
    MALFORMED = "malformed"            # not an entry or a checkpoint line
    TOO_LARGE = "too_large"            # a line or the log over its bound


def canonical(doc: Mapping[str, Any]) -> bytes:
    """The bytes that are hashed and signed (bot.attest.statement.canonical's form)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in entry.items() if k != "hash"})).hexdigest()


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _bounded(value: Any, name: str) -> str | None:
    if value is None and name == "repository":
        return None
    text = str(value)
    return text if len(text) <= MAX_FIELD_CHARS else text[:MAX_FIELD_CHARS - 1] + "…"


def bounded_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """``details`` as stored: JSON-safe (anything else as its str) and at most MAX_DETAILS_BYTES;
    larger ones are replaced by a note, so the event is still recorded."""
    doc = json.loads(json.dumps(dict(details or {}), default=str))
    size = len(canonical(doc))
    if size > MAX_DETAILS_BYTES:
        return {"omitted": f"details of {size} bytes exceed the {MAX_DETAILS_BYTES}-byte bound",
                "keys": sorted(doc)[:20]}
    return doc


def make_entry(seq: int, prev: str, event: Event | str, *, repository: str | None, subject: str, actor: str,
               details: Mapping[str, Any] | None = None, time: str | None = None) -> dict[str, Any]:
    """The entry that follows the one whose hash is ``prev`` (GENESIS for seq 0)."""
    entry = {"seq": int(seq), "time": time or now_iso(), "event": Event(event).value,
             "repository": _bounded(repository, "repository"), "subject": _bounded(subject, "subject"),
             "actor": _bounded(actor, "actor"), "details": bounded_details(details), "prev": prev}
    entry["hash"] = entry_hash(entry)
    return entry


def entry_line(entry: Mapping[str, Any]) -> str:
    return canonical(entry).decode()


# -- checkpoints --------------------------------------------------------------------------------

def checkpoint_payload(size: int, head: str, time: str | None = None) -> bytes:
    return canonical({"size": int(size), "head": head, "time": time or now_iso()})


def sign_checkpoint(size: int, head: str, key, time: str | None = None) -> dict[str, Any]:
    """The checkpoint line ``{"checkpoint": ENVELOPE}`` for the first ``size`` entries, ``head``
    being the hash of entry ``size - 1``, signed with the Ed25519 private ``key``."""
    from bot.attest import dsse
    envelope = dsse.sign(checkpoint_payload(size, head, time), key, CHECKPOINT_PAYLOAD_TYPE)
    return {"checkpoint": envelope.to_json()}


def checkpoint_line(checkpoint: Mapping[str, Any]) -> str:
    return canonical(checkpoint).decode()


# -- verify -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    line: int            # 1-based line number in the log
    seq: int | None      # the entry's seq, None for a checkpoint or an unreadable line
    kind: Bad
    why: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f" (seq {self.seq})" if self.seq is not None else "")
        return f"{where}: {self.kind.value}: {self.why}"


@dataclass
class VerifyResult:
    ok: bool = True
    entries: int = 0
    head: str = GENESIS
    checkpoints: int = 0
    checkpoints_checked: bool = False   # signatures checked against trusted keys
    covered: int = 0                    # entries pinned by the last good checkpoint
    problem: Problem | None = None      # the first bad line
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Checkpoint:
    line: int
    size: int
    head: str
    time: str


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("a key appears twice")
    return dict(pairs)


def parse_line(raw: str | bytes) -> dict[str, Any]:
    """One line's JSON object; ValueError naming what is wrong."""
    if len(raw) > MAX_LINE_BYTES:
        raise OverflowError(f"longer than {MAX_LINE_BYTES} bytes (the line bound)")
    try:
        doc = json.loads(raw, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON ({str(exc)[:120]})") from None
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc


def _entry_shape(doc: Mapping[str, Any]) -> str | None:
    if set(doc) != ENTRY_FIELDS:
        missing, extra = ENTRY_FIELDS - set(doc), set(doc) - ENTRY_FIELDS
        parts = ([f"missing {sorted(missing)}"] if missing else []) + ([f"unknown {sorted(extra)[:5]}"] if extra else [])
        return "fields " + ", ".join(parts)
    if not isinstance(doc["seq"], int) or isinstance(doc["seq"], bool) or doc["seq"] < 0:
        return "seq is not a non-negative integer"
    if doc["event"] not in {e.value for e in Event}:
        return f"event {str(doc['event'])[:40]!r} is not one iacbot records"
    for name in ("prev", "hash"):
        if not isinstance(doc[name], str) or len(doc[name]) != 64:
            return f"{name} is not a sha256 hex digest"
    if not isinstance(doc["details"], dict):
        return "details is not an object"
    return None


def _read_checkpoint(doc: Mapping[str, Any], line: int, trusted) -> tuple[_Checkpoint | None, str | None]:
    """The checkpoint's claim, or why it cannot be used."""
    from bot.attest import dsse
    if set(doc) != {"checkpoint"}:
        return None, "a checkpoint line holds only \"checkpoint\""
    try:
        envelope = dsse.parse(json.dumps(doc["checkpoint"]))
    except dsse.EnvelopeError as exc:
        return None, str(exc)
    if envelope.payload_type != CHECKPOINT_PAYLOAD_TYPE:
        return None, f"payload type is {envelope.payload_type[:80]!r}, not {CHECKPOINT_PAYLOAD_TYPE}"
    if trusted is not None and dsse.verify(envelope, trusted, CHECKPOINT_PAYLOAD_TYPE) is None:
        return None, "signature: not made by any trusted key over this checkpoint (forged, edited, or another key's)"
    try:
        claim = parse_line(envelope.payload)
    except (ValueError, OverflowError) as exc:
        return None, f"payload {exc}"
    if (set(claim) != CHECKPOINT_FIELDS or not isinstance(claim["size"], int) or isinstance(claim["size"], bool)
            or claim["size"] < 1 or not isinstance(claim["head"], str) or len(claim["head"]) != 64):
        return None, "payload is not {size, head, time}"
    return _Checkpoint(line, claim["size"], claim["head"], str(claim["time"])), None


def verify(lines: Iterable[str | bytes], trusted_keys: Sequence | None = None,
           outside_checkpoints: Iterable[Mapping[str, Any]] = ()) -> VerifyResult:
    """Check a log's lines (entries and checkpoint lines, in order); stops at the first bad one.

    ``trusted_keys`` (Ed25519 public keys): checkpoints must be signed by one of them. None: the
    checkpoints' signatures are not checked (and the result says so), their claims still are.
    ``outside_checkpoints``: checkpoint lines kept apart from the log (e.g. from an earlier
    export): a truncation that removed the log's own later checkpoints still shows against them.

    One pass, keeping only each accepted entry's hash and line number (a log of MAX_LINES lines
    costs a few hundred MB at most); the rest of the log is read further only to explain a problem."""
    result = VerifyResult(checkpoints_checked=trusted_keys is not None)
    trusted = list(trusted_keys) if trusted_keys is not None else None
    chained = _Chain()
    checkpoints: list[_Checkpoint] = []
    rest = _Lines(lines)

    def bad(line: int, seq: int | None, kind: Bad, why: str) -> VerifyResult:
        result.ok, result.problem = False, Problem(line, seq, kind, why)
        return result

    for line, doc in rest:
        if isinstance(doc, Problem):
            return bad(doc.line, None, doc.kind, doc.why)
        if "checkpoint" in doc:
            cp, why = _read_checkpoint(doc, line, trusted)
            if cp is None:
                return bad(line, None, Bad.BAD_CHECKPOINT, why)
            if checkpoints and cp.size < checkpoints[-1].size:
                return bad(line, None, Bad.REORDERED, f"covers {cp.size} entries, fewer than the checkpoint at line "
                                                      f"{checkpoints[-1].line} ({checkpoints[-1].size})")
            if cp.size > chained.size:
                return bad(line, None, Bad.TRUNCATED,
                           f"the checkpoint covers {cp.size} entries but only {chained.size} precede it: "
                           f"{_span(chained.size, cp.size - 1)} missing")
            problem = _head_problem(cp, chained)
            if problem:
                return bad(*problem)
            checkpoints.append(cp)
            continue
        shape = _entry_shape(doc)
        seq = doc.get("seq") if isinstance(doc.get("seq"), int) else None
        if shape:
            return bad(line, seq, Bad.MALFORMED, shape)
        if entry_hash(doc) != doc["hash"]:
            return bad(line, seq, Bad.EDITED, "its content does not hash to its recorded hash (the entry was changed)")
        expected = chained.size
        if seq > expected:
            found = rest.find_seq(expected)
            if found is not None:
                return bad(line, seq, Bad.REORDERED, f"seq {seq} where seq {expected} belongs (seq {expected} is at "
                                                     f"line {found})")
            return bad(line, seq, Bad.DELETED, f"expected seq {expected}: {_span(expected, seq - 1)} missing")
        if seq < expected:
            return bad(*_inserted(line, doc, chained, rest))
        if doc["prev"] != chained.head:
            if chained.size:
                return bad(chained.lines[-1], chained.size - 1, Bad.EDITED,
                           f"the next entry (line {line}) records a different hash for it: it was changed and "
                           "re-hashed, or replaced")
            return bad(line, seq, Bad.EDITED, "seq 0 must have prev 64 zeros")
        chained.add(line, doc["hash"])

    result.entries, result.head, result.checkpoints = chained.size, chained.head, len(checkpoints)
    for n, doc in enumerate(outside_checkpoints, start=1):
        cp, why = _read_checkpoint(doc, 0, trusted)
        if cp is None:
            return bad(0, None, Bad.BAD_CHECKPOINT, f"kept checkpoint {n}: {why}")
        if cp.size > chained.size:
            return bad(rest.number + 1, None, Bad.TRUNCATED,
                       f"a kept checkpoint covers {cp.size} entries; the log has {chained.size}: "
                       f"{_span(chained.size, cp.size - 1)} missing")
        problem = _head_problem(cp, chained)
        if problem:
            return bad(*problem)
        checkpoints.append(cp)
    result.covered = max((cp.size for cp in checkpoints), default=0)
    if trusted is None:
        result.notes.append("checkpoints were not checked: no trusted key given, so their signatures are unverified "
                            "and a rewrite or a truncation of the whole log would not show")
    if result.covered < chained.size:
        if result.covered:
            result.notes.append(f"entries seq {result.covered}..{chained.size - 1} come after the last checkpoint: "
                                "removing them (or a later checkpoint with them) would not show")
        else:
            result.notes.append("no checkpoint: the chain is consistent, but a truncation or a full rewrite would "
                                "not show")
    return result


class _Chain:
    """The accepted entries: hash and line number of each, nothing more."""

    def __init__(self) -> None:
        self.hashes: list[bytes] = []
        self.lines = array("Q")

    @property
    def size(self) -> int:
        return len(self.hashes)

    @property
    def head(self) -> str:
        return self.hash_of(self.size - 1) if self.hashes else GENESIS

    def hash_of(self, seq: int) -> str:
        return self.hashes[seq].hex()

    def add(self, line: int, digest: str) -> None:
        self.hashes.append(bytes.fromhex(digest))
        self.lines.append(line)


class _Lines:
    """(line number, parsed object or Problem) for each line, bounded; read on demand."""

    def __init__(self, lines: Iterable[str | bytes]) -> None:
        self._lines = iter(lines)
        self.number = 0

    def __iter__(self):
        return self

    def __next__(self) -> tuple[int, Any]:
        raw = next(self._lines)
        self.number += 1
        if self.number > MAX_LINES:
            return self.number, Problem(self.number, None, Bad.TOO_LARGE,
                                        f"more than {MAX_LINES} lines (the log bound): not verified")
        raw = raw.rstrip(b"\r\n") if isinstance(raw, bytes) else raw.rstrip("\r\n")
        if not raw.strip():
            return self.number, Problem(self.number, None, Bad.MALFORMED, "an empty line")
        try:
            return self.number, parse_line(raw)
        except OverflowError as exc:
            return self.number, Problem(self.number, None, Bad.TOO_LARGE, str(exc))
        except ValueError as exc:
            return self.number, Problem(self.number, None, Bad.MALFORMED, str(exc))

    def next_entry(self) -> dict[str, Any] | None:
        for _, doc in self:
            if isinstance(doc, dict) and "checkpoint" not in doc:
                return doc
            if isinstance(doc, Problem) and doc.kind is Bad.TOO_LARGE and "lines" in doc.why:
                return None
        return None

    def find_seq(self, seq: int) -> int | None:
        """The line further on holding an entry with ``seq``, or None (reads the rest of the log)."""
        while True:
            doc = self.next_entry()
            if doc is None:
                return None
            if doc.get("seq") == seq:
                return self.number


def _span(first: int, last: int) -> str:
    return f"entry seq {first} is" if first == last else f"entries seq {first}..{last} are"


def _head_problem(cp: _Checkpoint, chained: _Chain) -> tuple | None:
    if chained.hash_of(cp.size - 1) != cp.head:
        return (chained.lines[cp.size - 1], cp.size - 1, Bad.REWRITTEN,
                f"the checkpoint{f' at line {cp.line}' if cp.line else ''} names a different entry seq {cp.size - 1}: "
                "the log up to here was rewritten")
    return None


def _inserted(line: int, doc: Mapping[str, Any], chained: _Chain, rest: _Lines) -> tuple:
    """``doc`` repeats a seq already accepted. Two entries following the same one is a fork: the
    one the chain goes on from is the original, the other was inserted."""
    seq = doc["seq"]
    earlier_line = chained.lines[seq]
    if chained.hash_of(seq) == doc["hash"]:
        return line, seq, Bad.INSERTED, f"a copy of line {earlier_line}"
    if doc["prev"] == (chained.hash_of(seq - 1) if seq else GENESIS):
        following = rest.next_entry()
        if following is not None and following.get("prev") == doc["hash"]:
            return (earlier_line, seq, Bad.INSERTED,
                    f"the chain goes on from line {line}, which follows the same entry: this one was inserted")
    return line, seq, Bad.INSERTED, f"seq {seq} again after seq {chained.size - 1} (line {chained.lines[-1]})"
