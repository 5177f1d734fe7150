"""Provenance of a fix: the commit message with its trailers (and, later, the PR body).

Pure text; a reviewer reads the top, tools read the trailers.
"""
from __future__ import annotations

from fixers.engine import Attempt

TRAILER_PREFIX = "Iacbot"


def branch_name(attempt: Attempt) -> str:
    """One branch per finding fingerprint, readable and stable across runs."""
    fix_class = "".join(c if c.isalnum() or c in "-." else "-" for c in attempt.finding.fix_class.lower())
    return f"iacbot/{fix_class.strip('-.') or 'fix'}-{attempt.finding.fingerprint()}"


def commit_message(attempt: Attempt, verification: str) -> str:
    f = attempt.finding
    info = attempt.fixer.info if attempt.fixer else None
    lines = [
        f"iacbot: {attempt.summary or f.rule_id}"[:72],
        "",
        f"Finding: {f.rule_id} {f.message}".rstrip(),
        f"Resource: {f.resource} in {f.file} (lines {f.line_start}-{f.line_end})",
    ]
    if info is not None:
        lines.append(f"Fixer: {info.id}: {info.description}")
        lines.append(f"Category: {info.category.value}, risk {info.risk.value}, {info.confidence.value}, "
                     f"impact {info.impact_text()}")
    if attempt.location is not None:
        lines.append(f"Why this place: {attempt.location.why}")
    lines += [
        "",
        f"{TRAILER_PREFIX}-Finding: {f.fingerprint()}",
        f"{TRAILER_PREFIX}-Rule: {f.rule_id}",
        f"{TRAILER_PREFIX}-Source: {f.source}",
        f"{TRAILER_PREFIX}-Fixer: {info.id if info else 'none'}",
        f"{TRAILER_PREFIX}-Verification: {verification}",
    ]
    return "\n".join(lines) + "\n"
