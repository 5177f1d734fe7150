"""Provenance of a fix: the branch name and the commit message with its trailers.

Pure text; a reviewer reads the top, tools read the trailers. Every value from outside iacbot
(rule id, message, resource, file, scanner, and the verification text that names them) is put on
one line after iacbot's own words (bot.quoting.commit_text), so it can never begin a line: no
forged trailer (`Iacbot-Finding:`, `Signed-off-by:`), no extra paragraph.
"""
from __future__ import annotations

import re

from bot.attest import STATEMENT_TRAILER
from bot.quoting import commit_text
from fixers.engine import Attempt
from jobs import branches

TRAILER_PREFIX = "Iacbot"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
SUBJECT_LIMIT = 72
LINE_LIMIT = 300        # a body line's outside value
TRAILER_LIMIT = 200     # one trailer's value
VERIFICATION_LIMIT = 500


def branch_name(attempt: Attempt) -> str:
    """One branch per fingerprint (one fix, with every finding it carries), readable and stable across runs."""
    return branches.branch_name(attempt.finding.fix_class, attempt.finding.fingerprint())  # the scheme: jobs.branches


def commit_message(attempt: Attempt, verification: str, statement_digest: str | None = None) -> str:
    """``statement_digest``: the signed statement's change digest (``sha256:<hex>``,
    bot.attest.statement.change_digest), carried as the ``Iacbot-Statement`` trailer."""
    f = attempt.finding
    info = attempt.fixer.info if attempt.fixer else None
    lines = [
        commit_text(f"iacbot: {commit_text(attempt.summary or f.rule_id, SUBJECT_LIMIT) or 'fix a finding'}",
                    SUBJECT_LIMIT),
        "",
        *(f"Finding: {commit_text(f'{each.rule_id} {each.message}', LINE_LIMIT)}" for each in attempt.findings),
        f"Resource: {commit_text(f.resource, LINE_LIMIT)} in {commit_text(f.file, LINE_LIMIT)} "
        f"(lines {int(f.line_start)}-{int(f.line_end)})",
    ]
    if info is not None:
        lines.append(f"Fixer: {info.id}: {commit_text(info.description, LINE_LIMIT)}")
        lines.append(f"Category: {info.category.value}, risk {info.risk.value}, {info.confidence.value}, "
                     f"impact {info.impact_text()}")
    if attempt.location is not None:
        lines.append(f"Why this place: {commit_text(attempt.location.why, LINE_LIMIT)}")
    lines += [
        "",
        f"{TRAILER_PREFIX}-Finding: {f.fingerprint()}",
        *(f"{TRAILER_PREFIX}-Rule: {commit_text(rule, TRAILER_LIMIT)}" for rule in attempt.rule_ids),  # one per finding
        f"{TRAILER_PREFIX}-Source: {commit_text(f.source, TRAILER_LIMIT)}",
        f"{TRAILER_PREFIX}-Fixer: {info.id if info else 'none'}",
        f"{TRAILER_PREFIX}-Verification: {commit_text(verification, VERIFICATION_LIMIT)}",
    ]
    if statement_digest is not None:
        if not _DIGEST.match(statement_digest):
            raise ValueError("statement_digest must be sha256:<64 hex digits>")
        lines.append(f"{STATEMENT_TRAILER}: {statement_digest}")
    return "\n".join(lines) + "\n"
