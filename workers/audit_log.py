"""The service's audit log (docs/audit-log.md): ``record`` appends one hash-chained entry to the
Redis list ``iacbot:audit`` (bot.audit.redis_log, which owns its keys), with a checkpoint signed by
the deployment's key (workers.signing) every CHECKPOINT_EVERY entries or CHECKPOINT_SECONDS.

Without a signing key the entries are still recorded and checkpoints skipped (one warning per
process): an event is never lost for want of a key. The deployment must give this Redis
persistence (AOF), as for the broker: the log is only as durable as Redis.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

import redis

from bot.audit.events import Event
from bot.audit.redis_log import (CHECKPOINT_EVERY, CHECKPOINT_SECONDS, HEAD_KEY, LOG_KEY, ONCE_PREFIX,  # noqa: F401
                                 CheckpointStatus, append, checkpoint, checkpoint_status, export)

log = logging.getLogger(__name__)

SERVICE_ACTOR = "iacbot"
_warned_no_key = False


def record(r: redis.Redis, event: Event, *, repository: str | None, subject: str, actor: str,
           details: Mapping[str, Any] | None = None, once: str | None = None) -> bool:
    """Append ``event`` about ``subject`` (a job id, a fingerprint, ``pr:<n>``) done by ``actor``
    (``iacbot`` or a GitHub login taken from the API, never from text). ``once``: a key naming
    this occurrence (e.g. ``received:<delivery id>``); an event already recorded under it is not
    recorded again (False), so a redelivered task records its event once."""
    return append(r, event, repository=repository, subject=subject, actor=actor, details=details, once=once,
                  key=_service_key) is not None


def merged_once(repository: str, number: int) -> str:
    """The occurrence key of PR ``number``'s merge: iacbot's merge task and the merge watch (which
    also sees a person's merge) both record it, and it is recorded once."""
    return f"merged:{repository.lower()}:{int(number)}"


def _service_key():
    """The deployment's signing key, or None (a warning, once per process)."""
    global _warned_no_key
    from workers.runtime import settings
    from workers.signing import SigningKeyMissing, signing_key
    try:
        return signing_key(settings())
    except SigningKeyMissing as exc:
        if not _warned_no_key:
            _warned_no_key = True
            log.warning("audit log: checkpoints are not signed (%s); entries are still recorded", exc)
        return None
