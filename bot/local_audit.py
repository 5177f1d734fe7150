"""`iacbot fix --audit-log FILE`: the run's entries, in the service's format (docs/audit-log.md).

The subject of a run's entries is its run id (``local:<time>-<random>``), as a job id is the
service's; the actor is the local identity (bot.attest.local_sign.LOCAL_IDENTITY's value)."""
from __future__ import annotations

import secrets
from datetime import datetime, timezone
from pathlib import Path

from bot.audit.attempts import attempt_events
from bot.audit.events import Event
from bot.audit.jsonl import Appender

LOCAL_ACTOR = "iacbot-cli"


def run_id() -> str:
    return f"local:{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}"


def record_run(audit: Appender, root: Path, report, findings, signed=()) -> str:
    """Append received (the run and its findings), each attempt's located/patched/verified, then
    signed for each signed branch: (fingerprint, branch, envelope sha256)."""
    subject, repository = run_id(), str(root)
    audit.record(Event.RECEIVED, repository=repository, subject=subject, actor=LOCAL_ACTOR,
                 details={"source": "local_run", "findings": len(findings)})
    for attempt in report.attempts:
        for event, details in attempt_events(attempt):
            audit.record(event, repository=repository, subject=subject, actor=LOCAL_ACTOR, details=details)
    for fingerprint, branch, digest in signed:
        audit.record(Event.SIGNED, repository=repository, subject=fingerprint, actor=LOCAL_ACTOR,
                     details={"branch": branch, "envelope_sha256": digest, "run": subject})
    return subject
