"""checkov's JSON output (`checkov -o json`), one report or a list of them."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.findings.paths import InputProblem, RepoFiles, line_number, obj, place
from fixers.models import Finding


def looks_like_checkov(raw: Any) -> bool:
    reports = raw if isinstance(raw, list) else [raw]
    return bool(reports) and all(isinstance(r, dict) and "results" in r for r in reports)


def parse(raw: Any, repo_root: Path, source_name: str = "checkov JSON") -> tuple[list[Finding], list[InputProblem]]:
    reports = raw if isinstance(raw, list) else [raw]
    findings: list[Finding] = []
    problems: list[InputProblem] = []
    files = RepoFiles(repo_root)
    for report_index, report in enumerate(reports):
        failed = obj(obj(report).get("results")).get("failed_checks") or []
        if not isinstance(failed, list):
            problems.append(InputProblem(f"{source_name}: report {report_index}",
                                         "field 'results.failed_checks' is not a list"))
            continue
        for check_index, record in enumerate(failed):
            where = f"{source_name}: report {report_index}, failed_checks[{check_index}]"
            finding = finding_from_record(record, repo_root, where, problems, files)
            if finding is not None:
                findings.append(finding)
    return findings, problems


def finding_from_record(record: Any, repo_root: Path, where: str, problems: list[InputProblem],
                        files: RepoFiles | None = None) -> Finding | None:
    """One checkov result record (also what the scanner process returns) to a Finding. `files`
    places a path that names no file as given by its suffix (see paths.place)."""
    if not isinstance(record, dict):
        problems.append(InputProblem(where, "entry is not an object"))
        return None
    for field in ("check_id", "file_path", "resource"):
        if not isinstance(record.get(field), str) or not record.get(field):
            problems.append(InputProblem(where, f"missing or empty field '{field}'"))
            return None
    absolute = record.get("file_abs_path")
    readings = [absolute, record["file_path"]] if isinstance(absolute, str) and absolute else [record["file_path"]]
    file, why = place(readings[0], repo_root, files, tuple(readings[1:]))
    if file is None:
        problems.append(InputProblem(where, why))
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


def report(findings: list[Finding], problems: list[str]) -> dict:
    """Findings as one checkov JSON report (`checkov -o json`), which `parse` reads back into the
    same Findings: paths relative to the scanned root with checkov's leading "/", so the file
    stays usable from any checkout of the repository. `problems` is iacbot's own addition."""
    return {
        "check_type": "iacbot",
        "results": {"failed_checks": [_record(f) for f in findings]},
        "summary": {"failed": len(findings)},
        "problems": list(problems),
    }


def _record(f: Finding) -> dict:
    return {
        "check_id": f.rule_id,
        "check_name": f.message,
        "check_result": {"result": "FAILED", "evaluated_keys": list(f.evaluated_keys)},
        "file_path": f"/{f.file}",
        "repo_file_path": f"/{f.file}",
        "file_line_range": [f.line_start, f.line_end],
        "resource": f.resource,
        "severity": f.severity,
    }
