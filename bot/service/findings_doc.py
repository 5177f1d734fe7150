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
``body: runs[0].results[3]: missing field 'ruleId'``; the other entries are still used. The
entries are checked here, field by field, before the shared normalizers (bot.findings) see
them, so hostile input cannot make them raise.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.findings import checkov_json, sarif
from bot.findings.paths import InputProblem
from fixers.models import Finding

FORMATS = ("sarif", "checkov", "iacbot")
SOURCE = "body"
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
        raw = json.loads(body)
    except UnicodeDecodeError:
        raise DocumentError("body is not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise DocumentError(f"body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    fmt = fmt or detect(raw)
    readers: dict[str, Callable[[Any], tuple[list[Finding], list[InputProblem]]]] = {
        "sarif": _sarif, "checkov": _checkov, "iacbot": _iacbot}
    findings, problems = readers[fmt](raw)
    return findings, [str(p) for p in problems]


def detect(raw: Any) -> str:
    if sarif.looks_like_sarif(raw):
        return "sarif"
    if isinstance(raw, dict) and "findings" in raw:
        return "iacbot"
    if checkov_json.looks_like_checkov(raw):
        return "checkov"
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
            clean = _checkov_record(record, where, problems)
            if clean is not None:
                finding = checkov_json.finding_from_record(clean, _VIRTUAL_ROOT, where, problems)
                if finding is not None:
                    findings.append(finding)
    return findings, problems


def _checkov_record(record: Any, where: str, problems: list[InputProblem]) -> dict | None:
    def bad(field: str, what: str) -> None:
        problems.append(InputProblem(where, f"field '{field}': {what}"))

    if not isinstance(record, dict):
        problems.append(InputProblem(where, "entry is not an object"))
        return None
    for name in ("check_id", "file_path", "resource"):
        if not isinstance(record.get(name), str) or not record[name]:
            problems.append(InputProblem(where, f"missing or empty field '{name}'"))
            return None
    lines = record.get("file_line_range")
    if lines is not None and not (isinstance(lines, list) and lines and all(_is_int(x) for x in lines)):
        return bad("file_line_range", "expected a list of line numbers")
    for name in ("severity", "check_name"):
        if record.get(name) is not None and not isinstance(record[name], str):
            return bad(name, "expected a string")
    check_result = record.get("check_result")
    keys = check_result.get("evaluated_keys") if isinstance(check_result, dict) else None
    if check_result is not None and not isinstance(check_result, dict):
        return bad("check_result", "expected an object")
    if keys is not None and not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        return bad("check_result.evaluated_keys", "expected a list of strings")
    file, why = repo_path(record["file_path"])
    if file is None:
        return bad("file_path", why)
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
            where = f"{SOURCE}: runs[{r}].results[{i}]"
            clean = _sarif_result(result, bases, where, problems)
            # Kept at its index so the normalizer's problems name the right entry; a rejected
            # entry becomes an empty object the normalizer skips with a problem we drop below.
            clean_results.append(clean if clean is not None else {"__rejected__": True})
        tool = run.get("tool")
        driver = tool.get("driver") if isinstance(tool, dict) else None
        clean_runs.append({"tool": {"driver": _clean_driver(driver)}, "results": clean_results})
    findings, more = sarif.parse({**raw, "runs": clean_runs}, _VIRTUAL_ROOT, source_name=SOURCE)
    rejected = {p.where for p in problems}
    problems += [p for p in more if p.where not in rejected]
    return findings, problems


def _uri_bases(run: dict) -> tuple[str, ...]:
    bases = run.get("originalUriBaseIds")
    found = []
    for base in (bases.values() if isinstance(bases, dict) else ()):
        uri = base.get("uri") if isinstance(base, dict) else None
        if isinstance(uri, str) and uri.startswith("file:"):
            path = unquote(urlsplit(uri).path)
            found.append(path if path.endswith("/") else path + "/")
    return tuple(sorted(found, key=len, reverse=True))


def _clean_driver(driver: Any) -> dict:
    if not isinstance(driver, dict):
        return {}
    name = driver.get("name") if isinstance(driver.get("name"), str) else None
    rules = [_clean_rule(rule) for rule in driver.get("rules") or [] if isinstance(rule, dict)] \
        if isinstance(driver.get("rules"), list) else []
    return {"name": name, "rules": [r for r in rules if r is not None]}


def _clean_rule(rule: dict) -> dict | None:
    if not isinstance(rule.get("id"), str):
        return None
    short = rule.get("shortDescription")
    props = rule.get("properties")
    config = rule.get("defaultConfiguration")
    return {
        "id": rule["id"],
        "shortDescription": {"text": short["text"]} if isinstance(short, dict) and isinstance(short.get("text"), str)
        else {},
        "properties": {"security-severity": str(props["security-severity"])}
        if isinstance(props, dict) and isinstance(props.get("security-severity"), (str, int, float)) else {},
        "defaultConfiguration": {"level": config["level"]}
        if isinstance(config, dict) and isinstance(config.get("level"), str) else {},
    }


def _sarif_result(result: Any, bases: tuple[str, ...], where: str, problems: list[InputProblem]) -> dict | None:
    def bad(field: str, what: str) -> None:
        problems.append(InputProblem(where, f"field '{field}': {what}"))

    if not isinstance(result, dict):
        problems.append(InputProblem(where, "result is not an object"))
        return None
    rule_id = result.get("ruleId")
    if rule_id is None and isinstance(result.get("rule"), dict):
        rule_id = result["rule"].get("id")
    if not isinstance(rule_id, str) or not rule_id:
        problems.append(InputProblem(where, "missing field 'ruleId'"))
        return None
    locations = result.get("locations")
    if not isinstance(locations, list) or not locations or not isinstance(locations[0], dict):
        return bad("locations", "expected a list of location objects")
    physical = locations[0].get("physicalLocation")
    artifact = physical.get("artifactLocation") if isinstance(physical, dict) else None
    uri = artifact.get("uri") if isinstance(artifact, dict) else None
    if not isinstance(uri, str) or not uri:
        problems.append(InputProblem(where, "missing field 'locations[0].physicalLocation.artifactLocation.uri'"))
        return None
    file, why = repo_path(uri, bases, uri=True)
    if file is None:
        return bad("locations[0].physicalLocation.artifactLocation.uri", why)
    region = physical.get("region") or {}
    if not isinstance(region, dict):
        return bad("locations[0].physicalLocation.region", "expected an object")
    for name in ("startLine", "endLine"):
        if region.get(name) is not None and not (_is_int(region[name]) and region[name] >= 0):
            return bad(f"locations[0].physicalLocation.region.{name}", "expected a line number")
    message = result.get("message")
    level = result.get("level")
    if level is not None and not isinstance(level, str):
        return bad("level", "expected a string")
    return {
        "ruleId": rule_id,
        "level": level,
        "message": {"text": message["text"]} if isinstance(message, dict) and isinstance(message.get("text"), str)
        else {},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": file},
                                            "region": {k: region[k] for k in ("startLine", "endLine") if k in region}},
                       "logicalLocations": _logical(locations)}],
        "properties": {"resource": result["properties"]["resource"]}
        if isinstance(result.get("properties"), dict) and isinstance(result["properties"].get("resource"), str)
        else {},
    }


def _logical(locations: list) -> list[dict]:
    names = []
    for location in locations:
        for logical in (location.get("logicalLocations") or []) if isinstance(location, dict) else ():
            if isinstance(logical, dict):
                name = logical.get("fullyQualifiedName") or logical.get("name")
                if isinstance(name, str) and name:
                    names.append({"fullyQualifiedName": name})
    return names[:1]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
