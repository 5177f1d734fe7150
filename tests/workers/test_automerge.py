"""consider_merge end to end: a REAL Celery worker (queue publish), the real Redis and the GitHub
double (every exchange checked against GitHub's OpenAPI), a central policy file that auto-merges
low-risk hardening once check ``test`` from App ``ci`` is green.

* pending: no merge; green on the head SHA: merged once, pinned to that SHA, recorded, counted;
* the head moves while the merge call is held: GitHub's 409, no merge of the moved head, and the
  next decision blocks it (a person's commit);
* the kill switch turned on while a merge is in flight (between the decision and the PUT): no PUT;
* the hourly limit: the second of two green PRs waits (HOURLY_LIMIT);
* one merge at a time per base: with two workers, the second PR is MERGE_IN_PROGRESS while the
  first's merge call is held, and merges after it;
* the sweep catches a missed check event.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from datetime import time as time_of_day

import pytest
from fastapi.testclient import TestClient

from bot.service.app import create_app
from bot.service.settings import Settings
from bot.settings import CommonSettings
from policies.reasons import Reason
from tests.celery_worker import celery_worker, wait_for
from tests.github_double import GitHubDouble, webhooks
from tests.service.conftest import TEST_REDIS_URL, redis_db  # noqa: F401  (fixture)
from tests.workers.merge_harness import APP_ID, INSTALL_PERMISSIONS, PATHS, REPO_NAME, Stage, repo_files
from workers import automerge, decision_store, merge_lock, sweep, switches
from workers.celery_app import make_celery
from workers.publish import AUTOMERGE_LABEL

HELD = 3.0  # seconds the double holds a request while a test changes the world under it


@pytest.fixture
def gh(private_key, redis_db):  # noqa: F811  (redis_db first: the broker db is empty before a worker starts)
    with GitHubDouble() as double:
        double.create_repo(REPO_NAME, files=repo_files())
        double.install_app(APP_ID, private_key.read_text(), repos=[REPO_NAME], permissions=INSTALL_PERMISSIONS)
        double.api = _reader(double, private_key)
        yield double
        assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


def _reader(double, private_key):
    from github import Auth, Github

    from bot.github.auth import installation_token
    token = installation_token(APP_ID, private_key.read_text(), double.installation_for(REPO_NAME).id, REPO_NAME,
                               {"contents": "read"}, double.base_url)
    double.reader_token = token.value
    return Github(base_url=double.base_url, auth=Auth.Token(token.value), seconds_between_requests=0,
                  seconds_between_writes=0).get_repo(REPO_NAME)


@pytest.fixture
def stage(gh, redis_db, private_key, tmp_path):  # noqa: F811
    return Stage(gh, redis_db, private_key, tmp_path)


@pytest.fixture
def celery():
    return make_celery(CommonSettings(redis_url=TEST_REDIS_URL))


def outcome_of(result, number: int, timeout: float = 60) -> dict:
    done = result.get(timeout=timeout)
    return next(p for p in done["pulls"] if p["pr_number"] == number)


def test_a_low_risk_fix_merges_once_its_required_check_is_green_on_the_head_and_not_before(
        stage, gh, celery, tmp_path):
    pr = stage.publish()
    assert stage.record(pr, decision_store.PUBLISH).decision.action.value == "automerge"
    log = tmp_path / "worker.log"
    with celery_worker("publish", stage.worker_env(), log, "merge"):
        stage.check(pr, status="in_progress")
        waiting = outcome_of(stage.send(celery, pr.number), pr.number)
        assert waiting["outcome"] == automerge.DECIDED and "check-pending" in stage.reasons(pr), waiting
        assert stage.merge_calls() == [] and stage.merged() == []

        stage.green(pr)
        merged = outcome_of(stage.send(celery, pr.number), pr.number)
        assert merged["outcome"] == automerge.MERGED, merged
        assert merged["merge"]["pinned_sha"] == pr.head_sha
        assert stage.merged() == [pr.number] and len(stage.merge_calls()) == 1
        assert decision_store.merges_since(stage.r, REPO_NAME, time.time() - 60) == 1

        # The same event again (a redelivery, the sweep): nothing more is merged or counted.
        again = outcome_of(stage.send(celery, pr.number), pr.number)
        assert again["outcome"] == automerge.DECIDED and "pr-not-open" in stage.reasons(pr), again
        assert len(stage.merge_calls()) == 1
        assert decision_store.merges_since(stage.r, REPO_NAME, time.time() - 60) == 1
    assert gh.unrevoked_tokens(keep=(gh.reader_token,)) == []


def test_published_by_publish_job_and_merged_by_consider_merge_on_the_same_worker(stage, gh, celery, tmp_path):
    log = tmp_path / "worker.log"
    with celery_worker("publish", stage.worker_env(), log, "publish-merge"):
        pr = stage.publish_on_worker(celery)
        assert stage.record(pr, decision_store.PUBLISH).decision.action.value == "automerge"
        assert AUTOMERGE_LABEL in gh.repo(REPO_NAME).pulls[pr.number].labels
        stage.green(pr)
        merged = outcome_of(stage.send(celery, pr.number), pr.number)
    assert merged["outcome"] == automerge.MERGED and stage.merged() == [pr.number], merged


def test_a_check_event_without_pr_numbers_finds_the_pr_by_its_head_sha(stage, gh, celery, tmp_path):
    pr = stage.publish()
    stage.green(pr)
    with celery_worker("publish", stage.worker_env(), tmp_path / "worker.log", "by-sha"):
        merged = outcome_of(stage.send(celery, head_sha=pr.head_sha), pr.number)
    assert merged["outcome"] == automerge.MERGED and stage.merged() == [pr.number]


def test_the_head_moving_between_decision_and_merge_is_a_409_and_the_moved_head_is_never_merged(
        stage, gh, celery, tmp_path):
    pr = stage.publish()
    stage.green(pr)
    gh.inject_fault("PUT", rf"/pulls/{pr.number}/merge$", 0, delay=HELD)  # the merge call is held ...
    log = tmp_path / "worker.log"
    with celery_worker("publish", stage.worker_env(), log, "moved"):
        result = stage.send(celery, pr.number)
        wait_for(lambda: gh.faults_served, 30, "the merge call to be held", log)
        # ... while a person pushes to iacbot's branch (and their commit gets a green check too).
        _, moved = gh.push_commit(REPO_NAME, {"envs/dev/web.yaml": "kind: Pod\n"}, "tweak\n", branch=pr.branch,
                                  login="mallory")
        stage.green(moved)
        refused = outcome_of(result, pr.number)
        assert refused["outcome"] == automerge.DECIDE_AGAIN and refused["merge"]["http_status"] == 409, refused
        assert stage.merged() == []
        # Decided again at once on the facts as they are now (stored), never merged in that run.
        assert "head-not-iacbot-commit" in stage.reasons(pr), stage.reasons(pr)

        # The fresh decision: the head is a person's commit now.
        fresh = outcome_of(stage.send(celery, pr.number), pr.number)
    assert fresh["outcome"] == automerge.DECIDED, fresh
    assert {"head-not-iacbot-commit", "commit-not-recorded"} & stage.reasons(pr), stage.reasons(pr)
    assert stage.merged() == [] and len(stage.merge_calls()) == 1


def test_a_pr_branch_protection_blocks_is_not_mergeable_and_costs_no_merge_call(stage, gh):
    pr = stage.publish()
    stage.green(pr)
    gh.protect_branch(REPO_NAME, "main", required_approvals=1)  # GitHub: mergeable, but blocked for a review
    for _ in range(2):   # every check event or sweep: decided again, and no PUT GitHub would refuse
        [blocked] = stage.consider(pr.number)
        assert blocked.outcome == automerge.DECIDED, blocked
        assert "not-mergeable" in stage.reasons(pr), stage.reasons(pr)
    assert stage.merged() == [] and stage.merge_calls() == []


def test_a_405_is_decided_again_and_not_retried_on_the_old_decision(stage, gh):
    pr = stage.publish()
    stage.green(pr)
    # GitHub says clean when asked, and refuses the call itself (as when protection changes between).
    gh.inject_fault("PUT", rf"/pulls/{pr.number}/merge$", 405)
    [refused] = stage.consider(pr.number)
    assert refused.outcome == automerge.DECIDE_AGAIN and refused.merge["http_status"] == 405, refused
    assert stage.merged() == [] and len(stage.merge_calls()) == 1
    assert stage.record(pr).facts["merge"]["outcome"] == "not-mergeable"


def test_a_kill_switch_turned_on_while_a_merge_is_in_flight_stops_it_before_the_put(stage, gh, celery, tmp_path):
    pr = stage.publish()
    stage.green(pr)
    # The checks are read after the switches: hold that read, and turn the switch on meanwhile.
    gh.inject_fault("GET", rf"/commits/{pr.head_sha}/check-runs$", 0, delay=HELD)
    log = tmp_path / "worker.log"
    with celery_worker("publish", stage.worker_env(), log, "switch"):
        result = stage.send(celery, pr.number)
        wait_for(lambda: gh.faults_served, 30, "the check read to be held", log)
        switches.set_global(stage.r, True)
        stopped = outcome_of(result, pr.number)
        assert stopped["outcome"] == automerge.STOPPED, stopped
        assert "kill-switch-global" in stage.reasons(pr)
        assert stage.merge_calls() == [] and stage.merged() == []

        switches.set_global(stage.r, False)
        merged = outcome_of(stage.send(celery, pr.number), pr.number)
    assert merged["outcome"] == automerge.MERGED and stage.merged() == [pr.number]


def test_a_merge_whose_answer_was_lost_is_counted_once_and_not_sent_again(stage, gh, celery, tmp_path):
    pr = stage.publish()
    stage.green(pr)
    gh.inject_fault("PUT", rf"/pulls/{pr.number}/merge$", 502, after_handling=True)  # merged; the answer lost
    with celery_worker("publish", stage.worker_env(), tmp_path / "worker.log", "lost"):
        done = outcome_of(stage.send(celery, pr.number), pr.number)  # the task's retry
    assert done["outcome"] == automerge.ALREADY_MERGED, done
    assert stage.merged() == [pr.number] and len(stage.merge_calls()) == 1
    assert decision_store.merges_since(stage.r, REPO_NAME, time.time() - 60) == 1


def test_the_repository_kill_switch_blocks_the_decision(stage, gh):
    pr = stage.publish()
    stage.green(pr)
    switches.set_repo(stage.r, REPO_NAME, True)
    [considered] = stage.consider(pr.number)
    assert considered.outcome == automerge.DECIDED and "kill-switch-repository" in stage.reasons(pr)
    assert stage.merge_calls() == []


def test_the_hourly_limit_holds_the_next_merge(gh, redis_db, private_key, tmp_path, celery):  # noqa: F811
    stage = Stage(gh, redis_db, private_key, tmp_path, max_per_hour=1)
    first, second = stage.publish(PATHS[0]), stage.publish(PATHS[1])
    stage.green(first)
    stage.green(second)
    with celery_worker("publish", stage.worker_env(), tmp_path / "worker.log", "hourly"):
        done = stage.send(celery, first.number, second.number).get(timeout=60)
    outcomes = {p["pr_number"]: p["outcome"] for p in done["pulls"]}
    assert outcomes == {first.number: automerge.MERGED, second.number: automerge.DECIDED}, done
    assert "hourly-limit" in stage.reasons(second)
    assert stage.merged() == [first.number]


def test_one_merge_at_a_time_per_base_branch(stage, gh, celery, tmp_path):
    first, second = stage.publish(PATHS[0]), stage.publish(PATHS[1])
    stage.green(first)
    stage.green(second)
    gh.inject_fault("PUT", rf"/pulls/{first.number}/merge$", 0, delay=HELD)
    env = stage.worker_env(IACBOT_VISIBILITY_TIMEOUT_SECONDS="6")  # lock TTL and the busy retry's countdown
    with celery_worker("publish", env, tmp_path / "a.log", "merge-a"), \
            celery_worker("publish", env, tmp_path / "b.log", "merge-b"):
        one = stage.send(celery, first.number)
        wait_for(lambda: gh.faults_served, 30, "the first merge call to be held", tmp_path / "a.log")
        two = stage.send(celery, second.number)
        busy = wait_for(lambda: "merge-in-progress" in stage.reasons(second), 30, "the second PR to wait")
        assert busy and stage.merged() == []
        assert outcome_of(one, first.number)["outcome"] == automerge.MERGED
        assert outcome_of(two, second.number)["outcome"] == automerge.MERGED  # after a retry
    assert stage.merged() == [first.number, second.number]
    assert len(stage.merge_calls()) == 2


def test_a_merge_lock_held_elsewhere_makes_the_decision_merge_in_progress(stage, gh):
    pr = stage.publish()
    stage.green(pr)
    with merge_lock.merge_lock(stage.r, REPO_NAME, "main", ttl=10, wait=0.1, owner="another-task"):
        [considered] = stage.consider(pr.number)
    assert considered.outcome == automerge.BUSY and "merge-in-progress" in stage.reasons(pr)
    assert stage.merge_calls() == []


def test_the_sweep_decides_again_a_pr_whose_check_event_was_missed(stage, gh, celery, tmp_path):
    pr = stage.publish()
    stage.green(pr)  # ... and no check event reaches iacbot
    log = tmp_path / "worker.log"
    with celery_worker("publish", stage.worker_env(), log, "sweep"):
        sent = sweep.sweep(stage.r, 600)
        assert [j["pull_request_numbers"] for j in sent] == [[pr.number]]
        assert sweep.sweep(stage.r, 600) == []  # the same interval: nothing twice
        wait_for(lambda: stage.merged() == [pr.number], 60, "the swept PR to merge", log)
    assert sweep.open_candidates(stage.r) == {}  # merged: nothing left to sweep


def test_a_pr_that_is_not_a_candidate_costs_no_token(stage, gh):
    gh.reset_traffic()
    assert [c.outcome for c in stage.consider(4242)] == [automerge.NOT_CANDIDATE]
    assert gh.requests == []


def test_blocking_reasons_are_commented_once_and_again_only_when_they_change(stage, gh):
    pr = stage.publish()
    stage.check(pr, conclusion="failure")
    [first] = stage.consider(pr.number)
    [second] = stage.consider(pr.number)
    assert first.noted and not second.noted
    stage.check(pr, name="test", conclusion="timed_out")
    [third] = stage.consider(pr.number)
    comments = gh.requests_matching("POST", rf"/issues/{pr.number}/comments$")
    assert len(comments) == 1 + int(third.noted)


def test_jobs_that_are_not_checks_completed_jobs_are_refused():
    good = {"kind": "checks_completed", "event": "check_suite", "repository": "octo/shop", "installation_id": 1,
            "head_sha": "a" * 40}
    for job in (None, {}, {**good, "kind": "scan_push"}, {**good, "repository": "../x"},
                {**good, "installation_id": "1"}, {**good, "head_sha": "zz"},
                {**good, "pull_request_numbers": list(range(1, 52))}, {**good, "pull_request_numbers": [True]}):
        with pytest.raises(ValueError):
            automerge.validate_job(job)
    job = automerge.validate_job({**good, "pull_request_numbers": [3, 3, 0, 5]})
    assert job["pull_request_numbers"] == [3, 5]


STATUS_POLICY = """version: 1
automerge:
  required_checks: [{name: ci/test}]
rules:
  - name: low-risk-hardening
    match: {categories: [hardening], risk: [low], confidence: [safe-default]}
    action: automerge
"""
SECRET = "merge-tests-webhook-secret-0123456789"


def status_delivery(gh, sha: str, state: str, context: str) -> tuple[dict, bytes]:
    """GitHub's recorded ``status`` payload, re-pointed at the double's repository and ``sha``."""
    payload, _ = webhooks._common(gh, webhooks.example("status", "with-installation.payload.json"), REPO_NAME)
    payload.update(sha=sha, state=state, context=context, branches=[])
    payload["commit"] = {**payload["commit"], "sha": sha}
    return webhooks.signed("status", payload, SECRET)


def test_a_signed_status_event_through_the_receiver_merges_the_pr_it_names_by_sha(
        gh, redis_db, private_key, tmp_path):  # noqa: F811
    stage = Stage(gh, redis_db, private_key, tmp_path)
    stage.policy(STATUS_POLICY)
    pr = stage.publish()
    receiver = TestClient(create_app(Settings(webhook_secret=SECRET, redis_url=TEST_REDIS_URL)))
    log = tmp_path / "worker.log"
    with celery_worker("remediate,publish", stage.worker_env(), log, "status"):
        # Another context finished while ci/test still runs: decided, and not merged.
        gh.add_status(REPO_NAME, pr.head_sha, "pending", "ci/test")
        gh.add_status(REPO_NAME, pr.head_sha, "success", "ci/lint")
        headers, body = status_delivery(gh, pr.head_sha, "success", "ci/lint")
        assert receiver.post("/webhooks/github", content=body, headers=headers).status_code == 202
        wait_for(lambda: "check-pending" in stage.reasons(pr), 60, "the pending decision", log)
        assert stage.merged() == []

        gh.add_status(REPO_NAME, pr.head_sha, "success", "ci/test")
        headers, body = status_delivery(gh, pr.head_sha, "success", "ci/test")
        assert receiver.post("/webhooks/github", content=body, headers=headers).status_code == 202
        wait_for(lambda: stage.merged() == [pr.number], 60, "the merge", log)
    assert len(stage.merge_calls()) == 1


def test_a_forged_status_event_merges_nothing(gh, redis_db, private_key, tmp_path):  # noqa: F811
    stage = Stage(gh, redis_db, private_key, tmp_path)
    stage.policy(STATUS_POLICY)
    pr = stage.publish()
    receiver = TestClient(create_app(Settings(webhook_secret=SECRET, redis_url=TEST_REDIS_URL)))
    with celery_worker("remediate,publish", stage.worker_env(), tmp_path / "worker.log", "forged"):
        # Signed correctly but claiming a success GitHub never recorded: the checks are read again.
        headers, body = status_delivery(gh, pr.head_sha, "success", "ci/test")
        assert receiver.post("/webhooks/github", content=body, headers=headers).status_code == 202
        wait_for(lambda: "check-missing" in stage.reasons(pr), 60, "the decision", tmp_path / "worker.log")
        # Not signed with the App's secret: refused at the door.
        headers["X-Hub-Signature-256"] = webhooks.sign("not-the-secret", body)
        headers["X-GitHub-Delivery"] = "forged-1"
        assert receiver.post("/webhooks/github", content=body, headers=headers).status_code == 401
    assert stage.merged() == [] and stage.merge_calls() == []


def test_the_app_manifest_grants_what_the_merge_token_asks_for():
    import json

    from tests.paths import REPO
    granted = json.loads((REPO / "deploy" / "github-app-manifest.json").read_text())["default_permissions"]
    levels = {"read": 1, "write": 2}
    for scope, level in automerge.MERGE_PERMISSIONS.items():
        assert scope in granted and levels[granted[scope]] >= levels[level], (scope, level)


WINDOW_POLICY = """version: 1
automerge:
  required_checks: [{name: test, app: ci}]
  window: {days: [mon, tue, wed, thu, fri, sat, sun], hours: "03:00-04:00", timezone: UTC}
rules:
  - name: low-risk-hardening
    match: {categories: [hardening], risk: [low], confidence: [safe-default]}
    action: automerge
"""


def test_a_pr_published_outside_the_window_merges_inside_it_and_not_outside(gh, redis_db, private_key, tmp_path):  # noqa: F811
    stage = Stage(gh, redis_db, private_key, tmp_path)
    stage.policy(WINDOW_POLICY)
    now = datetime.now(timezone.utc)
    if time_of_day(3) <= now.time() < time_of_day(4):
        pytest.skip("this test needs to run outside 03:00-04:00 UTC")
    pr = stage.publish()
    published = stage.record(pr, decision_store.PUBLISH).decision
    assert published.action.value == "pull_request" and published.has(Reason.OUTSIDE_WINDOW)
    assert automerge.is_candidate(stage.record(pr, decision_store.PUBLISH))
    stage.green(pr)
    [outside] = stage.consider(pr.number)
    assert outside.outcome == automerge.DECIDED and "outside-window" in stage.reasons(pr)
    inside = datetime.combine(now.date(), time_of_day(3, 30), timezone.utc).timestamp()
    [merged] = stage.consider(pr.number, clock=lambda: inside)
    assert merged.outcome == automerge.MERGED and stage.merged() == [pr.number]


def _record(decision, stage=decision_store.PUBLISH, pr=7, head="a" * 40, facts=None):
    from policies.facts import FixFacts
    fix = FixFacts("fp", REPO_NAME, ("CKV_K8S_20",), "k8s.allow-privilege-escalation", None, None, None)
    return decision_store.DecisionRecord(REPO_NAME, 1, "fp", "job", stage, fix, decision, 1.0, pr, head, "main",
                                         facts or {})


def test_which_publish_decisions_make_a_candidate():
    from policies.decision import Because, Decision
    from policies.reasons import Action
    rule = Because(Reason.RULE_MATCHED, "low-risk")
    automerge_ = Decision(Action.AUTOMERGE, (rule,))
    window = Decision(Action.PULL_REQUEST, (rule, Because(Reason.OUTSIDE_WINDOW, "mon 09:00-17:00")))
    switch_and_network = Decision(Action.PULL_REQUEST, (rule, Because(Reason.KILL_SWITCH_GLOBAL),
                                                        Because(Reason.CATEGORY_NETWORK, "network")))
    review = Decision(Action.PULL_REQUEST, (Because(Reason.RULE_MATCHED, "review-all"),))
    assert automerge.is_candidate(_record(automerge_)) and automerge.is_candidate(_record(window))
    assert not automerge.is_candidate(_record(switch_and_network))  # the fix itself never merges alone
    assert not automerge.is_candidate(_record(review))
    assert not automerge.is_candidate(_record(automerge_, head=None))    # no commit iacbot made
    assert not automerge.is_candidate(_record(automerge_, pr=None))
    assert not automerge.is_candidate(_record(automerge_, stage=decision_store.MERGE))
    assert not automerge.is_candidate(None)


def test_only_what_passes_within_seconds_is_decided_again_shortly():
    from policies.decision import Because, Decision
    from policies.reasons import Action
    rule = Because(Reason.RULE_MATCHED, "low-risk")
    busy = Decision(Action.PULL_REQUEST, (rule, Because(Reason.MERGE_IN_PROGRESS, "main"),
                                          Because(Reason.NOT_MERGEABLE, "unknown")))
    also_pending = Decision(Action.PULL_REQUEST, busy.reasons + (Because(Reason.CHECK_PENDING, "test"),))
    conflict = Decision(Action.PULL_REQUEST, (rule, Because(Reason.NOT_MERGEABLE, "false")))
    assert automerge.soon(busy)
    assert not automerge.soon(also_pending) and not automerge.soon(conflict)
    assert not automerge.soon(Decision(Action.AUTOMERGE, (rule,)))
