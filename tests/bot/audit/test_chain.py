"""The audit chain round trip and every tampering case, each named at its first bad line."""
from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.audit import chain
from bot.audit.chain import Bad
from bot.audit.events import Event

KEY = Ed25519PrivateKey.generate()
TRUSTED = [KEY.public_key()]


def build(n: int, checkpoints_at=(), key=KEY) -> list[str]:
    """n entries; a checkpoint line right after entry size-1 for each size in checkpoints_at."""
    lines, head = [], chain.GENESIS
    for seq in range(n):
        entry = chain.make_entry(seq, head, Event.RECEIVED if seq % 2 else Event.PATCHED, repository="o/r",
                                 subject=f"job-{seq}", actor="iacbot", details={"n": seq, "text": "é"})
        head = entry["hash"]
        lines.append(chain.entry_line(entry))
        if seq + 1 in checkpoints_at:
            lines.append(chain.checkpoint_line(chain.sign_checkpoint(seq + 1, head, key)))
    return lines


def rehash(doc: dict) -> str:
    doc["hash"] = chain.entry_hash(doc)
    return chain.entry_line(doc)


def test_an_untouched_log_verifies_with_its_checkpoints_checked():
    lines = build(10, checkpoints_at=(5, 10))
    result = chain.verify(lines, TRUSTED)
    assert result.ok and result.problem is None
    assert (result.entries, result.checkpoints, result.covered, result.checkpoints_checked) == (10, 2, 10, True)
    assert result.notes == []


def test_every_entry_links_to_the_one_before():
    docs = [json.loads(line) for line in build(3)]
    assert docs[0]["prev"] == "0" * 64
    assert [d["prev"] for d in docs[1:]] == [d["hash"] for d in docs[:-1]]
    assert all(d["hash"] == chain.entry_hash(d) for d in docs)


def test_an_edited_entry_is_named():
    lines = build(6, checkpoints_at=(6,))
    doc = json.loads(lines[3])
    doc["actor"] = "mallory"
    lines[3] = json.dumps(doc)
    result = chain.verify(lines, TRUSTED)
    assert not result.ok
    assert (result.problem.line, result.problem.seq, result.problem.kind) == (4, 3, Bad.EDITED)


def test_an_edited_and_rehashed_entry_is_named_by_its_successor():
    lines = build(6)
    doc = json.loads(lines[2])
    doc["details"] = {"n": 99}
    lines[2] = rehash(doc)
    result = chain.verify(lines, None)
    assert (result.problem.line, result.problem.seq, result.problem.kind) == (3, 2, Bad.EDITED)
    assert "line 4" in result.problem.why


def test_an_edited_last_entry_rehashed_is_caught_by_the_checkpoint():
    lines = build(4, checkpoints_at=(4,))
    doc = json.loads(lines[3])
    doc["subject"] = "other"
    lines[3] = rehash(doc)
    result = chain.verify(lines, TRUSTED)
    assert (result.problem.line, result.problem.seq, result.problem.kind) == (4, 3, Bad.REWRITTEN)


def test_an_inserted_entry_is_named():
    lines = build(6)
    one = json.loads(lines[1])
    forged = chain.make_entry(2, one["hash"], Event.DECLINED, repository="o/r", subject="pr:1", actor="mallory")
    lines.insert(2, chain.entry_line(forged))
    result = chain.verify(lines, None)
    assert (result.problem.line, result.problem.seq, result.problem.kind) == (3, 2, Bad.INSERTED)


def test_a_duplicated_entry_is_named():
    lines = build(5)
    lines.insert(3, lines[2])
    result = chain.verify(lines, None)
    assert (result.problem.line, result.problem.seq, result.problem.kind) == (4, 2, Bad.INSERTED)


def test_a_deleted_entry_is_named():
    lines = build(6)
    del lines[2]
    result = chain.verify(lines, None)
    assert (result.problem.line, result.problem.seq, result.problem.kind) == (3, 3, Bad.DELETED)
    assert "entry seq 2 is missing" in result.problem.why


def test_two_reordered_entries_are_named():
    lines = build(6)
    lines[2], lines[3] = lines[3], lines[2]
    result = chain.verify(lines, None)
    assert (result.problem.line, result.problem.seq, result.problem.kind) == (3, 3, Bad.REORDERED)


def test_a_truncation_before_a_kept_checkpoint_line_is_detected():
    lines = build(8, checkpoints_at=(4, 8))
    del lines[7:9]  # entries 6 and 7 gone (line 5 is the checkpoint of 4), the checkpoint of 8 kept
    result = chain.verify(lines, TRUSTED)
    assert not result.ok and result.problem.kind is Bad.TRUNCATED
    assert result.problem.line == 8 and "entries seq 6..7 are missing" in result.problem.why


def test_a_truncation_after_the_last_checkpoint_cannot_show_and_says_so():
    lines = build(8, checkpoints_at=(4,))
    result = chain.verify(lines[:-2], TRUSTED)  # entries 6 and 7 cut: nothing pins them
    assert result.ok and result.covered == 4 and result.entries == 6
    assert any("seq 4..5 come after the last checkpoint" in note for note in result.notes)


def test_a_truncation_that_took_the_last_checkpoint_shows_against_a_kept_one():
    lines = build(8, checkpoints_at=(4, 8))
    kept = json.loads(lines[-1])
    cut = lines[:6]  # entries 0..4 and the checkpoint of 4
    alone = chain.verify(cut, TRUSTED)
    assert alone.ok and alone.covered == 4  # only the kept checkpoint can tell
    result = chain.verify(cut, TRUSTED, [kept])
    assert not result.ok and result.problem.kind is Bad.TRUNCATED
    assert "entries seq 5..7 are missing" in result.problem.why


def test_a_rewritten_log_shows_against_its_checkpoint():
    lines = build(6, checkpoints_at=(6,))
    rewritten = build(6)  # same length, different content (other timestamps), re-chained from scratch
    lines[:6] = [line.replace("job-", "job_") for line in rewritten]
    fixed = [rehash(json.loads(line)) for line in lines[:6]]
    head = chain.GENESIS
    for i, line in enumerate(fixed):
        doc = json.loads(line)
        doc["prev"] = head
        fixed[i] = rehash(doc)
        head = doc["hash"]
    result = chain.verify(fixed + lines[6:], TRUSTED)
    assert result.problem.kind is Bad.REWRITTEN and result.problem.seq == 5


def test_a_forged_checkpoint_is_named():
    lines = build(4, checkpoints_at=(4,))
    doc = json.loads(lines[-1])
    payload = json.loads(__import__("base64").b64decode(doc["checkpoint"]["payload"]))
    payload["size"] = 2
    doc["checkpoint"]["payload"] = __import__("base64").b64encode(chain.canonical(payload)).decode()
    lines[-1] = json.dumps(doc)
    result = chain.verify(lines, TRUSTED)
    assert (result.problem.line, result.problem.seq, result.problem.kind) == (5, None, Bad.BAD_CHECKPOINT)
    assert "signature" in result.problem.why


def test_a_checkpoint_by_an_untrusted_key_is_refused():
    other = Ed25519PrivateKey.generate()
    lines = build(4, checkpoints_at=(2, 4), key=other)
    result = chain.verify(lines, TRUSTED)
    assert (result.problem.line, result.problem.kind) == (3, Bad.BAD_CHECKPOINT)
    # ... and accepted once that key is trusted too (a rotation: old and new both trusted)
    assert chain.verify(lines, TRUSTED + [other.public_key()]).ok


def test_without_a_key_checkpoints_are_said_unchecked():
    lines = build(4, checkpoints_at=(2, 4), key=Ed25519PrivateKey.generate())
    result = chain.verify(lines, None)
    assert result.ok and not result.checkpoints_checked
    assert any("checkpoints were not checked" in note for note in result.notes)


def test_a_checkpoint_of_another_payload_type_is_refused():
    lines = build(2)
    from bot.attest import dsse
    env = dsse.sign(chain.checkpoint_payload(2, json.loads(lines[1])["hash"]), KEY)  # in-toto type
    lines.append(chain.checkpoint_line({"checkpoint": env.to_json()}))
    result = chain.verify(lines, TRUSTED)
    assert result.problem.kind is Bad.BAD_CHECKPOINT and "payload type" in result.problem.why


@pytest.mark.parametrize("raw, kind, says", [
    ("x" * (chain.MAX_LINE_BYTES + 1), Bad.TOO_LARGE, f"{chain.MAX_LINE_BYTES} bytes"),
    ("not json", Bad.MALFORMED, "not JSON"),
    ("[1]", Bad.MALFORMED, "not a JSON object"),
    ('{"seq": 0, "seq": 1}', Bad.MALFORMED, "twice"),
    ("", Bad.MALFORMED, "empty"),
])
def test_a_bad_line_is_refused_with_why(raw, kind, says):
    lines = build(2) + [raw]
    result = chain.verify(lines, None)
    assert (result.problem.line, result.problem.kind) == (3, kind) and says in result.problem.why


def test_an_entry_with_an_unknown_event_is_malformed():
    doc = json.loads(build(1)[0])
    doc["event"] = "deleted_everything"
    result = chain.verify([rehash(doc)], None)
    assert result.problem.kind is Bad.MALFORMED and "event" in result.problem.why


def test_too_many_lines_names_the_bound(monkeypatch):
    monkeypatch.setattr(chain, "MAX_LINES", 3)
    result = chain.verify(build(5), None)
    assert result.problem.kind is Bad.TOO_LARGE and "more than 3 lines" in result.problem.why


def test_large_details_are_replaced_by_a_note_not_dropped():
    entry = chain.make_entry(0, chain.GENESIS, Event.PATCHED, repository="o/r", subject="j", actor="iacbot",
                             details={"blob": "x" * (chain.MAX_DETAILS_BYTES + 10)})
    assert "exceed" in entry["details"]["omitted"] and entry["details"]["keys"] == ["blob"]
    assert chain.verify([chain.entry_line(entry)], None).ok
