"""What the double was asked, to count it: every request in order, and gatherings that hold
requests until enough are in flight together. A gathering proves with a count, not a clock, how
many requests a client really sends at once (the double serves each request on one event loop
without yielding, so a plain in-flight counter would only ever see one)."""
from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass, field


@dataclass
class Gathering:
    """Hold the matching requests until ``count`` of them are in flight together, or until
    ``timeout`` seconds after the first arrived; then let them all go. ``arrived`` is how many were
    held together, ``met`` whether that reached ``count``. Once done, later requests pass freely."""

    method: str
    pattern: re.Pattern
    count: int
    timeout: float
    arrived: int = 0
    met: bool = False
    done: bool = False
    _event: asyncio.Event | None = field(default=None, repr=False)

    async def wait(self) -> None:
        # Every request is served on the double's one event loop, so the event can be made here.
        if self._event is None:
            self._event = asyncio.Event()
        if self.done:
            self._event.set()
            return
        try:
            await asyncio.wait_for(self._event.wait(), self.timeout)
        except asyncio.TimeoutError:
            self.done = True
            self._event.set()


class Traffic:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self._gatherings: list[Gathering] = []

    def begin(self, method: str, path: str) -> Gathering | None:
        """Count one request in; the gathering it joins, if any."""
        with self._lock:
            self.requests.append((method.upper(), path))
            for gathering in self._gatherings:
                if not gathering.done and gathering.method == method.upper() and gathering.pattern.search(path):
                    gathering.arrived += 1
                    gathering.met = gathering.done = gathering.arrived >= gathering.count
                    return gathering
        return None

    def gather(self, method: str, path_regex: str, count: int, timeout: float) -> Gathering:
        gathering = Gathering(method.upper(), re.compile(path_regex), count, timeout)
        with self._lock:
            self._gatherings.append(gathering)
        return gathering

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
