"""Which repository paths from outside (a push payload, a tree from GitHub, a finding) are used.

Git allows almost any byte in a file name; iacbot writes each file it reads under a scratch
directory, keys Redis by its path, logs it and names it in PR bodies. So a path is used only in
git's canonical form, inside the repository, as printable UTF-8 short enough for any file system;
anything else is refused with the reason, and the caller names it in a problem and goes on.
Pure. scanner/iacbot_scanner/worker.py repeats the rule (it cannot import this package);
tests/workers/test_repo_paths.py checks that both agree.
"""
from __future__ import annotations

import unicodedata
from enum import Enum
from pathlib import PurePosixPath

#: The longest path used (the findings API takes file names of up to 1024 characters too).
MAX_PATH_BYTES = 1024
#: The longest single name most file systems store (Linux NAME_MAX).
MAX_NAME_BYTES = 255
#: Control (Cc), format (Cf: bidi overrides, zero-width), surrogate and line/paragraph separators:
#: characters that can forge a log line or a terminal's output, or hide what a name says.
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_SHOWN_CHARS = 120


class PathRefusal(str, Enum):
    EMPTY = "empty, or not a string"
    ABSOLUTE = "an absolute path"
    PARENT = "a '..' component, which leaves the repository"
    NOT_CANONICAL = "not in git's canonical form (a '.' or empty component, or a trailing '/')"
    GIT_DIR = "a '.git' component, which git refuses to check out"
    BACKSLASH = "a backslash, which is a directory separator on Windows"
    UNPRINTABLE = "a control or formatting character (NUL, newline, escape, bidi override...)"
    TOO_LONG = f"longer than {MAX_PATH_BYTES} bytes, or with a name longer than {MAX_NAME_BYTES} bytes"


def refusal(path: object) -> PathRefusal | None:
    """Why ``path`` is not used as a repository path, or None when it is fine."""
    if not isinstance(path, str) or not path:
        return PathRefusal.EMPTY
    if any(unicodedata.category(ch) in _UNPRINTABLE_CATEGORIES for ch in path):
        return PathRefusal.UNPRINTABLE  # before anything encodes it: a lone surrogate is not UTF-8
    if path.startswith("/"):
        return PathRefusal.ABSOLUTE
    if "\\" in path:
        return PathRefusal.BACKSLASH
    parts = path.split("/")
    if ".." in parts:
        return PathRefusal.PARENT
    if "" in parts or "." in parts:
        return PathRefusal.NOT_CANONICAL
    if any(part.lower() == ".git" for part in parts):
        return PathRefusal.GIT_DIR
    if len(path.encode()) > MAX_PATH_BYTES or any(len(part.encode()) > MAX_NAME_BYTES for part in parts):
        return PathRefusal.TOO_LONG
    return None


def is_safe(path: object) -> bool:
    return refusal(path) is None


def is_terraform_path(path: str) -> bool:
    """Terraform reads ``*.tf`` only, case and all: such a file's directory is one module."""
    return path.endswith(".tf")


def shown(path: object) -> str:
    """``path`` quoted for a log line or a problem: repr() escapes every control character, and a
    very long name is cut (with its length) so that one name cannot flood a report."""
    if isinstance(path, str) and len(path) > _SHOWN_CHARS:
        return f"{path[:_SHOWN_CHARS]!r}... ({len(path)} characters)"
    return repr(path)


def refused(path: object, why: PathRefusal, what: str = "skipped") -> str:
    """The problem line for a refused path: it names the path (quoted) and the reason."""
    return f"{shown(path)}: unsafe repository path ({why.value}); {what}"


def checked(path: str) -> PurePosixPath:
    """``path`` as a PurePosixPath; ValueError naming it when the rule refuses it."""
    why = refusal(path)
    if why is not None:
        raise ValueError(refused(path, why, "refused"))
    return PurePosixPath(path)
