"""uvicorn's httptools protocol with a deadline for each request's head (request line and headers).

uvicorn bounds idle keep-alive connections (``--timeout-keep-alive``) and the number of
connections (``--limit-concurrency``), but not how long a client may take to send its headers:
a connection that trickles a header byte at a time stays open for ever. This protocol closes it
with 408 when the head is not complete ``IACBOT_HEADER_TIMEOUT_SECONDS`` (settings.py) after
the connection opened, or after the request's first byte on a kept-alive connection. The body has its own
deadline in the app (bot.service.http). Used as ``uvicorn --http bot.service.uvicorn_http:HttpTools``.
"""
from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bot.service.settings import Settings

_TIMEOUT_ANSWER = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class HttpTools(HttpToolsProtocol):
    # Read when uvicorn loads this class, so a bad value stops startup with the setting named.
    head_timeout = Settings().header_timeout_seconds
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_deadline()  # the next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.write(_TIMEOUT_ANSWER)
            self.transport.close()
