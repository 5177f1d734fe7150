"""When and how long to wait before retrying a GitHub call (pure: no I/O, injectable clock and sleep).

GitHub's guidance (docs "Rate limits for the REST API" and "Best practices"):
* ``retry-after`` present: wait that many seconds;
* ``x-ratelimit-remaining: 0``: the primary limit is used up, wait until ``x-ratelimit-reset``;
* otherwise a 403/429 secondary rate limit: wait at least one minute;
* 5xx and connection failures are transient: back off exponentially.

One call may only wait ``max_wait`` seconds in-process in total; a longer wait becomes
GitHubRetryLater so that a worker is not blocked (the job is retried later instead).
The two transports (bot.github.http for requests, bot.github.client for PyGithub) share this.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Callable, Mapping

from bot.github.errors import GitHubRetryLater

SERVER_ERROR = "server error"
CONNECTION = "connection error"
SECONDARY = "secondary rate limit"
PRIMARY = "rate limit exhausted"

# Lower-cased message starts/ends GitHub uses (PyGithub's Requester matches the same ones).
_SECONDARY_MARKS = ("you have exceeded a secondary rate limit", "you have triggered an abuse detection mechanism")
_SECONDARY_ENDS = ("please retry your request again later.", "please wait a few minutes before you try again.")
_PRIMARY_MARK = "api rate limit exceeded"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5          # tries per call, the first one included
    max_wait: float = 30.0         # total seconds one call may sleep in-process
    secondary_wait: float = 60.0   # secondary rate limit without retry-after ("at least one minute")
    backoff: float = 0.5           # 5xx / connection errors: backoff * 2**(attempt-1) ...
    backoff_max: float = 8.0       # ... capped at this
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time

    def backoff_wait(self, attempt: int) -> float:
        return min(self.backoff_max, self.backoff * 2 ** max(0, attempt - 1))


DEFAULT_POLICY = RetryPolicy()


@dataclass(frozen=True)
class Transient:
    kind: str    # SERVER_ERROR, CONNECTION, SECONDARY or PRIMARY
    wait: float  # seconds GitHub (or the backoff) asks for before the next attempt

    @property
    def rate_limited(self) -> bool:
        return self.kind in (SECONDARY, PRIMARY)


def _lower(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


def is_secondary_message(message: str | None) -> bool:
    m = (message or "").strip().lower()
    return m.startswith(_SECONDARY_MARKS) or m.endswith(_SECONDARY_ENDS)


def is_primary_message(message: str | None) -> bool:
    return (message or "").strip().lower().startswith(_PRIMARY_MARK)


def needs_message(status: int, headers: Mapping[str, str] | None) -> bool:
    """Only a 403 without rate-limit headers needs its body read to tell a rate limit from a refusal."""
    h = _lower(headers)
    return status == 403 and "retry-after" not in h and h.get("x-ratelimit-remaining") != "0"


def _retry_after(value: str | None, now: float) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # an HTTP date is also allowed by RFC 9110
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def _until_reset(h: dict[str, str], policy: RetryPolicy) -> float | None:
    try:
        reset = float(h["x-ratelimit-reset"])
    except (KeyError, ValueError):
        return None
    # +1: the reset is given in whole seconds and it is not known when in that second it happens.
    return max(0.0, reset - policy.clock()) + 1.0


def classify(status: int, headers: Mapping[str, str] | None, message: str | None, attempt: int,
             policy: RetryPolicy = DEFAULT_POLICY) -> Transient | None:
    """Is this answer to attempt number `attempt` (1-based) transient, and how long to wait? None: not transient."""
    h = _lower(headers)
    retry_after = _retry_after(h.get("retry-after"), policy.clock())
    if status >= 500:
        return Transient(SERVER_ERROR, policy.backoff_wait(attempt) if retry_after is None else retry_after)
    if status not in (403, 429):
        return None
    if retry_after is not None:
        kind = PRIMARY if h.get("x-ratelimit-remaining") == "0" else SECONDARY
        return Transient(kind, retry_after)
    if h.get("x-ratelimit-remaining") == "0" or is_primary_message(message):
        reset = _until_reset(h, policy)
        return Transient(PRIMARY, policy.secondary_wait if reset is None else reset)
    if status == 429 or is_secondary_message(message):
        return Transient(SECONDARY, policy.secondary_wait)
    return None  # a plain 403: permission refused, not worth a retry


def connection_error(attempt: int, policy: RetryPolicy = DEFAULT_POLICY) -> Transient:
    return Transient(CONNECTION, policy.backoff_wait(attempt))


def next_wait(transient: Transient, attempt: int, waited: float, where: str,
              policy: RetryPolicy = DEFAULT_POLICY) -> float | None:
    """Seconds to sleep before attempt `attempt + 1`; None when attempts are used up for a 5xx or
    connection error (the caller then reports the last failure). Raises GitHubRetryLater when
    a rate limit outlasts the attempts or any wait would exceed the call's in-process budget."""
    if attempt >= policy.max_attempts:
        if transient.rate_limited:
            raise GitHubRetryLater(transient.wait, f"{where}: {transient.kind} still in force after {attempt} "
                                                   f"attempts; retry in {transient.wait:.0f} s")
        return None
    if waited + transient.wait > policy.max_wait:
        raise GitHubRetryLater(transient.wait, f"{where}: {transient.kind}, GitHub asks to wait "
                                               f"{transient.wait:.0f} s, more than this call may wait in-process "
                                               f"({policy.max_wait:.0f} s in all); retry later")
    return transient.wait
