"""workers.declined: the record of what people did with iacbot's PRs, in the real Redis, and the
risk acceptances (who, when, until when) the dashboard lists. The decisions themselves are pure and
tested in tests/policies/test_declines.py; here: the job is read into them, and what is recorded."""
from __future__ import annotations

import json
import subprocess

import pytest

from bot.provenance import branch_name
from fixers.engine import FIXED, Attempt
from fixers.models import Finding
from jobs.kinds import PullRequestClosed
from policies import declines
from policies.reasons import Reason
from tests.service.conftest import redis_db  # noqa: F401  (fixture)
from workers import declined
from workers.declined import DECLINED, MERGED, PrDecision

FINDING = Finding("CKV_K8S_16", "k8s/web.yaml", "Deployment.shop.web", fix_class="CKV_K8S_16")
FP = FINDING.fingerprint()
BRANCH = branch_name(Attempt(FINDING, FIXED))
DAY = declines.DAY_SECONDS
T0 = 1_700_000_000.0


def closed(**over) -> dict:
    return {"kind": "pull_request_closed", "installation_id": 7, "repository": "octo/apps", "number": 3,
            "merged": False, "head_ref": BRANCH, "head_sha": "a" * 40, "base_ref": "main",
            "iacbot_branch": True, **over}


def decision(outcome=DECLINED, number=3, blob="b" * 40, **over) -> PrDecision:
    return PrDecision(outcome, "octo/apps", FP, number, "k8s/web.yaml", "c" * 40, blob, **over)


def acceptance(number=3, closed_at=T0, days=90, fingerprint=FP, **over) -> PrDecision:
    d = declines.declined("octo/apps", fingerprint, number, file="k8s/web.yaml", base_sha="c" * 40,
                          source_blob_sha="b" * 40, closed_by="alice", closed_at=closed_at, recorded_at=closed_at,
                          expiry_days=days)
    return PrDecision(**{**d.to_json(), **over})


def test_git_blob_sha_is_what_git_computes(tmp_path):
    text = "apiVersion: v1\nkind: Pod\n# é\n"
    (tmp_path / "f").write_bytes(text.encode())
    expected = subprocess.run(["git", "hash-object", str(tmp_path / "f")], capture_output=True, text=True,
                              check=True).stdout.strip()
    assert declined.git_blob_sha(text) == declined.git_blob_sha(text.encode()) == expected


@pytest.mark.parametrize("job, outcome, reason", [
    (closed(), DECLINED, Reason.PR_CLOSED_DECLINED),
    (closed(merged=True), MERGED, Reason.PR_CLOSED_MERGED),
    (closed(sender_type="Bot", sender="iacbot[bot]"), None, Reason.CLOSED_BY_BOT),
    (closed(sender_type="User", sender="alice"), DECLINED, Reason.PR_CLOSED_DECLINED),
    (closed(iacbot_branch=False), None, Reason.CLOSE_NOT_IACBOT_BRANCH),
    (closed(head_ref="iacbot/hand-made"), None, Reason.CLOSE_NO_FINGERPRINT),
    (closed(head_ref=BRANCH + "\n"), None, Reason.CLOSE_NO_FINGERPRINT),  # refused by the job: a control char
])
def test_a_closed_pr_job_is_read_into_the_decision(job, outcome, reason):
    try:
        kind = declined.classify_close(job)
    except ValueError as exc:  # the job kind refuses what no branch name holds
        assert "head_ref" in str(exc) and reason is Reason.CLOSE_NO_FINGERPRINT
        return
    assert kind.outcome == outcome and kind.because.reason is reason
    assert kind.reason == kind.because.text()
    assert declined.classify_close(PullRequestClosed.from_message(job)) == kind


def test_a_message_of_another_kind_is_not_a_close():
    with pytest.raises(ValueError, match="kind"):
        declined.classify_close(closed(kind="scan_push"))


def test_the_record_lives_without_ttl_per_repository_and_keeps_the_newer_pr(redis_db):  # noqa: F811
    assert declined.load(redis_db, "octo/apps", FP) is None
    kept = declined.record(redis_db, decision(number=5))
    assert kept.recorded_at > 0 and kept.pr_number == 5
    assert declined.load(redis_db, "Octo/Apps", FP) == kept   # GitHub names ignore case
    assert redis_db.ttl(declined.decisions_key("octo/apps")) == -1  # Redis never drops a person's decision
    assert declined.record(redis_db, decision(MERGED, number=2)).pr_number == 5
    assert declined.load(redis_db, "octo/apps", FP).outcome == DECLINED
    assert declined.record(redis_db, decision(MERGED, number=6)).outcome == MERGED
    assert declined.load(redis_db, "octo/apps", FP).outcome == MERGED
    assert declined.load(redis_db, "octo/other", FP) is None


def test_a_record_written_before_acceptances_had_an_expiry_is_read(redis_db):  # noqa: F811
    old = {"outcome": "declined", "repository": "octo/apps", "fingerprint": FP, "pr_number": 3,
           "file": "k8s/web.yaml", "base_sha": "c" * 40, "source_blob_sha": "b" * 40, "recorded_at": T0}
    redis_db.hset(declined.decisions_key("octo/apps"), FP, json.dumps(old))
    d = declined.load(redis_db, "octo/apps", FP)
    assert d.outcome == DECLINED and d.expires_at is None
    [risk] = declined.accepted_risks(redis_db, "octo/apps", now=T0 + DAY)
    assert risk.expires_at == T0 + 90 * DAY and risk.closed_by is None


def test_a_decline_recorded_is_an_accepted_risk_event_once(redis_db):  # noqa: F811
    kept = declined.record(redis_db, acceptance())
    assert (kept.closed_by, kept.closed_at, kept.expires_at) == ("alice", T0, T0 + 90 * DAY)
    declined.record(redis_db, acceptance())  # the close redelivered
    [event] = declined.risk_events(redis_db, "Octo/Apps")
    assert (event["event"], event["fingerprint"], event["pr_number"], event["closed_by"]) == \
        ("accepted", FP, "3", "alice")
    assert float(event["expires_at"]) == T0 + 90 * DAY
    declined.record(redis_db, decision(MERGED, number=4))   # a merge is not an acceptance
    assert len(declined.risk_events(redis_db, "octo/apps")) == 1


def test_a_publish_that_finds_an_acceptance_lapsed_records_it_once(redis_db, caplog):  # noqa: F811
    declined.record(redis_db, acceptance(days=30))
    stored = declined.load(redis_db, "octo/apps", FP)
    holds = declined.check(redis_db, stored, "b" * 40, now=T0 + 29 * DAY)
    assert not holds.publish and holds.because.reason is Reason.DECLINED
    assert declined.load(redis_db, "octo/apps", FP).expired_at is None
    with caplog.at_level("WARNING", logger="workers.declined"):
        lapsed = declined.check(redis_db, stored, "b" * 40, now=T0 + 31 * DAY)
        assert lapsed.publish and lapsed.because.reason is Reason.DECLINE_EXPIRED
        assert declined.check(redis_db, stored, "b" * 40, now=T0 + 32 * DAY).publish  # found again
    assert "expired on 2023-12-14T22:13:20Z" in caplog.text and "alice" in caplog.text
    assert caplog.text.count("expired on") == 1  # logged once, when it was recorded
    assert declined.load(redis_db, "octo/apps", FP).expired_at == T0 + 31 * DAY
    events = declined.risk_events(redis_db, "octo/apps")
    assert [e["event"] for e in events] == ["expired", "accepted"]  # newest first
    assert float(events[0]["expired_at"]) == T0 + 31 * DAY


def test_a_lapse_is_not_noted_over_a_newer_prs_record(redis_db):  # noqa: F811
    old = declined.record(redis_db, acceptance(days=1))
    declined.record(redis_db, acceptance(number=8, closed_at=T0 + 5 * DAY))  # declined again, a new PR
    assert declined.note_expired(redis_db, old, T0 + 3 * DAY).pr_number == 8
    assert declined.load(redis_db, "octo/apps", FP).expired_at is None
    assert [e["event"] for e in declined.risk_events(redis_db, "octo/apps")] == ["accepted", "accepted"]


def test_the_dashboard_lists_the_acceptances_that_hold_and_records_the_lapsed(redis_db):  # noqa: F811
    other = "fedcba9876543210"
    declined.record(redis_db, acceptance(days=90))
    declined.record(redis_db, acceptance(fingerprint=other, number=4, days=10))
    declined.record(redis_db, PrDecision(MERGED, "octo/apps", "1" * 16, 5))
    risks = declined.accepted_risks(redis_db, "octo/apps", now=T0 + DAY)
    assert [(r.fingerprint, r.pr_number, r.closed_by, r.expires_at) for r in risks] == [
        (other, 4, "alice", T0 + 10 * DAY), (FP, 3, "alice", T0 + 90 * DAY)]   # soonest to expire first
    assert declined.accepted_risks(redis_db, "octo/other", now=T0) == []
    later = declined.accepted_risks(redis_db, "octo/apps", now=T0 + 11 * DAY)
    assert [r.fingerprint for r in later] == [FP]
    assert declined.load(redis_db, "octo/apps", other).expired_at == T0 + 11 * DAY  # nothing expires silently
    assert declined.risk_events(redis_db, "octo/apps")[0]["event"] == "expired"


def test_an_unreadable_record_is_skipped_with_a_log_line_not_a_crash(redis_db, caplog):  # noqa: F811
    declined.record(redis_db, acceptance())
    redis_db.hset(declined.decisions_key("octo/apps"), "junk", json.dumps({"outcome": "declined"}))
    with caplog.at_level("WARNING", logger="workers.declined"):
        assert [r.fingerprint for r in declined.accepted_risks(redis_db, "octo/apps", now=T0)] == [FP]
    assert "unreadable PR decision" in caplog.text
