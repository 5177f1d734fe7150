"""Verify a service PR body (`iacbot provenance verify --pr-body`): every attestation block, each
named by the stage its signed statement says (publish, merge), the stages against each other, the
unsigned ``iacbot:provenance`` block against the signed publish statement (a relabelled fix, e.g. a
network change shown as hardening, fails), and, given a repository and a commit, the commits."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bot.attest import blocks, verify
from bot.attest.statement import COMMIT_SUBJECT, commit_of, stage_of

PUBLISH, MERGE, LOCAL = "publish", "merge", "local"
#: The provenance block's fields and where the signed statement says the same.
_FINDING_FIELDS = {"fingerprint": "fingerprint", "rule": "rule", "rules": "rules", "source": "scanner",
                   "file": "file", "resource": "resource"}


@dataclass
class BodyResult:
    ok: bool = False
    blocks: list[tuple[str, verify.VerifyResult]] = field(default_factory=list)   # (label, result)
    checked: list[str] = field(default_factory=list)                              # across blocks
    problems: list[str] = field(default_factory=list)


def verify_pr_body(text: str, trusted: Iterable[Ed25519PublicKey], repo: Path | None = None,
                   commit: str | None = None) -> BodyResult:
    trusted = list(trusted)
    out = BodyResult()
    found = blocks.envelopes(text)
    if not found:
        out.problems.append(f"no {blocks.ATTESTATION_MARK} block")
        return out
    merge_values: list[str] = []
    target = verify.resolve(repo, commit) if repo is not None and commit is not None else None
    if repo is not None and commit is not None:
        if target is None:
            out.problems.append(f"commit {commit[:80]!r}: not found in {repo}")
            return out
        merge_values, _ = verify.merge_trailer_of(repo, target)
    stages: dict[str, dict] = {}
    for i, envelope in enumerate(found, 1):
        result = verify.verify_envelope(envelope, trusted)
        stage = stage_of(result.statement) if result.statement is not None else None
        label = f"block {i} (stage {stage or ('local' if result.statement is not None else 'unknown')})"
        if result.statement is not None:
            if stage not in (PUBLISH, MERGE, None):
                result.problems.append(f"the statement names an unknown stage {stage[:40]!r}")
            elif stage is None:
                stages.setdefault(LOCAL, result.statement)  # `iacbot fix --branch`'s, pasted into a PR by a person
            elif stage in stages:
                result.problems.append(f"a second {stage}-stage statement in one body")
            else:
                stages[stage] = result.statement
            if target is not None:
                _check_commits(result, repo, target, stage, bool(merge_values))
        result.ok = not result.problems
        out.blocks.append((label, result))
    if all(r.ok for _, r in out.blocks):
        _cross_check(stages, text, out)
    out.ok = all(r.ok for _, r in out.blocks) and not out.problems
    return out


def _check_commits(result: verify.VerifyResult, repo: Path, target: str, stage: str | None, at_merge: bool) -> None:
    doc = result.statement
    if at_merge:
        # --commit is iacbot's merge commit: each statement is checked at the head it names (a
        # parent of the merge), the merge-stage one against the merge commit's trailer too.
        head = commit_of(doc) or target
        verify._check_commit(doc, repo, head, result)
        verify._check_trailer(doc, repo, head, result)
        if stage == MERGE:
            verify.check_merge_commit(doc, repo, target, result)
    else:
        verify._check_commit(doc, repo, target, result)
        verify._check_trailer(doc, repo, target, result)


def _files(doc: dict) -> dict:
    return {s["name"]: s["digest"] for s in doc["subject"] if s["name"] != COMMIT_SUBJECT}


def _cross_check(stages: dict[str, dict], text: str, out: BodyResult) -> None:
    publish, merge = stages.get(PUBLISH), stages.get(MERGE)
    if publish is None:
        if merge is not None:
            out.problems.append("a merge-stage statement without the publish-stage one (every PR iacbot opens has one)")
        return
    if merge is not None:
        same = (commit_of(merge) == commit_of(publish) and _files(merge) == _files(publish)
                and merge["predicate"]["finding"] == publish["predicate"]["finding"])
        if same:
            out.checked.append("merge-stage statement: same commit, files and finding as the publish stage")
        else:
            out.problems.append("merge-stage statement: not about the commit, files and finding the publish stage names")
    _check_provenance_block(publish, text, out)


def _check_provenance_block(publish: dict, text: str, out: BodyResult) -> None:
    """The unsigned provenance block (what `iacbot policy explain --pr-body` and people read) must
    say what the signed publish statement says."""
    from bot.github import pr_body
    block = pr_body.read_provenance(text)
    if block is None:
        out.checked.append("no iacbot:provenance block (nothing unsigned to compare)")
        return
    predicate = publish["predicate"]
    signed = {k: predicate["finding"].get(v) for k, v in _FINDING_FIELDS.items()}
    signed["fixer"] = predicate["fixer"].get("id")
    facts = (predicate.get("policy") or {}).get("facts") or {}
    signed.update({k: facts[k] for k in pr_body.FACT_KEYS if k in facts})
    differ = sorted(k for k, v in signed.items() if k in block and block[k] != pr_body.bounded_value(v))
    missing = sorted(k for k in signed if k not in block and k in _FINDING_FIELDS)
    if differ or missing:
        out.problems.append("iacbot:provenance block differs from the signed statement in: "
                            + ", ".join(differ + [f"{k} (missing)" for k in missing]))
    else:
        out.checked.append("iacbot:provenance block: says what the signed statement says")
