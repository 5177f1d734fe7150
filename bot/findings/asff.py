"""AWS Security Hub findings (ASFF) to RuntimeFindings. Pure.

Read: ``{"Findings": [...]}`` as ``aws securityhub get-findings`` prints it, or a bare list of
findings. Per finding: the control (``Compliance.SecurityControlId``, else ``ProductFields.ControlId``
or a ``GeneratorId`` of the FSBP standard; a ``GeneratorId`` that is itself a checkov id is used
as is), ``Resources[].Id`` (an ARN), ``Type``, ``Tags``, ``Title`` and ``Severity.Label``.
The control becomes a checkov rule through bot.findings.controls; the resource is mapped to
source by bot.findings.runtime_map.

Bounds (beyond them an entry is refused with a problem naming the limit): MAX_FINDINGS findings,
MAX_RESOURCES resources per finding (Security Hub's own limit), tags.MAX_TAGS tags per resource,
identifiers of tf_state.MAX_IDENTIFIER characters.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from bot.findings.controls import FSBP_GENERATORS, SECURITY_HUB_CONTROLS
from bot.findings.paths import InputProblem, obj
from bot.findings.runtime_map import RuntimeFinding
from bot.findings.tf_state import MAX_IDENTIFIER, MAX_TAGS
from fixers.models import RuleMeta

MAX_FINDINGS = 1000
MAX_RESOURCES = 32
_CHECKOV_ID = re.compile(r"^CKV2?_[A-Z0-9]+_\d+$")
_ACCOUNT_TYPES = frozenset({"AwsAccount"})


def looks_like_asff(raw: Any) -> bool:
    """{"Findings": [...]} (get-findings), or a non-empty list of objects with ASFF's required fields."""
    if isinstance(raw, dict):
        return "Findings" in raw
    return isinstance(raw, list) and bool(raw) and all(
        isinstance(e, dict) and "Resources" in e and "SchemaVersion" in e for e in raw)


def parse(raw: Any, catalog: Mapping[str, RuleMeta], source_name: str = "ASFF") -> tuple[list[RuntimeFinding], list[InputProblem]]:
    entries = raw.get("Findings") if isinstance(raw, dict) else raw
    if not isinstance(entries, list):
        return [], [InputProblem(source_name, "field 'Findings' is not a list")]
    problems: list[InputProblem] = []
    if len(entries) > MAX_FINDINGS:
        problems.append(InputProblem(source_name, f"{len(entries) - MAX_FINDINGS} findings refused, over the cap "
                                     f"of {MAX_FINDINGS} per file"))
    found = []
    for i, entry in enumerate(entries[:MAX_FINDINGS]):
        where = f"{source_name}: Findings[{i}]"
        finding = _finding(entry, catalog, where, problems)
        if finding is not None:
            found.append(finding)
    return found, problems


def _finding(entry: Any, catalog: Mapping[str, RuleMeta], where: str, problems: list[InputProblem]) -> RuntimeFinding | None:
    if not isinstance(entry, dict):
        problems.append(InputProblem(where, "entry is not an object"))
        return None
    if obj(entry.get("Compliance")).get("Status") == "PASSED" or obj(entry.get("Workflow")).get("Status") in (
            "SUPPRESSED", "RESOLVED") or entry.get("RecordState") == "ARCHIVED":
        return None  # nothing to fix: passed, suppressed, resolved or archived in Security Hub
    resources = entry.get("Resources")
    if not isinstance(resources, list) or not resources:
        problems.append(InputProblem(where, "field 'Resources' is missing or empty"))
        return None
    if len(resources) > MAX_RESOURCES:
        problems.append(InputProblem(where, f"{len(resources)} resources, over the cap of {MAX_RESOURCES}; refused"))
        return None
    control = _control(entry)
    rule, tf_type = (control, "") if _CHECKOV_ID.match(control) and control in catalog else \
        SECURITY_HUB_CONTROLS.get(control, (None, ""))
    title, label = entry.get("Title"), obj(entry.get("Severity")).get("Label")
    common = dict(where=where, rule_id=rule, control=control[:200], tf_type=tf_type,
                  title=title[:4000] if isinstance(title, str) else "",
                  severity=label if isinstance(label, str) and len(label) <= 32 else None,
                  source=_source(entry))
    accounts = [r for r in resources if isinstance(r, dict) and r.get("Type") in _ACCOUNT_TYPES]
    others = [r for r in resources if isinstance(r, dict) and r.get("Type") not in _ACCOUNT_TYPES]
    if not others and accounts:
        return RuntimeFinding(**common, cloud_id=_text(accounts[0].get("Id")), account_level=True,
                              resource_type="AwsAccount")
    if len(others) != 1:
        return RuntimeFinding(**common, ambiguous=f"the finding names {len(others)} resources: " + ", ".join(
            _text(r.get("Id")) or "?" for r in others[:5]) if others else "no resource object")
    resource = others[0]
    rid, rtype = _text(resource.get("Id")), _text(resource.get("Type"))
    tags = resource.get("Tags")
    if isinstance(tags, dict) and len(tags) > MAX_TAGS:
        problems.append(InputProblem(where, f"{len(tags)} tags on the resource, over the cap of {MAX_TAGS}; refused"))
        return None
    tag_items = tuple(sorted((k, v) for k, v in tags.items() if isinstance(k, str) and isinstance(v, str)
                             and len(k) <= 128 and len(v) <= 256)) if isinstance(tags, dict) else ()
    return RuntimeFinding(**common, arn=rid if rid.startswith("arn:") else "",
                          cloud_id="" if rid.startswith("arn:") else rid, resource_type=rtype, tags=tag_items)


def _control(entry: dict) -> str:
    compliance = _text(obj(entry.get("Compliance")).get("SecurityControlId"))
    if compliance:
        return compliance
    generator = _text(entry.get("GeneratorId"))
    for prefix in FSBP_GENERATORS:
        if generator.startswith(prefix):
            return generator[len(prefix):]
    fields = obj(entry.get("ProductFields"))
    if "aws-foundational-security-best-practices" in _text(fields.get("StandardsArn")) + _text(
            fields.get("StandardsGuideArn")):
        return _text(fields.get("ControlId"))
    return generator  # another product's own id (a checkov id when checkov results were imported)


def _source(entry: dict) -> str:
    product = obj(entry.get("ProductFields")).get("aws/securityhub/ProductName") or entry.get("ProductName")
    return f"asff:{product}"[:100] if isinstance(product, str) and product else "asff"


def _text(value: Any) -> str:
    return value if isinstance(value, str) and len(value) <= MAX_IDENTIFIER else ""
