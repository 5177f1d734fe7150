"""Apply verified changes to the working tree: exact bytes, atomically, never over a file that
changed since it was read."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fixers.engine import RunReport
from fixers.workspace import read_source


def apply_changes(root: Path, report: RunReport) -> list[str]:
    """Write every change; return problems (named by file) for those that could not be written."""
    problems = []
    for path, (before, after) in sorted(report.changes.items()):
        # Write through a symbolic link to the file it names, never replacing the link itself,
        # and never to a file outside the repository.
        target = (root / path).resolve()
        if not target.is_relative_to(root.resolve()):
            problems.append(f"{path}: links to a file outside the repository; not written")
            continue
        current, problem = read_source(target)
        if problem or current != before:
            problems.append(f"{path}: changed on disk while iacbot ran; not written")
            continue
        try:
            _atomic_write(target, after.encode("utf-8"))
        except OSError as exc:
            problems.append(f"{path}: cannot write ({exc.strerror}); left as it was")
    return problems


def _atomic_write(target: Path, data: bytes) -> None:
    mode = target.stat().st_mode
    fd, scratch = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".iacbot")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(scratch, mode & 0o7777)
        os.replace(scratch, target)
    except BaseException:
        if os.path.exists(scratch):
            os.unlink(scratch)
        raise
