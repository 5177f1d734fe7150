"""Is the broker durable? The receiver answers 202 only for jobs a Redis restart cannot lose.

``IACBOT_BROKER_DURABILITY`` says how the receiver knows:

* ``check`` (the default): read ``appendonly``, ``appendfsync`` and ``maxmemory-policy`` with
  CONFIG GET; durable means AOF on, fsync ``everysec`` or ``always``, and ``noeviction``
  (deploy/redis.conf). A Redis that answers and is not durable stops startup, naming why.
* ``declared``: the operator vouches for it (a managed Redis that refuses CONFIG).
* ``volatile-allowed``: a Redis without persistence, knowingly (tests, a throw-away run).

The verdict is re-read while the receiver runs (bot.service.spool's drainer), so a Redis that
comes back without persistence is noticed: jobs then go to the spool and /readyz answers 503.
"""
from __future__ import annotations

import enum
from typing import Mapping

import redis


class BrokerDurability(str, enum.Enum):
    CHECK = "check"
    DECLARED = "declared"
    VOLATILE_ALLOWED = "volatile-allowed"


class Verdict(str, enum.Enum):
    """What the receiver knows about the broker; only the first three let it answer ``queued``."""

    DURABLE = "durable"                      # checked: AOF, fsync at least every second, noeviction
    DECLARED = "declared"                    # IACBOT_BROKER_DURABILITY=declared
    VOLATILE_ALLOWED = "volatile-allowed"    # IACBOT_BROKER_DURABILITY=volatile-allowed
    NO_AOF = "appendonly-off"
    LAZY_FSYNC = "appendfsync-no"
    EVICTS = "maxmemory-policy-evicts"
    CONFIG_REFUSED = "config-refused"
    UNREACHABLE = "unreachable"
    UNKNOWN = "unknown"                      # not asked yet


ACCEPTING = frozenset({Verdict.DURABLE, Verdict.DECLARED, Verdict.VOLATILE_ALLOWED})

_WHY = {
    Verdict.NO_AOF: "appendonly is off: a restart empties the queue",
    Verdict.LAZY_FSYNC: "appendfsync is 'no': the OS decides when queued jobs reach disk",
    Verdict.EVICTS: "maxmemory-policy evicts keys: a queued job or a dedup claim can be dropped",
    Verdict.CONFIG_REFUSED: "CONFIG GET is refused, so persistence cannot be checked",
    Verdict.UNREACHABLE: "Redis does not answer",
}

CONFIG_KEYS = ("appendonly", "appendfsync", "maxmemory-policy")


def judge(config: Mapping[str, str]) -> Verdict:
    """The verdict on a Redis whose CONFIG GET answered ``config``. Pure."""
    if config.get("appendonly") != "yes":
        return Verdict.NO_AOF
    if config.get("appendfsync") not in {"everysec", "always"}:
        return Verdict.LAZY_FSYNC
    if config.get("maxmemory-policy") != "noeviction":
        return Verdict.EVICTS
    return Verdict.DURABLE


def explain(verdict: Verdict) -> str:
    """Why the receiver will not call this broker durable, and what to do about it."""
    return (f"the broker is not durable: {_WHY.get(verdict, verdict.value)}. Start Redis with "
            "deploy/redis.conf, or set IACBOT_BROKER_DURABILITY=declared (a managed Redis that is "
            "persistent but refuses CONFIG) or volatile-allowed (accepting that a restart loses jobs)")


class BrokerNotDurable(RuntimeError):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(explain(verdict))
        self.verdict = verdict


def _decode(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_config(answers: list[Mapping]) -> dict[str, str]:
    return {_decode(k): _decode(v) for answer in answers for k, v in answer.items()}


def _assumed(mode: BrokerDurability) -> Verdict:
    return Verdict.DECLARED if mode is BrokerDurability.DECLARED else Verdict.VOLATILE_ALLOWED


def probe(client: redis.Redis, mode: BrokerDurability) -> Verdict:
    """Ask a (synchronous) Redis client; never raises."""
    try:
        if mode is not BrokerDurability.CHECK:
            client.ping()
            return _assumed(mode)
        return judge(_read_config([client.config_get(key) for key in CONFIG_KEYS]))
    except redis.ResponseError:
        return Verdict.CONFIG_REFUSED
    except (redis.RedisError, OSError):
        return Verdict.UNREACHABLE


async def aprobe(client, mode: BrokerDurability) -> Verdict:
    """:func:`probe` for an asyncio Redis client."""
    try:
        if mode is not BrokerDurability.CHECK:
            await client.ping()
            return _assumed(mode)
        return judge(_read_config([await client.config_get(key) for key in CONFIG_KEYS]))
    except redis.ResponseError:
        return Verdict.CONFIG_REFUSED
    except (redis.RedisError, OSError):
        return Verdict.UNREACHABLE


def startup_verdict(client: redis.Redis, mode: BrokerDurability) -> Verdict:
    """The verdict at startup; raises BrokerNotDurable for a Redis that answers and is not durable.

    An unreachable Redis does not stop startup: the receiver spools until it answers."""
    verdict = probe(client, mode)
    if verdict not in ACCEPTING and verdict is not Verdict.UNREACHABLE:
        raise BrokerNotDurable(verdict)
    return verdict
