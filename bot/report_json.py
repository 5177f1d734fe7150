"""The machine-readable report of a run (--json FILE): every fix and every finding left, with why."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from bot.render import changed_line_count, unified_diff
from fixers.engine import FIXED, UNFIXED, Attempt, RunReport
from fixers.models import Finding

SCHEMA_VERSION = 2  # 2: one entry per fix (fingerprint), listing every finding it carries


def finding_record(f: Finding) -> dict:
    return {
        "fingerprint": f.fingerprint(),
        "rule_id": f.rule_id,
        "fix_class": f.fix_class,
        "source": f.source,
        "file": f.file,
        "resource": f.resource,
        "lines": [f.line_start, f.line_end],
        "severity": f.severity,
        "message": f.message,
    }


def attempt_record(attempt: Attempt) -> dict:
    """The primary finding's fields, the status, and `findings`: every finding the entry covers."""
    record = {**finding_record(attempt.finding), "status": attempt.status,
              "rule_ids": list(attempt.rule_ids), "findings": [finding_record(f) for f in attempt.findings]}
    if attempt.fixer is not None:
        info = attempt.fixer.info
        record["fixer"] = {"id": info.id, "category": info.category.value, "risk": info.risk.value,
                           "confidence": info.confidence.value, "impact": sorted(i.value for i in info.impact)}
    if attempt.summary:
        record["summary"] = attempt.summary
    if attempt.location is not None:
        record["location"] = asdict(attempt.location)
    if attempt.reason:
        record["reason"] = attempt.reason
    return record


def build(report: RunReport, root: Path, mode: str, scanner_version: str | None) -> dict:
    fixes = [attempt_record(a) for a in report.attempts if a.status != UNFIXED]
    unfixed = [attempt_record(a) for a in report.attempts if a.status == UNFIXED]
    return {
        "schema_version": SCHEMA_VERSION,
        "root": str(root),
        "mode": mode,
        "scanner": scanner_version,
        "summary": {"findings": len(report.outcomes()),
                    "fixed_or_cleared": sum(len(a.findings) for a in report.attempts if a.status != UNFIXED),
                    "unfixed": len(report.outcomes(UNFIXED)), "fixes": len(report.by_status(FIXED)),
                    "files_changed": len(report.changes)},
        "fixes": fixes,
        "unfixed": unfixed,
        "changes": [{"file": path, "changed_lines": changed_line_count(before, after),
                     "diff": unified_diff(path, before, after)}
                    for path, (before, after) in sorted(report.changes.items())],
        "problems": list(report.problems),
    }


def write(path: Path, document: dict) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n", encoding="utf-8")
