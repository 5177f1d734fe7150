"""GitHub's rules for account and repository names, in one place. Pure.

An owner (user or organization login) is 1-39 letters, digits and single hyphens, neither first
nor last; a repository name is 1-100 of letters, digits, '.', '_' and '-', and never "." or ".."
(GitHub refuses those, and as path segments they would walk out of ``/repos/{owner}/{repo}``).
"""
from __future__ import annotations

import re

#: Followed by "/" wherever it is used: the lookahead counts the owner's length up to it.
OWNER_PATTERN = r"(?=[A-Za-z0-9-]{1,39}/)[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"
NAME_PATTERN = r"(?!\.\.?(?:$|/))[A-Za-z0-9._-]{1,100}"
#: ``owner/name``; the lookahead keeps "." and ".." out while staying one regular expression,
#: so the OpenAPI description can carry it as the parameter's pattern.
REPOSITORY = re.compile(rf"^{OWNER_PATTERN}/{NAME_PATTERN}$")
#: ``owner/name`` or ``owner/*`` (every repository of the owner), as tenants list them.
REPOSITORY_PATTERN = re.compile(rf"^{OWNER_PATTERN}/(?:\*|{NAME_PATTERN})$")


def is_repository(full_name: str) -> bool:
    """True when ``full_name`` is an ``owner/name`` GitHub could have."""
    return isinstance(full_name, str) and REPOSITORY.fullmatch(full_name) is not None


def is_repository_pattern(pattern: str) -> bool:
    """True for ``owner/name`` or ``owner/*`` (fullmatch: no trailing newline slips through ``$``)."""
    return isinstance(pattern, str) and REPOSITORY_PATTERN.fullmatch(pattern) is not None
