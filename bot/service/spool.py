"""The spool: where an accepted delivery waits, on local disk, while the broker cannot take it.

GitHub does not redeliver a failed webhook by itself, so a 503 would often be the only trace of
a delivery. When Redis does not answer, refuses the write, or is not durable (bot.service.
durability), the receiver writes the delivery (its job, the findings submission with it, the
body digest) to ``IACBOT_SPOOL_DIR`` atomically (temporary file, fsync, link to its final name,
fsync of the directory) and answers 202 ``spooled``. A drainer in the receiver process pushes
spooled deliveries, oldest first, through the same dedup + enqueue as a live request once the
broker is durable again, and deletes each file only after the broker took it or called it a
duplicate: a crash in between re-sends it, and the dedup answers ``duplicate``.

Bounded: at most ``IACBOT_SPOOL_MAX_ENTRIES`` files and ``IACBOT_SPOOL_MAX_BYTES`` bytes (checked
under a lock per process before each write), then 503. One file per delivery id: the same id
spooled again is a duplicate. Several receiver processes may share the directory; one drains at a
time (an flock).
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import anyio.to_thread
import redis

from bot.service.deliveries import Outcome, Record, Submit
from bot.service.durability import ACCEPTING, BrokerDurability, Verdict, aprobe

log = logging.getLogger(__name__)

SUFFIX = ".json"
_TMP_PREFIX = ".tmp-"
_LOCK_NAME = ".drain.lock"
_UNREADABLE = ".unreadable"
#: A temporary file this old belongs to a write that never finished (its request got no 202).
_STALE_TMP_SECONDS = 600
# Delivery ids (GitHub GUIDs) and submission ids ("sub-<hex>") as the receiver accepts them.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
#: How often the drainer re-reads the broker's durability and drains (seconds).
DRAIN_INTERVAL_SECONDS = 1.0
#: How long a verdict is trusted on the request path before it is asked again (seconds).
VERDICT_MAX_AGE_SECONDS = 1.0


class SpoolFull(Exception):
    """The spool is at its cap: the delivery cannot be recorded anywhere (503)."""


@dataclasses.dataclass(frozen=True)
class Spooled:
    delivery_id: str
    job: dict[str, Any]
    record: Record | None
    body_sha256: str | None

    def to_json(self) -> str:
        return json.dumps({"delivery_id": self.delivery_id, "job": self.job,
                           "record": list(self.record) if self.record else None,
                           "body_sha256": self.body_sha256})

    @classmethod
    def from_json(cls, text: str) -> "Spooled":
        data = json.loads(text)
        record = data["record"]
        return cls(data["delivery_id"], data["job"],
                   (str(record[0]), str(record[1]), int(record[2])) if record else None,
                   data.get("body_sha256"))


class Spool:
    """The spool directory. Blocking file I/O: call it from a thread."""

    def __init__(self, directory: str | Path, max_bytes: int, max_entries: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._remove_stale_tmp()

    def _files(self) -> Iterator[os.DirEntry]:
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False) and entry.name != _LOCK_NAME:
                    yield entry

    def _remove_stale_tmp(self) -> None:
        cutoff = time.time() - _STALE_TMP_SECONDS
        for entry in self._files():
            if entry.name.startswith(_TMP_PREFIX) and entry.stat().st_mtime < cutoff:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)

    def usage(self) -> tuple[int, int]:
        """(files, bytes) the spool holds, unreadable entries and unfinished writes included."""
        files = size = 0
        for entry in self._files():
            files += 1
            size += entry.stat().st_size
        return files, size

    def put(self, item: Spooled) -> bool:
        """Record ``item`` durably; False when its delivery id is spooled already. SpoolFull at the cap."""
        if not _NAME.match(item.delivery_id):
            raise ValueError(f"delivery id {item.delivery_id!r} cannot name a spool file")
        data = item.to_json().encode()
        final = self.directory / (item.delivery_id + SUFFIX)
        with self._lock:
            if final.exists():
                return False
            files, size = self.usage()
            if files + 1 > self.max_entries or size + len(data) > self.max_bytes:
                raise SpoolFull(f"spool {self.directory} holds {files} files, {size} bytes "
                                f"(caps {self.max_entries}, {self.max_bytes})")
            tmp = self.directory / f"{_TMP_PREFIX}{secrets.token_hex(8)}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, final)  # never over another process's file of the same id
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
            self._fsync_directory()
        return True

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def pending(self) -> list[Path]:
        """The spooled deliveries, oldest first."""
        found = [(entry.stat().st_mtime, entry.name) for entry in self._files()
                 if entry.name.endswith(SUFFIX) and not entry.name.startswith(_TMP_PREFIX)]
        return [self.directory / name for _, name in sorted(found)]

    def read(self, path: Path) -> Spooled | None:
        """The delivery in ``path``; None (and the file set aside, named in the log) when unreadable."""
        try:
            return Spooled.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None  # another drainer took it
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            log.error("spool: %s is unreadable (%s); set aside as %s%s", path.name, type(exc).__name__,
                      path.name, _UNREADABLE)
            with contextlib.suppress(FileNotFoundError):
                os.replace(path, path.with_name(path.name + _UNREADABLE))
            return None

    def remove(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self._fsync_directory()

    @contextlib.contextmanager
    def drain_lock(self) -> Iterator[bool]:
        """True while this process is the one draining (several receivers may share the spool)."""
        with open(self.directory / _LOCK_NAME, "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class BrokerGuard:
    """The last verdict on the broker's durability, asked again when older than ``max_age``."""

    def __init__(self, mode: BrokerDurability, client, verdict: Verdict = Verdict.UNKNOWN,
                 max_age: float = VERDICT_MAX_AGE_SECONDS) -> None:
        self.mode = mode
        self.client = client  # () -> asyncio Redis
        self.verdict = verdict
        self.max_age = max_age
        self._asked = time.monotonic() if verdict is not Verdict.UNKNOWN else float("-inf")

    async def refresh(self) -> Verdict:
        self._asked = time.monotonic()
        verdict = await aprobe(self.client(), self.mode)
        if verdict is not self.verdict:
            (log.info if verdict in ACCEPTING else log.warning)("broker: %s (was %s)", verdict.value,
                                                                self.verdict.value)
        self.verdict = verdict
        return verdict

    async def accepting(self) -> bool:
        if time.monotonic() - self._asked >= self.max_age:
            await self.refresh()
        return self.verdict in ACCEPTING

    def lost(self) -> None:
        """The broker failed a request: spool from now on until it answers again."""
        self.verdict = Verdict.UNREACHABLE
        self._asked = time.monotonic()


class SpoolingSubmit:
    """``submit`` to the broker when it is durable and answers; else into the spool.

    Without a spool, a delivery the broker cannot take is ENQUEUE_FAILED (the caller answers 503)."""

    def __init__(self, submit: Submit, guard: BrokerGuard, spool: Spool | None) -> None:
        self.submit = submit
        self.guard = guard
        self.spool = spool

    async def __call__(self, delivery_id: str, job: dict[str, Any], record: Record | None = None, *,
                       body_sha256: str | None = None) -> Outcome:
        if await self.guard.accepting():
            try:
                outcome = await self.submit(delivery_id, job, record, body_sha256=body_sha256)
            except redis.RedisError as exc:
                log.warning("delivery %s: the broker failed (%s)", delivery_id, type(exc).__name__)
                if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
                    self.guard.lost()  # not for a refusal (OOM, wrong type): Redis still answers
            else:
                if outcome is not Outcome.ENQUEUE_FAILED:
                    return outcome
        if self.spool is None:
            return Outcome.ENQUEUE_FAILED
        item = Spooled(delivery_id, job, record, body_sha256)
        try:
            written = await anyio.to_thread.run_sync(self.spool.put, item)
        except (SpoolFull, OSError) as exc:
            log.error("delivery %s: not spooled (%s)", delivery_id, exc)
            return Outcome.ENQUEUE_FAILED
        return Outcome.SPOOLED if written else Outcome.DUPLICATE

    async def drain_once(self) -> int:
        """Enqueue what the spool holds while the broker is durable; how many files left the spool."""
        if self.spool is None or await self.guard.refresh() not in ACCEPTING:
            return 0
        spool = self.spool
        done = 0
        with spool.drain_lock() as mine:
            if not mine:
                return 0
            for path in await anyio.to_thread.run_sync(spool.pending):
                item = await anyio.to_thread.run_sync(spool.read, path)
                if item is None:
                    continue
                try:
                    outcome = await self.submit(item.delivery_id, item.job, item.record,
                                                body_sha256=item.body_sha256)
                except redis.RedisError as exc:
                    log.warning("spool: the broker failed while draining (%s); later", type(exc).__name__)
                    break
                if outcome in (Outcome.QUEUED, Outcome.DUPLICATE):
                    log.info("spool: delivery %s %s", item.delivery_id, outcome.value)
                    await anyio.to_thread.run_sync(spool.remove, path)
                    done += 1
        return done

    async def drain_forever(self, interval: float = DRAIN_INTERVAL_SECONDS) -> None:
        while True:
            try:
                await self.drain_once()
            except OSError as exc:  # the spool's disk; try again next round
                log.error("spool: draining failed (%s)", exc)
            await asyncio.sleep(interval)
