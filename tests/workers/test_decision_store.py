"""workers.decision_store on the real Redis: latest per finding, per pull request and stage, the
append-only capped history, and the automatic merges the hourly limit counts."""
from __future__ import annotations

import pytest

from fixers.models import Category, Confidence, Risk
from policies.decision import Because, Decision
from policies.facts import FixFacts
from policies.reasons import Action, Reason
from tests.service.conftest import redis_db  # noqa: F401  (fixture)
from workers import decision_store as store
from workers.decision_store import DecisionRecord

REPO = "Octo/Apps"
FIX = FixFacts("0123456789abcdef", REPO, ("CKV_K8S_16",), "k8s.privileged", Category.HARDENING, Risk.LOW,
               Confidence.SAFE_DEFAULT, severity="HIGH", paths=("k8s/web.yaml",), changed_lines=2)


def record(at: float = 100.0, stage: str = store.PUBLISH, pr: int | None = 7, action=Action.PULL_REQUEST,
           fingerprint: str = FIX.fingerprint, sha: str | None = "a" * 40, **over) -> DecisionRecord:
    decision = Decision(action, (Because(Reason.RULE_MATCHED, "hardening"),), rule="hardening",
                        policy_digest="d" * 64)
    return DecisionRecord(REPO, 42, fingerprint, "job-1", stage, FIX, decision, at, pr, sha, "main",
                          {"now": "2026-12-02T07:00:00+00:00", "global_kill_switch": False}, **over)


def test_a_record_reads_back_whole(redis_db):
    saved = record()
    store.save(redis_db, saved)
    assert store.latest(redis_db, REPO, FIX.fingerprint) == saved
    assert store.latest(redis_db, "octo/apps", FIX.fingerprint) == saved  # owner/name is case-insensitive
    assert store.for_pr(redis_db, REPO, 7) == saved
    assert store.for_pr(redis_db, REPO, 7, store.MERGE) is None
    assert store.for_pr(redis_db, REPO, 8) is None
    assert store.latest(redis_db, REPO, "ffffffffffffffff") is None
    assert saved.decision.policy_digest == "d" * 64 and saved.facts["global_kill_switch"] is False


def test_a_later_record_replaces_the_latest_and_an_older_one_does_not(redis_db):
    store.save(redis_db, record(at=200.0, sha="b" * 40))
    store.save(redis_db, record(at=100.0, sha="a" * 40))  # a redelivered task, decided earlier
    assert store.latest(redis_db, REPO, FIX.fingerprint).head_sha == "b" * 40
    assert store.for_pr(redis_db, REPO, 7).head_sha == "b" * 40
    # ... yet both are in the history, newest saved first
    assert [r.head_sha for r in store.history(redis_db, REPO)] == ["a" * 40, "b" * 40]


def test_a_merge_stage_record_does_not_replace_the_publish_record_of_its_pr(redis_db):
    publish = record(at=100.0, sha="a" * 40)
    merge = record(at=200.0, stage=store.MERGE, sha="f" * 40, action=Action.PULL_REQUEST)
    store.save(redis_db, publish)
    store.save(redis_db, merge)
    assert store.for_pr(redis_db, REPO, 7).head_sha == "a" * 40     # the commit iacbot published
    assert store.for_pr(redis_db, REPO, 7, store.MERGE) == merge
    assert store.latest(redis_db, REPO, FIX.fingerprint) == merge


def test_a_record_without_a_pr_is_latest_and_history_only(redis_db):
    store.save(redis_db, record(pr=None, sha=None, action=Action.RECOMMEND))
    assert store.latest(redis_db, REPO, FIX.fingerprint).decision.action is Action.RECOMMEND
    assert redis_db.hlen(store.pr_index_key(REPO)) == 0
    assert [r.decision.action for r in store.all_latest(redis_db, REPO)] == [Action.RECOMMEND]


def test_the_history_is_capped(redis_db, monkeypatch):
    monkeypatch.setattr(store, "HISTORY_LIMIT", 5)
    for i in range(12):
        store.save(redis_db, record(at=float(i)))
    assert redis_db.xlen(store.log_key(REPO)) == 5
    assert [r.decided_at for r in store.history(redis_db, REPO, 3)] == [11.0, 10.0, 9.0]


def test_an_unknown_stage_is_refused():
    with pytest.raises(ValueError):
        record(stage="later")


def test_merges_count_per_hour_and_a_repeated_record_keeps_its_first_time(redis_db):
    store.record_merge(redis_db, REPO, 3, "A" * 40, at=1000.0)
    store.record_merge(redis_db, REPO, 3, "a" * 40, at=5000.0)     # the same merge again, later
    store.record_merge(redis_db, REPO, 4, "b" * 40, at=2000.0)
    store.record_merge(redis_db, "other/repo", 9, "c" * 40, at=2000.0)
    assert store.merges_since(redis_db, REPO, 1500.0) == 1
    assert store.merges_since(redis_db, REPO, 0.0) == 2
    assert store.recent_merges(redis_db, REPO, 5) == [{"pr_number": 4, "sha": "b" * 40, "at": 2000.0},
                                                       {"pr_number": 3, "sha": "a" * 40, "at": 1000.0}]
    assert store.recent_merges(redis_db, REPO, 1) == [{"pr_number": 4, "sha": "b" * 40, "at": 2000.0}]
    assert store.recent_merges(redis_db, REPO, 0) == []


def test_the_merges_are_capped(redis_db, monkeypatch):
    monkeypatch.setattr(store, "MERGES_LIMIT", 3)
    for i in range(6):
        store.record_merge(redis_db, REPO, i, f"{i:040x}", at=float(i))
    assert [m["pr_number"] for m in store.recent_merges(redis_db, REPO, 10)] == [5, 4, 3]


def test_an_unreadable_latest_entry_is_replaced_and_skipped_by_the_listing(redis_db):
    redis_db.hset(store.latest_key(REPO), "eeeeeeeeeeeeeeee", "{not json")
    redis_db.hset(store.latest_key(REPO), FIX.fingerprint, "{not json")
    store.save(redis_db, record())
    assert store.latest(redis_db, REPO, FIX.fingerprint) == record()
    assert store.all_latest(redis_db, REPO) == [record()]
