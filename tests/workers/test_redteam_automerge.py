"""Red team: attempts to get something auto-merged that policy does not allow (issue 8, "Done when").

Every attempt is its own test on the harness's real world (tests/workers/redteam_harness.py: the
GitHub double, the real Redis, real Celery workers, the signed-webhook receiver, a central policy
file). Each ends with the double's state (the PR is not merged, the default branch did not move,
no pull request of the repository is merged) AND the reason the decision recorded for it (the
decision store, or the PR itself). Unless an attempt says otherwise the central policy is the most
permissive one anyone can write (``{name: all, match: {}, action: automerge}``, required check
``test`` from ``github-actions``), so only a guardrail stands between the attacker and a merge.

The positive control (everything right: exactly one merge) runs in the same world, so the suite
can fail: if nothing ever merged, every attempt would "pass".
"""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

import pytest

from bot.provenance import branch_name, commit_message
from policies.reasons import Action, Reason
from tests.workers.redteam_harness import (
    ASSUMED,
    AUTOMERGE_ALL,
    CHECK,
    CI_APP,
    COST_IMPACT,
    IDENTITY,
    K8S_POD,
    LOW_RISK,
    NETWORK,
    SECRET_FIX,
    TF_DB,
    TF_GITLAB,
    TF_KMS,
    TF_LB,
    Case,
    Considered,
    Harness,
    Published,
    harness,
    make_fix,
)
from workers import decision_store, switches

REVIEW_ALL = """\
version: 1
automerge:
  required_checks: [{name: test, app: github-actions}]
rules:
  - name: review-everything
    match: {}
    action: pull_request
"""

REPO_LOOSENS = """\
version: 1
rules:
  - name: merge-it-all
    match: {}
    action: automerge
"""

FILES = {"k8s/web.yaml": K8S_POD, "tf/lb.tf": TF_LB, "tf/db.tf": TF_DB, "tf/kms.tf": TF_KMS,
         "tf/gl.tf": TF_GITLAB}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    started = time.monotonic()
    with harness(tmp_path_factory.mktemp("redteam"), scan=False) as w:
        yield w
    print(f"\nred-team world ran {time.monotonic() - started:.1f} s")


@pytest.fixture(autouse=True)
def fresh(world: Harness):
    """Every attempt starts from the permissive policy, no switch on and no fault pending."""
    world.write_policy(AUTOMERGE_ALL)
    switches.set_global(world.r, False)
    world.gh.faults.clear()
    yield
    world.gh.faults.clear()
    switches.set_global(world.r, False)


def green(world: Harness, pr, sha=None) -> None:
    world.check(pr.repository, sha or pr.head_sha, CHECK, "success", CI_APP)


def blocked(world: Harness, pr, *expected: Reason, sha=None, **kw) -> Considered:
    """Checks completed on the PR's head (a signed webhook through the receiver): the decision that
    stands for the PR afterwards (this consideration's, or the publish one when the PR was never a
    candidate) is not AUTOMERGE and carries every reason in ``expected``; nothing was merged and
    no merge was even asked for."""
    seen = world.consider(pr, sha, **kw)
    assert seen.record is not None, "no decision recorded for the PR"
    assert seen.record.decision.action is not Action.AUTOMERGE, (seen.outcome, seen.record.decision)
    missing = set(expected) - seen.reasons
    assert not missing, (f"expected {sorted(r.value for r in missing)} among "
                         f"{sorted(r.value for r in seen.reasons)} (outcome {seen.outcome})")
    world.assert_not_merged(pr)
    assert world.merge_calls(pr.repository) == []
    print(f"[{seen.outcome} at {'merge' if seen.merge else 'publish'}] "
          + ", ".join(sorted(r.value for r in seen.reasons)))  # what stood in the way (pytest -s)
    return seen


# -- the positive control ----------------------------------------------------------------------

def test_control_everything_right_merges_exactly_once(world):
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    green(world, pr)
    event = world.check_suite_payload(repo, pr.head_sha)
    seen = world.consider(pr, payload=event)
    assert seen.outcome == "merged", (seen.task, seen.record and seen.record.decision)
    assert seen.merge.decision.action is Action.AUTOMERGE
    assert world.merged_pulls(repo) == [pr.pr_number]
    merged = world.pull(repo, pr.pr_number)
    assert merged.merged_by == "iacbot[bot]"
    with world.gh.world.lock:
        commit = world.gh.repo(repo).objects.commit(world.default_head(repo))
    assert pr.head_sha in commit.parents or world.default_head(repo) == pr.head_sha  # the head it decided on
    assert decision_store.merges_since(world.r, repo, time.time() - 3600) == 1
    assert len(world.merge_calls(repo)) == 1
    # The same delivery again (GitHub's redelivery, a new delivery id, the same signed body): the
    # receiver knows it, nothing is enqueued, nothing more is merged.
    code, answer, _ = world.deliver("check_suite", event)
    assert (code, answer.get("status")) == (202, "duplicate"), answer
    assert world.merged_pulls(repo) == [pr.pr_number] and len(world.merge_calls(repo)) == 1


# -- who made the commits ----------------------------------------------------------------------

def test_a_human_commit_on_the_bots_branch(world):
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    sha = world.human_commit(repo, pr.branch, {"k8s/web.yaml": make_text(pr) + "# tweak\n"})
    green(world, pr, sha)
    blocked(world, pr, Reason.FOREIGN_AUTHOR, sha=sha)


def test_a_commit_authored_by_iacbot_but_committed_by_someone_else(world):
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    sha = world.recommit(repo, pr.branch, committer="mallory")
    green(world, pr, sha)
    blocked(world, pr, Reason.FOREIGN_COMMITTER, sha=sha)


def test_a_pr_opened_by_a_person_from_an_iacbot_branch_with_a_green_check(world):
    """Mallory copies iacbot's branch name and commit message, opens the PR herself, and CI is
    green on it: not iacbot's PR, not iacbot's commit."""
    repo = world.new_repo(FILES)
    fix = make_fix(LOW_RISK)
    branch = branch_name(fix.attempt)
    _, sha = world.gh.push_commit(repo, {fix.path: fix.new_text}, commit_message(fix.attempt, fix.verification),
                                  branch=branch, login="mallory")
    number = world.gh.open_pull(repo, branch, "main", "iacbot: " + fix.attempt.summary, "iacbot's fix",
                                login="mallory")
    world.check(repo, sha)
    base = world.default_head(repo)
    fake = Published(repo, fix.fingerprint, number, branch, sha, base, {}, fix)
    seen = world.consider(fake)
    # iacbot never decided anything about this PR, so it is not a candidate and nothing is recorded.
    assert seen.outcome == "not-candidate" and seen.merge is None and seen.publish is None, seen
    pr = world.pull(repo, number)
    assert pr.merged_at is None and world.default_head(repo) == base and world.merge_calls(repo) == []


# -- what the pull request holds -----------------------------------------------------------------

@pytest.mark.parametrize("path", [".github/iacbot.yml", "iacbot-policy.yml", ".GitHub/IACBOT.yml"],
                         ids=["repo-policy", "central-policy-file", "repo-policy-other-case"])
def test_a_policy_change_inside_the_pr_itself(world, path):
    """The PR adds a policy file (the repository's, or the central policy repository's file name),
    in a commit that even claims iacbot's bot identity as author and committer: the PR touches a
    protected path."""
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    sha = world.recommit(repo, pr.branch, committer="iacbot[bot]", changes={path: REPO_LOOSENS})
    green(world, pr, sha)
    blocked(world, pr, Reason.PROTECTED_PATH, sha=sha)


def test_a_repository_policy_in_the_pr_head_is_never_read(world):
    """Central: review everything. The PR's own .github/iacbot.yml says automerge: it is not the
    default branch's, so it counts for nothing, and touching it is itself a guardrail."""
    world.write_policy(REVIEW_ALL)
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    sha = world.human_commit(repo, pr.branch, {".github/iacbot.yml": REPO_LOOSENS})
    green(world, pr, sha)
    seen = blocked(world, pr, Reason.RULE_MATCHED, sha=sha)
    assert seen.record.decision.rule == "review-everything" and seen.record.decision.repo_rule is None
    assert seen.record.decision.action is Action.PULL_REQUEST


def test_a_workflow_and_codeowners_change_inside_the_pr(world):
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    sha = world.recommit(repo, pr.branch, committer="iacbot[bot]",
                         changes={".github/workflows/ci.yml": "on: push\njobs: {}\n", "CODEOWNERS": "* @mallory\n"})
    green(world, pr, sha)
    blocked(world, pr, Reason.PROTECTED_PATH, sha=sha)


def test_a_diff_that_grew_beyond_the_fixs_files(world):
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    sha = world.recommit(repo, pr.branch, committer="iacbot[bot]",
                         changes={"tf/db.tf": TF_DB.replace("db.t3.micro", "db.r6g.16xlarge")})
    green(world, pr, sha)
    blocked(world, pr, Reason.DIFF_OUTSIDE_FIX, sha=sha)


def test_a_repository_policy_on_the_default_branch_cannot_loosen_the_central_one(world):
    """Central says pull_request for everything; .github/iacbot.yml on main says automerge."""
    world.write_policy(REVIEW_ALL)
    repo = world.new_repo({**FILES, ".github/iacbot.yml": REPO_LOOSENS})
    pr = world.publish(repo, LOW_RISK)
    green(world, pr)
    seen = blocked(world, pr, Reason.REPO_MAY_NOT_LOOSEN)
    assert seen.record.decision.action is Action.PULL_REQUEST
    assert (seen.record.decision.rule, seen.record.decision.repo_rule) == ("review-everything", "merge-it-all")


def test_a_diff_that_grew_inside_the_fixs_own_file(world):
    """Same file, more lines: a forged-identity commit adds a container to the manifest."""
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    grown = pr.fix.new_text + "    - name: miner\n      image: evil/miner:latest\n"
    sha = world.recommit(repo, pr.branch, committer="iacbot[bot]", changes={pr.fix.path: grown})
    green(world, pr, sha)
    blocked(world, pr, Reason.DIFF_OUTSIDE_FIX, sha=sha)


def test_a_pr_retargeted_to_another_base_branch(world):
    """A person with write access points iacbot's PR at another branch (release) after the
    decision; its head is still iacbot's commit. iacbot decided to merge into the default branch,
    not into release: the fix must not land there on its own."""
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    main = world.default_head(repo)
    world.gh.move_branch(repo, "release", main)
    with world.gh.world.lock:
        live = world.gh.repo(repo).pulls[pr.pr_number]
        live.base_ref = "release"
    green(world, pr)
    seen = world.consider(pr)
    with world.gh.world.lock:
        release = world.gh.repo(repo).refs["refs/heads/release"]
    print(f"[{seen.outcome}] " + ", ".join(sorted(r.value for r in seen.reasons)))
    assert release == main, "iacbot merged its fix into a branch it never decided about"
    assert seen.record.decision.action is not Action.AUTOMERGE
    assert Reason.BASE_CHANGED in seen.reasons, seen.record.decision
    world.assert_not_merged(pr)
    assert world.merge_calls(repo) == []


def test_the_central_policy_tightened_after_publishing(world):
    """Published under automerge-everything; the security team then switches to review-everything
    before CI finishes: the merge is decided under the policy as it is NOW."""
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    assert world.publish_record(repo, pr.pr_number).decision.action is Action.AUTOMERGE
    world.write_policy(REVIEW_ALL)
    green(world, pr)
    seen = blocked(world, pr, Reason.RULE_MATCHED)
    assert seen.merge is not None and seen.merge.decision.rule == "review-everything", seen.record.decision
    assert seen.merge.decision.policy_digest != world.publish_record(repo, pr.pr_number).decision.policy_digest


def test_a_repository_policy_added_on_the_default_branch_after_publishing(world):
    """The repository's owners tighten (.github/iacbot.yml on main: pull_request) after iacbot
    published: the merge reads the default branch as it is now."""
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    world.gh.push_commit(repo, {".github/iacbot.yml": REPO_LOOSENS.replace("automerge", "pull_request")},
                         "Review iacbot's fixes here\n", login="octocat")
    pr.base_sha = world.default_head(repo)  # main moved by the owners' own push
    green(world, pr)
    seen = blocked(world, pr, Reason.REPO_RULE_TIGHTENED)
    assert seen.merge is not None and seen.merge.decision.action is Action.PULL_REQUEST


def test_an_invalid_repository_policy_on_the_default_branch(world):
    repo = world.new_repo({**FILES, ".github/iacbot.yml": "version: 1\nrules: [{name: x, match: {}, action: yolo}]\n"})
    pr = world.publish(repo, LOW_RISK)
    green(world, pr)
    blocked(world, pr, Reason.REPO_POLICY_INVALID)


def test_a_pr_github_says_is_not_mergeable(world):
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    world.gh.set_mergeable(repo, pr.pr_number, False)
    green(world, pr)
    blocked(world, pr, Reason.NOT_MERGEABLE)


def test_a_pr_a_person_closed_before_its_checks_completed(world):
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    green(world, pr)
    payload = world.check_suite_payload(repo, pr.head_sha)  # names the PR, as GitHub's did
    world.gh.close_pull(repo, pr.pr_number, login="alice")
    blocked(world, pr, Reason.PR_NOT_OPEN, payload=payload)


def test_the_branch_reset_to_iacbots_own_older_commit_with_green_checks(world):
    """iacbot's first commit had green CI; the default branch moved and iacbot rebuilt its branch
    (a second commit of its own). A person force-pushes the branch back to the first one: every
    commit on it is iacbot's and recorded, authored and committed by the bot, and its checks are
    green, but it is not the commit the standing decision was made about."""
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    green(world, pr)
    world.gh.push_commit(repo, {"README.md": "# infra, moved\n"}, "Move main\n", login="octocat")
    again = world.publish_outcome(repo, pr.fix)
    assert again["status"] == "updated", again
    rebuilt = world.pull(repo, pr.pr_number).head_sha
    assert world.publish_record(repo, pr.pr_number).head_sha == rebuilt  # the standing decision's commit
    world.gh.move_branch(repo, pr.branch, pr.head_sha)  # git push -f origin <first>:<branch>
    pr.base_sha = world.default_head(repo)
    seen = blocked(world, pr, Reason.HEAD_NOT_IACBOT_COMMIT, sha=pr.head_sha)
    assert seen.merge is not None


def test_a_repository_policy_cannot_replace_the_central_required_checks(world):
    """.github/iacbot.yml on main names its own required check (lint, green); the central one
    (test from github-actions) never ran: a repository adds required checks, it cannot swap them."""
    own = "version: 1\nautomerge:\n  required_checks: [{name: lint}]\nrules:\n  - name: all\n    match: {}\n" \
          "    action: automerge\n"
    repo = world.new_repo({**FILES, ".github/iacbot.yml": own})
    pr = world.publish(repo, LOW_RISK)
    world.check(repo, pr.head_sha, "lint", "success")
    blocked(world, pr, Reason.CHECK_MISSING)


# -- what the fix is ---------------------------------------------------------------------------

@pytest.mark.parametrize("case, reason", [
    (IDENTITY, Reason.CATEGORY_IDENTITY),
    (NETWORK, Reason.CATEGORY_NETWORK),
    (SECRET_FIX, Reason.CATEGORY_SECRET),
], ids=["identity", "network", "secret"])
def test_an_identity_network_or_secret_change_among_low_risk_ones(world, case, reason):
    """The fix is low risk (or, for secret, the only secret fixer there is) and its checks are
    green, under a policy that says automerge for everything: the category guardrail holds."""
    repo = world.new_repo(FILES)
    attack = world.publish(repo, case)
    green(world, attack)
    blocked(world, attack, reason)


def test_a_fix_to_a_file_under_github(world):
    """The fix itself is to an IaC file under .github/ (a protected path): never merged on its own."""
    repo = world.new_repo({**FILES, ".github/k8s/runner.yaml": K8S_POD})
    pr = world.publish(repo, Case(LOW_RISK.rule_id, ".github/k8s/runner.yaml", K8S_POD, LOW_RISK.resource))
    green(world, pr)
    blocked(world, pr, Reason.PROTECTED_PATH)


def test_an_assumed_value_fix_under_automerge_for_everything(world):
    repo = world.new_repo(FILES)
    pr = world.publish(repo, ASSUMED)
    green(world, pr)
    blocked(world, pr, Reason.ASSUMED_VALUE)


def test_a_declared_impact_the_matching_rule_does_not_name(world):
    """CKV_AWS_7 (KMS rotation) declares cost; the rule matching it names no impact."""
    world.write_policy(AUTOMERGE_ALL.replace("match: {}", "match: {categories: [encryption]}"))
    repo = world.new_repo(FILES)
    pr = world.publish(repo, COST_IMPACT)
    green(world, pr)
    blocked(world, pr, Reason.IMPACT_NOT_NAMED)


def test_a_pr_body_edited_to_relabel_a_network_fix_as_hardening(world):
    """Anyone with write access can edit the PR body, provenance block included: the labels a
    merge is decided on are iacbot's record of the fix, not the text on the PR."""
    repo = world.new_repo(FILES)
    pr = world.publish(repo, NETWORK)
    with world.gh.world.lock:
        live = world.gh.repo(repo).pulls[pr.pr_number]
        live.body = (live.body or "").replace("network", "hardening")
    green(world, pr)
    blocked(world, pr, Reason.CATEGORY_NETWORK)


# -- checks --------------------------------------------------------------------------------------

def test_an_unsigned_or_forged_webhook_claiming_checks_passed_is_refused(world):
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    payload = world.check_suite_payload(repo, pr.head_sha)
    for secret in (None, "not-the-secret-0123456789"):
        code, answer, delivery = world.deliver("check_suite", payload, secret=secret)
        assert code == 401, (code, answer)
        assert f"{delivery}:merge" not in world.log_text()
    # Nothing was enqueued, and the API agrees: no check has run.
    blocked(world, pr, Reason.CHECK_MISSING)


def test_a_signed_check_suite_for_a_sha_whose_checks_are_not_green_on_the_api(world):
    """The delivery is GitHub's, correctly signed, and says success; the API says the required
    check is failing. The worker must ask the API."""
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    world.check(repo, pr.head_sha, CHECK, "failure")
    blocked(world, pr, Reason.CHECK_NOT_SUCCESSFUL, conclusion="success")


def test_a_signed_check_run_success_for_a_check_that_never_ran(world):
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    blocked(world, pr, Reason.CHECK_MISSING, event="check_run")


def test_checks_green_on_an_older_sha(world):
    """CI passed on iacbot's first commit; then the default branch moved and iacbot rebuilt its
    branch (a new head, iacbot's own): a stale check_suite for the old head names the PR."""
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    green(world, pr)
    world.gh.push_commit(repo, {"README.md": "# infra, moved\n"}, "Move main\n", login="octocat")
    again = world.publish_outcome(repo, pr.fix)
    assert again["status"] == "updated" and again["pr_number"] == pr.pr_number, again
    new_head = world.pull(repo, pr.pr_number).head_sha
    assert new_head != pr.head_sha
    base = world.default_head(repo)
    payload = world.check_suite_payload(repo, pr.head_sha)
    payload["check_suite"]["pull_requests"] = [{
        "url": f"https://api.github.com/repos/{repo}/pulls/{pr.pr_number}", "id": 1, "number": pr.pr_number,
        "head": {"ref": pr.branch, "sha": pr.head_sha, "repo": {"id": 1, "url": "https://api.github.com", "name": "x"}},
        "base": {"ref": "main", "sha": pr.base_sha, "repo": {"id": 1, "url": "https://api.github.com", "name": "x"}}}]
    started = time.time()
    code, answer, delivery = world.deliver("check_suite", payload)
    assert code == 202, answer
    seen = world.considered(repo, pr.pr_number, world.task_result(f"{delivery}:merge"), started)
    assert seen.merge is not None, seen  # the PR the event named was decided again, on its head NOW
    assert seen.merge.decision.action is not Action.AUTOMERGE
    assert Reason.CHECK_MISSING in seen.reasons, seen.merge.decision
    world.assert_not_merged(pr, base_before=base)
    assert world.merge_calls(repo) == []
    # And an honest check_suite for the NEW head (CI has not run on it): still missing.
    seen = world.consider(pr, new_head)
    assert Reason.CHECK_MISSING in seen.reasons and seen.record.decision.action is not Action.AUTOMERGE
    world.assert_not_merged(pr, base_before=base)


@pytest.mark.parametrize("conclusion", ["neutral", "skipped"])
def test_a_required_check_neutral_or_skipped(world, conclusion):
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    world.check(repo, pr.head_sha, CHECK, conclusion)
    blocked(world, pr, Reason.CHECK_NOT_SUCCESSFUL)


def test_a_required_check_missing_while_another_is_green(world):
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    world.check(repo, pr.head_sha, "lint", "success")
    blocked(world, pr, Reason.CHECK_MISSING)


def test_a_required_check_still_pending(world):
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    world.check(repo, pr.head_sha, CHECK, None, status="in_progress")
    blocked(world, pr, Reason.CHECK_PENDING)


def test_a_required_check_posted_by_the_wrong_app(world):
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    world.check(repo, pr.head_sha, CHECK, "success", app="evil-ci")
    blocked(world, pr, Reason.CHECK_WRONG_APP)


def test_a_success_status_posted_by_a_user_for_a_check_that_names_an_app(world):
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    world.status(repo, pr.head_sha, CHECK, "success", login="mallory")
    blocked(world, pr, Reason.CHECK_WRONG_APP, event="status")


# -- when ----------------------------------------------------------------------------------------

def test_head_moved_between_the_decision_and_the_merge(world):
    """The decision is AUTOMERGE on iacbot's head; while the merge call is on its way a person
    pushes to the branch. The call is pinned to the decided sha: 409, and no merge."""
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    green(world, pr)
    world.gh.inject_fault("PUT", rf"/repos/{re.escape(repo)}/pulls/{pr.pr_number}/merge$", 0, delay=3)
    started = time.time()
    delivery = world.checks_completed(repo, pr.head_sha)
    world.wait(lambda: world.gh.faults_served, "the merge call to reach the double")
    moved = world.human_commit(repo, pr.branch, {"k8s/web.yaml": make_text(pr) + "# late push\n"})
    seen = world.considered(repo, pr.pr_number, world.task_result(f"{delivery}:merge"), started)
    world.assert_not_merged(pr)
    assert len(world.merge_calls(repo)) == 1  # never retried with the old decision
    assert seen.outcome == "decide-again", seen
    refused = (seen.merge.facts or {}).get("merge") or {}
    print(f"[{seen.outcome}] merge call answered {refused}")
    assert refused.get("http_status") == 409, (refused, seen.merge.decision)
    # The fresh decision, on the new head: a person's commit.
    green(world, pr, moved)
    seen = world.consider(pr, moved)
    assert seen.record.decision.action is not Action.AUTOMERGE
    assert Reason.FOREIGN_AUTHOR in seen.reasons, seen.record.decision
    world.assert_not_merged(pr)
    assert len(world.merge_calls(repo)) == 1


def window_policy(start: datetime, end: datetime) -> str:
    days = "[mon, tue, wed, thu, fri, sat, sun]"
    return AUTOMERGE_ALL.replace(
        "  max_per_hour: 5\n",
        f"  max_per_hour: 5\n  window: {{days: {days}, hours: \"{start:%H:%M}-{end:%H:%M}\", timezone: UTC}}\n")


def test_an_expired_change_window(world):
    """The window is open when the fix is published (decided in-window) and closes before the
    checks complete: the merge decision is made again, outside it."""
    now = datetime.now(timezone.utc)
    if now.second > 45 or (now.hour, now.minute) in ((23, 58), (23, 59)):  # leave the publish its minute
        time.sleep(61 - now.second)
        now = datetime.now(timezone.utc)
    start, end = now.replace(second=0, microsecond=0), now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    world.write_policy(window_policy(start, end))
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    published = world.publish_record(repo, pr.pr_number)
    assert published.decision.action is Action.AUTOMERGE, (
        "the publish decision was not AUTOMERGE in the window: the test did not set up what it meant to",
        published.decision)
    green(world, pr)
    world.wait(lambda: datetime.now(timezone.utc) >= end + timedelta(seconds=1), "the window to close", 75)
    seen = blocked(world, pr, Reason.OUTSIDE_WINDOW)
    assert seen.merge is not None  # decided again at merge time, not only at publish


def test_a_kill_switch_turned_on_while_a_merge_is_in_flight(world):
    """The merge task is gathering facts (the double holds its request for the PR's commits); the
    operator flips the global switch; the request is released: no merge."""
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    green(world, pr)
    world.gh.inject_fault("GET", rf"/repos/{re.escape(repo)}/pulls/{pr.pr_number}/commits$", 0, delay=3)
    started = time.time()
    delivery = world.checks_completed(repo, pr.head_sha)
    world.wait(lambda: world.gh.faults_served, "the merge task to ask for the PR's commits")
    switches.set_global(world.r, True)
    seen = world.considered(repo, pr.pr_number, world.task_result(f"{delivery}:merge"), started)
    print(f"[{seen.outcome}] " + ", ".join(sorted(r.value for r in seen.reasons)))
    assert seen.merge is not None and Reason.KILL_SWITCH_GLOBAL in seen.reasons, seen
    assert seen.merge.decision.action is not Action.AUTOMERGE
    world.assert_not_merged(pr)
    assert world.merge_calls(repo) == []


def test_the_repository_kill_switch(world):
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)
    green(world, pr)
    switches.set_repo(world.r, repo, True)
    try:
        blocked(world, pr, Reason.KILL_SWITCH_REPOSITORY)
    finally:
        switches.set_repo(world.r, repo, False)


def test_the_hourly_limit(world):
    """At most one automatic merge an hour: the first merges, the second is refused."""
    world.write_policy(AUTOMERGE_ALL.replace("max_per_hour: 5", "max_per_hour: 1"))
    repo = world.new_repo({**FILES, "k8s/api.yaml": K8S_POD.replace("name: web", "name: api")})
    first = world.publish(repo, LOW_RISK)
    second = world.publish(repo, Case("CKV_K8S_20", "k8s/api.yaml", K8S_POD.replace("name: web", "name: api"),
                                      "Pod.shop.api"))
    green(world, first)
    assert world.consider(first).outcome == "merged"
    assert world.merged_pulls(repo) == [first.pr_number]
    base = world.default_head(repo)
    green(world, second)
    seen = world.consider(second)
    print(f"[{seen.outcome}] " + ", ".join(sorted(r.value for r in seen.reasons)))
    assert seen.merge is not None and Reason.HOURLY_LIMIT in seen.reasons, seen
    assert seen.merge.decision.action is not Action.AUTOMERGE
    pr = world.pull(repo, second.pr_number)
    assert pr.merged_at is None and world.default_head(repo) == base
    assert world.merged_pulls(repo) == [first.pr_number] and len(world.merge_calls(repo)) == 1


# -- the policy itself -----------------------------------------------------------------------------

def action_required(world: Harness, repo: str):
    return [i for i in world.issues(repo, "open") if "Action required" in i["title"]]


#: An action no policy knows, on line 8 (column 13): the whole file is refused, not the rule alone.
MALFORMED = AUTOMERGE_ALL.replace("action: automerge", "action: merge-everything")


def fails_closed(world: Harness) -> tuple[Considered, object]:
    """With the policy as it is now: the fix still gets its PR, nothing merges though its check is
    green, and the repository has one open "Action required" issue; (consideration, issue)."""
    repo = world.new_repo(FILES)
    pr = world.publish(repo, LOW_RISK)  # the PR still opens
    assert world.pull(repo, pr.pr_number).state == "open"
    green(world, pr)
    seen = world.consider(pr)
    assert seen.record.decision.action is Action.PULL_REQUEST, seen.record.decision
    world.assert_not_merged(pr)
    assert world.merge_calls(repo) == []
    issues = world.wait(lambda: action_required(world, repo), "the Action required issue")
    assert len(issues) == 1, [i["title"] for i in issues]
    print(f"[{seen.outcome}] " + ", ".join(sorted(f"{b.reason.value} ({b.subject})" for b in seen.record.decision.reasons)))
    return seen, issues[0]


def test_a_malformed_policy_fails_closed(world):
    world.write_policy(MALFORMED)
    seen, issue = fails_closed(world)
    assert Reason.POLICY_INVALID in seen.reasons, seen.record.decision
    assert re.search(r"central-policy\.yml:8:13", issue["body"] or ""), issue["body"]  # the line of the error


def test_a_missing_policy_fails_closed(world):
    """IACBOT_POLICY_FILE names a file that is not there."""
    world.write_policy(None)
    seen, issue = fails_closed(world)
    assert seen.reasons & {Reason.POLICY_MISSING, Reason.POLICY_INVALID}, seen.record.decision
    assert "central-policy.yml" in (issue["body"] or "") and "not exist" in (issue["body"] or ""), issue["body"]


# -- helpers -----------------------------------------------------------------------------------

def make_text(pr) -> str:
    return pr.fix.new_text
