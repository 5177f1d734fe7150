"""Pull request title and body for a fix (pure text), ending in a hidden provenance block.

Humans read the sections; tools read `<!-- iacbot:provenance {json} -->` with read_provenance.
Every value from outside iacbot (the finding's message, rule id, resource and file, the scanner,
the tenant, the delivery) is quoted by bot.quoting: it cannot mention anyone, show an image, make
a link or write HTML, and the body stays under GitHub's limit by cutting the explanation, never
the footer or the provenance block.
"""
from __future__ import annotations

import json
import re
from typing import Any, Mapping

from bot import quoting as q
from bot.attest import blocks
from fixers.engine import Attempt
from policies.facts import FixFacts, fix_facts

PROVENANCE_MARK = "iacbot:provenance"
_BLOCK = re.compile(r"<!--\s*" + re.escape(PROVENANCE_MARK) + r"\s+(\{.*?\})\s*-->", re.S)

#: GitHub refuses a body over 65,536 characters; counted here in UTF-16 units (never fewer than
#: characters), with room to spare.
BODY_LIMIT = 65_000
TITLE_LIMIT = 120
# Per value: enough for any honest rule id, path or message; bounded for a hostile one.
MESSAGE_LIMIT, NAME_LIMIT, PATH_LIMIT, SHORT_LIMIT = 1_000, 300, 500, 100
EVIDENCE_LIMIT, EVIDENCE_LINES = 20_000, 200
#: Each provenance value, as encoded in the block.
PROVENANCE_VALUE_LIMIT, PROVENANCE_TRIGGER_KEYS = 1_024, 12
TRUNCATED = "_(The rest of this description was cut to stay within GitHub's size limit.)_"


def title(attempt: Attempt) -> str:
    f = attempt.finding
    what = q.plain(attempt.summary or f.message or "fix finding", TITLE_LIMIT)
    rules = ", ".join(q.plain(rule, NAME_LIMIT) for rule in attempt.rule_ids)
    return q.cap(f"iacbot: {what} ({rules})", TITLE_LIMIT)


def _bounded(value: Any) -> Any:
    """A provenance value whose encoding is at most PROVENANCE_VALUE_LIMIT characters."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    while len(q.comment_json(text)) > PROVENANCE_VALUE_LIMIT:
        text = text[: max(0, len(text) * PROVENANCE_VALUE_LIMIT // len(q.comment_json(text)) - 8)] + q.ELLIPSIS
    return text


def bounded_value(value: Any) -> Any:
    """A value as the provenance block carries it (lists item by item): what a reader compares."""
    return [_bounded(item) for item in value] if isinstance(value, list) else _bounded(value)


def _trigger(trigger: Mapping[str, Any]) -> dict:
    items = sorted(trigger.items(), key=lambda kv: str(kv[0]))[:PROVENANCE_TRIGGER_KEYS]
    return {str(_bounded(k)): _bounded(v) for k, v in items}


#: The policy facts a provenance block carries (policies.facts.FixFacts.to_json's fields, but the
#: fingerprint, rule ids and fix class, which the block already names): what `iacbot policy
#: explain --pr-body` decides from. They are iacbot's when it wrote them, but a PR body is
#: editable: the labels are re-read from the registry by whoever decides from them.
FACT_KEYS = ("repository", "category", "risk", "confidence", "impact", "severity", "paths", "changed_lines",
             "resources")


def _facts(attempt: Attempt, fix: FixFacts | None) -> dict:
    """The policy facts of the fix: ``fix``'s when given (the blast radius measured where the PR is
    made), else the labels the attempt's fixer declares, without ``changed_lines`` or ``repository``
    (absent means not measured: never read it as 0)."""
    if fix is not None:
        data = fix.to_json()
        return {key: data[key] for key in FACT_KEYS}
    labels = fix_facts(attempt, "", attempt.finding.file, "", "").to_json()
    return {key: labels[key] for key in FACT_KEYS if key not in ("repository", "changed_lines")}


def provenance(attempt: Attempt, base_sha: str, verification: str,
               trigger: Mapping[str, Any] | None = None, fix: FixFacts | None = None) -> dict:
    """What tools read back from the PR (read_provenance): the finding, the fix and, with ``fix``,
    the policy facts it was published with (FACT_KEYS)."""
    f = attempt.finding
    extra = {"trigger": _trigger(trigger)} if trigger else {}
    data = {
        "version": 1,
        "fingerprint": f.fingerprint(),
        "rule": f.rule_id,
        "rules": list(attempt.rule_ids),  # every finding the fix carries, the primary ("rule") first
        "fix_class": f.fix_class or f.rule_id,
        "source": f.source,
        "fixer": attempt.fixer.info.id if attempt.fixer else None,
        "file": f.file,
        "resource": f.resource,
        "base_sha": base_sha,
        "verification": verification,
        **_facts(attempt, fix),
    }
    bounded = {k: bounded_value(v) for k, v in data.items()}
    return {**extra, **bounded}


def _trigger_line(trigger: Mapping[str, Any] | None) -> list[str]:
    """Which delivery or submission led to this PR, for a reviewer tracing it back."""
    if not trigger:
        return []
    event = trigger.get("event")
    if event == "code_scanning_alert":
        text = f"code scanning alert {q.md_code(trigger.get('alert_number'), SHORT_LIMIT)}"  # not "#n": an issue link
    elif event == "findings_api":
        tenant = q.md_code(trigger.get("tenant"), NAME_LIMIT)
        submission = q.md_code(trigger.get("submission_id"), NAME_LIMIT)
        text = f"findings submitted by {tenant} (submission {submission})"
    else:
        text = f"push of {q.md_code(str(trigger.get('head_sha') or '')[:12], SHORT_LIMIT)}"
    if trigger.get("delivery_id"):
        text += f", webhook delivery {q.md_code(trigger['delivery_id'], NAME_LIMIT)}"
    return [f"- Found through: {text}"]


def _finding_line(finding) -> str:
    message = q.md_text(finding.message, MESSAGE_LIMIT)
    return f"- **{q.md_code(finding.rule_id, NAME_LIMIT)}**{': ' + message if message else ''}"


def _explanation(attempt: Attempt, base_sha: str, verification: str,
                 trigger: Mapping[str, Any] | None) -> list[str]:
    f = attempt.finding
    info = attempt.fixer.info if attempt.fixer else None
    lines = ["## What was wrong", "",
             *(_finding_line(each) for each in attempt.findings), "",
             f"- Resource: {q.md_code(f.resource or '(unknown)', NAME_LIMIT)}",
             f"- File: {q.md_code(f.file, PATH_LIMIT)}"
             + (f" (lines {int(f.line_start)}-{int(f.line_end)})" if f.line_start else ""),
             f"- Reported by: {q.md_text(f.source, SHORT_LIMIT)}"
             + (f", severity {q.md_text(f.severity, SHORT_LIMIT)}" if f.severity else ""),
             *_trigger_line(trigger), ""]
    if attempt.location is not None:
        loc = attempt.location
        lines += ["## Why this place", "",
                  f"Changed in {q.md_code(loc.file, PATH_LIMIT)} at the {q.md_text(loc.layer, SHORT_LIMIT)} layer: "
                  f"{q.md_text(loc.why, MESSAGE_LIMIT)}", ""]
    lines += ["## The change", "", q.md_text(attempt.summary or "(no summary)", MESSAGE_LIMIT), ""]
    if info is not None:
        lines += [f"- Fixer: {q.md_code(info.id, NAME_LIMIT)}: {q.md_text(info.description, MESSAGE_LIMIT)}",
                  f"- Category: {info.category.value}",
                  f"- Risk: {info.risk.value}",
                  f"- Confidence: {info.confidence.value}"
                  + (" (a reviewer must confirm the value)" if info.confidence.value == "assumed-value" else ""),
                  f"- Impact: {info.impact_text()}",
                  ""]
    fence, evidence = q.md_block(verification or "(no verification recorded)", EVIDENCE_LIMIT, EVIDENCE_LINES)
    lines += ["## Evidence", "", fence + "text", *evidence.split("\n"), fence, "",
              f"Base commit: {q.md_code(base_sha, SHORT_LIMIT)}", ""]
    return lines


def _units(text: str) -> int:
    """Length as GitHub may count it: UTF-16 code units (an astral character counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def _fit(lines: list[str], budget: int) -> list[str]:
    """``lines`` cut at a line so that they (and a closing note) fit ``budget``; a code fence
    left open by the cut is closed, so the rest of the body is not swallowed by it."""
    if _units("\n".join(lines)) <= budget:
        return lines
    budget -= _units(TRUNCATED) + 16
    kept, used, fence = [], 0, None
    for line in lines:
        cost = _units(line) + 1
        if used + cost > budget:
            break
        kept.append(line)
        used += cost
        if fence is None and line.startswith("```"):
            fence = line[: len(line) - len(line.lstrip("`"))]
        elif fence is not None and line == fence:
            fence = None
    return [*kept, *([fence] if fence else []), "", TRUNCATED, ""]


#: The policy decision section (given by the caller) is kept whole up to this size.
DECISION_LIMIT = 12_000


def _decision(lines: list[str] | None) -> list[str]:
    """The caller's decision section (markdown it quoted itself: bot.decision_text), bounded."""
    kept, used = [], 0
    for line in lines or ():
        used += _units(line) + 1
        if used > DECISION_LIMIT:
            kept.append("- (the rest of the decision was cut to stay within GitHub's size limit)")
            break
        kept.append(line)
    return kept


#: Room kept free in a signed body for the merge-stage attestation block edited in before a merge
#: (bot.attest.blocks.with_stage_block): an envelope is a few KiB (its statement's texts are bounded).
MERGE_BLOCK_RESERVE = 16_000


def body(attempt: Attempt, base_sha: str, verification: str, trigger: Mapping[str, Any] | None = None,
         fix: FixFacts | None = None, decision_lines: list[str] | None = None,
         attestation: str | None = None) -> str:
    """``fix``: the fix's policy facts, carried in the provenance block (see provenance).
    ``decision_lines``: the policy decision section (markdown, outside values already quoted by the
    caller: bot.decision_text), shown above the footer and never cut with the explanation.
    ``attestation``: the signed statement's hidden block (bot.attest.signer.Signer.block), after
    the provenance block; room is kept for a merge-stage block (MERGE_BLOCK_RESERVE)."""
    tail = [*_decision(decision_lines), "---",
            "Opened by iacbot. Closing this pull request without merging leaves the finding open; "
            "iacbot records the decision and opens no new PR for this finding until the file it fixes changes.", "",
            provenance_block(provenance(attempt, base_sha, verification, trigger, fix)),
            *([attestation] if attestation else [])]
    tail_text = "\n".join(tail) + "\n"
    reserve = MERGE_BLOCK_RESERVE if attestation else 0
    head = _fit(_explanation(attempt, base_sha, verification, trigger), BODY_LIMIT - _units(tail_text) - reserve - 1)
    return "\n".join(head) + "\n" + tail_text


def attestation_block(envelope_json: dict) -> str:
    """The hidden block carrying a signed envelope (bot.attest.blocks, which reads it back)."""
    return blocks.block(envelope_json)


def fits(text: str) -> bool:
    """Is ``text`` within the body limit (BODY_LIMIT, counted as GitHub may count it)?"""
    return _units(text) <= BODY_LIMIT


def provenance_block(data: dict) -> str:
    return f"<!-- {PROVENANCE_MARK} {q.comment_json(data)} -->"


def read_provenance(text: str | None) -> dict | None:
    """The last provenance block of a PR body, or None if absent or unreadable."""
    if not text:
        return None
    matches = _BLOCK.findall(text)
    if not matches:
        return None
    try:
        data = json.loads(matches[-1])
    except (ValueError, RecursionError):  # a PR body is editable: nesting deep enough stops json.loads
        return None
    return data if isinstance(data, dict) else None
