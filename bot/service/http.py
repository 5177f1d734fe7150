"""Reading a request body with bounded cost, shared by the webhook and the findings API.

Three bounds, so the receiver's memory is at most about ``max_large_bodies x 2 x cap`` plus
``SMALL_BODY_BYTES`` per open request whatever clients send:

* size: a declared Content-Length above the cap is refused before a byte is read, and the
  streamed count is capped as it arrives (:class:`TooLarge`, 413);
* time: the whole body must arrive within ``timeout`` seconds of the first read
  (:class:`TooSlow`, 408), so a client trickling bytes cannot hold a request open;
* concurrency: a body that is, or grows, larger than ``SMALL_BODY_BYTES`` needs one of
  ``max_large_bodies`` slots; when none is free it is refused at once (:class:`Busy`, 503 with
  Retry-After) rather than queued, since waiting requests hold connections too.

Small bodies (almost every webhook delivery) take no slot, so ordinary traffic never waits on
a large upload. One :class:`BodyReader` serves one app (one event loop): the slot count is a
plain integer changed only between awaits.
"""
from __future__ import annotations

from dataclasses import dataclass

import anyio
from starlette.requests import ClientDisconnect, Request

#: Bodies up to this size are read without a slot (and parsed on the event loop; larger ones in a thread).
SMALL_BODY_BYTES = 64 * 1024


class BodyRefused(Exception):
    """Why a body was not read; the handler answers ``status`` with ``detail``."""

    status = 400
    outcome = "bad_request"  # the metrics' outcome label

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class TooLarge(BodyRefused):
    status, outcome = 413, "too_large"


class TooSlow(BodyRefused):
    status, outcome = 408, "too_slow"


class Busy(BodyRefused):
    status, outcome = 503, "busy"


class Disconnected(BodyRefused):
    """The client went away mid-body; the answer reaches no one, but the slot is freed."""

    outcome = "disconnected"


def declared_length(request: Request) -> int | None:
    """The Content-Length header as a number; None when absent or malformed (the server refuses a
    malformed one, and the streamed count caps the body anyway)."""
    declared = request.headers.get("content-length")
    if declared is None or not declared.isascii() or not declared.isdigit():
        return None
    return int(declared)


@dataclass
class BodyReader:
    max_large_bodies: int
    timeout: float
    retry_after_seconds: int = 1
    _large_in_flight: int = 0

    def _take_slot(self) -> None:
        if self._large_in_flight >= self.max_large_bodies:
            raise Busy(f"more than {self.max_large_bodies} large bodies are being received; retry "
                       f"in {self.retry_after_seconds} s")
        self._large_in_flight += 1

    async def read(self, request: Request, max_body: int) -> bytes:
        """The whole body, or a :class:`BodyRefused` saying why not."""
        declared = declared_length(request)
        if declared is not None and declared > max_body:
            raise TooLarge(f"body larger than {max_body} bytes")
        holds_slot = False
        try:
            if declared is not None and declared > SMALL_BODY_BYTES:
                self._take_slot()
                holds_slot = True
            body = bytearray()
            with anyio.fail_after(self.timeout):
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > max_body:
                        raise TooLarge(f"body larger than {max_body} bytes")
                    if not holds_slot and len(body) > SMALL_BODY_BYTES:
                        self._take_slot()
                        holds_slot = True
            return bytes(body)
        except TimeoutError:
            raise TooSlow(f"body not received within {self.timeout:g} s") from None
        except ClientDisconnect:
            raise Disconnected("the client disconnected before the body was complete") from None
        finally:
            if holds_slot:
                self._large_in_flight -= 1

    def refusal_headers(self, refused: BodyRefused) -> dict[str, str]:
        """Headers for the answer: Retry-After when busy, and Connection: close whenever the rest
        of the body was not read (the connection cannot carry another request)."""
        headers = {"Connection": "close"}
        if isinstance(refused, Busy):
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers
