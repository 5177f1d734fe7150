"""DSSE (Dead Simple Signing Envelope) with Ed25519: sign and verify over the PAE bytes.

PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII decimal of
the byte counts. Verification comes before any parsing of the payload, and a signature's ``keyid``
is only a hint: every trusted key is tried, so a key can be rotated (old and new both trusted for a
while) and a wrong or missing keyid never makes a good signature fail. Written here (40 lines)
rather than taken from securesystemslib, whose verifier insists on a keyid match.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
#: An envelope larger than this is not read (a PR body holds at most 65,536 characters).
MAX_ENVELOPE_BYTES = 1 << 20


class EnvelopeError(ValueError):
    """The envelope is not one iacbot can check (malformed, too large, wrong type): says why."""


@dataclass(frozen=True)
class Envelope:
    payload: bytes
    payload_type: str
    signatures: tuple[tuple[str, bytes], ...]   # (keyid hint, signature)

    def to_json(self) -> dict:
        return {"payloadType": self.payload_type, "payload": base64.b64encode(self.payload).decode(),
                "signatures": [{"keyid": k, "sig": base64.b64encode(s).decode()} for k, s in self.signatures]}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))


def envelope_digest(envelope_json: dict) -> str:
    """``sha256:<hex>`` of an envelope's canonical JSON (Envelope.dumps): how records name it."""
    text = json.dumps(envelope_json, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def keyid(public: Ed25519PublicKey) -> str:
    """A hint naming the key: sha256 of its raw 32 bytes, hex."""
    return hashlib.sha256(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()


def sign(payload: bytes, key: Ed25519PrivateKey, payload_type: str = IN_TOTO_PAYLOAD_TYPE) -> Envelope:
    return Envelope(payload, payload_type, ((keyid(key.public_key()), key.sign(pae(payload_type, payload))),))


def parse(data: str | bytes) -> Envelope:
    """An envelope from its JSON; EnvelopeError for anything else. Nothing is trusted yet."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError(f"envelope larger than {MAX_ENVELOPE_BYTES} bytes")
    try:
        doc = json.loads(data)
        payload = base64.b64decode(doc["payload"], validate=True)
        payload_type = doc["payloadType"]
        sigs = tuple((str(s.get("keyid") or ""), base64.b64decode(s["sig"], validate=True))
                     for s in doc["signatures"])
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, RecursionError) as exc:
        raise EnvelopeError(f"not a DSSE envelope ({type(exc).__name__})") from None
    if not isinstance(payload_type, str) or not sigs:
        raise EnvelopeError("not a DSSE envelope (no payloadType or no signature)")
    return Envelope(payload, payload_type, sigs)


def verify(envelope: Envelope, trusted: Iterable[Ed25519PublicKey],
           payload_type: str = IN_TOTO_PAYLOAD_TYPE) -> Ed25519PublicKey | None:
    """The trusted key that signed ``envelope``'s PAE, or None. The payload type must be
    ``payload_type``: it is signed too, so a statement cannot pass as another kind of document."""
    if envelope.payload_type != payload_type:
        return None
    message = pae(envelope.payload_type, envelope.payload)
    for _, signature in envelope.signatures:
        for key in trusted:
            try:
                key.verify(signature, message)
                return key
            except InvalidSignature:
                continue
    return None
