"""The in-toto Statement v1 iacbot signs for a change (pure: no I/O).

Subjects: each patched file with its sha256, plus ``{"name": "git+commit", "digest": {"gitCommit":
SHA}}`` when the statement travels outside the commit (a PR body). The predicate
(``https://iacbot.dev/provenance/v1``) says what was found, where it was fixed and why, by which
fixer and iacbot version, the verification evidence, the policy decision, and who analysed and
who acted. The payload is canonical JSON (sorted keys, no spaces), so the same statement always
has the same bytes.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Mapping

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://iacbot.dev/provenance/v1"
COMMIT_SUBJECT = "git+commit"
TEXT_LIMIT = 2000        # one outside value (verification text, a why)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_GIT_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
PREDICATE_KEYS = {"finding", "location", "fixer", "iacbot", "verification", "policy", "identities"}
FINDING_KEYS = {"rule", "rules", "scanner", "resource", "fingerprint", "file", "trigger"}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _text(value: Any, limit: int = TEXT_LIMIT) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def build(files: Mapping[str, bytes], finding: Mapping[str, Any], location: Mapping[str, Any] | None,
          fixer: Mapping[str, Any], iacbot_version: str, verification: Mapping[str, Any],
          policy: Mapping[str, Any] | None = None, identities: Mapping[str, Any] | None = None,
          commit: str | None = None) -> dict:
    """The statement; ``files`` maps each patched file's repository path to its bytes after the fix."""
    subjects = [{"name": path, "digest": {"sha256": sha256_hex(data)}} for path, data in sorted(files.items())]
    if commit is not None:
        subjects.append({"name": COMMIT_SUBJECT, "digest": {"gitCommit": commit}})
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "finding": {k: finding.get(k) for k in sorted(FINDING_KEYS)},
            "location": dict(location) if location else None,
            "fixer": dict(fixer),
            "iacbot": {"version": iacbot_version},
            "verification": {k: _text(v) for k, v in verification.items()},
            "policy": dict(policy) if policy else None,
            "identities": {"analysed_by": (identities or {}).get("analysed_by"),
                           "acted_by": (identities or {}).get("acted_by")},
        },
    }


def from_attempt(attempt, files: Mapping[str, bytes], verification: str, iacbot_version: str,
                 fixer_version: str, scanner_version: str | None = None, trigger: Mapping[str, Any] | None = None,
                 decision=None, decided_at: float | None = None, identities: Mapping[str, Any] | None = None,
                 commit: str | None = None, stage: str | None = None,
                 fix_facts: Mapping[str, Any] | None = None) -> dict:
    """The statement for a ``fixers.engine.Attempt`` (and, when published, its ``policies.decision.Decision``).
    ``stage`` (publish, merge) and ``fix_facts`` (the policy facts decided on) go in the policy part."""
    f = attempt.finding
    loc = attempt.location
    policy = policy_part(decision, decided_at, stage, fix_facts) if decision is not None else None
    return build(
        files,
        finding={"rule": f.rule_id, "rules": list(attempt.rule_ids), "scanner": f.source, "resource": f.resource,
                 "fingerprint": f.fingerprint(), "file": f.file, "trigger": dict(trigger) if trigger else None},
        location={"file": loc.file, "layer": loc.layer, "why": _text(loc.why)} if loc else None,
        fixer={"id": attempt.fixer.info.id if attempt.fixer else None, "version": fixer_version},
        iacbot_version=iacbot_version,
        verification={"text": verification, "scanner_version": scanner_version},
        policy=policy, identities=identities, commit=commit)


def policy_part(decision, decided_at: float | None, stage: str | None = None,
                fix_facts: Mapping[str, Any] | None = None) -> dict:
    """The predicate's policy part for a ``policies.decision.Decision`` made at ``stage``."""
    part = {"digest": decision.policy_digest, "repo_digest": decision.repo_policy_digest,
            "decision": {"action": decision.action.value,
                         "reasons": [b.to_json() for b in decision.reasons],
                         "rule": decision.rule, "repo_rule": decision.repo_rule},
            "decided_at": decided_at}
    if stage is not None:
        part["stage"] = stage
    if fix_facts is not None:
        part["facts"] = dict(fix_facts)
    return part


def with_commit(statement: Mapping[str, Any], commit: str) -> dict:
    """``statement`` with its git+commit subject set to ``commit`` (appended last, as build() does)."""
    doc = without_commit(statement)
    doc["subject"].append({"name": COMMIT_SUBJECT, "digest": {"gitCommit": commit}})
    return doc


def without_commit(statement: Mapping[str, Any]) -> dict:
    """``statement`` without its git+commit subject: what a commit's ``Iacbot-Statement`` trailer
    names (the commit cannot carry the digest of a statement that names the commit itself)."""
    doc = json.loads(canonical(statement))
    doc["subject"] = [s for s in doc.get("subject") or () if not (isinstance(s, dict) and s.get("name") == COMMIT_SUBJECT)]
    return doc


def change_part(statement: Mapping[str, Any]) -> dict:
    """What a fix commit's ``Iacbot-Statement`` trailer names: the statement without its git+commit
    subject (the commit cannot carry the digest of a statement naming the commit itself) and with
    its policy part and the finding's trigger null (the decision is made again after the commit
    exists, by a run a later push may trigger, and at the merge stage; each is signed, bound to
    the commit by the git+commit subject). docs/provenance.md."""
    doc = without_commit(statement)
    predicate = doc.get("predicate")
    if isinstance(predicate, dict):
        predicate["policy"] = None
        if isinstance(predicate.get("finding"), dict):
            predicate["finding"]["trigger"] = None  # a later push re-finding it is a new run, same change
    return doc


def change_digest(statement: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical change_part."""
    return "sha256:" + sha256_hex(canonical(change_part(statement)))


def statement_digest(statement: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the whole canonical statement (a merge commit's trailer names one)."""
    return "sha256:" + sha256_hex(canonical(statement))


def commit_of(statement: Mapping[str, Any]) -> str | None:
    """The git+commit subject's commit id, or None."""
    for s in statement.get("subject") or ():
        if isinstance(s, dict) and s.get("name") == COMMIT_SUBJECT and isinstance(s.get("digest"), dict):
            return s["digest"].get("gitCommit")
    return None


def stage_of(statement: Mapping[str, Any]) -> str | None:
    """The stage a service statement was signed at (publish, merge); None for a local one."""
    policy = (statement.get("predicate") or {}).get("policy") if isinstance(statement, dict) else None
    stage = policy.get("stage") if isinstance(policy, dict) else None
    return stage if isinstance(stage, str) else None


def canonical(statement: Mapping[str, Any]) -> bytes:
    return json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def check_statement(doc: Any) -> list[str]:
    """Every way ``doc`` is not an iacbot provenance statement; [] when it is one."""
    if not isinstance(doc, dict):
        return ["the statement is not a JSON object"]
    problems = []
    if doc.get("_type") != STATEMENT_TYPE:
        problems.append(f"_type is not {STATEMENT_TYPE}")
    if doc.get("predicateType") != PREDICATE_TYPE:
        problems.append(f"predicateType is not {PREDICATE_TYPE}")
    extra = set(doc) - {"_type", "subject", "predicateType", "predicate"}
    if extra:
        problems.append(f"unknown statement fields: {', '.join(sorted(map(str, extra)))}")
    subjects = doc.get("subject")
    if not isinstance(subjects, list) or not subjects:
        problems.append("subject is not a non-empty list")
        subjects = []
    names, files = set(), 0
    for i, s in enumerate(subjects):
        if not isinstance(s, dict) or not isinstance(s.get("name"), str) or not isinstance(s.get("digest"), dict) \
                or set(s) != {"name", "digest"}:
            problems.append(f"subject {i} is not {{name, digest}}")
            continue
        if s["name"] in names:
            problems.append(f"subject {i}: {s['name']!r} named twice")
        names.add(s["name"])
        if s["name"] == COMMIT_SUBJECT:
            if set(s["digest"]) != {"gitCommit"} or not _GIT_SHA.match(str(s["digest"]["gitCommit"])):
                problems.append(f"subject {i}: git+commit needs digest {{gitCommit: a full commit id}}")
        else:
            files += 1
            if set(s["digest"]) != {"sha256"} or not _SHA256.match(str(s["digest"]["sha256"])):
                problems.append(f"subject {i} ({s['name']!r}): digest must be {{sha256: 64 hex digits}}")
            if s["name"].startswith("/") or ".." in s["name"].split("/") or not s["name"]:
                problems.append(f"subject {i}: {s['name']!r} is not a path inside the repository")
    if subjects and not files and COMMIT_SUBJECT not in names:
        # A revert that only deletes the files a fix created has no file left to digest: the
        # commit subject ties it then. Anything else names its files.
        problems.append("no file subject (and no git+commit subject)")
    predicate = doc.get("predicate")
    if not isinstance(predicate, dict):
        return problems + ["predicate is not an object"]
    missing = PREDICATE_KEYS - set(predicate)
    if missing:
        problems.append(f"predicate lacks {', '.join(sorted(missing))}")
    extra = set(predicate) - PREDICATE_KEYS
    if extra:
        problems.append(f"unknown predicate fields: {', '.join(sorted(map(str, extra)))}")
    finding = predicate.get("finding")
    if not isinstance(finding, dict) or set(finding) != FINDING_KEYS:
        problems.append(f"predicate.finding must have exactly {', '.join(sorted(FINDING_KEYS))}")
    elif not isinstance(finding.get("fingerprint"), str) or not isinstance(finding.get("rules"), list):
        problems.append("predicate.finding: fingerprint must be text and rules a list")
    fixer = predicate.get("fixer")
    if not isinstance(fixer, dict) or not isinstance(fixer.get("id"), str) or not isinstance(fixer.get("version"), str):
        problems.append("predicate.fixer needs id and version (text)")
    iacbot = predicate.get("iacbot")
    if not isinstance(iacbot, dict) or not isinstance(iacbot.get("version"), str):
        problems.append("predicate.iacbot needs version (text)")
    for key in ("location", "policy"):
        if key in predicate and predicate[key] is not None and not isinstance(predicate[key], dict):
            problems.append(f"predicate.{key} is neither an object nor null")
    for key in ("verification", "identities"):
        if key in predicate and not isinstance(predicate[key], dict):
            problems.append(f"predicate.{key} is not an object")
    return problems
