"""What a worker process builds once and every task shares: its settings, the rule catalog, one
Redis client per URL and, for verification, one long-lived checkov process (started on first use)."""
from __future__ import annotations

import functools
import threading

import redis

from bot.service.settings import CommonSettings
from fixers.catalog import load_catalog
from fixers.scanner import Scanner

_scanner: Scanner | None = None
_scanner_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def settings() -> CommonSettings:
    return CommonSettings()


@functools.lru_cache(maxsize=1)
def catalog():
    return load_catalog()


@functools.lru_cache(maxsize=4)
def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)


def scanner() -> Scanner:
    """One long-lived checkov process per worker process, for verification."""
    global _scanner
    with _scanner_lock:
        if _scanner is None:
            _scanner = Scanner()
        return _scanner
