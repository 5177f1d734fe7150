"""policies.declines: a person's decline is a risk acceptance with an owner and an expiry; whether
a finding may be proposed again. Pure: every time is given, no clock is read."""
from __future__ import annotations

import dataclasses

import pytest

from policies import declines
from policies.declines import DAY_SECONDS, DECLINED, MERGED, ClosedPull, PrDecision
from policies.reasons import EXPLAINED, Reason

FP = "0123456789abcdef"
T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def close(**over) -> ClosedPull:
    return ClosedPull(**{"number": 3, "merged": False, "iacbot_branch": True, "head_ref": "iacbot/ckv-k8s-16-" + FP,
                         "fingerprint": FP, "sender": "alice", "sender_type": "User", **over})


def decline(blob="b" * 40, closed_at=T0, days=90, **over) -> PrDecision:
    made = declines.declined("octo/apps", FP, 3, file="k8s/web.yaml", base_sha="c" * 40, source_blob_sha=blob,
                             closed_by="alice", closed_at=closed_at, recorded_at=closed_at + 5, expiry_days=days)
    return dataclasses.replace(made, **over)


@pytest.mark.parametrize("facts, outcome, reason, subject", [
    (close(), DECLINED, Reason.PR_CLOSED_DECLINED, "#3"),
    (close(merged=True), MERGED, Reason.PR_CLOSED_MERGED, "#3"),
    (close(merged=True, sender_type="Bot"), MERGED, Reason.PR_CLOSED_MERGED, "#3"),  # iacbot merging is a merge
    (close(sender_type="Bot", sender="iacbot[bot]"), None, Reason.CLOSED_BY_BOT, "iacbot[bot]"),
    (close(sender_type="bot", sender=None), None, Reason.CLOSED_BY_BOT, "unknown"),
    (close(iacbot_branch=False), None, Reason.CLOSE_NOT_IACBOT_BRANCH, "iacbot/ckv-k8s-16-" + FP),
    (close(fingerprint=None, head_ref="iacbot/hand-made"), None, Reason.CLOSE_NO_FINGERPRINT, "iacbot/hand-made"),
])
def test_which_closes_are_merges_declines_or_nothing(facts, outcome, reason, subject):
    kind = declines.classify_close(facts)
    assert (kind.outcome, kind.because.reason, kind.because.subject) == (outcome, reason, subject)
    assert kind.reason == kind.because.text() and EXPLAINED[reason] in kind.reason


def test_a_decline_is_an_acceptance_by_who_closed_it_until_the_policys_expiry():
    d = decline(days=30)
    assert (d.outcome, d.closed_by, d.closed_at, d.recorded_at) == (DECLINED, "alice", T0, T0 + 5)
    assert d.expires_at == T0 + 30 * DAY_SECONDS and d.expired_at is None
    assert decline().expires_at == T0 + 90 * DAY_SECONDS  # the default term
    assert decline(days=0).expires_at == T0                # a policy that accepts nothing for long


def test_never_declined_or_merged_before_is_published():
    v = declines.verdict(None, "b" * 40, T0)
    assert v.publish and v.because.reason is Reason.NO_EARLIER_DECLINE and not v.expired
    back = declines.verdict(PrDecision(MERGED, "octo/apps", FP, 3), "b" * 40, T0)
    assert back.publish and back.because.reason is Reason.EARLIER_PR_MERGED and back.because.subject == "#3"


def test_an_acceptance_holds_until_the_source_changes():
    now = T0 + DAY_SECONDS
    same = declines.verdict(decline(), "b" * 40, now)
    assert not same.publish and same.because.reason is Reason.DECLINED
    assert same.because.subject == "#3 until 2024-02-12T22:13:20Z"   # the expiry is shown with it
    changed = declines.verdict(decline(), "d" * 40, now)
    assert changed.publish and changed.because.reason is Reason.DECLINE_SOURCE_CHANGED
    assert changed.because.subject == "k8s/web.yaml"
    gone = declines.verdict(decline(), None, now)  # the file is not there any more: not the declined source
    assert gone.publish and gone.because.reason is Reason.DECLINE_SOURCE_CHANGED


def test_an_acceptance_whose_source_is_unknown_stands_until_it_expires():
    v = declines.verdict(decline(blob=None), "d" * 40, T0 + DAY_SECONDS)
    assert not v.publish and v.because.reason is Reason.DECLINED_SOURCE_UNKNOWN
    later = declines.verdict(decline(blob=None), "d" * 40, T0 + 90 * DAY_SECONDS)
    assert later.publish and later.because.reason is Reason.DECLINE_EXPIRED and later.expired


def test_an_acceptance_expires_at_its_term_exactly_and_says_so():
    d = decline(days=30)
    assert not declines.verdict(d, "b" * 40, d.expires_at - 1).publish
    lapsed = declines.verdict(d, "b" * 40, d.expires_at)
    assert lapsed.publish and lapsed.expired and lapsed.because.reason is Reason.DECLINE_EXPIRED
    assert lapsed.because.subject == "#3 on 2023-12-14T22:13:20Z"
    assert declines.is_active(d, d.expires_at - 1) and not declines.is_active(d, d.expires_at)
    assert not declines.is_active(None, T0)
    assert not declines.is_active(PrDecision(MERGED, "octo/apps", FP, 3), T0)


def test_the_term_is_the_one_recorded_not_a_later_policys():
    d = decline(days=30)
    assert declines.expires_at(d, expiry_days=365) == T0 + 30 * DAY_SECONDS
    assert declines.verdict(d, "b" * 40, T0 + 31 * DAY_SECONDS, expiry_days=365).publish


def test_an_old_record_without_owner_or_expiry_is_read_and_runs_from_when_it_was_recorded():
    old = {"outcome": "declined", "repository": "octo/apps", "fingerprint": FP, "pr_number": 3,
           "file": "k8s/web.yaml", "base_sha": "c" * 40, "source_blob_sha": "b" * 40, "recorded_at": T0}
    d = PrDecision.from_json(old)
    assert (d.closed_by, d.closed_at, d.expires_at, d.expired_at) == (None, None, None, None)
    assert declines.expires_at(d) == T0 + 90 * DAY_SECONDS
    assert declines.expires_at(d, expiry_days=10) == T0 + 10 * DAY_SECONDS
    assert not declines.verdict(d, "b" * 40, T0 + 89 * DAY_SECONDS).publish
    assert declines.verdict(d, "b" * 40, T0 + 90 * DAY_SECONDS).because.reason is Reason.DECLINE_EXPIRED
    # what is written now reads back whole, and a field from a later version is left out
    assert PrDecision.from_json({**decline().to_json(), "later_field": 1}) == decline()


@pytest.mark.parametrize("data", [
    None, [], {"outcome": "declined"},
    {"outcome": "maybe", "repository": "o/r", "fingerprint": FP, "pr_number": 3},
    {"outcome": "declined", "repository": "o/r", "fingerprint": FP, "pr_number": "3"},
    {"outcome": "declined", "repository": "o/r", "fingerprint": FP, "pr_number": 3, "expires_at": "soon"},
    {"outcome": "declined", "repository": "o/r", "fingerprint": FP, "pr_number": 3, "closed_at": float("nan")},
    {"outcome": "declined", "repository": "o/r", "fingerprint": FP, "pr_number": 3, "closed_at": True},
])
def test_a_record_that_is_not_a_decision_is_refused(data):
    with pytest.raises(ValueError):
        PrDecision.from_json(data)


def test_the_later_pull_requests_decision_wins_and_a_noted_expiry_is_kept():
    old, new = decline(), PrDecision(MERGED, "octo/apps", FP, 9)
    assert declines.newer(None, old) is old
    assert declines.newer(old, new) is new
    assert declines.newer(new, old) is new            # a late redelivery of #3's close
    again = decline(blob="e" * 40)
    assert declines.newer(old, again) is again         # the same PR's close again: the latest reading
    noted = declines.expired(old, T0 + 100 * DAY_SECONDS)
    assert noted.expired_at == T0 + 100 * DAY_SECONDS
    assert declines.expired(noted, T0 + 200 * DAY_SECONDS) is noted  # noted once
    assert declines.newer(noted, again).expired_at == noted.expired_at  # a replayed close does not revive it


@pytest.mark.parametrize("text, expected", [
    ("2019-05-15T15:20:33Z", 1557933633.0),
    ("2019-05-15T15:20:33+02:00", 1557926433.0),
    ("2019-05-15T15:20:33", 1557933633.0),   # no zone: GitHub's times are UTC
    ("yesterday", None), ("", None), (None, None), (17, None), ("2019-05-15T15:20:33Z" * 3, None),
])
def test_githubs_times_are_read(text, expected):
    assert declines.parse_time(text) == expected


def test_every_reason_used_here_is_documented_and_none_blocks_a_merge():
    from policies.reasons import BLOCKING
    used = {Reason.PR_CLOSED_MERGED, Reason.PR_CLOSED_DECLINED, Reason.CLOSE_NOT_IACBOT_BRANCH,
            Reason.CLOSE_NO_FINGERPRINT, Reason.CLOSED_BY_BOT, Reason.NO_EARLIER_DECLINE, Reason.EARLIER_PR_MERGED,
            Reason.DECLINED, Reason.DECLINED_SOURCE_UNKNOWN, Reason.DECLINE_SOURCE_CHANGED, Reason.DECLINE_EXPIRED}
    assert used <= set(EXPLAINED) and not used & BLOCKING
