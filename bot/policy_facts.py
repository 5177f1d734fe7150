"""The facts `iacbot policy explain` and `simulate` decide from, offline.

Labels (category, risk, confidence, impact) always come from the registry, from the fixer that
handles the rule: never from a file's or a PR body's own claim of them, which anyone who can
edit the file or the PR could write. What only the input can know (which file, how many lines the
fix changes) is read from it, checked for type and bounded.

A blast radius that was not measured is never read as 0: the fix is given UNMEASURED_LINES
changed lines, so a rule limited by `max_changed_lines` does not match it (fail closed), and
the output says the figure is unknown.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence

from fixers import registry
from fixers.models import Finding, RuleMeta
from policies.facts import ChangedFile, CheckFacts, CommitFacts, FixFacts, MergeFacts

#: The changed lines a fix is decided with when nobody measured them: beyond any sane limit.
UNMEASURED_LINES = 1_000_000_000
#: Bounds on what an input file may hold (it is attacker-controlled like any policy input).
MAX_RULES, MAX_PATHS, MAX_TEXT, MAX_ITEMS = 100, 100, 1_000, 1_000
_SEVERITY_ORDER = ("INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL")


class FactsError(ValueError):
    """The input cannot be read as facts; the message says which field and why."""


@dataclass(frozen=True)
class Facts:
    """A fix's facts, whether its blast radius was measured, and what the input claimed that the
    registry contradicts (shown, never used)."""

    fix: FixFacts
    measured: bool
    notes: tuple[str, ...] = ()

    @property
    def changed_lines(self) -> int | None:
        return self.fix.changed_lines if self.measured else None


def complete(finding: Finding, catalog: Mapping[str, RuleMeta]) -> Finding:
    """The finding with the fix class the registry gives it (the fingerprint depends on it)."""
    return dataclasses.replace(finding, fix_class=registry.fix_class(finding, catalog))


def fix_facts(findings: Sequence[Finding], repository: str, catalog: Mapping[str, RuleMeta],
              changed_lines: int | None, paths: Sequence[str] | None = None) -> Facts:
    """The facts of the fix that ``findings`` (one fingerprint, the primary first, completed) make.
    ``changed_lines`` None: not measured."""
    primary = findings[0]
    fixer = registry.fixer_for(primary.rule_id, catalog)
    info = fixer.info if fixer is not None else None
    fix = FixFacts(
        fingerprint=primary.fingerprint(),
        repository=repository,
        rule_ids=tuple(dict.fromkeys(f.rule_id for f in findings)),
        fix_class=info.id if info else (primary.fix_class or primary.rule_id),
        category=info.category if info else None,
        risk=info.risk if info else None,
        confidence=info.confidence if info else None,
        impact=frozenset(info.impact) if info else frozenset(),
        severity=highest_severity([f.severity for f in findings]),
        paths=tuple(paths) if paths else (primary.file,),
        changed_lines=UNMEASURED_LINES if changed_lines is None else changed_lines,
        resources=len({f.resource for f in findings}) or 1,
    )
    return Facts(fix, changed_lines is not None)


def highest_severity(severities: Sequence[str | None]) -> str | None:
    upper = [s.upper() for s in severities if isinstance(s, str) and s]
    known = [s for s in upper if s in _SEVERITY_ORDER]
    if known:
        return max(known, key=_SEVERITY_ORDER.index)
    return upper[0] if upper else None


# -- a PR body's provenance block -------------------------------------------------------------

def from_provenance(data: Mapping[str, Any], catalog: Mapping[str, RuleMeta], repository: str | None) -> Facts:
    """The facts of the fix a PR carries, from its provenance block (bot.github.pr_body). The
    rule ids, file and resource name the fix; the labels are the registry's; paths, changed
    lines and resources are the block's (absent changed lines: not measured)."""
    rules = _strings(data.get("rules"), "rules", MAX_RULES) or [_string(data.get("rule"), "rule")]
    file = _string(data.get("file"), "file")
    resource = _string(data.get("resource") or "", "resource", required=False)
    findings = [complete(Finding(rule, file, resource, severity=_optional_string(data.get("severity"), "severity"),
                                 source=_optional_string(data.get("source"), "source") or ""), catalog)
                for rule in rules]
    paths = _strings(data.get("paths"), "paths", MAX_PATHS) or [file]
    changed = _count(data.get("changed_lines"), "changed_lines")
    resources = _count(data.get("resources"), "resources")
    facts = fix_facts(findings, repository or _optional_string(data.get("repository"), "repository") or "",
                      catalog, changed, paths)
    if resources is not None and resources != facts.fix.resources:
        facts = dataclasses.replace(facts, fix=dataclasses.replace(facts.fix, resources=max(resources, 1)))
    return dataclasses.replace(facts, notes=tuple(_contradictions(data, facts.fix)))


def _contradictions(data: Mapping[str, Any], fix: FixFacts) -> list[str]:
    """What the block claims that the registry (or the fingerprint's definition) contradicts."""
    notes = []
    claimed_fp = data.get("fingerprint")
    if isinstance(claimed_fp, str) and claimed_fp != fix.fingerprint:
        notes.append(f"the block's fingerprint {claimed_fp[:40]!r} is not the one its rule, resource and file "
                     f"give ({fix.fingerprint}); the latter is used")
    ours = {"category": fix.category.value if fix.category else None, "risk": fix.risk.value if fix.risk else None,
            "confidence": fix.confidence.value if fix.confidence else None}
    for key, value in ours.items():
        if key in data and data[key] != value:
            notes.append(f"the block says {key} {str(data[key])[:40]!r}, the registry says {value!r}; "
                         "the registry's label is used")
    if "impact" in data and (not isinstance(data["impact"], list)
                             or sorted(map(str, data["impact"])) != sorted(i.value for i in fix.impact)):
        notes.append(f"the block's impact {str(data['impact'])[:80]} is not the registry's "
                     f"{sorted(i.value for i in fix.impact)}; the registry's is used")
    if data.get("fixer") is not None and data.get("fixer") != (fix.fix_class if fix.category else None):
        notes.append(f"the block names fixer {str(data['fixer'])[:60]!r}; the registry's fixer for "
                     f"{fix.rule_ids[0]} is {fix.fix_class!r}")
    return notes


# -- a finding file ---------------------------------------------------------------------------

def from_finding(data: Any, catalog: Mapping[str, RuleMeta], repository: str) -> Facts:
    """The facts of the fix one finding makes. ``data``: an entry of `iacbot fix --json`'s
    "fixes" or "unfixed" (its "findings" are the fix's findings), a finding record of that report,
    or a bare fixers.models.Finding as a dict (rule_id, file, resource, line_start, line_end,
    severity, ...). Its fix class, fingerprint and labels ("fixer") are ignored: the registry's are
    used. An optional "changed_lines" (int) is the blast radius; without it, not measured."""
    if not isinstance(data, dict):
        raise FactsError("a finding is a JSON object with at least rule_id and file")
    members = data.get("findings")
    if members is not None:
        if not isinstance(members, list) or not members or len(members) > MAX_RULES:
            raise FactsError(f"field 'findings' is not a list of 1 to {MAX_RULES} findings")
        findings = [_finding(item, f"findings[{n}]") for n, item in enumerate(members)]
    else:
        findings = [_finding(data, "")]
    findings = [complete(f, catalog) for f in findings]
    primary = findings[0]
    findings = [primary, *(f for f in findings[1:] if f.fingerprint() == primary.fingerprint())]
    changed = _count(data.get("changed_lines"), "changed_lines")
    facts = fix_facts(findings, repository, catalog, changed)
    notes = []
    if isinstance(data.get("fixer"), dict):
        claimed = {k: data["fixer"].get(k) for k in ("category", "risk", "confidence")}
        ours = {"category": facts.fix.category, "risk": facts.fix.risk, "confidence": facts.fix.confidence}
        for key, value in claimed.items():
            if value is not None and value != (ours[key].value if ours[key] else None):
                notes.append(f"the file says {key} {str(value)[:40]!r}; the registry's label is used")
    return dataclasses.replace(facts, notes=tuple(notes))


def _finding(data: Any, where: str) -> Finding:
    prefix = f"{where}: " if where else ""
    if not isinstance(data, dict):
        raise FactsError(f"{prefix}a finding is a JSON object")
    lines = data.get("lines")
    if isinstance(lines, list) and len(lines) == 2:
        start, end = (_count(v, "lines") or 0 for v in lines)
    else:
        start, end = _count(data.get("line_start"), "line_start") or 0, _count(data.get("line_end"), "line_end") or 0
    try:
        return Finding(rule_id=_string(data.get("rule_id"), "rule_id"), file=_string(data.get("file"), "file"),
                       resource=_string(data.get("resource") or "", "resource", required=False),
                       line_start=start, line_end=end,
                       severity=_optional_string(data.get("severity"), "severity"),
                       source=_optional_string(data.get("source"), "source") or "checkov",
                       message=_optional_string(data.get("message"), "message") or "")
    except FactsError as exc:
        raise FactsError(f"{prefix}{exc}") from None


# -- merge facts ------------------------------------------------------------------------------

def merge_facts(data: Any, now: datetime) -> MergeFacts:
    """policies.facts.MergeFacts from JSON: its fields by name; `commits`, `files` and `checks`
    lists of objects with the fields of CommitFacts, ChangedFile and CheckFacts. "now" (ISO 8601
    with an offset) defaults to ``now``."""
    if not isinstance(data, dict):
        raise FactsError("merge facts are a JSON object with the fields of policies.facts.MergeFacts")
    known = {f.name for f in dataclasses.fields(MergeFacts)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise FactsError(f"unknown merge facts field(s): {', '.join(map(str, unknown[:10]))}")
    when = parse_time(data["now"], "now") if "now" in data else now
    try:
        return MergeFacts(
            now=when,
            pr_open=_bool(data.get("pr_open", True), "pr_open"),
            pr_by_iacbot=_bool(data.get("pr_by_iacbot", True), "pr_by_iacbot"),
            mergeable=None if data.get("mergeable") is None else _bool(data["mergeable"], "mergeable"),
            base_ref=_string(data.get("base_ref", "main"), "base_ref"),
            head_sha=_string(data.get("head_sha"), "head_sha"),
            decided_head_sha=_optional_string(data.get("decided_head_sha"), "decided_head_sha"),
            # Offline what-if: unless told otherwise, the base is the one iacbot published onto.
            decided_base_ref=_string(data.get("decided_base_ref", data.get("base_ref", "main")), "decided_base_ref"),
            commits=tuple(_record(CommitFacts, c, f"commits[{n}]") for n, c in enumerate(_list(data, "commits"))),
            files=tuple(_record(ChangedFile, c, f"files[{n}]") for n, c in enumerate(_list(data, "files"))),
            checks=tuple(_record(CheckFacts, c, f"checks[{n}]") for n, c in enumerate(_list(data, "checks"))),
            global_kill_switch=_bool(data.get("global_kill_switch", False), "global_kill_switch"),
            repo_kill_switch=_bool(data.get("repo_kill_switch", False), "repo_kill_switch"),
            merges_last_hour=_count(data.get("merges_last_hour"), "merges_last_hour") or 0,
            merge_in_progress=_bool(data.get("merge_in_progress", False), "merge_in_progress"),
        )
    except FactsError:
        raise
    except (TypeError, ValueError) as exc:
        raise FactsError(f"merge facts: {exc}") from None


def _list(data: Mapping[str, Any], key: str) -> list:
    value = data.get(key, [])
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        raise FactsError(f"field '{key}' is not a list of at most {MAX_ITEMS} objects")
    return value


def _record(kind, data: Any, where: str):
    """One CommitFacts, ChangedFile or CheckFacts from an object with exactly its field names."""
    if not isinstance(data, dict):
        raise FactsError(f"{where}: not a JSON object")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise FactsError(f"{where}: unknown field(s) {', '.join(map(str, unknown[:10]))}")
    values = {}
    for name, field in fields.items():
        if name not in data:
            if field.default is dataclasses.MISSING:
                raise FactsError(f"{where}: field '{name}' is missing")
            continue
        value, annotation = data[name], str(field.type)
        if annotation == "bool":
            values[name] = _bool(value, f"{where}.{name}")
        elif annotation == "int":
            values[name] = _count(value, f"{where}.{name}") or 0
        elif "None" in annotation:
            values[name] = _optional_string(value, f"{where}.{name}")
        else:
            values[name] = _string(value, f"{where}.{name}")
    return kind(**values)


def parse_time(value: Any, what: str) -> datetime:
    """An ISO 8601 time with a UTC offset (or Z); a time without one is refused, not guessed."""
    if not isinstance(value, str) or len(value) > 64:
        raise FactsError(f"{what}: not an ISO 8601 time")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise FactsError(f"{what}: {value!r} is not an ISO 8601 time (e.g. 2026-12-02T10:00:00+01:00)") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise FactsError(f"{what}: {value!r} has no UTC offset; add one (Z, +01:00) so windows are judged "
                         "in the right time zone")
    return when


# -- typed reading of hostile JSON ------------------------------------------------------------

def _string(value: Any, field: str, required: bool = True) -> str:
    if not isinstance(value, str) or (required and not value):
        raise FactsError(f"field '{field}' is not a non-empty string" if required else f"field '{field}' is not a string")
    if len(value) > MAX_TEXT:
        raise FactsError(f"field '{field}' is longer than {MAX_TEXT} characters")
    return value


def _optional_string(value: Any, field: str) -> str | None:
    return None if value is None else _string(value, field, required=False)


def _strings(value: Any, field: str, limit: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > limit:
        raise FactsError(f"field '{field}' is not a list of at most {limit} strings")
    return [_string(v, f"{field}[{n}]") for n, v in enumerate(value)]


def _count(value: Any, field: str) -> int | None:
    """A non-negative int, or None when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FactsError(f"field '{field}' is not a non-negative integer")
    return value


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise FactsError(f"field '{field}' is not true or false")
    return value
