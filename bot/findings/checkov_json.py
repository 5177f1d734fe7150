"""checkov's JSON output (`checkov -o json`), one report or a list of them."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.findings.paths import InputProblem, line_number, obj, repo_relative
from fixers.models import Finding


def looks_like_checkov(raw: Any) -> bool:
    reports = raw if isinstance(raw, list) else [raw]
    return bool(reports) and all(isinstance(r, dict) and "results" in r for r in reports)


def parse(raw: Any, repo_root: Path, source_name: str = "checkov JSON") -> tuple[list[Finding], list[InputProblem]]:
    reports = raw if isinstance(raw, list) else [raw]
    findings: list[Finding] = []
    problems: list[InputProblem] = []
    for report_index, report in enumerate(reports):
        failed = obj(obj(report).get("results")).get("failed_checks") or []
        if not isinstance(failed, list):
            problems.append(InputProblem(f"{source_name}: report {report_index}",
                                         "field 'results.failed_checks' is not a list"))
            continue
        for check_index, record in enumerate(failed):
            where = f"{source_name}: report {report_index}, failed_checks[{check_index}]"
            finding = finding_from_record(record, repo_root, where, problems)
            if finding is not None:
                findings.append(finding)
    return findings, problems


def finding_from_record(record: Any, repo_root: Path, where: str, problems: list[InputProblem]) -> Finding | None:
    """One checkov result record (also what the scanner process returns) to a Finding."""
    if not isinstance(record, dict):
        problems.append(InputProblem(where, "entry is not an object"))
        return None
    for field in ("check_id", "file_path", "resource"):
        if not isinstance(record.get(field), str) or not record.get(field):
            problems.append(InputProblem(where, f"missing or empty field '{field}'"))
            return None
    reported = record.get("file_abs_path") or record["file_path"]
    file = repo_relative(reported, repo_root) or repo_relative(record["file_path"], repo_root)
    if file is None:
        problems.append(InputProblem(where, f"file '{record['file_path']}' is outside the repository {repo_root}"))
        return None
    lines = record.get("file_line_range") or [0, 0]
    try:
        if not isinstance(lines, list) or not lines:
            raise ValueError(f"field 'file_line_range' is not a list of line numbers ({lines!r:.40})")
        start, end = (line_number(lines[i], f"file_line_range[{i}]") for i in (0, len(lines) - 1))
    except ValueError as exc:
        problems.append(InputProblem(where, str(exc)))
        return None
    keys = obj(record.get("check_result")).get("evaluated_keys")
    severity, name = record.get("severity"), record.get("check_name")
    return Finding(
        rule_id=record["check_id"],
        file=file,
        resource=record["resource"],
        line_start=start,
        line_end=max(start, end),
        severity=severity if isinstance(severity, str) else None,
        source="checkov",
        message=name if isinstance(name, str) else "",
        evaluated_keys=tuple(k for k in keys if isinstance(k, str)) if isinstance(keys, list) else (),
    )
