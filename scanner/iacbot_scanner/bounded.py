"""Run checkov scans in a forked child with a memory limit and a deadline per scan.

The pre-check (iacbot_scanner.limits) refuses the files known to be costly; this is the bound
for whatever still costs too much. The child is a fork of the warm process (checkov already
imported, pages shared copy-on-write) and serves scans one after another, so only its first
scan pays for the pages it copies. It runs under RLIMIT_AS of its starting address space plus
the memory bound, and is SIGKILLed when a scan passes its deadline. Whatever happens to it
(MemoryError, the kernel's OOM killer, a segfault, a hang), the process that forked it lives on,
says which bound the scan exceeded, and forks a fresh child for the next scan.

Standard library only.
"""
from __future__ import annotations

import gc
import json
import os
import resource
import select
import signal
import struct
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from iacbot_scanner.limits import Bound

_OK, _OK_LAST, _ERROR = b"o", b"l", b"e"   # _OK_LAST: the child exits after this reply
_EXIT_MEMORY = 4
_HEADER = struct.Struct("!cQ")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Exceeded:
    """The scan did not finish: which bound it hit, and what was seen."""

    bound: Bound
    detail: str


class ScanFailed(Exception):
    """The scan raised an ordinary exception in the child (not a bound): its message."""


class BoundedScans:
    """``call(args, timeout)`` runs ``handler(args)`` (JSON in, JSON out) in the bounded child."""

    def __init__(self, handler: Callable[[Any], Any], memory_bytes: int) -> None:
        self._handler = handler
        self._memory_bytes = memory_bytes
        self._child: tuple[int, int, int] | None = None   # pid, request fd, reply fd

    def call(self, args: Any, timeout: float) -> Any:
        """The handler's result; Exceeded when a bound stopped it; ScanFailed when it raised."""
        pid, request_fd, reply_fd = self._child or self._fork()
        try:
            _write_frame(request_fd, _OK, json.dumps(args).encode())
            frame = _read_frame(reply_fd, time.monotonic() + timeout)
        except OSError:
            frame = None  # the child died while we wrote or read: its exit status says why
        if isinstance(frame, tuple):
            status, payload = frame
            if status == _OK_LAST:
                self._reap(timed_out=False, timeout=timeout)
            if status == _ERROR:
                raise ScanFailed(payload.decode("utf-8", "replace"))
            return json.loads(payload)
        return self._reap(timed_out=frame == "timeout", timeout=timeout)

    def close(self) -> None:
        if self._child is not None:
            self._reap(timed_out=True, timeout=0)

    def _fork(self) -> tuple[int, int, int]:
        gc.freeze()  # keep the collector from touching (copying) the whole warm heap in the child
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(request_write)
            os.close(reply_read)
            _serve(self._handler, request_read, reply_write, self._memory_bytes)
        os.close(request_read)
        os.close(reply_write)
        self._child = (pid, request_write, reply_read)
        return self._child

    def _reap(self, timed_out: bool, timeout: float) -> Exceeded:
        pid, request_fd, reply_fd = self._child
        self._child = None
        if timed_out:
            os.kill(pid, signal.SIGKILL)
        os.close(request_fd)
        os.close(reply_fd)
        _, status = os.waitpid(pid, 0)
        if timed_out:
            return Exceeded(Bound.TIME, f"no result within {timeout:g} s")
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig == signal.SIGKILL:  # what the kernel's out-of-memory killer sends
                return Exceeded(Bound.MEMORY, "killed (SIGKILL, as the out-of-memory killer does)")
            return Exceeded(Bound.CRASH, f"killed by {signal.Signals(sig).name}")
        if os.WEXITSTATUS(status) == _EXIT_MEMORY:
            return Exceeded(Bound.MEMORY, f"needed more than {self._memory_bytes // (1024 * 1024)} MiB")
        return Exceeded(Bound.CRASH, f"exited with status {os.WEXITSTATUS(status)}")


def _serve(handler: Callable[[Any], Any], request_fd: int, reply_fd: int, memory_bytes: int) -> None:
    code = 0
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's handlers (Celery's) are not ours
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        _die_with_parent()
        start = _address_space()
        _limit_memory(start + memory_bytes)
        while True:
            frame = _read_frame(request_fd, None)
            if not isinstance(frame, tuple):
                break  # the parent closed the pipe
            try:
                status, payload = _OK, json.dumps(handler(json.loads(frame[1])), default=str).encode()
            except MemoryError:
                raise
            except Exception as error:  # noqa: BLE001 - reported to the parent, which decides
                traceback.print_exc()
                status, payload = _ERROR, f"{type(error).__name__}: {error}".encode()
            # Grown by half the bound: retire, so the next scan gets a fresh child with all of it.
            retire = _address_space() - start > memory_bytes // 2
            _write_frame(reply_fd, _OK_LAST if retire and status == _OK else status, payload)
            if retire:
                break
    except MemoryError:
        code = _EXIT_MEMORY
    except BaseException:  # noqa: BLE001 - the parent sees the exit status
        code = 1
    os._exit(code)  # no interpreter teardown, no inherited atexit handlers or buffers flushed


def _die_with_parent() -> None:
    """A scan must not outlive the process that waits for it (a killed worker, a killed scanner)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:  # the parent died before the call took effect
        os._exit(1)


def _write_frame(fd: int, status: bytes, payload: bytes) -> None:
    view = memoryview(_HEADER.pack(status, len(payload)) + payload)
    while view:
        view = view[os.write(fd, view):]


def _read_frame(fd: int, deadline: float | None) -> tuple[bytes, bytes] | str:
    """(status, payload), or "closed" / "timeout"."""
    header = _read_exactly(fd, _HEADER.size, deadline)
    if isinstance(header, str):
        return header
    status, length = _HEADER.unpack(header)
    payload = _read_exactly(fd, length, deadline)
    return payload if isinstance(payload, str) else (status, payload)


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes | str:
    chunks, got = [], 0
    while got < size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                if time.monotonic() >= deadline:
                    return "timeout"
                continue
        chunk = os.read(fd, min(size - got, 1 << 20))
        if not chunk:
            return "closed"
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _address_space() -> int:
    with open("/proc/self/statm", "rb") as handle:
        return int(handle.read().split()[0]) * _PAGE


def _limit_memory(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft == resource.RLIM_INFINITY or wanted < soft:
        resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
