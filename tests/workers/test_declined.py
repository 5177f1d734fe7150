"""workers.declined: the pure decisions (is a close a decline, may a finding be published again)
and the record in the real Redis (no expiry; a late redelivery of an older PR's close loses)."""
from __future__ import annotations

import subprocess

import pytest

from bot.provenance import branch_name
from fixers.engine import FIXED, Attempt
from fixers.models import Finding
from tests.service.conftest import redis_db  # noqa: F401  (fixture)
from workers import declined
from workers.declined import DECLINED, MERGED, PrDecision

FINDING = Finding("CKV_K8S_16", "k8s/web.yaml", "Deployment.shop.web", fix_class="CKV_K8S_16")
FP = FINDING.fingerprint()
BRANCH = branch_name(Attempt(FINDING, FIXED))


def closed(**over) -> dict:
    return {"kind": "pull_request_closed", "installation_id": 7, "repository": "octo/apps", "number": 3,
            "merged": False, "head_ref": BRANCH, "head_sha": "a" * 40, "base_ref": "main",
            "iacbot_branch": True, **over}


def decision(outcome=DECLINED, number=3, blob="b" * 40, **over) -> PrDecision:
    return PrDecision(outcome, "octo/apps", FP, number, "k8s/web.yaml", "c" * 40, blob, **over)


def test_the_fingerprint_is_read_back_from_the_bots_own_branch_name():
    assert declined.fingerprint_from_branch(BRANCH) == FP
    assert declined.fingerprint_from_branch("feature/x-" + FP) is None      # not an iacbot branch
    assert declined.fingerprint_from_branch("iacbot/fix-1234") is None      # no fingerprint at the end
    assert declined.fingerprint_from_branch(BRANCH + "-again") is None


def test_git_blob_sha_is_what_git_computes(tmp_path):
    text = "apiVersion: v1\nkind: Pod\n# é\n"
    (tmp_path / "f").write_bytes(text.encode())
    expected = subprocess.run(["git", "hash-object", str(tmp_path / "f")], capture_output=True, text=True,
                              check=True).stdout.strip()
    assert declined.git_blob_sha(text) == declined.git_blob_sha(text.encode()) == expected


@pytest.mark.parametrize("job, outcome, why", [
    (closed(), DECLINED, "closed without merging"),
    (closed(merged=True), MERGED, "merged"),
    (closed(merged=True, sender_type="Bot"), MERGED, "merged"),
    (closed(sender_type="Bot", sender="iacbot[bot]"), None, "closed by a bot (iacbot[bot])"),
    (closed(sender_type="User", sender="alice"), DECLINED, "closed without merging"),
    (closed(iacbot_branch=False), None, "not an iacbot branch"),
    (closed(head_ref="iacbot/hand-made"), None, "does not end in a finding fingerprint"),
    (closed(kind="scan_push"), None, "not a pull_request_closed job"),
])
def test_which_closes_are_merges_declines_or_nothing(job, outcome, why):
    kind = declined.classify_close(job)
    assert kind.outcome == outcome
    assert why in kind.reason


def test_a_finding_never_declined_or_merged_before_is_published():
    assert declined.verdict(None, "b" * 40).publish
    back = declined.verdict(decision(MERGED), "b" * 40)
    assert back.publish and "PR #3 was merged" in back.reason


def test_a_declined_finding_is_not_published_again_until_its_source_changes():
    same = declined.verdict(decision(), "b" * 40)
    assert not same.publish
    assert "PR #3 was declined and k8s/web.yaml has not changed" in same.reason
    changed = declined.verdict(decision(), "d" * 40)
    assert changed.publish and "changed since" in changed.reason
    gone = declined.verdict(decision(), None)  # the file is not there any more: not the declined source
    assert gone.publish


def test_a_decline_whose_source_is_unknown_stands():
    v = declined.verdict(decision(blob=None), "d" * 40)
    assert not v.publish and "the decline stands" in v.reason


def test_the_later_pull_requests_decision_wins():
    old, new = decision(number=3), decision(MERGED, number=9)
    assert declined.newer(None, old) is old
    assert declined.newer(old, new) is new
    assert declined.newer(new, old) is new            # a late redelivery of #3's close
    again = decision(number=3, blob="e" * 40)
    assert declined.newer(old, again) is again         # the same PR's close again: the latest reading


def test_the_record_lives_without_expiry_per_repository_and_keeps_the_newer_pr(redis_db):  # noqa: F811
    assert declined.load(redis_db, "octo/apps", FP) is None
    kept = declined.record(redis_db, decision(number=5))
    assert kept.recorded_at > 0 and kept.pr_number == 5
    assert declined.load(redis_db, "Octo/Apps", FP) == kept   # GitHub names ignore case
    assert redis_db.ttl(declined.decisions_key("octo/apps")) == -1  # a person's decision does not expire
    assert declined.record(redis_db, decision(MERGED, number=2)).pr_number == 5
    assert declined.load(redis_db, "octo/apps", FP).outcome == DECLINED
    assert declined.record(redis_db, decision(MERGED, number=6)).outcome == MERGED
    assert declined.load(redis_db, "octo/apps", FP).outcome == MERGED
    assert declined.load(redis_db, "octo/other", FP) is None
