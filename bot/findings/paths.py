"""Shared by the normalizers: where a reported file really is, and how to report bad input."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse


@dataclass(frozen=True)
class InputProblem:
    """Bad input that was skipped: `where` names the file (and entry), `what` says what is wrong."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def obj(value: Any) -> dict:
    """`value` when it is a JSON object, else {}: a wrongly typed container reads as absent."""
    return value if isinstance(value, dict) else {}


def line_number(value: Any, field: str) -> int:
    """A 1-based line as scanners write it (an int, or digits in a string); 0 when absent.
    ValueError naming `field` for anything else (the caller turns it into a problem)."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise ValueError(f"field '{field}' is not a line number ({value!r:.40})")
    number = int(value)
    if number < 0:
        raise ValueError(f"field '{field}' is not a line number ({value!r:.40})")
    return number


def repo_relative(reported: str, repo_root: Path) -> str | None:
    """The repository-relative POSIX path of a reported file, or None when it lies outside.

    Scanners report paths as absolute, relative to the scan root with a leading "/"
    (checkov -d), relative, or as file:// URIs (SARIF).
    """
    if reported.startswith("file:"):
        reported = unquote(urlparse(reported).path)
    root = repo_root.resolve()
    candidate = Path(reported)
    if candidate.is_absolute() and not _inside(candidate, root):
        # checkov -d prints paths relative to the scan root with a leading "/".
        candidate = root / reported.lstrip("/")
        if not candidate.exists():
            return None
    elif not candidate.is_absolute():
        candidate = root / reported
    resolved = candidate.resolve()  # follows symlinks: a link pointing outside stays outside
    if not _inside(resolved, root) or resolved == root:
        return None
    return PurePosixPath(*resolved.relative_to(root).parts).as_posix()


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root)
