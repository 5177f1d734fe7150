"""What every iacbot command checks before any work: usage errors (exit 2) and output files."""
from __future__ import annotations

import os
from pathlib import Path


class UsageError(Exception):
    """Found before any work: the message says what to change (exit 2)."""


def check_writable(path: Path, flag: str = "--json") -> None:
    """Refuse an output file that cannot be written, before the work that fills it."""
    parent = path.parent
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory; give a file name")
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: directory {parent} does not exist")
    if not os.access(path if path.exists() else parent, os.W_OK):
        raise UsageError(f"{flag} {path}: not writable")
