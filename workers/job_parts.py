"""How many files one job reads, and what happens to the rest. Pure.

A job reads at most MAX_JOB_FILES files. The files it is given are grouped into verification
scopes (a Terraform directory: all its .tf files, since they are one module; any other file
alone), and the scopes are packed in path order into parts of at most MAX_JOB_FILES files. The
job itself does the first part and sends one continuation job per further part, up to
MAX_JOB_PARTS parts in all; a continuation's id is ``<job id>:part<n>``, so a redelivered job
sends the same continuations again and each is still done once (every step is idempotent per
job id). What does not fit is reported as a problem with its count, never dropped silently.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Iterable

from fixers.iac_files import MAX_PUSH_FILES
from workers.repo_paths import is_terraform_path

#: The receiver lists at most this many paths in a push job; a job reads at most as many files.
MAX_JOB_FILES = MAX_PUSH_FILES
MAX_JOB_PARTS = 10
#: The job field that makes a job a continuation: exactly these files (siblings included).
PART_FILES = "part_files"


@dataclass(frozen=True)
class Scope:
    """Files that are verified together: ``name`` is the Terraform directory or the one file."""

    name: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class Split:
    parts: tuple[tuple[str, ...], ...]  # each at most MAX_JOB_FILES paths; at most MAX_JOB_PARTS
    oversized: tuple[Scope, ...] = ()   # a scope larger than one part: not read at all
    beyond: int = 0                     # files of the scopes after the last part

    def problems(self, where: str) -> list[str]:
        problems = [f"{scope.name}/: {len(scope.paths)} .tf files in one directory, more than the "
                    f"{MAX_JOB_FILES} one job reads; not scanned" for scope in self.oversized]
        if self.beyond:
            problems.append(f"{where}: {self.beyond} more files beyond the {MAX_JOB_PARTS} jobs of at most "
                            f"{MAX_JOB_FILES} files one delivery is split into; not scanned")
        return problems


def _directory(path: str) -> str:
    return str(PurePosixPath(path).parent)


def scopes(changed: Iterable[str], siblings: Iterable[str]) -> list[Scope]:
    """The scopes of the ``changed`` files: a changed .tf file brings its directory's ``siblings``,
    and any changed file in such a directory goes with it. In path order."""
    changed = list(dict.fromkeys(changed))
    modules = {_directory(p) for p in changed if is_terraform_path(p)}
    grouped: dict[tuple[str, str], set[str]] = {}
    for path in changed:
        key = ("module", _directory(path)) if _directory(path) in modules else ("file", path)
        grouped.setdefault(key, set()).add(path)
    for path in siblings:
        if _directory(path) in modules:
            grouped[("module", _directory(path))].add(path)
    return [Scope(name, tuple(sorted(paths))) for (_, name), paths in sorted(grouped.items(), key=lambda kv: kv[0][1])]


def split(scopes_: Iterable[Scope], max_files: int = MAX_JOB_FILES, max_parts: int = MAX_JOB_PARTS) -> Split:
    """Pack whole scopes, in order, into at most ``max_parts`` parts of at most ``max_files`` files."""
    parts: list[tuple[str, ...]] = []
    current: list[str] = []
    oversized: list[Scope] = []
    beyond = 0
    for scope in scopes_:
        if len(scope.paths) > max_files:
            oversized.append(scope)
            continue
        if len(current) + len(scope.paths) > max_files:
            parts.append(tuple(current))
            current = []
        if len(parts) >= max_parts:
            beyond += len(scope.paths)
            continue
        current.extend(scope.paths)
    if current:
        parts.append(tuple(current))
    return Split(tuple(parts), tuple(oversized), beyond)


def continuation(job: dict[str, Any], job_id: str, number: int, paths: Iterable[str]) -> dict[str, Any]:
    """The job that does part ``number`` (2, 3, ...) of ``job``: the same job, for exactly ``paths``."""
    root = job.get("part_of") or job_id
    base = {key: value for key, value in job.items() if key not in ("changed_files", "delivery_id")}
    return {**base, "delivery_id": f"{root}:part{number}", "part_of": root, "part": number,
            PART_FILES: list(paths)}
