"""SARIF 2.1.0 from any scanner (checkov -o sarif, GitHub code scanning, tfsec, kics, ...)."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from bot.findings.paths import InputProblem, RepoFiles, line_number, obj, place
from fixers.models import Finding

#: originalUriBaseIds may chain (a base relative to another base); deeper is refused as a loop.
MAX_BASE_DEPTH = 8

# SARIF levels to the severities the rest of iacbot speaks.
LEVEL_SEVERITY = {"error": "HIGH", "warning": "MEDIUM", "note": "LOW", "none": "INFO"}


def looks_like_sarif(raw: Any) -> bool:
    return isinstance(raw, dict) and isinstance(raw.get("runs"), list)


def parse(raw: dict, repo_root: Path, source_name: str = "SARIF") -> tuple[list[Finding], list[InputProblem]]:
    findings: list[Finding] = []
    problems: list[InputProblem] = []
    files = RepoFiles(repo_root)
    if raw.get("version") not in (None, "2.1.0"):
        problems.append(InputProblem(source_name, f"SARIF version {raw.get('version')!r} is not 2.1.0; reading it anyway"))
    for run_index, run in enumerate(raw["runs"]):
        if not isinstance(run, dict):
            problems.append(InputProblem(f"{source_name}: runs[{run_index}]", "run is not an object"))
            continue
        tool = obj(obj(run.get("tool")).get("driver")).get("name")
        tool = tool if isinstance(tool, str) and tool else "sarif"
        rules = _rules_by_id(run)
        bases = obj(run.get("originalUriBaseIds"))
        results = run.get("results") or []
        if not isinstance(results, list):
            problems.append(InputProblem(f"{source_name}: runs[{run_index}]", "field 'results' is not a list"))
            continue
        for result_index, result in enumerate(results):
            where = f"{source_name}: runs[{run_index}].results[{result_index}]"
            finding = _finding(result, tool, rules, bases, repo_root, files, where, problems)
            if finding is not None:
                findings.append(finding)
    return findings, problems


def _rules_by_id(run: dict) -> dict[str, dict]:
    rules = obj(obj(run.get("tool")).get("driver")).get("rules")
    return {r["id"]: r for r in rules if isinstance(r, dict) and isinstance(r.get("id"), str)} \
        if isinstance(rules, list) else {}


def _finding(result: Any, tool: str, rules: dict, bases: dict, repo_root: Path, files: RepoFiles, where: str,
             problems: list[InputProblem]) -> Finding | None:
    if not isinstance(result, dict):
        problems.append(InputProblem(where, "result is not an object"))
        return None
    rule_id = result.get("ruleId") or obj(result.get("rule")).get("id")
    if not isinstance(rule_id, str) or not rule_id:
        problems.append(InputProblem(where, "missing field 'ruleId'" if rule_id in (None, "")
                                     else f"field 'ruleId' is not a string ({rule_id!r:.40})"))
        return None
    locations = result.get("locations") if isinstance(result.get("locations"), list) else []
    physical = obj(obj(locations[0] if locations else None).get("physicalLocation"))
    artifact = obj(physical.get("artifactLocation"))
    uri = artifact.get("uri")
    if not isinstance(uri, str) or not uri:
        problems.append(InputProblem(where, "missing field 'locations[0].physicalLocation.artifactLocation.uri'"))
        return None
    reported, alternatives = _readings(uri, artifact.get("uriBaseId"), bases)
    file, why = place(reported, repo_root, files, alternatives)
    if file is None:
        problems.append(InputProblem(where, why))
        return None
    region = obj(physical.get("region"))
    try:
        start = line_number(region.get("startLine"), "locations[0].physicalLocation.region.startLine")
        end = line_number(region.get("endLine"), "locations[0].physicalLocation.region.endLine") or start
    except ValueError as exc:
        problems.append(InputProblem(where, str(exc)))
        return None
    rule = rules.get(rule_id, {})
    message = obj(result.get("message")).get("text") or obj(rule.get("shortDescription")).get("text")
    return Finding(
        rule_id=rule_id,
        file=file,
        resource=_resource_name(result, locations),
        line_start=start,
        line_end=max(end, start),
        severity=_severity(result, rule),
        source=f"sarif:{tool}",
        message=message if isinstance(message, str) else "",
    )


def _readings(uri: str, base_id: Any, bases: dict) -> tuple[str, tuple[str, ...]]:
    """(the location as completely as the log says it, other readings of it) for paths.place.

    A relative uri with a uriBaseId is resolved against run.originalUriBaseIds (SARIF 2.1.0
    §3.4.4, §3.14.14); when that base is absent, or names a directory on the machine that made
    the log, the uri is also read as relative to the repository root (as %SRCROOT% means)."""
    if not isinstance(base_id, str) or _scheme(uri):
        return uri, ()
    relative = unquote(uri)
    base = _base_uri(base_id, bases, MAX_BASE_DEPTH)
    if base is None:
        return relative, ()
    return base + uri, (relative,)  # joined as text: a ".." stays visible to paths.place


def _base_uri(base_id: str, bases: dict, depth: int) -> str | None:
    """The absolute file URI (ending in "/") a uriBaseId names, or None when undefined, not a
    file URI, or a chain too deep (a loop)."""
    entry = obj(bases.get(base_id))
    uri = entry.get("uri")
    if depth <= 0 or not isinstance(uri, str):
        return None
    uri = uri if uri.endswith("/") else uri + "/"
    parent = entry.get("uriBaseId")
    if isinstance(parent, str) and not _scheme(uri):
        above = _base_uri(parent, bases, depth - 1)
        return above + uri if above else None
    return uri if _scheme(uri) == "file" else None


def _scheme(uri: str) -> str:
    try:
        return urlsplit(uri).scheme
    except ValueError:  # e.g. an unbalanced "[" in the host: no usable scheme
        return ""


def _resource_name(result: dict, locations: list) -> str:
    """SARIF has no resource field; tools put it in logicalLocations or properties. "" when absent:
    the engine then finds the resource from the line range."""
    for location in locations:
        logicals = obj(location).get("logicalLocations")
        for logical in logicals if isinstance(logicals, list) else []:
            name = obj(logical).get("fullyQualifiedName") or obj(logical).get("name")
            if isinstance(name, str) and name:
                return name
    resource = obj(result.get("properties")).get("resource")
    return resource if isinstance(resource, str) else ""


def _severity(result: dict, rule: dict) -> str | None:
    score = obj(rule.get("properties")).get("security-severity")
    if score is not None:
        try:
            value = float(score)
        except (TypeError, ValueError):
            value = None
        if value is not None:
            return "CRITICAL" if value >= 9 else "HIGH" if value >= 7 else "MEDIUM" if value >= 4 else "LOW"
    level = result.get("level") or obj(rule.get("defaultConfiguration")).get("level")
    return LEVEL_SEVERITY.get(level) if isinstance(level, str) else None
