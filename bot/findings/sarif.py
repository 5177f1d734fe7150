"""SARIF 2.1.0 from any scanner (checkov -o sarif, GitHub code scanning, tfsec, kics, ...)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.findings.paths import InputProblem, repo_relative
from fixers.models import Finding

# SARIF levels to the severities the rest of iacbot speaks.
LEVEL_SEVERITY = {"error": "HIGH", "warning": "MEDIUM", "note": "LOW", "none": "INFO"}


def looks_like_sarif(raw: Any) -> bool:
    return isinstance(raw, dict) and isinstance(raw.get("runs"), list)


def parse(raw: dict, repo_root: Path, source_name: str = "SARIF") -> tuple[list[Finding], list[InputProblem]]:
    findings: list[Finding] = []
    problems: list[InputProblem] = []
    if raw.get("version") not in (None, "2.1.0"):
        problems.append(InputProblem(source_name, f"SARIF version {raw.get('version')!r} is not 2.1.0; reading it anyway"))
    for run_index, run in enumerate(raw["runs"]):
        if not isinstance(run, dict):
            problems.append(InputProblem(f"{source_name}: runs[{run_index}]", "run is not an object"))
            continue
        tool = ((run.get("tool") or {}).get("driver") or {}).get("name") or "sarif"
        rules = _rules_by_id(run)
        for result_index, result in enumerate(run.get("results") or []):
            where = f"{source_name}: runs[{run_index}].results[{result_index}]"
            finding = _finding(result, tool, rules, repo_root, where, problems)
            if finding is not None:
                findings.append(finding)
    return findings, problems


def _rules_by_id(run: dict) -> dict[str, dict]:
    rules = ((run.get("tool") or {}).get("driver") or {}).get("rules") or []
    return {r["id"]: r for r in rules if isinstance(r, dict) and isinstance(r.get("id"), str)}


def _finding(result: Any, tool: str, rules: dict, repo_root: Path, where: str, problems: list[InputProblem]) -> Finding | None:
    if not isinstance(result, dict):
        problems.append(InputProblem(where, "result is not an object"))
        return None
    rule_id = result.get("ruleId") or ((result.get("rule") or {}).get("id"))
    if not isinstance(rule_id, str) or not rule_id:
        problems.append(InputProblem(where, "missing field 'ruleId'"))
        return None
    locations = result.get("locations") or []
    physical = (locations[0] if locations and isinstance(locations[0], dict) else {}).get("physicalLocation") or {}
    uri = (physical.get("artifactLocation") or {}).get("uri")
    if not isinstance(uri, str) or not uri:
        problems.append(InputProblem(where, "missing field 'locations[0].physicalLocation.artifactLocation.uri'"))
        return None
    file = repo_relative(uri, repo_root)
    if file is None:
        problems.append(InputProblem(where, f"file '{uri}' is outside the repository {repo_root}"))
        return None
    region = physical.get("region") or {}
    start = int(region.get("startLine") or 0)
    rule = rules.get(rule_id, {})
    return Finding(
        rule_id=rule_id,
        file=file,
        resource=_resource_name(result, locations),
        line_start=start,
        line_end=int(region.get("endLine") or start),
        severity=_severity(result, rule),
        source=f"sarif:{tool}",
        message=((result.get("message") or {}).get("text") or (rule.get("shortDescription") or {}).get("text") or ""),
    )


def _resource_name(result: dict, locations: list) -> str:
    """SARIF has no resource field; tools put it in logicalLocations or properties. "" when absent:
    the engine then finds the resource from the line range."""
    for location in locations:
        for logical in (location or {}).get("logicalLocations") or []:
            name = logical.get("fullyQualifiedName") or logical.get("name")
            if name:
                return name
    properties = result.get("properties") or {}
    return str(properties.get("resource") or "")


def _severity(result: dict, rule: dict) -> str | None:
    score = (rule.get("properties") or {}).get("security-severity")
    if score is not None:
        try:
            value = float(score)
        except (TypeError, ValueError):
            value = None
        if value is not None:
            return "CRITICAL" if value >= 9 else "HIGH" if value >= 7 else "MEDIUM" if value >= 4 else "LOW"
    level = result.get("level") or (rule.get("defaultConfiguration") or {}).get("level")
    return LEVEL_SEVERITY.get(level) if level else None
