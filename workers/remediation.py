"""Scan fetched repository files and turn each verified fix into (attempt, path, new_text).

Each fix is re-made alone on the original file (as `iacbot fix --branch` does), so one pull
request carries exactly one finding's change and passes verification by itself. Fixes are
stored as JSON (ids and texts only) and rebuilt into Attempts for publishing.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from bot.local_scan import scan_directory
from fixers import registry
from fixers.engine import FIXED, Attempt, fix_alone, remediate, repo_facts
from fixers.models import Finding, Location, RuleMeta
from fixers.scanner import Scanner


@dataclass(frozen=True)
class Fix:
    attempt: Attempt
    path: str
    new_text: str
    verification: str

    @property
    def fingerprint(self) -> str:
        return self.attempt.finding.fingerprint()


def remediate_tree(scanner: Scanner, root: Path,
                   catalog: Mapping[str, RuleMeta]) -> tuple[list[Fix], list[str]]:
    """(fixes, problems) for the files under ``root``."""
    findings, problems = scan_directory(scanner, root)
    if not findings:
        return [], problems
    facts = repo_facts(root)
    report = remediate(root, findings, scanner.scan_texts, catalog, facts=facts)
    problems += report.problems
    version = scanner.ping()
    fixes: list[Fix] = []
    for attempt in report.by_status(FIXED):
        finding = attempt.finding
        alone = fix_alone(root, finding, scanner.scan_texts, catalog, version, facts)
        if isinstance(alone, str):
            problems.append(f"{finding.file}: {finding.rule_id} does not verify on its own ({alone})")
            continue
        fixes.append(Fix(alone.attempt, finding.file, alone.new_text, alone.verification))
    return fixes, problems


def fix_to_json(fix: Fix) -> dict[str, Any]:
    a = fix.attempt
    return {
        "finding": dataclasses.asdict(a.finding),
        "status": a.status, "reason": a.reason, "summary": a.summary,
        "fixer": a.fixer.info.id if a.fixer else None,
        "location": dataclasses.asdict(a.location) if a.location else None,
        "path": fix.path, "new_text": fix.new_text, "verification": fix.verification,
    }


def fix_from_json(data: Mapping[str, Any], catalog: Mapping[str, RuleMeta]) -> Fix:
    f = dict(data["finding"])
    f["evaluated_keys"] = tuple(f.get("evaluated_keys") or ())
    finding = Finding(**f)
    fixer = registry.fixer_for(finding.rule_id, catalog)
    if data.get("fixer") and (fixer is None or fixer.info.id != data["fixer"]):
        raise ValueError(f"fixer {data['fixer']!r} for {finding.rule_id} is not registered here")
    location = Location(**data["location"]) if data.get("location") else None
    attempt = Attempt(finding, data["status"], data.get("reason", ""), fixer, data.get("summary", ""), location)
    return Fix(attempt, data["path"], data["new_text"], data["verification"])
