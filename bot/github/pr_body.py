"""Pull request title and body for a fix (pure text), ending in a hidden provenance block.

Humans read the sections; tools read `<!-- iacbot:provenance {json} -->` with read_provenance.
"""
from __future__ import annotations

import json
import re
from typing import Any, Mapping

from fixers.engine import Attempt

PROVENANCE_MARK = "iacbot:provenance"
_BLOCK = re.compile(r"<!--\s*" + re.escape(PROVENANCE_MARK) + r"\s+(\{.*?\})\s*-->", re.S)


def title(attempt: Attempt) -> str:
    f = attempt.finding
    what = attempt.summary or f.message or "fix finding"
    text = f"iacbot: {what} ({f.rule_id})"
    return text if len(text) <= 120 else text[:117] + "..."


def provenance(attempt: Attempt, base_sha: str, verification: str,
               trigger: Mapping[str, Any] | None = None) -> dict:
    f = attempt.finding
    extra = {"trigger": dict(trigger)} if trigger else {}
    return {**extra,
        "version": 1,
        "fingerprint": f.fingerprint(),
        "rule": f.rule_id,
        "fix_class": f.fix_class or f.rule_id,
        "source": f.source,
        "fixer": attempt.fixer.info.id if attempt.fixer else None,
        "file": f.file,
        "resource": f.resource,
        "base_sha": base_sha,
        "verification": verification,
    }


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def _trigger_line(trigger: Mapping[str, Any] | None) -> list[str]:
    """Which delivery or submission led to this PR, for a reviewer tracing it back."""
    if not trigger:
        return []
    event = trigger.get("event")
    if event == "code_scanning_alert":
        text = f"code scanning alert #{trigger.get('alert_number')}"
    elif event == "findings_api":
        tenant, submission = _code(str(trigger.get("tenant"))), _code(str(trigger.get("submission_id")))
        text = f"findings submitted by {tenant} (submission {submission})"
    else:
        text = f"push of {_code(str(trigger.get('head_sha') or '')[:12])}"
    if trigger.get("delivery_id"):
        text += f", webhook delivery {_code(str(trigger['delivery_id']))}"
    return [f"- Found through: {text}"]


def body(attempt: Attempt, base_sha: str, verification: str, trigger: Mapping[str, Any] | None = None) -> str:
    f = attempt.finding
    info = attempt.fixer.info if attempt.fixer else None
    lines = ["## What was wrong", "",
             f"**{f.rule_id}**{': ' + f.message if f.message else ''}", "",
             f"- Resource: {_code(f.resource or '(unknown)')}",
             f"- File: {_code(f.file)}" + (f" (lines {f.line_start}-{f.line_end})" if f.line_start else ""),
             f"- Reported by: {f.source}" + (f", severity {f.severity}" if f.severity else ""),
             *_trigger_line(trigger), ""]
    if attempt.location is not None:
        loc = attempt.location
        lines += ["## Why this place", "", f"Changed in {_code(loc.file)} at the {loc.layer} layer: {loc.why}", ""]
    lines += ["## The change", "", attempt.summary or "(no summary)", ""]
    if info is not None:
        lines += [f"- Fixer: {_code(info.id)}: {info.description}",
                  f"- Category: {info.category.value}",
                  f"- Risk: {info.risk.value}",
                  f"- Confidence: {info.confidence.value}"
                  + (" (a reviewer must confirm the value)" if info.confidence.value == "assumed-value" else ""),
                  f"- Impact: {info.impact_text()}",
                  ""]
    evidence = (verification or "(no verification recorded)").replace("```", "'''")
    lines += ["## Evidence", "", "```text", evidence, "```", "",
              f"Base commit: {_code(base_sha)}", "",
              "---",
              "Opened by iacbot. Closing this pull request without merging leaves the finding open; "
              "iacbot records the decision and opens no new PR for this finding until the file it fixes changes.", "",
              provenance_block(provenance(attempt, base_sha, verification, trigger))]
    return "\n".join(lines) + "\n"


def provenance_block(data: dict) -> str:
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"))
    # '<' and '>' only occur inside JSON strings; escaping them keeps "-->" out of the comment.
    raw = raw.replace("<", "\\u003c").replace(">", "\\u003e")
    return f"<!-- {PROVENANCE_MARK} {raw} -->"


def read_provenance(text: str | None) -> dict | None:
    """The last provenance block of a PR body, or None if absent or unreadable."""
    if not text:
        return None
    matches = _BLOCK.findall(text)
    if not matches:
        return None
    try:
        data = json.loads(matches[-1])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
