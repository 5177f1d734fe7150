"""What one fix attempt adds to the audit log: located, patched, verified (pure; shared by the
service's remediate_job and the local `iacbot fix --audit-log`)."""
from __future__ import annotations

from typing import Any

from bot.audit.events import Event

MAX_REASON_CHARS = 300


def _short(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS - 1] + "…"


def attempt_events(attempt, verified: bool | None = None, reason: str = "") -> list[tuple[Event, dict[str, Any]]]:
    """(event, details) for ``attempt`` (fixers.engine.Attempt), in the order they happened.
    ``verified``: the verification's verdict when known (None: FIXED and CLEARED count as verified).
    A finding no fixer could locate is a ``located`` entry saying why; a patch the verification
    rejected is ``patched`` then ``verified`` no."""
    from fixers.engine import CLEARED, FIXED
    base = {"fingerprint": attempt.fingerprint, "rule": ", ".join(attempt.rule_ids), "file": attempt.finding.file,
            "fixer": attempt.fixer.info.id if attempt.fixer else None}
    ok = attempt.status in (FIXED, CLEARED) if verified is None else verified
    why = _short(reason or attempt.reason)
    events: list[tuple[Event, dict[str, Any]]] = []
    if attempt.location is not None:
        events.append((Event.LOCATED, {**base, "found": True, "layer": attempt.location.layer,
                                       "location_file": attempt.location.file, "why": _short(attempt.location.why)}))
    elif attempt.status != CLEARED and not attempt.summary:
        events.append((Event.LOCATED, {**base, "found": False, "why": why}))
        return events
    if attempt.summary and attempt.status != CLEARED:
        events.append((Event.PATCHED, {**base, "summary": _short(attempt.summary)}))
    events.append((Event.VERIFIED, {**base, "verified": "yes" if ok else "no",
                                    **({"why": why} if why and not ok else {}),
                                    **({"cleared_by_another_fix": True} if attempt.status == CLEARED else {})}))
    return events
