"""The rollback's Redis records on a real Redis (workers.merge_watch), the reverted fix's decline
record (policies.declines / workers.declined), and the dashboard's sections for merged fixes."""
from __future__ import annotations

import threading
import time

import pytest
import redis

from bot import dashboard as render
from policies import declines as policy
from policies.decision import Because
from policies.reasons import Reason
from tests.service.conftest import TEST_REDIS_URL
from workers import declined, merge_watch
from workers.dashboard import watched

REPO = "Octo/Shop"


@pytest.fixture
def r():
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


def record(sha: str, **kw) -> dict:
    return {"repository": REPO, "merge_sha": sha, "merged_at": time.time(), "pr_number": 4, "state": "watching",
            "fingerprint": "f" * 16, "rule_ids": ["CKV_K8S_20"], "files": [], **kw}


def test_the_cap_is_counted_atomically_and_once_per_merge(r):
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def claim(i: int) -> None:
        barrier.wait()
        results.append(merge_watch.claim_revert(r, REPO, f"{i:040d}", cap=3)[0])

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 5 + [True] * 3
    assert merge_watch.reverts_today(r, REPO) == 3
    allowed = [f"{i:040d}" for i in range(8) if r.exists(merge_watch.claim_key(REPO, f"{i:040d}"))]
    assert len(allowed) == 3
    # A redelivery of a merge already counted is allowed again and not counted twice.
    assert merge_watch.claim_revert(r, REPO, allowed[0], cap=3) == (True, 3)
    assert merge_watch.reverts_today(r, REPO) == 3


def test_the_count_is_per_utc_day_and_per_repository(r):
    yesterday = time.time() - 86400
    assert merge_watch.claim_revert(r, REPO, "a" * 40, cap=1, now=yesterday) == (True, 1)
    assert merge_watch.claim_revert(r, REPO, "b" * 40, cap=1) == (True, 1)
    assert merge_watch.claim_revert(r, REPO, "c" * 40, cap=1) == (False, 1)
    assert merge_watch.claim_revert(r, "octo/other", "c" * 40, cap=1) == (True, 1)
    assert 0 < r.ttl(merge_watch.count_key(REPO, time.time())) <= merge_watch.COUNT_TTL_SECONDS
    assert merge_watch.count_key(REPO, 0) == "iacbot:reverts:octo/shop:1970-01-01"


def test_a_watch_is_created_once_and_updated_atomically(r):
    first, created = merge_watch.create(r, record("1" * 40, note="first"))
    again, created_again = merge_watch.create(r, record("1" * 40, note="second"))
    assert created and not created_again and again["note"] == "first"
    assert merge_watch.watched(r, REPO, "1" * 40) and not merge_watch.watched(r, REPO, "2" * 40)
    assert not merge_watch.watched(r, REPO, "not a sha")

    def bump(rec):
        return {**rec, "polls": rec.get("polls", 0) + 1}
    threads = [threading.Thread(target=merge_watch.update, args=(r, REPO, "1" * 40, bump)) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert merge_watch.load(r, REPO, "1" * 40)["polls"] == 10
    assert merge_watch.update(r, REPO, "1" * 40, lambda rec: None)["polls"] == 10  # None: unchanged
    merge_watch.update(r, REPO, "1" * 40, lambda rec: {**rec, "state": merge_watch.VERIFIED})
    assert not merge_watch.watched(r, REPO, "1" * 40)  # decided: check events no longer go to it
    assert 0 < r.ttl(merge_watch.watch_key(REPO, "1" * 40)) <= merge_watch.RECORD_TTL_SECONDS


def test_a_reverted_fix_is_not_proposed_again_while_the_file_is_as_before_or_after_it(r):
    kept = declined.record(r, policy.reverted(REPO, "f" * 16, 4, file="k8s/web.yaml", base_sha="p" * 40,
                                              source_blob_sha="b" * 40, fixed_blob_sha="a" * 40, revert_pr=9,
                                              at=time.time()))
    assert kept.reverted and kept.outcome == declined.DECLINED
    for blob in ("b" * 40, "a" * 40):
        verdict = declined.check(r, kept, blob)
        assert not verdict.publish and verdict.because.reason is Reason.FIX_REVERTED, verdict
    changed = declined.check(r, kept, "c" * 40)
    assert changed.publish and changed.because.reason is Reason.DECLINE_SOURCE_CHANGED
    # Not a person's risk acceptance: no risk event, not listed as one.
    assert declined.risk_events(r, REPO) == [] and declined.accepted_risks(r, REPO) == []
    # A late replay of the original PR's merge does not undo the revert's record.
    merged = policy.PrDecision(declined.MERGED, REPO, "f" * 16, 4)
    assert declined.record(r, merged).reverted_by_pr == 9
    # Its term ends like a decline's.
    assert declined.check(r, kept, "b" * 40, now=kept.expires_at + 1).publish


def test_the_dashboard_lists_verified_reverted_and_held_merges_with_why(r):
    def decided(sha, state, reasons, outcome=None):
        merge_watch.create(r, record(sha, state=state, decided_at=time.time(), outcome=outcome,
                                     decision={"verdict": "hold", "reasons": reasons}))
    ok = [{"reason": "finding-cleared", "subject": "CKV_K8S_20 on Pod.shop.web"},
          {"reason": "no-check-turned-red", "subject": "1 compared"}]
    red = [{"reason": "check-turned-red", "subject": "test (ci): failure"}]
    decided("1" * 40, merge_watch.VERIFIED, ok)
    decided("2" * 40, merge_watch.REVERTED, red, {"revert_pr": 12})
    decided("3" * 40, merge_watch.ISSUE, red, {"issue": 13})
    decided("4" * 40, merge_watch.HELD, red + [{"reason": "revert-cap-reached", "subject": "3 of at most 3"}])
    decided("5" * 40, merge_watch.WATCHING, red)
    decided("6" * 40, merge_watch.HELD, [{"reason": "finding-recheck-blind", "subject": "k8s/web.yaml"}])
    verified, reverted, held = watched(r, REPO)
    assert [w.merge_sha[0] for w in verified] == ["1"]
    assert sorted(w.merge_sha[0] for w in reverted) == ["2", "3"]
    assert [w.merge_sha[0] for w in held] == ["4"]
    text = render.render(REPO, render.Sections(verified=verified, reverted=reverted, not_reverted=held,
                                               audit="7 entries"), time.time())
    assert "### Merged and verified (1)" in text and "### Reverted (2)" in text
    assert "revert #12, because `check-turned-red` `test (ci): failure`" in text
    assert "issue #13 explains what to revert by hand" in text
    assert "### Failed after merging, not reverted (1)" in text and "`revert-cap-reached`" in text
    assert "**Audit log:** 7 entries" in text


def test_outside_check_names_are_quoted_on_the_dashboard():
    w = render.Watched(4, "1" * 40, None, ("CKV_K8S_20",),
                       (Because(Reason.CHECK_TURNED_RED, "@everyone <img src=x>: failure"),), revert_pr=5)
    text = render.render(REPO, render.Sections(reverted=(w,)), time.time())
    # In a code span (no HTML), the mention broken by a word joiner.
    assert "`@\u2060everyone <img src=x>: failure`" in text and "@everyone" not in text


def test_the_audit_line_reads_the_audit_logs_checkpoint_status(r, tmp_path):
    from bot.attest import keys
    from bot.audit.events import Event
    from bot.audit.redis_log import checkpoint
    from workers import audit_log
    from workers.dashboard import audit_line
    assert audit_line(r) == "0 entries, no signed checkpoint yet"
    for i in range(3):
        audit_log.record(r, Event.MERGE_VERIFIED, repository=REPO, subject=f"pr:{i}", actor="iacbot")
    private, _ = keys.keygen(tmp_path)
    checkpoint(r, keys.load_private_key(private))
    audit_log.record(r, Event.REVERTED, repository=REPO, subject="pr:9", actor="iacbot")
    status = audit_log.checkpoint_status(r)
    assert status.size == 4 and status.signed, status
    assert audit_line(r) == (f"4 entries; the last signed checkpoint covers {status.checkpoint_size} (signed "
                             f"`{status.checkpoint_time}`), {status.uncovered} after it")


def test_a_revert_that_cannot_be_signed_is_in_the_audit_log_once(r):
    from bot.audit import redis_log
    from workers import rollback
    from workers.signing import SigningKeyMissing

    watch = record("c" * 40, installation_id=1)
    for _ in range(2):  # decided again on the next event: still one entry
        rollback._audit_unsigned(r, watch, SigningKeyMissing("IACBOT_SIGNING_KEY_FILE is not set"))
    [entry] = [e for e in redis_log.entries(r) if e["event"] == "revert_blocked"]
    assert entry["subject"] == "pr:4" and entry["details"]["status"] == "no-signing-key"
    assert "IACBOT_SIGNING_KEY_FILE" in entry["details"]["why"]
