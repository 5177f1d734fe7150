"""The PR body's hidden ``<!-- iacbot:attestation {ENVELOPE JSON} -->`` blocks, found and replaced
(pure text, no cryptography: nothing here is trusted; bot.attest.verify checks what is found).

A service PR body holds one block per stage signed (publish, then merge, docs/provenance.md); the
stage is read from the payload only to place a new block, never to decide anything."""
from __future__ import annotations

import base64
import binascii
import json
import re

from bot.quoting import comment_json

ATTESTATION_MARK = "iacbot:attestation"
_BLOCK = re.compile(r"<!--\s*" + re.escape(ATTESTATION_MARK) + r"\s+(\{.*?\})\s*-->", re.S)
_BLOCK_LINE = re.compile(r"\n?" + _BLOCK.pattern, re.S)  # a block with the line break before it
#: A body is at most 65,536 characters; more blocks than this are not read.
MAX_BLOCKS = 8
MAX_TEXT = 1 << 21


def block(envelope_json: dict) -> str:
    return f"<!-- {ATTESTATION_MARK} {comment_json(envelope_json)} -->"


def envelopes(text: str) -> list[str]:
    """Every block's envelope JSON, in order (at most MAX_BLOCKS; none in an oversized text)."""
    if len(text) > MAX_TEXT:
        return []
    return [m.group(1) for m in _BLOCK.finditer(text)][:MAX_BLOCKS]


def claimed_stage(envelope_text: str) -> str | None:
    """The stage an envelope's payload says it was signed at: unverified, for placement only."""
    try:
        doc = json.loads(base64.b64decode(json.loads(envelope_text)["payload"], validate=True))
        stage = doc["predicate"]["policy"]["stage"]
    except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        return None
    return stage if isinstance(stage, str) else None


def with_stage_block(text: str, stage: str, new_block: str) -> str:
    """``text`` with every block claiming ``stage`` removed and ``new_block`` put after the last
    remaining block (or at the end)."""
    kept = _BLOCK_LINE.sub(lambda m: "" if claimed_stage(m.group(1)) == stage else m.group(0), text)
    last = None
    for last in _BLOCK.finditer(kept):
        pass
    if last is None:
        return kept.rstrip("\n") + "\n\n" + new_block + "\n"
    return kept[:last.end()] + "\n" + new_block + kept[last.end():]
