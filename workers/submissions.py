"""A findings submission (POST /v1/findings), as stored in Redis by the service, back into Findings.

Stored at ``iacbot:submission:<submission_id>`` (workers.store.SUBMISSION_PREFIX): JSON {"tenant", "installation_id", "repository",
"commit_sha", "findings": [dataclasses.asdict(Finding), ...], "problems": [...]}. Pure: bytes in,
(findings, problems) or the reason the submission cannot be used out.
"""
from __future__ import annotations

import json
from typing import Any

from fixers.models import Finding
from workers.remediation import finding_from_dict


def submission_findings(raw: bytes | str | None, job: dict[str, Any]) -> tuple[list[Finding], list[str]] | str:
    """(findings, problems) of the submission, or why it cannot be used for ``job``."""
    sid = job.get("submission_id")
    if raw is None:
        return f"submission {sid} is not in Redis (expired, or never stored)"
    try:
        data = json.loads(raw)
    except ValueError:
        return f"submission {sid} is not JSON"
    if not isinstance(data, dict):
        return f"submission {sid} is not a JSON object"
    for key in ("repository", "installation_id"):
        if data.get(key) != job.get(key):
            return f"submission {sid}: field {key!r} {data.get(key)!r} does not match the job's {job.get(key)!r}"
    findings, problems = [], [str(p) for p in data.get("problems") or []]
    for index, item in enumerate(data.get("findings") or []):
        try:
            findings.append(finding_from_dict(item))
        except (TypeError, ValueError) as exc:
            problems.append(f"submission {sid}: findings[{index}] is not a finding ({exc})")
    return findings, problems
