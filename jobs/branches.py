"""The branch scheme, one fact shared by everything that makes or reads iacbot's branch names. Pure.

A fix lives on ``iacbot/<fix-class>-<fingerprint>``: the fix class made readable, then the
finding's fingerprint (16 hex digits, fixers.models.Finding.fingerprint). The receiver uses the
prefix to say whether a closed PR came from one of iacbot's branches, the workers read the
fingerprint back from a branch, and bot.provenance names the branch it creates.

The revert of a merged fix lives on ``iacbot/revert/<number of the fix's PR>`` (bot.github.revert):
one per original PR, so a re-run finds the branch an earlier run made. It has no fingerprint
suffix, so fingerprint_from_branch says None for it.

Branch names are predictable and anyone with push access can make one, so a name is never
evidence that iacbot made the branch (bot.github.ownership decides that); it only says which
finding a branch claims to be about.
"""
from __future__ import annotations

import re

BOT_BRANCH_PREFIX = "iacbot/"
REVERT_BRANCH_PREFIX = f"{BOT_BRANCH_PREFIX}revert/"
_FINGERPRINT = re.compile(r"-([0-9a-f]{16})\Z")
_REVERT = re.compile(r"([1-9][0-9]{0,9})\Z")


def branch_name(fix_class: str, fingerprint: str) -> str:
    """One branch per fingerprint, readable and stable across runs."""
    readable = "".join(c if c.isalnum() or c in "-." else "-" for c in fix_class.lower())
    return f"{BOT_BRANCH_PREFIX}{readable.strip('-.') or 'fix'}-{fingerprint}"


def has_bot_prefix(ref: str) -> bool:
    """The branch is named like iacbot's (say nothing yet about who made it or in which repository)."""
    return isinstance(ref, str) and ref.startswith(BOT_BRANCH_PREFIX)


def fingerprint_from_branch(branch: str) -> str | None:
    """The fingerprint an iacbot branch name ends in, or None when the name is not one of iacbot's."""
    if not has_bot_prefix(branch):
        return None
    m = _FINGERPRINT.search(branch)
    return m.group(1) if m else None


def revert_branch_name(original_pr: int) -> str:
    """The branch that carries the revert of the fix merged by pull request ``original_pr``."""
    if isinstance(original_pr, bool) or not isinstance(original_pr, int) or original_pr < 1:
        raise ValueError(f"a pull request number is a positive integer, not {original_pr!r}")
    return f"{REVERT_BRANCH_PREFIX}{original_pr}"


def pr_from_revert_branch(branch: str) -> int | None:
    """The original PR's number a revert branch name carries, or None when it is not one."""
    if not isinstance(branch, str) or not branch.startswith(REVERT_BRANCH_PREFIX):
        return None
    m = _REVERT.fullmatch(branch[len(REVERT_BRANCH_PREFIX):])
    return int(m.group(1)) if m else None
