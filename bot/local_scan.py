"""iacbot's own scan of a local directory, through the long-lived scanner process."""
from __future__ import annotations

from collections import Counter
from pathlib import Path, PurePosixPath

from fixers.models import Finding
from fixers.scanner import CheckResult, Scanner


def finding_from_check(check: CheckResult) -> Finding:
    return Finding(
        rule_id=check.check_id,
        file=check.file,
        resource=check.resource,
        line_start=check.line_start,
        line_end=check.line_end,
        severity=check.severity,
        source="checkov",
        message=check.check_name,
        evaluated_keys=check.evaluated_keys,
    )


def scan_directory(scanner: Scanner, root: Path) -> tuple[list[Finding], list[str]]:
    """(findings, problems): checkov's parsing errors become problems naming the file."""
    result = scanner.scan(root)
    problems = [f"{path}: checkov could not parse this file; it was not scanned" for path in result.parsing_errors]
    problems += [refused.problem() for refused in result.refused]
    findings, outside = [], Counter()
    for check in result.failed:
        if PurePosixPath(check.file).is_absolute() or ".." in PurePosixPath(check.file).parts:
            outside[check.file] += 1  # a link inside the repository to a file outside it: not ours to edit
        else:
            findings.append(finding_from_check(check))
    problems += [f"{path}: outside the repository {root} (reached through a link); {count} failed checks not fixed"
                 for path, count in sorted(outside.items())]
    return findings, problems
