"""The Redis client every worker task uses, in both environments (standard library and redis only).

A client from a pool outlives a Redis restart: a pooled connection that the restart closed is
found at checkout and opened again. What it must also ride out is the restart itself: a command
sent while Redis is down (a refused connection) is tried again with backoff, for about
``CONNECT_RETRY_SECONDS``, before it fails and the task's own retry takes over. A timeout is
not retried: a Redis that accepted the command and did not answer may have run it.
"""
from __future__ import annotations

import functools

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

SOCKET_TIMEOUT_SECONDS = 5
CONNECT_TIMEOUT_SECONDS = 2
#: Waits of 0.2, 0.4, 0.8, 1.6 and then 2 s: about this long in all.
CONNECT_RETRIES = 8
CONNECT_RETRY_SECONDS = 11


def connect_retry() -> Retry:
    return Retry(ExponentialBackoff(cap=2, base=0.1), CONNECT_RETRIES, supported_errors=(redis.ConnectionError,))


@functools.lru_cache(maxsize=4)
def task_redis(url: str) -> redis.Redis:
    """One client (and connection pool) per URL and process."""
    return redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT_SECONDS,
                                socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, retry=connect_retry())
