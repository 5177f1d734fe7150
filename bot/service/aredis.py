"""One asyncio Redis client per event loop.

Why: an asyncio connection belongs to the loop that opened it. A server process runs one loop,
but a test client may start a fresh loop for each request; reusing a connection across loops
fails. The client is created on first use inside the running loop.
"""
from __future__ import annotations

import asyncio

import redis.asyncio


class LoopLocalRedis:
    def __init__(self, url: str, **options) -> None:
        self._url = url
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: redis.asyncio.Redis | None = None

    def __call__(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = redis.asyncio.Redis.from_url(self._url, **self._options)
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = None
