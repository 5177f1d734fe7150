"""jobs.branches: the branch scheme is one fact; what provenance names, the workers read back."""
from __future__ import annotations

import pytest

from bot.provenance import branch_name as provenance_branch_name
from fixers.engine import FIXED, Attempt
from fixers.models import Finding
from jobs import branches

FINDING = Finding("CKV_K8S_16", "k8s/web.yaml", "Deployment.shop.web", fix_class="CKV_K8S_16")
FP = FINDING.fingerprint()


def test_provenance_names_the_branch_by_the_scheme_and_the_fingerprint_is_read_back():
    name = provenance_branch_name(Attempt(FINDING, FIXED))
    assert name == branches.branch_name("CKV_K8S_16", FP) == f"iacbot/ckv-k8s-16-{FP}"
    assert branches.fingerprint_from_branch(name) == FP and branches.has_bot_prefix(name)


@pytest.mark.parametrize("fix_class, expected", [
    ("k8s.run_as_non_root", "iacbot/k8s.run-as-non-root-"), ("--", "iacbot/fix-"), ("A/B c", "iacbot/a-b-c-"),
])
def test_the_fix_class_is_made_readable(fix_class, expected):
    assert branches.branch_name(fix_class, FP) == expected + FP


@pytest.mark.parametrize("branch", [
    "feature/x-" + FP,                 # not an iacbot branch
    "iacbot/fix-1234",                 # no fingerprint at the end
    f"iacbot/x-{FP}-again",
    f"iacbot/x-{FP}\n",                # $ would have matched before a newline
    f"iacbot/x-{FP.upper()}",
    "",
])
def test_a_name_that_is_not_iacbots_scheme_has_no_fingerprint(branch):
    assert branches.fingerprint_from_branch(branch) is None


def test_a_revert_branch_is_named_by_the_original_pr_and_read_back():
    name = branches.revert_branch_name(41)
    assert name == "iacbot/revert/41" and branches.has_bot_prefix(name)
    assert branches.pr_from_revert_branch(name) == 41
    assert branches.fingerprint_from_branch(name) is None  # not a fix's branch


@pytest.mark.parametrize("number", [0, -1, True, "41", 4.0, None])
def test_a_revert_branch_needs_a_pr_number(number):
    with pytest.raises(ValueError):
        branches.revert_branch_name(number)


@pytest.mark.parametrize("branch", ["iacbot/revert/", "iacbot/revert/041", "iacbot/revert/41\n",
                                    "iacbot/revert/41/x", "iacbot/revert/x", f"iacbot/x-{FP}", "revert/41", None])
def test_a_name_that_is_not_a_revert_branch_names_no_pr(branch):
    assert branches.pr_from_revert_branch(branch) is None
