"""What a worker process builds once and every task shares: its settings, the rule catalog, one
Redis client per URL (scanner/iacbot_scanner/redis_clients.py, shared with the scan worker) and,
for verification, one long-lived checkov process (started on first use)."""
from __future__ import annotations

import functools
import threading

import redis

from bot.settings import CommonSettings
from fixers.catalog import load_catalog
from fixers.scanner import Scanner
from scanner.iacbot_scanner.redis_clients import task_redis

_scanner: Scanner | None = None
_scanner_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def settings() -> CommonSettings:
    return CommonSettings()


@functools.lru_cache(maxsize=1)
def catalog():
    return load_catalog()


def redis_client(url: str) -> redis.Redis:
    """The tasks' client for ``url`` (one per process; it rides out a Redis restart)."""
    return task_redis(url)


def scanner() -> Scanner:
    """One long-lived checkov process per worker process, for verification."""
    global _scanner
    with _scanner_lock:
        if _scanner is None:
            _scanner = Scanner()
        return _scanner
