"""The service's audit log in Redis (docs/audit-log.md): ``record`` appends one entry.

The interface every worker calls; the chain and the checkpoints are kept here."""
from __future__ import annotations

import json
import time
from typing import Any, Mapping

import redis

from bot.audit.events import Event

LOG_KEY = "iacbot:audit"


def record(r: redis.Redis, event: Event, *, repository: str | None, subject: str, actor: str,
           details: Mapping[str, Any] | None = None) -> None:
    """Append ``event`` about ``subject`` (a job id, a fingerprint, ``pr:<n>``) done by ``actor``
    (``iacbot`` or a GitHub login taken from the API, never from text)."""
    entry = {"time": time.time(), "event": Event(event).value, "repository": repository, "subject": subject,
             "actor": actor, "details": dict(details or {})}
    r.rpush(LOG_KEY, json.dumps(entry, sort_keys=True))
