"""A GitHub code-scanning alert (GET /repos/{owner}/{repo}/code-scanning/alerts/{number}) as a Finding.

Pure: the alert JSON in, a Finding (or the reason there is none) out. The resource is left empty:
the engine finds the block that owns the alert's lines, as it does for SARIF.
"""
from __future__ import annotations

from typing import Any

from fixers.models import Finding

#: What reading an alert and the files it names needs, and nothing more.
ALERT_PERMISSIONS = {"contents": "read", "security_events": "read"}

# GitHub's rule severities and security-severity levels to the severities the rest of iacbot speaks.
_SEVERITY = {"critical": "CRITICAL", "high": "HIGH", "medium": "MEDIUM", "low": "LOW",
             "error": "HIGH", "warning": "MEDIUM", "note": "LOW"}


def finding_from_alert(alert: dict[str, Any]) -> Finding | str:
    """The alert's Finding, or why it has none (not open, no location)."""
    number = alert.get("number")
    if alert.get("state") not in (None, "open"):
        return f"alert {number} is {alert.get('state')}: nothing to fix"
    rule = alert.get("rule") or {}
    rule_id = rule.get("id")
    if not isinstance(rule_id, str) or not rule_id:
        return f"alert {number} names no rule id"
    instance = alert.get("most_recent_instance") or {}
    location = instance.get("location") or {}
    path = location.get("path")
    if not isinstance(path, str) or not path:
        return f"alert {number} ({rule_id}) has no file location"
    start = _line(location.get("start_line"))
    tool = (alert.get("tool") or {}).get("name") or "unknown"
    severity = rule.get("security_severity_level") or rule.get("severity")
    return Finding(
        rule_id=rule_id,
        file=path.lstrip("/"),
        resource="",
        line_start=start,
        line_end=_line(location.get("end_line")) or start,
        severity=_SEVERITY.get(str(severity).lower()) if severity else None,
        source=f"code-scanning:{tool}",
        message=rule.get("description") or rule.get("name") or (instance.get("message") or {}).get("text") or "",
    )


def alert_commit(alert: dict[str, Any]) -> str | None:
    """The commit the alert's most recent instance was found at, when the alert says."""
    sha = (alert.get("most_recent_instance") or {}).get("commit_sha")
    return sha if isinstance(sha, str) and sha else None


def _line(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0
