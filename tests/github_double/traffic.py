"""What the double was asked, to count it: every request in order, how many were in flight at
once, and gatherings that hold requests until enough are in flight together (which proves that a
client really sends them at the same time, without measuring any time)."""
from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import dataclass, field


@dataclass
class Gathering:
    """Hold the matching requests until ``count`` of them are in flight together (then let them all
    go), or ``timeout`` seconds have passed (then ``met`` stays False and the test can say so)."""

    method: str
    pattern: re.Pattern
    count: int
    timeout: float
    arrived: int = 0
    met: bool = False
    _event: asyncio.Event | None = field(default=None, repr=False)

    async def wait(self) -> None:
        # Every request is served on the double's one event loop, so the event can be made here.
        if self._event is None:
            self._event = asyncio.Event()
        if self.met:
            self._event.set()
            return
        try:
            await asyncio.wait_for(self._event.wait(), self.timeout)
        except asyncio.TimeoutError:
            pass


class Traffic:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._gatherings: list[Gathering] = []

    def begin(self, method: str, path: str) -> Gathering | None:
        """Count one request in; the gathering it joins, if any."""
        with self._lock:
            self.requests.append((method.upper(), path))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            for gathering in self._gatherings:
                if not gathering.met and gathering.method == method.upper() and gathering.pattern.search(path):
                    gathering.arrived += 1
                    gathering.met = gathering.arrived >= gathering.count
                    return gathering
        return None

    def end(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def gather(self, method: str, path_regex: str, count: int, timeout: float) -> Gathering:
        gathering = Gathering(method.upper(), re.compile(path_regex), count, timeout)
        with self._lock:
            self._gatherings.append(gathering)
        return gathering

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = self.in_flight
