"""The audit log as a JSON-lines file: one entry or one checkpoint line (``{"checkpoint": ENVELOPE}``)
a line, in order: what ``iacbot audit export`` writes and ``iacbot fix --audit-log FILE`` appends.

A local run continues the chain of the file it is given; a file whose chain does not verify is
refused (appending to it would bury the damage under good entries)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Mapping

from bot.audit import chain
from bot.audit.events import Event


class AuditFileError(ValueError):
    """The audit file cannot be used: says why."""


def read_lines(path: Path) -> Iterator[bytes]:
    """The file's lines, refusing an over-long one before reading it whole."""
    with open(path, "rb") as handle:
        while True:
            raw = handle.readline(chain.MAX_LINE_BYTES + 2)
            if not raw:
                return
            yield raw


def verify_file(path: Path, trusted_keys=None, outside_checkpoints=()) -> chain.VerifyResult:
    return chain.verify(read_lines(path), trusted_keys, outside_checkpoints)


class Appender:
    """Appends a run's entries to ``path``, continuing its chain (a new file starts at seq 0);
    ``close`` writes a signed checkpoint for the whole file when a key is given."""

    def __init__(self, path: Path, key=None) -> None:
        self.path, self.key = Path(path), key
        if self.path.exists():
            if not self.path.is_file():
                raise AuditFileError(f"{self.path}: not a regular file")
            result = verify_file(self.path, None)
            if not result.ok:
                raise AuditFileError(f"{self.path}: its chain does not verify ({result.problem}); not appending to it "
                                     "(check it with `iacbot audit verify`)")
            self.size, self.head = result.entries, result.head
        else:
            self.size, self.head = 0, chain.GENESIS
        self.appended = 0

    def _write(self, line: str) -> None:
        # One write per line, O_APPEND, flushed: a run killed midway leaves whole lines only (a torn
        # last line is refused by the next run, which says so).
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def record(self, event: Event, *, repository: str | None, subject: str, actor: str,
               details: Mapping[str, Any] | None = None) -> dict[str, Any]:
        entry = chain.make_entry(self.size, self.head, event, repository=repository, subject=subject, actor=actor,
                                 details=details)
        self._write(chain.entry_line(entry))
        self.size, self.head = self.size + 1, entry["hash"]
        self.appended += 1
        return entry

    def close(self) -> bool:
        """Sign a checkpoint of the whole file (True), or nothing without a key or an entry."""
        if self.key is None or self.size == 0:
            return False
        self._write(chain.checkpoint_line(chain.sign_checkpoint(self.size, self.head, self.key)))
        return True
