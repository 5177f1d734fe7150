"""Verification: keep a patch only if its file re-parses, a re-scan shows the target rule passing,
and no rule that passed before fails now. A re-scan proves nothing for a file checkov could not
parse (before or after the patch) or ran no check on: such a patch is not verified.

The judgement is pure; the scans it judges come from the scanner process (fixers/scanner.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
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


class Blind(str, Enum):
    """Why a re-scan says nothing about a patched file."""

    CANNOT_PARSE = "cannot-parse"   # checkov reported a parsing error for it (before or after the patch)
    NO_CHECK = "no-check"           # checkov ran no check on it: it skipped the file (a Helm template, say)

    def reason(self, path: str) -> str:
        if self is Blind.CANNOT_PARSE:
            return f"checkov cannot parse {path}: the re-scan proves nothing"
        return f"checkov ran no check on {path} (it skips or cannot read the file): the re-scan proves nothing"


@dataclass(frozen=True)
class Verdict:
    unparseable: Mapping[str, str]        # file -> parse error, for patched files that no longer parse
    still_failing: frozenset[ScanKey]     # targets the patch was meant to clear
    new_failures: frozenset[ScanKey]      # failed after, passed (or absent) before
    blind: Mapping[str, Blind] = field(default_factory=dict)  # patched files the re-scan tells nothing about

    @property
    def clean(self) -> bool:
        return not (self.unparseable or self.still_failing or self.new_failures or self.blind)


def blind_files(files: Iterable[str], parsing_errors: Iterable[str], scanned: Iterable[str]) -> dict[str, Blind]:
    """The files a scan cannot vouch for: checkov could not parse them (`parsing_errors`), or no
    check result names them (`scanned`: the files of every passed and failed result). A finding,
    and so a patch, is on the file of a resource, so a file checkov read has results."""
    errors, seen, files = set(parsing_errors), set(scanned), list(files)
    blind = {path: Blind.CANNOT_PARSE for path in files if path in errors}
    return {**{path: Blind.NO_CHECK for path in files if path not in seen}, **blind}


def unparseable_files(patched: Mapping[str, str]) -> dict[str, str]:
    errors = {path: parse_error(path, text) for path, text in patched.items()}
    return {path: error for path, error in errors.items() if error}


def judge(targets: Iterable[ScanKey], failed_before: set[ScanKey], failed_after: set[ScanKey],
          unparseable: Mapping[str, str] | None = None, blind: Mapping[str, Blind] | None = None) -> Verdict:
    targets = set(targets)
    return Verdict(
        unparseable=dict(unparseable or {}),
        still_failing=frozenset(targets & failed_after),
        new_failures=frozenset(failed_after - failed_before),
        blind=dict(blind or {}),
    )


def describe(key: ScanKey) -> str:
    rule, file, resource = key
    return f"{rule} on {resource} ({file})"
