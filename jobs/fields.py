"""How a job's fields are checked: each field names a check that returns the value in its stored
form or raises :class:`JobFieldError` naming the field. Pure.

A job message arrives from the broker, which anyone who can write to Redis can fill, so every
value is checked for its type and bounded in size before a worker reads it: strings have a
length cap and no control characters (a value is logged and may become a Redis key or a task
id), lists have an item cap, integers are never booleans (``True`` is an ``int`` in Python).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable

#: The longest string a job field holds unless its check says otherwise.
MAX_TEXT = 1024
#: A git object id: sha-1 (40 hex digits) or sha-256 (64).
SHA = re.compile(r"\A(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})\Z")
#: ``owner/name`` as far as a worker needs to trust it (GitHub's exact rule is bot.github.names,
#: applied where the name first arrives): one slash, a short printable name on either side.
REPOSITORY = re.compile(r"\A[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Beyond ASCII: format (bidi overrides, zero-width), surrogate and line/paragraph separators, as
#: workers.repo_paths refuses them in paths: characters that forge a log line or hide what it says.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_MAX_ID = 2**63 - 1

Check = Callable[[str, Any], Any]


class JobFieldError(ValueError):
    """A job message refused because of one field; ``field`` names it."""

    def __init__(self, kind: str, field: str, problem: str) -> None:
        super().__init__(f"{kind} job: field {field!r} {problem}")
        self.kind = kind
        self.field = field


class Refused(Exception):
    """Raised by a check; the job class turns it into a JobFieldError with its kind."""


def _type_name(value: Any) -> str:
    return type(value).__name__


@dataclass(frozen=True)
class Spec:
    check: Check
    omit_none: bool = False  # leave the field out of the message when it is None (optional extras)


def spec(check: Check, *, omit_none: bool = False) -> dict[str, Spec]:
    """The ``metadata`` of a job dataclass field."""
    return {"spec": Spec(check, omit_none)}


def optional(check: Check) -> Check:
    def checked(name: str, value: Any) -> Any:
        return None if value is None else check(name, value)
    return checked


def integer(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused(f"must be an integer, not {_type_name(value)}")
    if not 0 <= value <= _MAX_ID:
        raise Refused("must be between 0 and 2**63-1")
    return value


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise Refused(f"must be true or false, not {_type_name(value)}")
    return value


def text(max_len: int = MAX_TEXT, pattern: re.Pattern[str] | None = None, what: str = "",
         empty_ok: bool = True) -> Check:
    def checked(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise Refused(f"must be a string, not {_type_name(value)}")
        if not value and not empty_ok:
            raise Refused("must not be empty")
        if len(value) > max_len:
            raise Refused(f"is {len(value)} characters long, more than {max_len}")
        if _CONTROL.search(value) or (not value.isascii()
                                       and any(unicodedata.category(c) in _UNPRINTABLE for c in value)):
            raise Refused("holds a control or formatting character")
        if pattern is not None and not pattern.match(value):
            raise Refused(f"is not {what or 'in the expected form'}")
        return value
    return checked


def one_of(*values: str) -> Check:
    allowed = frozenset(values)

    def checked(name: str, value: Any) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise Refused(f"must be one of {sorted(allowed)}")
        return value
    return checked


def items(check: Check, max_items: int) -> Check:
    """A list (stored as a tuple) of at most ``max_items`` values, each passing ``check``."""
    def checked(name: str, value: Any) -> tuple:
        if not isinstance(value, (list, tuple)):
            raise Refused(f"must be a list, not {_type_name(value)}")
        if len(value) > max_items:
            raise Refused(f"has {len(value)} items, more than {max_items}")
        out = []
        for index, item in enumerate(value):
            try:
                out.append(check(name, item))
            except Refused as refused:
                raise Refused(f"item {index} {refused}") from None
        return tuple(out)
    return checked


sha = text(64, SHA, "a git object id (40 or 64 hex digits)")
repository = text(140, REPOSITORY, "an owner/name")
