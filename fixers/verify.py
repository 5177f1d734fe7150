"""Verification: keep a patch only if its file re-parses, a re-scan shows the target rule passing,
and no rule that passed before fails now.

The judgement is pure; the scans it judges come from the scanner process (fixers/scanner.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from fixers.models import Finding
from fixers.syntax import parse_error

ScanKey = tuple[str, str, str]  # (rule id, repository-relative file, normalized resource)

_MODULE_PREFIX = re.compile(r"^(module\.[^.\[]+(\[[^\]]*\])?\.)+")
_INDEX = re.compile(r"\[[^\]]*\]")


def normalize_resource(resource: str) -> str:
    """Compare resources across scan scopes: a module's resource is reported as
    `module.x.aws_s3_bucket.this[0]` when scanned through its caller and as `aws_s3_bucket.this`
    when its own directory is scanned. Both name the same block in the same file."""
    return _INDEX.sub("", _MODULE_PREFIX.sub("", resource))


def scan_key(rule_id: str, file: str, resource: str) -> ScanKey:
    return (rule_id, file, normalize_resource(resource))


def finding_key(finding: Finding) -> ScanKey:
    return scan_key(finding.rule_id, finding.file, finding.resource)


def failed_keys(results: Iterable) -> set[ScanKey]:
    """Keys of scanner CheckResults (anything with check_id, file and resource)."""
    return {scan_key(r.check_id, r.file, r.resource) for r in results}


@dataclass(frozen=True)
class Verdict:
    unparseable: Mapping[str, str]        # file -> parse error, for patched files that no longer parse
    still_failing: frozenset[ScanKey]     # targets the patch was meant to clear
    new_failures: frozenset[ScanKey]      # failed after, passed (or absent) before

    @property
    def clean(self) -> bool:
        return not (self.unparseable or self.still_failing or self.new_failures)


def unparseable_files(patched: Mapping[str, str]) -> dict[str, str]:
    errors = {path: parse_error(path, text) for path, text in patched.items()}
    return {path: error for path, error in errors.items() if error}


def judge(targets: Iterable[ScanKey], failed_before: set[ScanKey], failed_after: set[ScanKey],
          unparseable: Mapping[str, str] | None = None) -> Verdict:
    targets = set(targets)
    return Verdict(
        unparseable=dict(unparseable or {}),
        still_failing=frozenset(targets & failed_after),
        new_failures=frozenset(failed_after - failed_before),
    )


def describe(key: ScanKey) -> str:
    rule, file, resource = key
    return f"{rule} on {resource} ({file})"
