"""Reading the repository for the engine: exact text (or why not), and verification scopes."""
from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Iterable

from fixers.syntax import file_kind


def scope_of(path: str) -> str:
    """Terraform is evaluated per directory (variables, locals and sibling resources live in
    neighbouring files); a YAML manifest stands alone."""
    return str(PurePosixPath(path).parent) + "/" if file_kind(path) == "terraform" else path


def scope_texts(repo_root: Path, scope: str, sources: dict[str, str]) -> dict[str, str]:
    if not scope.endswith("/"):
        return {scope: sources[scope]}
    directory = scope.rstrip("/")
    texts = {}
    for path in sorted((repo_root / directory).glob("*.tf")):
        relative = (PurePosixPath(directory) / path.name).as_posix() if directory != "." else path.name
        text = sources.get(relative) or read_text_or_none(path)
        if text is not None:
            texts[relative] = text
    return texts


def read_sources(repo_root: Path, paths: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
    """({path: text}, {path: why it cannot be edited}) for repository-relative paths."""
    sources, problems = {}, {}
    for path in sorted(paths):
        text, problem = read_source(repo_root / path)
        if problem:
            problems[path] = problem
        else:
            sources[path] = text
    return sources, problems


def read_source(path: Path) -> tuple[str, str | None]:
    """The file's text, or a reason it cannot be edited safely (named for the user)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return "", "file not found"
    except IsADirectoryError:
        return "", "is a directory"
    except OSError as exc:
        return "", f"cannot read ({exc.strerror})"
    if b"\0" in data:
        return "", "binary file (contains NUL bytes); not edited"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "", f"not UTF-8 text (invalid byte at offset {exc.start}); not edited"
    # Python's text layer would translate CRLF; keep the bytes exactly as written.
    return text, None


def read_text_or_none(path: Path) -> str | None:
    text, problem = read_source(path)
    return None if problem else text


def terraform_texts(repo_root: Path) -> dict[str, str]:
    texts = {}
    for path in sorted(repo_root.rglob("*.tf")):
        if any(part.startswith(".") for part in path.relative_to(repo_root).parts):
            continue
        text = read_text_or_none(path)
        if text is not None:
            texts[path.relative_to(repo_root).as_posix()] = text
    return texts
