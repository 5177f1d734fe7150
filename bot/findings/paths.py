"""Shared by the normalizers: where a reported file really is, and how to report bad input."""
from __future__ import annotations

import os
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


#: Placing a path by suffix indexes the repository's files once; past this many it refuses
#: rather than guess from part of the tree (or spend unbounded time on a huge one).
MAX_INDEXED_FILES = 200_000
CANDIDATES_NAMED = 5


class RepoFiles:
    """The files under a repository root, indexed by name on first use, to place a reported path
    that names no file as given (a scan made from another directory or machine) by its suffix."""

    def __init__(self, root: Path, limit: int = MAX_INDEXED_FILES) -> None:
        self.root = root.resolve()
        self.limit = limit
        self._by_name: dict[str, list[PurePosixPath]] | None = None
        self.truncated = False

    def by_suffix(self, parts: tuple[str, ...]) -> tuple[list[str], str]:
        """(files whose absolute path shares the longest trailing run of `parts`, "") or ([], why not).
        The root's own path counts too, so `repo/k8s/a.yaml` tells root/k8s/a.yaml from
        root/other/k8s/a.yaml."""
        index = self._index()
        if self.truncated:
            return [], f"the repository has more than {self.limit} files; not placed by suffix"
        best, found = 0, []
        for relative in index.get(parts[-1], []) if parts else []:
            whole = self.root.parts + relative.parts
            shared = next((n for n in range(min(len(parts), len(whole)))
                           if parts[-1 - n] != whole[-1 - n]), min(len(parts), len(whole)))
            if shared > best:
                best, found = shared, [relative.as_posix()]
            elif shared == best:
                found.append(relative.as_posix())
        return sorted(found), ""

    def _index(self) -> dict[str, list[PurePosixPath]]:
        if self._by_name is None:
            self._by_name, count = {}, 0
            for folder, dirs, names in os.walk(self.root):  # does not follow links to folders
                dirs[:] = sorted(d for d in dirs if d != ".git")
                base = PurePosixPath(Path(folder).relative_to(self.root).as_posix())
                for name in names:
                    count += 1
                    if count > self.limit:
                        self.truncated = True
                        return self._by_name
                    self._by_name.setdefault(name, []).append(base / name)
        return self._by_name


def place(reported: str, repo_root: Path, files: RepoFiles | None = None,
          alternatives: tuple[str, ...] = ()) -> tuple[str | None, str]:
    """(repository-relative POSIX path, "") of a reported file, or (None, why not).

    Tried in order: `reported` as given (absolute, relative to the root, checkov's leading "/",
    a file:// URI), then each of `alternatives` (other readings of the same location), then, when
    none names an existing file, the file under the root whose path ends the same way (the
    longest suffix that names exactly one file; several: a problem naming them). A path that
    climbs out with ".." is refused, never placed by suffix. Nothing found: the first reading
    inside the root, which the engine then reports as not found.
    """
    readings = [_local_path(r) for r in (reported, *alternatives)]
    inside = [relative for relative in (_inside_root(r, repo_root) for r in readings) if relative is not None]
    existing = next((r for r in inside if (repo_root / r).exists()), None)
    if existing is not None:
        return existing, ""
    if files is not None and not any(".." in PurePosixPath(r).parts for r in readings[:1]):
        parts = tuple(p for p in PurePosixPath(readings[0]).parts if p not in ("/", "."))
        found, why = files.by_suffix(parts)
        if len(found) == 1:
            return _inside_root(found[0], repo_root), ""
        if len(found) > 1:
            named = ", ".join(found[:CANDIDATES_NAMED]) + (", ..." if len(found) > CANDIDATES_NAMED else "")
            return None, (f"file '{reported}' is not in the repository as given, and {len(found)} files end "
                          f"like it: {named}")
        if why and not inside:
            return None, f"file '{reported}' is not in the repository as given; {why}"
    if inside:
        return inside[0], ""
    return None, f"file '{reported}' is outside the repository {repo_root}"


def _local_path(reported: str) -> str:
    if not reported.startswith("file:"):
        return reported
    try:
        return unquote(urlparse(reported).path)
    except ValueError:  # not a URI after all (e.g. "file://[x"): read as a path, which names nothing
        return reported


def _inside_root(reported: str, repo_root: Path) -> str | None:
    """The repository-relative POSIX path of a local path, or None when it lies outside.

    Scanners report paths as absolute, relative to the scan root with a leading "/"
    (checkov -d), or relative.
    """
    if "\x00" in reported:
        return None
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
