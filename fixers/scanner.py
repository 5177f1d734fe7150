"""Client of the long-lived checkov process (scanner/iacbot_scanner/server.py).

checkov lives in its own environment (.venv-scanner) because its bc-python-hcl2 breaks the
engine's python-hcl2. This module talks to it over JSON lines on the child's stdin/stdout, so
checkov's import cost (~2 s) is paid once per process instead of once per verification scan.
"""
from __future__ import annotations

import collections
import itertools
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Mapping, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON_ENV_VAR = "IACBOT_SCANNER_PYTHON"
STDERR_LINES_KEPT = 200     # enough to show a traceback, bounded for a process that lives for days
STDERR_LINES_SHOWN = 20
SHUTDOWN_GRACE_SECONDS = 5.0


class ScannerError(Exception):
    """The scanner process is missing, died, timed out or refused a request."""


class _ProcessDied(ScannerError):
    """The process exited while a request was in flight: the request may be tried again."""


def _what(message: Mapping[str, Any]) -> str:
    """A request, named for a person: its op and, for a scan, what it scanned."""
    if message.get("op") != "scan":
        return f"the {message.get('op')!r} request"
    files = message.get("files")
    listed = "" if files is None else f" files {', '.join(map(str, files[:10]))}{' ...' if len(files) > 10 else ''}"
    return f"the scan of {message.get('root')}{listed}"


@dataclass(frozen=True)
class CheckResult:
    """One checkov result record, with paths relative to the scanned root."""

    check_id: str
    check_name: str
    file: str                       # root-relative POSIX path, no leading "/"
    line_start: int
    line_end: int
    resource: str
    evaluated_keys: tuple[str, ...]
    severity: str | None
    caller_file: str | None         # root-relative module caller, for resources inside modules
    raw: dict                       # the record as the server sent it

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity used to compare a scan before a patch with the scan after it."""
        return (self.check_id, self.resource, self.file)


@dataclass(frozen=True)
class Refused:
    """A file the scanner did not scan because it exceeded a bound (iacbot_scanner.limits)."""

    file: str                       # root-relative POSIX path
    bound: str                      # which bound: "file size", "YAML alias expansion", "memory", ...
    detail: str

    def problem(self) -> str:
        return f"{self.file}: refused ({self.bound}: {self.detail}); not scanned"


@dataclass(frozen=True)
class ScanResult:
    failed: tuple[CheckResult, ...]
    passed: tuple[CheckResult, ...]
    parsing_errors: tuple[str, ...]     # root-relative paths of files checkov could not parse
    refused: tuple[Refused, ...] = ()   # files not scanned: they exceeded a bound

    @property
    def unscanned(self) -> tuple[str, ...]:
        """Files this result says nothing about (a verification must not read "no failure" there)."""
        return self.parsing_errors + tuple(r.file for r in self.refused)


class Scanner:
    """One checkov process, started on first use and restarted after it dies or times out.

    ``timeout`` is for a process that stopped answering: the process bounds each scan itself
    (IACBOT_SCAN_TIMEOUT_SECONDS, 120 s per checkov run, 360 s for a request it had to split).

    Use as a context manager, or call close(). Calls are serialized: one request at a time.
    """

    def __init__(self, repo_root: Path | None = None, python: Path | None = None, timeout: float = 600) -> None:
        self._repo_root = Path(repo_root) if repo_root else REPO_ROOT
        self._python = Path(python) if python else _default_python(self._repo_root)
        self._timeout = timeout
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._process: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[str | None] = queue.Queue()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES_KEPT)
        self._stderr_pump: threading.Thread | None = None

    def __enter__(self) -> Scanner:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- operations ---------------------------------------------------------------------------

    def ping(self) -> str:
        """Return checkov's version; starts the process if needed."""
        return str(self._request({"op": "ping"})["checkov_version"])

    def scan(self, root: Path, files: Sequence[Path] | None = None) -> ScanResult:
        """Scan `root` like `checkov -d root` (files=None) or just `files` like `checkov -f`."""
        root = Path(root).resolve()
        file_list = None if files is None else [str(_under(root, Path(file))) for file in files]
        reply = self._request({"op": "scan", "root": str(root), "files": file_list})
        return scan_result_from_reply(reply, root)

    def scan_texts(self, files: Mapping[str, str]) -> ScanResult:
        """Scan file contents given as {relative path: text}; result paths are those relative paths.

        The texts are written byte-for-byte into a fresh temporary directory that is scanned as
        one root (so Terraform files see their sibling variables) and then removed."""
        if not files:
            raise ScannerError("scan_texts needs at least one file")
        directory = Path(tempfile.mkdtemp(prefix="iacbot-scan-"))
        try:
            for relative, text in files.items():
                target = directory / _safe_relative(relative)
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "w", encoding="utf-8", newline="") as handle:
                    handle.write(text)
            return self.scan(directory)
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def catalog(self) -> dict:
        """checkov's rule metadata as exported by iacbot_scanner.catalog."""
        catalog = self._request({"op": "catalog"})["catalog"]
        if not isinstance(catalog, dict):
            raise ScannerError(f"scanner sent a catalog that is not an object: {type(catalog).__name__}")
        return catalog

    def graph_connections(self) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
        """[(resource kinds, connected kinds)] that checkov's Kubernetes graph checks connect."""
        connections = self._request({"op": "graph_connections"})["connections"]
        if not isinstance(connections, list) or not all(
                isinstance(c, list) and len(c) == 2 and all(isinstance(side, list) for side in c) for c in connections):
            raise ScannerError("scanner sent graph connections that are not [[kinds], [kinds]] pairs")
        return [(tuple(map(str, kinds)), tuple(map(str, connected))) for kinds, connected in connections]

    def close(self) -> None:
        with self._lock:
            self._stop()

    # -- process handling ---------------------------------------------------------------------

    def _request(self, message: dict[str, Any]) -> dict[str, Any]:
        """One request; when the process died under it (killed from outside, say by the
        out-of-memory killer), a fresh process is started and the request sent once more."""
        try:
            return self._request_once(message)
        except _ProcessDied:
            pass
        try:
            return self._request_once(message)
        except _ProcessDied as died:
            raise ScannerError(f"{died} (twice, on {_what(message)})") from None

    def _request_once(self, message: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            process = self._ensure_started()
            request_id = next(self._ids)
            try:
                assert process.stdin is not None
                process.stdin.write(json.dumps({"id": request_id, **message}) + "\n")
                process.stdin.flush()
            except (BrokenPipeError, OSError) as error:
                raise self._fail(f"could not send the request ({error})")
            reply = self._read_reply(request_id)
        if not reply.get("ok"):
            raise ScannerError(f"scanner refused {_what(message)}: {reply.get('error', 'no reason given')}")
        return reply

    def _read_reply(self, request_id: int) -> dict[str, Any]:
        try:
            line = self._replies.get(timeout=self._timeout)
        except queue.Empty:
            raise self._fail(f"no answer within {self._timeout:g} s")
        if line is None:
            raise _ProcessDied(str(self._fail("the scanner process exited")))
        try:
            reply = json.loads(line)
        except json.JSONDecodeError:
            raise self._fail(f"the scanner wrote a line that is not protocol JSON: {line[:200]!r}")
        if reply.get("id") != request_id:
            raise self._fail(f"reply id {reply.get('id')!r} does not match request id {request_id}")
        return reply

    def _fail(self, what: str) -> ScannerError:
        """Stop the broken process (the next call starts a fresh one) and explain what happened."""
        self._stop(kill=True)
        if self._stderr_pump is not None:
            self._stderr_pump.join(timeout=1.0)  # let the last lines (often a traceback) arrive
        tail = list(self._stderr_tail)[-STDERR_LINES_SHOWN:]
        detail = "\n".join(tail) if tail else "(its stderr was empty)"
        return ScannerError(f"checkov scanner failed: {what}. Last lines of its stderr:\n{detail}")

    def _ensure_started(self) -> subprocess.Popen[str]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._stop()
        if not self._python.exists():
            raise ScannerError(
                f"the checkov scanner environment is missing: {self._python} does not exist. "
                f"Create it with `scripts/setup` (or `cd {self._repo_root / 'scanner'} && "
                f"UV_PROJECT_ENVIRONMENT=../.venv-scanner uv sync`), or point {PYTHON_ENV_VAR} "
                f"at a python that has checkov installed."
            )
        replies: queue.Queue[str | None] = queue.Queue()
        self._replies = replies
        self._stderr_tail = collections.deque(maxlen=STDERR_LINES_KEPT)
        try:
            process = subprocess.Popen(
                [str(self._python), "-m", "iacbot_scanner.server"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=_child_env(self._repo_root),
                cwd=str(self._repo_root),
            )
        except OSError as error:
            raise ScannerError(f"could not start the checkov scanner with {self._python}: {error}") from error
        # Drain both pipes on threads: a full stderr pipe would block the child forever, and the
        # stdout queue lets a reply wait be bounded by a timeout.
        # Each process gets its own reply queue: a dead process's pump can never feed the next one.
        _start_pump(process.stdout, replies.put, end=lambda: replies.put(None))
        stderr_tail = self._stderr_tail
        self._stderr_pump = _start_pump(process.stderr, lambda line: stderr_tail.append(line.rstrip("\n")))
        self._process = process
        return process

    def _stop(self, kill: bool = False) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if kill:  # a hung or confused process gets no grace period
            process.kill()
            process.wait()
            return
        try:
            if process.stdin:
                process.stdin.close()   # the server exits when its stdin ends
        except OSError:
            pass
        try:
            process.wait(timeout=SHUTDOWN_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def scan_result_from_reply(reply: Mapping[str, Any], root: Path) -> ScanResult:
    """Turn a scan reply into root-relative, typed results (pure)."""
    return ScanResult(
        failed=tuple(check_result_from_record(record, root) for record in reply.get("failed", [])),
        passed=tuple(check_result_from_record(record, root) for record in reply.get("passed", [])),
        parsing_errors=tuple(_relative_to_root(path, root) for path in reply.get("parsing_errors", [])),
        refused=tuple(Refused(_relative_to_root(str(entry["path"]), root), str(entry["bound"]), str(entry["detail"]))
                      for entry in reply.get("refused", [])),
    )


def check_result_from_record(record: Mapping[str, Any], root: Path) -> CheckResult:
    lines = record.get("file_line_range") or [0, 0]
    check_result = record.get("check_result") or {}
    abs_path = record.get("file_abs_path")
    file = _relative_to_root(abs_path, root) if abs_path else str(record.get("file_path", "")).lstrip("/")
    caller = record.get("caller_file_path")
    return CheckResult(
        check_id=str(record.get("check_id", "")),
        check_name=str(record.get("check_name", "")),
        file=file,
        line_start=int(lines[0]),
        line_end=int(lines[1]),
        resource=str(record.get("resource", "")),
        evaluated_keys=tuple(str(key) for key in check_result.get("evaluated_keys") or ()),
        severity=record.get("severity"),
        caller_file=caller.lstrip("/") if caller else None,
        raw=dict(record),
    )


def _relative_to_root(path: str, root: Path) -> str:
    """Root-relative POSIX path; a path outside the root stays absolute so it is never mistaken."""
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _under(root: Path, file: Path) -> Path:
    return (file if file.is_absolute() else root / file).resolve()


def _safe_relative(relative: str) -> PurePosixPath:
    path = PurePosixPath(relative)
    if not relative or path.is_absolute() or ".." in path.parts:
        raise ScannerError(f"scan_texts needs relative paths inside the scanned root, got {relative!r}")
    return path


def _default_python(repo_root: Path) -> Path:
    configured = os.environ.get(PYTHON_ENV_VAR)
    return Path(configured) if configured else repo_root / ".venv-scanner" / "bin" / "python"


def _child_env(repo_root: Path) -> dict[str, str]:
    env = dict(os.environ)
    scanner_path = str(repo_root / "scanner")
    # Only the scanner package: the engine's own packages must not be importable next to checkov.
    env["PYTHONPATH"] = scanner_path
    env["BC_SKIP_MAPPING"] = "TRUE"
    env.pop("VIRTUAL_ENV", None)
    return env


def _start_pump(stream: IO[str] | None, on_line: Any, end: Any = None) -> threading.Thread:
    def pump() -> None:
        assert stream is not None
        for line in stream:
            on_line(line)
        if end is not None:
            end()

    thread = threading.Thread(target=pump, name="iacbot-scanner-pipe", daemon=True)
    thread.start()
    return thread
