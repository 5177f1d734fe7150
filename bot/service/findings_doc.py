"""A findings document as the API receives it: bytes in, (findings, problems) out. Pure.

Three formats, detected from the content or named by ``format``:

* ``sarif``: SARIF 2.1.0 from any scanner (an object with a ``runs`` list).
* ``checkov``: ``checkov -o json`` (a report, or a list of reports, with ``results``).
* ``iacbot``: iacbot's normalized findings::

      {"findings": [{"rule_id": "CKV_AWS_20", "file": "s3/main.tf", "resource": "aws_s3_bucket.data",
                     "line_start": 1, "line_end": 12, "severity": "HIGH", "source": "my-cloud-tool",
                     "message": "S3 bucket is public", "evaluated_keys": ["acl"]}]}

  ``rule_id`` and ``file`` are required; see :class:`FindingIn` for every field.

Paths must name files in the repository: relative to its root, or absolute in the scanner's
checkout when SARIF says where that was (``originalUriBaseIds``); checkov's leading "/" (the
scan root) is accepted. A path that leaves the repository is a problem, never a finding.

A document that cannot be read at all raises :class:`DocumentError` (the API answers 400 with
its message). An entry that cannot be read becomes a problem naming it, e.g.
``body: runs[0].results[3]: missing field 'ruleId'``; the other entries are still used. SARIF and
checkov entries go through the same normalizers as the CLI's (bot.findings), which judge every
field; this module only makes their paths repository-relative first, without a checkout.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.findings import asff, checkov_json, sarif
from bot.findings.paths import InputProblem
from bot.service.json_body import TooDeep, loads_bounded
from fixers.iac_files import MAX_PUSH_FILES
from fixers.models import Finding

FORMATS = ("sarif", "checkov", "iacbot")
SOURCE = "body"
#: The most findings one submission carries, and the most distinct files they may name (as many
#: as a push job fetches): what lies beyond is refused with a problem naming how much and which.
MAX_SUBMISSION_FINDINGS = 1000
MAX_SUBMISSION_FILES = MAX_PUSH_FILES
#: How many refused file names the over-cap problem lists.
_NAMED_FILES = 10
#: Paths reach the shared normalizers already repository-relative and clean; this root only
#: satisfies their signature (it does not exist, so resolving a path under it changes nothing).
_VIRTUAL_ROOT = Path("/nonexistent/iacbot-submission")


class DocumentError(ValueError):
    """The body as a whole is unusable; the message says what is wrong."""


class FindingIn(BaseModel):
    """One finding in iacbot's normalized format (``{"findings": [...]}``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    rule_id: str = Field(min_length=1, max_length=200, description="the scanner's rule id, e.g. CKV_AWS_20")
    file: str = Field(min_length=1, max_length=1024, description="repository-relative POSIX path")
    resource: str = Field(default="", max_length=1024,
                          description="resource address, e.g. aws_s3_bucket.data; empty: found from the lines")
    line_start: int = Field(default=0, ge=0, description="1-based first line; 0 when unknown")
    line_end: int = Field(default=0, ge=0, description="1-based last line; 0: same as line_start")
    severity: str | None = Field(default=None, max_length=32)
    source: str = Field(default="api", min_length=1, max_length=100, description="which tool reported it")
    message: str = Field(default="", max_length=4000)
    evaluated_keys: list[str] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _lines(self) -> "FindingIn":
        if self.line_end and self.line_end < self.line_start:
            raise ValueError("line_end is before line_start")
        return self


class FindingsDocument(BaseModel):
    """iacbot's normalized findings document."""

    findings: list[FindingIn]


def read_document(body: bytes, fmt: str | None = None) -> tuple[list[Finding], list[str]]:
    """Findings and problems (as text) from a request body; DocumentError when unreadable."""
    try:
        raw = loads_bounded(body)
    except TooDeep as exc:
        raise DocumentError(f"body is not accepted: {exc}") from None
    except UnicodeDecodeError:
        raise DocumentError("body is not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise DocumentError(f"body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    fmt = fmt or detect(raw)
    readers: dict[str, Callable[[Any], tuple[list[Finding], list[InputProblem]]]] = {
        "sarif": _sarif, "checkov": _checkov, "iacbot": _iacbot}
    findings, problems = readers[fmt](raw)
    kept, over = within_caps(findings)
    return kept, [str(p) for p in problems] + over


def within_caps(findings: list[Finding], max_findings: int = MAX_SUBMISSION_FINDINGS,
                max_files: int = MAX_SUBMISSION_FILES) -> tuple[list[Finding], list[str]]:
    """The findings that fit, in document order: up to ``max_findings``, naming at most
    ``max_files`` distinct files; the rest are refused with one problem that counts them and
    names the first files left out. Pure."""
    kept: list[Finding] = []
    files: set[str] = set()
    refused: Counter[str] = Counter()
    for finding in findings:
        fits_file = finding.file in files or len(files) < max_files
        if fits_file and len(kept) < max_findings:
            files.add(finding.file)
            kept.append(finding)
        else:
            refused[finding.file] += 1
    if not refused:
        return kept, []
    named = ", ".join(f"'{name}'" for name in list(refused)[:_NAMED_FILES])
    more = f" and {len(refused) - _NAMED_FILES} more files" if len(refused) > _NAMED_FILES else ""
    return kept, [f"{SOURCE}: {sum(refused.values())} findings refused, over the caps of {max_findings} "
                  f"findings and {max_files} files per submission (on {named}{more}); submit them separately"]


def detect(raw: Any) -> str:
    if sarif.looks_like_sarif(raw):
        return "sarif"
    if isinstance(raw, dict) and "findings" in raw:
        return "iacbot"
    if checkov_json.looks_like_checkov(raw):
        return "checkov"
    if asff.looks_like_asff(raw):
        # Mapping a live resource to source needs the repository's Terraform and state, which the
        # service does not fetch yet: said by name rather than "unknown format".
        raise DocumentError("body is AWS Security Hub findings (ASFF), which name live resources: the API does "
                            "not map them to source yet; use `iacbot fix --findings FILE --state STATE` "
                            "(docs/runtime-findings.md)")
    raise DocumentError("body is neither SARIF 2.1.0 (no 'runs' list), checkov JSON (no 'results') "
                        "nor iacbot findings (no 'findings' list)")


# --- paths -----------------------------------------------------------------------------------

def repo_path(reported: str, bases: tuple[str, ...] = (), uri: bool = False) -> tuple[str | None, str]:
    """(clean repository-relative path, "") or (None, why not). Pure: no filesystem."""
    path = reported
    if uri or path.startswith("file:"):
        parts = urlsplit(path)
        if parts.scheme not in ("", "file"):
            return None, f"'{reported}' is not a file path or file URI"
        if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
            return None, f"'{reported}' names a file on another host"
        path = unquote(parts.path)
    if "\\" in path or "\x00" in path:
        return None, f"'{reported}' is not a POSIX path"
    if path.startswith("/"):
        base = next((b for b in bases if path.startswith(b)), None)
        if base is not None:
            path = path[len(base):]
        elif not (uri or reported.startswith("file:")):
            path = path.lstrip("/")  # checkov: relative to the scan root, with a leading "/"
        else:
            return None, f"absolute path '{reported}': give paths relative to the repository root"
    segments = [s for s in path.split("/") if s not in ("", ".")]
    if ".." in segments:
        return None, f"'{reported}' leaves the repository ('..')"
    if not segments:
        return None, f"'{reported}' names no file"
    return "/".join(segments), ""


# --- formats ---------------------------------------------------------------------------------

def _iacbot(raw: Any) -> tuple[list[Finding], list[InputProblem]]:
    entries = raw.get("findings") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise DocumentError("findings: expected a list of findings")
    unknown = sorted(set(raw) - {"findings"})
    if unknown:
        raise DocumentError(f"{unknown[0]}: unknown top-level field (only 'findings')")
    findings, problems = [], []
    for i, entry in enumerate(entries):
        where = f"{SOURCE}: findings[{i}]"
        try:
            item = FindingIn.model_validate(entry)
        except ValidationError as exc:
            for error in exc.errors(include_url=False, include_input=False)[:5]:
                loc = ".".join(str(part) for part in error["loc"])
                problems.append(InputProblem(f"{where}.{loc}" if loc else where, error["msg"]))
            continue
        file, why = repo_path(item.file)
        if file is None:
            problems.append(InputProblem(f"{where}.file", why))
            continue
        findings.append(Finding(rule_id=item.rule_id, file=file, resource=item.resource,
                                line_start=item.line_start, line_end=item.line_end or item.line_start,
                                severity=item.severity, source=item.source, message=item.message,
                                evaluated_keys=tuple(item.evaluated_keys)))
    return findings, problems


def _checkov(raw: Any) -> tuple[list[Finding], list[InputProblem]]:
    reports = raw if isinstance(raw, list) else [raw]
    findings: list[Finding] = []
    problems: list[InputProblem] = []
    for r, report in enumerate(reports):
        results = report.get("results") if isinstance(report, dict) else None
        if not isinstance(results, dict) or not isinstance(results.get("failed_checks") or [], list):
            raise DocumentError(f"report {r}: expected 'results' with a 'failed_checks' list")
        for c, record in enumerate(results.get("failed_checks") or []):
            where = f"{SOURCE}: report {r}, failed_checks[{c}]"
            clean = _checkov_paths(record, where, problems)
            if clean is not None:
                finding = checkov_json.finding_from_record(clean, _VIRTUAL_ROOT, where, problems)
                if finding is not None:
                    findings.append(finding)
    return findings, problems


def _checkov_paths(record: Any, where: str, problems: list[InputProblem]) -> Any:
    """The record with its path made repository-relative; None (a problem added) when the path is
    unusable. Every other field is judged by the shared normalizer."""
    if not isinstance(record, dict) or not isinstance(record.get("file_path"), str) or not record["file_path"]:
        return record
    file, why = repo_path(record["file_path"])
    if file is None:
        problems.append(InputProblem(where, f"field 'file_path': {why}"))
        return None
    clean = {k: v for k, v in record.items() if k != "file_abs_path"}  # the scanner machine's path
    clean["file_path"] = file
    return clean


def _sarif(raw: Any) -> tuple[list[Finding], list[InputProblem]]:
    runs = raw["runs"] if isinstance(raw, dict) else None
    if not isinstance(runs, list):
        raise DocumentError("runs: expected a list (SARIF 2.1.0)")
    problems: list[InputProblem] = []
    clean_runs: list[Any] = []
    for r, run in enumerate(runs):
        if not isinstance(run, dict):
            clean_runs.append(run)  # the normalizer reports it
            continue
        results = run.get("results") or []
        if not isinstance(results, list):
            raise DocumentError(f"runs[{r}].results: expected a list")
        bases = _uri_bases(run)
        clean_results = []
        for i, result in enumerate(results):
            clean = _sarif_paths(result, bases, f"{SOURCE}: runs[{r}].results[{i}]", problems)
            # Kept at its index so the normalizer's problems name the right entry; a rejected
            # entry becomes a string the normalizer skips with a problem we drop below.
            clean_results.append(clean if clean is not None else "rejected")
        clean_runs.append({**run, "results": clean_results})
    findings, more = sarif.parse({**raw, "runs": clean_runs}, _VIRTUAL_ROOT, source_name=SOURCE)
    rejected = {p.where for p in problems}
    problems += [p for p in more if p.where not in rejected]
    return findings, problems


def _sarif_paths(result: Any, bases: tuple[str, ...], where: str, problems: list[InputProblem]) -> Any:
    """The result with its first location's URI made repository-relative; None (a problem added)
    when the URI is unusable. Every other field is judged by the shared normalizer."""
    locations = result.get("locations") if isinstance(result, dict) else None
    first = locations[0] if isinstance(locations, list) and locations and isinstance(locations[0], dict) else None
    physical = first.get("physicalLocation") if first else None
    artifact = physical.get("artifactLocation") if isinstance(physical, dict) else None
    uri = artifact.get("uri") if isinstance(artifact, dict) else None
    if not isinstance(uri, str) or not uri:
        return result
    file, why = repo_path(uri, bases, uri=True)
    if file is None:
        problems.append(InputProblem(where, f"field 'locations[0].physicalLocation.artifactLocation.uri': {why}"))
        return None
    clean_first = {**first, "physicalLocation": {**physical, "artifactLocation": {**artifact, "uri": file}}}
    return {**result, "locations": [clean_first, *locations[1:]]}


def _uri_bases(run: dict) -> tuple[str, ...]:
    bases = run.get("originalUriBaseIds")
    found = []
    for base in (bases.values() if isinstance(bases, dict) else ()):
        uri = base.get("uri") if isinstance(base, dict) else None
        if isinstance(uri, str) and uri.startswith("file:"):
            path = unquote(urlsplit(uri).path)
            found.append(path if path.endswith("/") else path + "/")
    return tuple(sorted(found, key=len, reverse=True))


