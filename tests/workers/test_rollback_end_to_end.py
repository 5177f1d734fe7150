"""Rollback end to end (issue 9, parts 3 and 4) on REAL parts: the GitHub double, the real Redis,
real Celery workers (the main environment's on remediate+publish, which re-scans with its own
checkov process; the scanner environment's on scan), the receiver taking GitHub's signed webhooks
(pull_request closed, check_run, check_suite, in GitHub's recorded payload shapes) and a central
policy file.

Each fix is published by publish_job as iacbot, merged by a person on the double (a real merge
commit), and the signed ``pull_request`` "closed" goes through the receiver:

(i)   a merged fix whose finding is still there gets a revert PR within 60 s of the signal;
(ii)  a merged fix that turns a passing check red (green on the parent, red on the merge commit,
      delivered as check_run / check_suite webhooks) gets a revert PR;
(iii) a merged fix that worked is marked verified, and no revert opens;
(iv)  the daily cap and the opt-out marker hold;
(v)   a worker SIGKILLed in the middle of the revert (a GitHub call held) and a fresh one: exactly
      one revert PR;
(vi)  a fix whose lines someone changed since gets an issue explaining what to revert, not a guess.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import signal
import time

import pytest

from bot.attest import keys
from bot.attest.verify import envelope_from_pr_body, verify_envelope
from jobs.branches import revert_branch_name
from tests.celery_worker import celery_worker
from tests.github_double.webhooks import check_run_delivery, check_suite_delivery, pull_request_closed_delivery
from tests.workers.redteam_harness import (
    CHECK,
    CI_APP,
    K8S_POD,
    LOW_RISK,
    SECRET,
    Case,
    Harness,
    harness,
    make_fix,
    worker_env,
)
from workers import declined, merge_watch
from tests.service.conftest import TEST_REDIS_URL
from workers.audit_log import LOG_KEY

VISIBILITY = 3  # seconds: how soon the broker hands a dead worker's task to another (test v)

REVIEW_ALL = f"""\
version: 1
automerge:
  required_checks: [{{name: {CHECK}, app: {CI_APP}}}]
rules:
  - name: review
    match: {{}}
    action: pull_request
"""
CAP_ONE = REVIEW_ALL.replace("rules:", "rollback: {max_reverts_per_day: 1}\nrules:")

#: The same Pod under another name, for a second fix in one repository.
API_POD = K8S_POD.replace("name: web", "name: api")
API = Case("CKV_K8S_20", "k8s/api.yaml", API_POD, "Pod.shop.api")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rollback-e2e")
    private, public = keys.keygen(tmp / "keys")
    with harness(tmp, scan=True, IACBOT_SIGNING_KEY_FILE=str(private),
                 IACBOT_VISIBILITY_TIMEOUT_SECONDS=str(VISIBILITY)) as w:
        w.write_policy(REVIEW_ALL)
        w.public_key = keys.load_public_key(public)
        w.signing_key_file = private
        yield w


# -- staging --------------------------------------------------------------------------------------

def not_working(case: Case = LOW_RISK):
    """A "fix" whose change leaves the finding as it is (a comment): merged, the re-scan still fails."""
    fix = make_fix(case)
    return dataclasses.replace(fix, new_text=case.source + "# hardened, supposedly\n")


def new_repo(world: Harness, *cases: Case) -> str:
    repo = world.new_repo({c.path: c.source for c in cases or (LOW_RISK,)})
    world.gh.add_collaborators(repo, "alice", "bob")
    return repo


def publish_and_merge(world: Harness, repo: str, fix, *, parent_check: str | None = "success",
                      body_extra: str = "") -> tuple[int, str, str, float]:
    """publish_job opens iacbot's PR; CI is green on the default branch's head (the parent); bob
    reviews, alice (optionally) edits the body, then merges; GitHub's signed pull_request "closed"
    goes through the receiver. (PR number, merge sha, parent sha, when the webhook was delivered)."""
    published = world.publish(repo, fix)
    number = published.pr_number
    parent = world.default_head(repo)
    if parent_check:
        world.check(repo, parent, CHECK, parent_check)
    world.gh.add_review(repo, number, "bob", state="COMMENTED")
    if body_extra:
        body = world.pull(repo, number).body or ""
        world.gh.edit_issue(repo, number, body=body + body_extra, login="alice")
    world.gh.close_pull(repo, number, merged=True, login="alice")
    merge_sha = world.pull(repo, number).merge_commit_sha
    headers, body = pull_request_closed_delivery(world.gh, repo, number, SECRET)
    delivered = time.monotonic()
    answer = world.receiver.post("/webhooks/github", content=body, headers=headers)
    assert answer.status_code == 202 and answer.json()["status"] == "queued", answer.text
    return number, merge_sha, parent, delivered


def watch(world: Harness, repo: str, merge_sha: str) -> dict | None:
    return merge_watch.load(world.r, repo, merge_sha)


def settled(world: Harness, repo: str, merge_sha: str, timeout: float = 90) -> dict:
    return world.wait(lambda: (lambda w: w if w and w["state"] in merge_watch.FINAL_STATES else None)(
        watch(world, repo, merge_sha)), f"the watch on {merge_sha[:12]} to end", timeout)


def reverts(world: Harness, repo: str, number: int) -> list:
    with world.gh.world.lock:
        return [p for p in world.gh.repo(repo).pulls.values() if p.head_ref == revert_branch_name(number)]


def file_at(world: Harness, repo: str, sha: str, path: str) -> str | None:
    with world.gh.world.lock:
        objects = world.gh.repo(repo).objects
        entry = objects.flatten(objects.commit(sha).tree).get(path)
        return objects.get(entry[1], "blob").decode() if entry else None


def audit_events(world: Harness, repo: str) -> list[dict]:
    entries = [json.loads(e) for e in world.r.lrange(LOG_KEY, 0, -1)]
    return [e for e in entries if e.get("repository") == repo]


def deliver_check(world: Harness, repo: str, sha: str, conclusion: str, event: str = "check_run") -> str:
    """CI reports on ``sha`` (a run in the double, as GitHub keeps it) and GitHub's signed webhook
    for it goes through the receiver; the delivery id."""
    run_id = world.check(repo, sha, CHECK, conclusion)
    if event == "check_run":
        headers, body = check_run_delivery(world.gh, repo, run_id, SECRET)
    else:
        with world.gh.world.lock:
            suite_id = world.gh.repo(repo).check_runs[run_id].suite_id
        headers, body = check_suite_delivery(world.gh, repo, suite_id, SECRET)
    answer = world.receiver.post("/webhooks/github", content=body, headers=headers)
    assert answer.status_code == 202 and answer.json()["status"] == "queued", answer.text
    return headers["X-GitHub-Delivery"]


def dashboard_body(world: Harness, repo: str) -> str:
    found = [i for i in world.issues(repo) if i.get("title") == "iacbot dashboard"]
    return found[0]["body"] if found else ""


# -- (i) ------------------------------------------------------------------------------------------

def test_a_merged_fix_whose_finding_is_still_there_is_reverted_within_60_seconds(world):
    repo = new_repo(world)
    fix = not_working()
    number, merge_sha, parent, delivered = publish_and_merge(world, repo, fix)
    pulls = world.wait(lambda: reverts(world, repo, number), "the revert PR", 60)
    seconds = time.monotonic() - delivered
    print(f"\n(i) revert PR #{pulls[0].number} opened {seconds:.1f} s after the pull_request webhook")
    assert seconds < 60
    record = settled(world, repo, merge_sha)
    assert record["state"] == merge_watch.REVERTED, record
    assert record["recheck"]["status"] == "still-failing", record["recheck"]
    assert record["recheck"]["failing"] == [{"rule": "CKV_K8S_20", "resource": "Pod.shop.web",
                                             "file": "k8s/web.yaml"}]
    assert [b["reason"] for b in record["decision"]["reasons"]] == ["finding-still-present"]
    assert record["parent_sha"] == parent

    [revert] = reverts(world, repo, number)
    assert revert.state == "open" and revert.user_login == "iacbot[bot]"
    # Exactly the fix's file, as it was before the fix; nothing else changed.
    assert file_at(world, repo, revert.head_sha, "k8s/web.yaml") == K8S_POD
    assert file_at(world, repo, merge_sha, "k8s/web.yaml") == fix.new_text
    assert "iacbot:revert" in revert.labels
    assert {"alice", "bob"} <= set(revert.requested_reviewers), revert.requested_reviewers
    # Signed provenance: the original PR, the evidence, the files as the revert leaves them.
    envelope = envelope_from_pr_body(revert.body or "")
    checked = verify_envelope(envelope, [world.public_key])
    assert checked.ok, checked.problems
    statement = json.loads(base64.b64decode(json.loads(envelope)["payload"]))
    predicate = statement["predicate"]
    assert predicate["fixer"]["id"] == "iacbot-revert"
    assert predicate["finding"]["trigger"]["original_pr"] == number
    assert predicate["finding"]["fingerprint"] == fix.fingerprint
    assert "finding-still-present" in predicate["verification"]["text"]
    assert {"name": "git+commit", "digest": {"gitCommit": revert.head_sha}} in statement["subject"]

    # Audited; recorded so the same fix is not proposed again unchanged.
    events = [e["event"] for e in audit_events(world, repo) if e["subject"] == f"pr:{number}"]
    assert "reverted" in events and "merge_verified" not in events, events
    kept = declined.load(world.r, repo, fix.fingerprint)
    assert kept is not None and kept.reverted_by_pr == revert.number, kept
    again = world.publish_outcome(repo, fix)
    assert again["status"] == declined.DECLINED and "fix-reverted" in again["reason"], again
    assert len(reverts(world, repo, number)) == 1
    world.wait(lambda: f"revert #{revert.number}" in dashboard_body(world, repo), "the dashboard's Reverted line")
    assert "finding-still-present" in dashboard_body(world, repo)


# -- (ii) -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("event", ["check_run", "check_suite"])
def test_a_merged_fix_that_turns_a_passing_check_red_is_reverted(world, event):
    repo = new_repo(world)
    number, merge_sha, parent, _ = publish_and_merge(world, repo, make_fix(LOW_RISK))
    # The fix worked as far as checkov sees; the watch waits for the check green on the parent.
    world.wait(lambda: (watch(world, repo, merge_sha) or {}).get("recheck"), "the re-scan")
    assert watch(world, repo, merge_sha)["recheck"]["status"] == "cleared"
    world.wait(lambda: (watch(world, repo, merge_sha) or {}).get("decision"), "a first decision")
    assert watch(world, repo, merge_sha)["state"] == merge_watch.WATCHING
    assert reverts(world, repo, number) == []

    signal_at = time.monotonic()
    deliver_check(world, repo, merge_sha, "failure", event)
    pulls = world.wait(lambda: reverts(world, repo, number), "the revert PR", 60)
    print(f"\n(ii, {event}) revert PR #{pulls[0].number} {time.monotonic() - signal_at:.1f} s after the check")
    record = settled(world, repo, merge_sha)
    assert record["state"] == merge_watch.REVERTED
    reasons = [(b["reason"], b["subject"]) for b in record["decision"]["reasons"]]
    assert reasons == [("check-turned-red", f"{CHECK} ({CI_APP}): failure")], reasons
    assert file_at(world, repo, pulls[0].head_sha, "k8s/web.yaml") == LOW_RISK.source


# -- (iii) ----------------------------------------------------------------------------------------

def test_a_merged_fix_that_worked_is_verified_and_nothing_is_reverted(world):
    repo = new_repo(world)
    number, merge_sha, parent, _ = publish_and_merge(world, repo, make_fix(LOW_RISK))
    world.wait(lambda: (watch(world, repo, merge_sha) or {}).get("decision"), "a first decision")
    assert watch(world, repo, merge_sha)["state"] == merge_watch.WATCHING  # the check has not reported yet
    deliver_check(world, repo, merge_sha, "success", "check_suite")
    record = settled(world, repo, merge_sha)
    assert record["state"] == merge_watch.VERIFIED, record
    assert [b["reason"] for b in record["decision"]["reasons"]] == ["finding-cleared", "no-check-turned-red"]
    assert reverts(world, repo, number) == []
    assert not world.gh.requests_matching("POST", rf"^/repos/{repo}/git/commits$")[1:], "only the fix's commit"
    events = [e["event"] for e in audit_events(world, repo) if e["subject"] == f"pr:{number}"]
    assert "merge_verified" in events and "reverted" not in events and "revert_blocked" not in events
    # A later red check on another commit, or the same event again, changes nothing.
    deliver_check(world, repo, merge_sha, "failure", "check_run")
    time.sleep(2)
    assert watch(world, repo, merge_sha)["state"] == merge_watch.VERIFIED and reverts(world, repo, number) == []
    world.wait(lambda: "Merged and verified (1)" in dashboard_body(world, repo), "the dashboard's verified line")
    assert f"#{number} " in dashboard_body(world, repo).split("Merged and verified (1)")[1]


# -- (iv) -----------------------------------------------------------------------------------------

def test_the_daily_cap_holds_the_second_revert(world):
    world.write_policy(CAP_ONE)
    try:
        repo = new_repo(world, LOW_RISK, API)
        first, first_sha, _, _ = publish_and_merge(world, repo, not_working(LOW_RISK))
        assert settled(world, repo, first_sha)["state"] == merge_watch.REVERTED
        second, second_sha, _, _ = publish_and_merge(world, repo, not_working(API))
        record = settled(world, repo, second_sha)
        assert record["state"] == merge_watch.HELD, record
        reasons = [(b["reason"], b["subject"]) for b in record["decision"]["reasons"]]
        assert reasons == [("finding-still-present", "CKV_K8S_20 on Pod.shop.api"),
                           ("revert-cap-reached", "1 of at most 1")], reasons
        assert len(reverts(world, repo, first)) == 1 and reverts(world, repo, second) == []
        assert merge_watch.reverts_today(world.r, repo) == 1
        blocked = [e for e in audit_events(world, repo) if e["event"] == "revert_blocked"]
        assert [e["subject"] for e in blocked] == [f"pr:{second}"]
    finally:
        world.write_policy(REVIEW_ALL)


def test_the_opt_out_marker_a_person_adds_holds_the_revert(world):
    repo = new_repo(world)
    number, merge_sha, _, _ = publish_and_merge(world, repo, not_working(),
                                                body_extra="\n<!-- iacbot:no-auto-revert -->\n")
    record = settled(world, repo, merge_sha)
    assert record["state"] == merge_watch.HELD, record
    assert [b["reason"] for b in record["decision"]["reasons"]] == ["finding-still-present", "no-auto-revert-marker"]
    assert reverts(world, repo, number) == [] and merge_watch.reverts_today(world.r, repo) == 0


# -- (v) ------------------------------------------------------------------------------------------

def test_a_worker_killed_mid_revert_leaves_exactly_one_revert_pr(world, tmp_path):
    from workers.celery_app import PUBLISH_TASK
    repo = new_repo(world)
    world.settle_dashboards()
    os.killpg(world.main.pid, signal.SIGSTOP)  # the harness's worker sits this one out
    try:
        env = worker_env(world.gh, world.private_key, world.policy_path,
                         IACBOT_SIGNING_KEY_FILE=str(world.signing_key_file),
                         IACBOT_VISIBILITY_TIMEOUT_SECONDS=str(VISIBILITY))
        doomed_log = tmp_path / "doomed.log"
        with celery_worker("remediate,publish", env, doomed_log, "doomed") as doomed:
            fix = not_working()
            job_id, fp = world.store_fix(repo, fix)
            world.celery.send_task(PUBLISH_TASK, args=[job_id, fp], queue="publish",
                                   task_id=f"{job_id}:publish:{fp}", ignore_result=True)
            number = world.wait(lambda: world.outcome(job_id, fp), "the publish", 60)["pr_number"]
            world.check(repo, world.default_head(repo), CHECK, "success")
            world.gh.close_pull(repo, number, merged=True, login="alice")
            merge_sha = world.pull(repo, number).merge_commit_sha
            # Hold the revert PR's creation long enough to kill the worker inside it (the double
            # answers it afterwards: a PR whose answer nobody got).
            served = len(world.gh.faults_served)
            world.gh.inject_fault("POST", rf"^/repos/{repo}/pulls$", 0, delay=6)
            headers, body = pull_request_closed_delivery(world.gh, repo, number, SECRET)
            assert world.receiver.post("/webhooks/github", content=body, headers=headers).status_code == 202
            world.wait(lambda: (watch(world, repo, merge_sha) or {}).get("state") == merge_watch.REVERTING,
                       "the revert to begin", 60)
            world.wait(lambda: len(world.gh.faults_served) > served, "the held request", 60)
            os.killpg(doomed.pid, signal.SIGKILL)
            doomed.wait(timeout=10)
            assert reverts(world, repo, number) == []  # killed while its PR request was held
        assert watch(world, repo, merge_sha)["state"] == merge_watch.REVERTING
        fresh_log = tmp_path / "fresh.log"
        with celery_worker("remediate,publish", env, fresh_log, "fresh"):
            record = settled(world, repo, merge_sha, timeout=90)
    finally:
        os.killpg(world.main.pid, signal.SIGCONT)
    assert record["state"] == merge_watch.REVERTED, record
    print(f"\n(v) after the kill, the fresh worker's open_revert said {record['outcome']['status']}")
    pulls = reverts(world, repo, number)
    assert len(pulls) == 1 and record["outcome"]["revert_pr"] == pulls[0].number, (pulls, record["outcome"])
    assert merge_watch.reverts_today(world.r, repo) == 1  # counted once across both runs
    assert verify_envelope(envelope_from_pr_body(pulls[0].body or ""), [world.public_key]).ok
    events = [e["event"] for e in audit_events(world, repo) if e["subject"] == f"pr:{number}"]
    assert events.count("reverted") == 1, events


# -- (vi) -----------------------------------------------------------------------------------------

def test_a_fix_whose_lines_changed_since_gets_an_issue_not_a_guess(world):
    repo = new_repo(world)
    fix = not_working()
    published = world.publish(repo, fix)
    world.check(repo, world.default_head(repo), CHECK, "success")
    world.gh.close_pull(repo, published.pr_number, merged=True, login="alice")
    merge_sha = world.pull(repo, published.pr_number).merge_commit_sha
    # Someone edits the very line the fix added before iacbot hears of the merge.
    world.gh.push_commit(repo, {LOW_RISK.path: LOW_RISK.source + "# hardened, for real this time\n"},
                         "Tweak the comment\n", login="carol")
    headers, body = pull_request_closed_delivery(world.gh, repo, published.pr_number, SECRET)
    assert world.receiver.post("/webhooks/github", content=body, headers=headers).status_code == 202
    record = settled(world, repo, merge_sha)
    assert record["state"] == merge_watch.ISSUE, record
    assert record["outcome"]["status"] == "NOT_CLEAN" and record["outcome"]["problems"], record["outcome"]
    assert reverts(world, repo, published.pr_number) == []
    issue = world.gh.issue(repo, record["outcome"]["issue"])
    assert issue["user"]["login"] == "iacbot[bot]" and f"#{published.pr_number}" in issue["title"]
    assert "finding-still-present" in issue["body"] and "k8s/web.yaml" in issue["body"]
    assert f"git revert -m 1 {merge_sha}" in issue["body"]
    assert file_at(world, repo, world.default_head(repo), LOW_RISK.path).endswith("for real this time\n")
    events = [e for e in audit_events(world, repo) if e["event"] == "revert_blocked"]
    assert [e["details"]["issue"] for e in events] == [record["outcome"]["issue"]]


# -- automerge_reverts ----------------------------------------------------------------------------

AUTOMERGE_LOW_RISK = f"""\
version: 1
automerge:
  required_checks: [{{name: {CHECK}, app: {CI_APP}}}]
rules:
  - name: low-risk
    match: {{risk: [low], confidence: [safe-default]}}
    action: automerge
"""


@pytest.mark.parametrize("automerge_reverts", [False, True])
def test_the_revert_of_an_auto_merged_fix_merges_itself_only_when_policy_says_so(world, automerge_reverts):
    from tests.workers.redteam_harness import Published
    from workers import decision_store
    policy = AUTOMERGE_LOW_RISK if not automerge_reverts else \
        AUTOMERGE_LOW_RISK.replace("rules:", "rollback: {automerge_reverts: true}\nrules:")
    world.write_policy(policy)
    try:
        repo = new_repo(world)
        published = world.publish(repo, not_working())
        world.check(repo, world.default_head(repo), CHECK, "success")   # green on the parent
        world.check(repo, published.head_sha, CHECK, "success")
        assert world.consider(published).outcome == "merged"              # iacbot merged it on its own
        merge_sha = world.pull(repo, published.pr_number).merge_commit_sha
        headers, body = pull_request_closed_delivery(world.gh, repo, published.pr_number, SECRET)
        assert world.receiver.post("/webhooks/github", content=body, headers=headers).status_code == 202
        record = settled(world, repo, merge_sha)
        assert record["state"] == merge_watch.REVERTED and record["merged_by_iacbot"], record
        [revert] = reverts(world, repo, published.pr_number)
        world.check(repo, revert.head_sha, CHECK, "success")
        seen = world.consider(Published(repo, "", revert.number, revert.head_ref, revert.head_sha, merge_sha, {},
                                        None))
        if not automerge_reverts:
            assert seen.outcome == "not-candidate", seen   # it waits for a person
            assert world.pull(repo, revert.number).merged_at is None
            return
        assert seen.outcome == "merged", seen
        assert seen.publish.decision.rule == "low-risk" and seen.publish.fingerprint == \
            f"revert-pr-{published.pr_number}"
        merged = world.pull(repo, revert.number)
        assert merged.merged_by == "iacbot[bot]"
        assert file_at(world, repo, world.default_head(repo), LOW_RISK.path) == LOW_RISK.source
        assert decision_store.for_pr(world.r, repo, revert.number, decision_store.MERGE).decision.action.value \
            == "automerge"
    finally:
        world.write_policy(REVIEW_ALL)


# -- the whole run, audited -------------------------------------------------------------------------

def test_every_step_from_push_to_revert_is_in_the_audit_export_and_the_export_verifies(world, tmp_path):
    """A person pushes a manifest; GitHub's push webhook goes through the receiver, the scan worker,
    remediation and a signed publish; a person merges iacbot's PR; a check green on the parent
    fails on the merge commit; iacbot reverts. `iacbot audit export` then `iacbot audit verify`
    with the public key: intact, and every step of this run is in it."""
    from bot.cli import main as iacbot

    repo = world.new_repo({"README.md": "shop\n"})
    world.gh.add_collaborators(repo, "alice", "bob")
    outcomes = world.push_and_wait(repo, {LOW_RISK.path: LOW_RISK.source})
    opened = sorted((o for o in outcomes.values() if o.get("pr_number")), key=lambda o: o["pr_number"])
    assert opened, outcomes
    number = opened[0]["pr_number"]
    envelope = json.loads(envelope_from_pr_body(world.pull(repo, number).body or ""))
    signed = json.loads(base64.b64decode(envelope["payload"]))["predicate"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", signed["verification"]["scanner_version"] or ""), signed["verification"]
    parent = world.default_head(repo)
    world.check(repo, parent, CHECK, "success")
    world.gh.close_pull(repo, number, merged=True, login="alice")
    merge_sha = world.pull(repo, number).merge_commit_sha
    headers, body = pull_request_closed_delivery(world.gh, repo, number, SECRET)
    assert world.receiver.post("/webhooks/github", content=body, headers=headers).status_code == 202
    world.wait(lambda: (watch(world, repo, merge_sha) or {}).get("recheck"), "the re-scan")
    deliver_check(world, repo, merge_sha, "failure")
    world.wait(lambda: reverts(world, repo, number), "the revert PR", 60)
    assert settled(world, repo, merge_sha)["state"] == merge_watch.REVERTED

    exported = tmp_path / "audit.jsonl"
    assert iacbot(["audit", "export", "--redis-url", TEST_REDIS_URL, "-o", str(exported)]) == 0
    public = tmp_path / "public.pem"
    public.write_bytes(keys.public_pem(world.public_key))
    assert iacbot(["audit", "verify", str(exported), "--key", str(public)]) == 0

    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    mine = [e for e in lines if "checkpoint" not in e and e.get("repository") == repo]
    events = {e["event"] for e in mine}
    assert {"received", "located", "patched", "verified", "signed", "pr_opened", "decided", "merged",
            "reverted"} <= events, sorted(events)
    merged = [e for e in mine if e["event"] == "merged"]
    assert [(e["subject"], e["actor"]) for e in merged] == [(f"pr:{number}", "alice")], merged
    # A tampered copy of the same export is caught.
    edited = tmp_path / "edited.jsonl"
    edited.write_text(exported.read_text().replace('"actor":"alice"', '"actor":"mallory"', 1))
    assert iacbot(["audit", "verify", str(edited), "--key", str(public)]) == 1
