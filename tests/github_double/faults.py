"""Injected faults: answer the next matching requests with an error, or hold them for a while.

Used to test retries and convergence (5xx, secondary and primary rate limits, lost answers)
and to hold a worker mid-request. Matching is by method and a regex searched in the URL path.
"""
from __future__ import annotations

import http
import re
import threading
import time
from dataclasses import dataclass, field

from . import render

SECONDARY_MESSAGE = ("You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
                     "If you reach out to GitHub Support for help, please include the request ID "
                     "C0DE:1D0B:51DE:F00D:65A7D5C4.")
SECONDARY_DOCS = ("https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                  "#about-secondary-rate-limits")
PRIMARY_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits"


@dataclass
class Fault:
    method: str
    pattern: re.Pattern
    status: int  # 0: no error, only the delay, then normal handling
    headers: dict[str, str] = field(default_factory=dict)
    body: dict | None = None
    remaining: int = 1
    delay: float = 0.0
    after_handling: bool = False  # handle the request (its effects happen), then answer with the fault

    def answer(self) -> tuple[int, dict | None, dict[str, str]]:
        body = self.body
        if body is None and self.status >= 400:
            body = render.error(self.status, _phrase(self.status))
        return self.status, body, dict(self.headers)


def _phrase(status: int) -> str:
    if status >= 500:
        return "Server Error"  # what GitHub's JSON 5xx bodies say
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Fault] = []
        self.served: list[tuple[str, str, int]] = []

    def add(self, fault: Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._pending.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        """The first pending fault for this request (used up by one), recorded as served."""
        with self._lock:
            for fault in self._pending:
                if fault.method == method.upper() and fault.pattern.search(path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._pending.remove(fault)
                    self.served.append((method.upper(), path, fault.status))
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(f.remaining for f in self._pending)


def secondary_rate_limit(retry_after: int | None, status: int = 403) -> tuple[dict, dict]:
    """GitHub's secondary-rate-limit answer: its real message; retry-after when given."""
    headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
    return headers, {"message": SECONDARY_MESSAGE, "documentation_url": SECONDARY_DOCS}


def rate_limit_exhausted(reset_in: float, installation_id: int | None = None) -> tuple[dict, dict]:
    """GitHub's primary-rate-limit answer: remaining 0 and the reset time in epoch seconds."""
    reset = int(time.time() + reset_in)
    headers = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-used": "5000",
               "x-ratelimit-reset": str(reset), "x-ratelimit-resource": "core"}
    who = f" for installation ID {installation_id}" if installation_id is not None else ""
    return headers, {"message": f"API rate limit exceeded{who}.", "documentation_url": PRIMARY_DOCS}
