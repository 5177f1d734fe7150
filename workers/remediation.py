"""Turn findings on fetched repository files into verified fixes (attempt, path, new_text).

The findings come from the scan queue's raw checkov results (:func:`findings_from_scan`), a
code-scanning alert or a findings submission. Each fix (every finding of one fingerprint) is
re-made alone on the original file (as `iacbot fix --branch` does), so one pull request carries
exactly one fix's change, with all its findings, and passes verification by itself. Fixes are
stored as JSON (ids and texts only) and rebuilt into Attempts for publishing.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from bot.local_scan import finding_from_check
from fixers import registry
from fixers.engine import FIXED, UNFIXED, Attempt, fix_alone, remediate, repo_facts
from fixers.models import Finding, Location, RuleMeta
from fixers.scanner import Scanner, check_result_from_record


@dataclass(frozen=True)
class Fix:
    attempt: Attempt
    path: str
    new_text: str
    verification: str

    @property
    def fingerprint(self) -> str:
        return self.attempt.finding.fingerprint()


def findings_from_scan(result: Mapping[str, Any]) -> tuple[list[Finding], list[str]]:
    """(findings, problems) from the scan queue's result (iacbot_scanner.worker.scan_files):
    failed checkov records whose file_path is already root-relative."""
    problems = [str(p) for p in result.get("problems") or []]
    problems += [f"{path}: checkov could not parse this file; it was not scanned"
                 for path in result.get("parsing_errors") or []]
    findings = [finding_from_check(check_result_from_record(record, Path("/")))
                for record in result.get("failed") or []]
    return findings, problems


def remediate_findings(scanner: Scanner, root: Path, findings: list[Finding],
                       catalog: Mapping[str, RuleMeta], not_fixed: list | None = None) -> tuple[list[Fix], list[str]]:
    """(fixes, problems) for ``findings`` on the files under ``root``; verification re-scans.
    ``not_fixed`` (for the audit log) gets (attempt, why) of each attempt that gave no fix."""
    if not findings:
        return [], []
    problems: list[str] = []
    facts = repo_facts(root)
    report = remediate(root, findings, scanner.scan_texts, catalog, facts=facts)
    problems += report.problems
    problems += [f"{a.finding.file}: {', '.join(a.rule_ids)} not fixed: {a.reason}" for a in report.by_status(UNFIXED)]
    if not_fixed is not None:
        not_fixed.extend((a, a.reason) for a in report.by_status(UNFIXED))
    version = scanner.ping()
    fixes: list[Fix] = []
    for attempt in report.by_status(FIXED):
        path = attempt.finding.file
        alone = fix_alone(root, attempt, scanner.scan_texts, catalog, version, facts)
        if isinstance(alone, str):
            problems.append(f"{path}: {', '.join(attempt.rule_ids)} does not verify on its own ({alone})")
            if not_fixed is not None:
                not_fixed.append((attempt, f"does not verify on its own ({alone})"))
            continue
        problems += [f"{path}: {', '.join(left.rule_ids)} left out of the fix: it does not verify without the "
                     f"rest of the run ({left.reason})" for left in alone.left]
        fixes.append(Fix(alone.attempt, path, alone.new_text, alone.verification))
    return fixes, problems


def fix_to_json(fix: Fix) -> dict[str, Any]:
    a = fix.attempt
    return {
        "finding": dataclasses.asdict(a.finding),
        "findings": [dataclasses.asdict(f) for f in a.findings],  # the primary first; all share its fingerprint
        "status": a.status, "reason": a.reason, "summary": a.summary,
        "fixer": a.fixer.info.id if a.fixer else None,
        "location": dataclasses.asdict(a.location) if a.location else None,
        "path": fix.path, "new_text": fix.new_text, "verification": fix.verification,
    }


def finding_from_dict(data: Mapping[str, Any]) -> Finding:
    """The inverse of dataclasses.asdict(finding); TypeError/ValueError for anything else."""
    if not isinstance(data, Mapping):
        raise TypeError("a finding must be a JSON object")
    f = dict(data)
    f["evaluated_keys"] = tuple(f.get("evaluated_keys") or ())
    finding = Finding(**f)
    if not finding.rule_id or not finding.file:
        raise ValueError("a finding needs 'rule_id' and 'file'")
    return finding


def fix_from_json(data: Mapping[str, Any], catalog: Mapping[str, RuleMeta]) -> Fix:
    """The inverse of fix_to_json. A record without "findings" (stored before fixes carried
    several) is a fix of its one finding. ValueError when the findings are not one fix."""
    finding = finding_from_dict(data["finding"])
    findings = tuple(finding_from_dict(f) for f in data.get("findings") or [dataclasses.asdict(finding)])
    fixer = registry.fixer_for(finding.rule_id, catalog)
    for each in findings:
        serving = registry.fixer_for(each.rule_id, catalog)
        if data.get("fixer") and (serving is None or serving.info.id != data["fixer"]):
            raise ValueError(f"fixer {data['fixer']!r} for {each.rule_id} is not registered here")
    location = Location(**data["location"]) if data.get("location") else None
    attempt = Attempt(finding, data["status"], data.get("reason", ""), fixer, data.get("summary", ""), location,
                      findings)
    return Fix(attempt, data["path"], data["new_text"], data["verification"])
