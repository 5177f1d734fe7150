"""policies.pr_cap: the cap on iacbot's open pull requests, and which PRs count toward it. Pure."""
from __future__ import annotations

import pytest

from policies import pr_cap
from policies.pr_cap import OpenPulls, PullHead, count_open, may_open_pr
from policies.reasons import Reason

REPO = "Octo/Apps"
PREFIX = "iacbot/"  # jobs.branches.BOT_BRANCH_PREFIX, which the workers pass
FP_A, FP_B, FP_C = "a" * 16, "b" * 16, "c" * 16


class App:
    """The App's bot account, as bot.github.ownership.AppIdentity judges it."""

    def authored(self, login, user_type):
        return login == "iacbot[bot]" and user_type == "Bot"


APP = App()
BOT = ("iacbot[bot]", "Bot")


@pytest.mark.parametrize("open_count, cap, exists, publish, reason, subject", [
    (0, 1, False, True, Reason.UNDER_PR_CAP, "0 of at most 1"),
    (9, 10, False, True, Reason.UNDER_PR_CAP, "9 of at most 10"),
    (10, 10, False, False, Reason.AT_PR_CAP, "10 of at most 10; IACBOT_MAX_OPEN_PRS_PER_REPO"),
    (12, 10, False, False, Reason.AT_PR_CAP, "12 of at most 10; IACBOT_MAX_OPEN_PRS_PER_REPO"),  # cap lowered
    (10, 10, True, True, Reason.PR_EXISTS, ""),                    # updating its own PR is never capped
    (50, 1, True, True, Reason.PR_EXISTS, ""),
    (50, 0, False, True, Reason.NO_PR_CAP, "IACBOT_MAX_OPEN_PRS_PER_REPO=0"),
    (50, -1, False, True, Reason.NO_PR_CAP, "IACBOT_MAX_OPEN_PRS_PER_REPO=0"),
])
def test_a_new_pr_is_opened_only_below_the_cap(open_count, cap, exists, publish, reason, subject):
    verdict = may_open_pr(open_count, cap, exists)
    assert (verdict.publish, verdict.because.reason, verdict.because.subject) == (publish, reason, subject)
    assert verdict.reason == verdict.because.text()


def test_only_iacbot_branches_of_the_repository_itself_opened_by_the_app_are_counted():
    heads = [
        PullHead("iacbot/ckv-k8s-16-" + FP_A, "octo/apps", "main", *BOT),
        PullHead("iacbot/ckv-k8s-16-" + FP_B, "OCTO/apps", "release", *BOT),   # names ignore case; any base
        PullHead("iacbot/ckv-k8s-16-" + FP_C, "mallory/apps", "main", *BOT),   # a fork's branch of that name
        PullHead("iacbot/x", None, "main", *BOT),                               # a deleted fork
        PullHead("feature/iacbot", "octo/apps", "main", *BOT),                  # a person's branch
        PullHead("iacbot/ckv-k8s-16-" + FP_C, "octo/apps", "main", "mallory", "User"),     # a person's PR
        PullHead("iacbot/ckv-k8s-16-" + FP_C, "octo/apps", "main", "iacbot[bot]", "User"),  # not the App
    ]
    assert count_open(heads, REPO, "iacbot/ckv-k8s-16-" + FP_A, "main", APP, PREFIX) == OpenPulls(2, True)
    assert count_open(heads, REPO, "iacbot/ckv-k8s-16-" + FP_B, "main", APP, PREFIX) == OpenPulls(2, False)
    assert count_open(heads, REPO, "iacbot/ckv-k8s-16-" + FP_C, "main", APP, PREFIX) == OpenPulls(2, True)
    assert count_open([], REPO, "iacbot/x", "main", APP, PREFIX) == OpenPulls(0, False)


@pytest.mark.parametrize("iacbot_branch, repository, frees", [
    (True, "octo/apps", True), (False, "octo/apps", False), (True, None, False), (True, "", False),
])
def test_a_close_frees_a_slot_only_for_an_iacbot_branch_of_a_named_repository(iacbot_branch, repository, frees):
    assert pr_cap.frees_slot(iacbot_branch, repository) is frees


def test_the_prefix_is_what_the_caller_says_and_an_empty_one_matches_nothing():
    head = PullHead("bot/x-" + FP_A, "octo/apps", "main", *BOT)
    assert pr_cap.is_bot_branch(head, REPO, "bot/") and not pr_cap.is_bot_branch(head, REPO, "iacbot/")
    assert not pr_cap.is_bot_branch(head, REPO, "")
