"""statement.from_attempt: the predicate holds what the engine and the policy decision recorded."""
from __future__ import annotations

from bot.attest import statement
from fixers.engine import FIXED, Attempt
from fixers.models import Finding, Location
from fixers import registry
from policies.decision import Because, Decision
from policies.reasons import Action, Reason


def test_from_attempt_carries_finding_location_fixer_and_decision():
    finding = Finding("CKV_K8S_20", "k8s/pod.yaml", "Pod.default.web", 3, 9, fix_class="k8s.x")
    fixer = registry.all_fixers()[0]
    attempt = Attempt(finding, FIXED, fixer=fixer, summary="fix it",
                      location=Location("k8s/pod.yaml", 0, 5, "manifest", "the value is set here"))
    decision = Decision(Action.PULL_REQUEST, (Because(Reason.RULE_MATCHED, "reviewed"),), rule="reviewed",
                        policy_digest="d" * 64)
    doc = statement.from_attempt(attempt, {"k8s/pod.yaml": b"new"}, "passes", "0.1.0", "sha256:" + "1" * 64,
                                 "3.2.0", trigger={"event": "push", "head_sha": "f" * 40}, decision=decision,
                                 decided_at=1764662400.0, identities={"analysed_by": "app", "acted_by": "app"},
                                 commit="c" * 40)
    assert statement.check_statement(doc) == []
    p = doc["predicate"]
    assert p["finding"]["fingerprint"] == finding.fingerprint() and p["finding"]["trigger"]["event"] == "push"
    assert p["location"] == {"file": "k8s/pod.yaml", "layer": "manifest", "why": "the value is set here"}
    assert p["fixer"]["id"] == fixer.info.id
    assert p["policy"]["digest"] == "d" * 64 and p["policy"]["decision"]["action"] == "pull_request"
    assert p["policy"]["decision"]["reasons"] == [{"reason": "rule-matched", "subject": "reviewed"}]
    assert doc["subject"][-1] == {"name": "git+commit", "digest": {"gitCommit": "c" * 40}}
    assert statement.canonical(doc) == statement.canonical(dict(reversed(list(doc.items()))))


def _doc(files, commit=None):
    return statement.build(files, finding={"fingerprint": "f" * 16, "rules": ["CKV_X"]}, location=None,
                           fixer={"id": "iacbot-revert", "version": "1"}, iacbot_version="1",
                           verification={"text": "x"}, commit=commit)


def test_a_statement_with_only_a_commit_subject_is_whole_and_one_with_nothing_is_not():
    # A revert that only deletes the files a fix created digests no file: the commit ties it.
    assert statement.check_statement(_doc({}, commit="a" * 40)) == []
    assert statement.check_statement(_doc({"k8s/a.yaml": b"x"}, commit="a" * 40)) == []
    nothing = _doc({})
    assert statement.check_statement(nothing) == ["subject is not a non-empty list"]
    commit_only = _doc({}, commit="a" * 40)
    commit_only["subject"][0]["digest"] = {"gitCommit": "not-a-sha"}
    assert any("git+commit needs digest" in p for p in statement.check_statement(commit_only))
