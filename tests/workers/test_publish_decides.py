"""Policy decides at publish, end to end on REAL parts: a Celery worker, the real Redis and the
GitHub double (OpenAPI-checked).

* an invalid central policy: the PR still opens (review required, never automerge) and ONE
  "Action required: iacbot policy" issue names the problem's line; a second run with another
  problem updates that issue, a fixed policy closes it (completed); a person's issue carrying
  iacbot's marker is never touched;
* a policy saying recommend or ignore: no branch, no PR, the outcome and a DecisionRecord say so;
* pull_request and automerge label the PR and store a DecisionRecord (stage publish) with the
  policy's digest and the commit iacbot made; the PR body shows the decision and its reasons;
* the dashboard issue is written after the decisions.
"""
from __future__ import annotations

import hashlib
import uuid

from bot.github.publish import AUTOMERGE_LABEL, REVIEW_REQUIRED_LABEL
from bot.provenance import branch_name
from fixers import registry
from fixers.catalog import load_catalog
from fixers.engine import FIXED, Attempt
from fixers.models import Finding
from tests.celery_worker import celery_worker, wait_for
from tests.service.conftest import redis_db  # noqa: F401  (fixture)
from tests.workers.test_reliability import (  # noqa: F401  (fixtures gh, private_key, celery)
    PATH,
    REPO_NAME,
    celery,
    gh,
    make_fix,
    outcome,
    private_key,
    send_publish,
    store_fix,
    worker_env,
)
from workers import decision_store, switches
from workers.remediation import Fix

MARKER = "<!-- iacbot:issue:policy -->"
TITLE = "Action required: iacbot policy"
BAD_ACTION = "version: 1\nrules:\n  - name: x\n    match: {}\n    action: merge-now\n"
BAD_KEY = "version: 1\nrules:\n  - name: x\n    match: {}\n    action: pull_request\n    colour: red\n"


def policy(action: str, checks: str = "[]") -> str:
    return (f"version: 1\nautomerge:\n  required_checks: {checks}\nrepository_policy: {{may_disable: true}}\n"
            f"rules:\n  - name: everything-{action}\n    match: {{}}\n    action: {action}\n")


ESCALATING = PATH.replace("web", "api")
API_MANIFEST = """apiVersion: v1
kind: Pod
metadata:
  name: api
spec:
  containers:
    - name: app
      image: nginx:1.25
"""


def escalation_fix() -> Fix:
    """A low-risk, safe-default fix with no impact (k8s.allow-privilege-escalation), as stored."""
    catalog = load_catalog()
    finding = Finding("CKV_K8S_20", ESCALATING, "Pod.default.api", line_start=1, line_end=8,
                      message="Containers should not run with allowPrivilegeEscalation")
    finding = Finding(**{**finding.__dict__, "fix_class": registry.fix_class(finding, catalog)})
    attempt = Attempt(finding, FIXED, fixer=registry.fixer_for(finding.rule_id, catalog),
                      summary="set allowPrivilegeEscalation: false on Pod.default.api")
    new = API_MANIFEST + "      securityContext:\n        allowPrivilegeEscalation: false\n"
    return Fix(attempt, ESCALATING, new, "checkov: CKV_K8S_20 passes; nothing newly fails")


def iacbot_issues(gh, title: str = TITLE) -> list[dict]:
    return [i for i in gh.issues(REPO_NAME) if i["title"] == title and i["user"]["login"] == gh.bot_login()]


def publish(gh, redis_db, celery, log, fix, policy_file, text):  # noqa: F811
    policy_file.write_text(text)
    job_id = str(uuid.uuid4())
    fp = store_fix(redis_db, job_id, gh.installation.id, fix)
    send_publish(celery, job_id, fp)
    return wait_for(lambda: outcome(redis_db, job_id, fp), 60, "the publish outcome", log)


def test_an_invalid_policy_fails_closed_and_one_issue_says_why_until_it_is_fixed(gh, redis_db, private_key,  # noqa: F811
                                                                                  celery, tmp_path):
    gh.push_commit(REPO_NAME, {ESCALATING: API_MANIFEST})
    theirs = gh.open_issue(REPO_NAME, TITLE, body=f"{MARKER}\nI copied iacbot's marker.", login="alice")
    central = tmp_path / "central.yml"
    log = tmp_path / "worker.log"
    with celery_worker("publish", worker_env(gh, private_key, IACBOT_POLICY_FILE=str(central)), log, "invalid"):
        # automerge-able fix, under a broken policy: a PR for review, never automerge
        first = publish(gh, redis_db, celery, log, escalation_fix(), central, BAD_ACTION)
        assert first["status"] == "created" and first["decision"]["action"] == "pull_request", first
        pr = gh.repo(REPO_NAME).pulls[first["pr_number"]]
        assert REVIEW_REQUIRED_LABEL in pr.labels and AUTOMERGE_LABEL not in pr.labels
        assert "policy-invalid" in pr.body and "central.yml:5:13" in pr.body
        [ours] = iacbot_issues(gh)
        assert ours["state"] == "open" and "central.yml:5:13" in ours["body"] and MARKER in ours["body"]
        assert "merges none of them automatically" in ours["body"]

        second = publish(gh, redis_db, celery, log, escalation_fix(), central, BAD_KEY)
        assert second["decision"]["action"] == "pull_request"
        [again] = iacbot_issues(gh)
        assert again["number"] == ours["number"]                       # updated, not duplicated
        assert "central.yml:6:5" in again["body"] and "central.yml:5:13" not in again["body"]
        body = gh.repo(REPO_NAME).pulls[first["pr_number"]].body       # the PR shows the decision as it is now
        assert second["status"] == "exists" and "central.yml:6:5" in body and "central.yml:5:13" not in body

        third = publish(gh, redis_db, celery, log, escalation_fix(), central, policy("pull_request"))
        assert third["decision"]["action"] == "pull_request"
        [closed] = iacbot_issues(gh)
        assert closed["number"] == ours["number"] and closed["state"] == "closed"
        assert closed["state_reason"] == "completed"

        # the repository's own .github/iacbot.yml breaks (on the default branch): the issue is back
        gh.push_commit(REPO_NAME, {".github/iacbot.yml": "version: 1\nautomerge: {max_per_hour: 3}\nrules: []\n"})
        fourth = publish(gh, redis_db, celery, log, escalation_fix(), central, policy("automerge", "[{name: t}]"))
        assert fourth["decision"]["action"] == "pull_request"
        assert {"reason": "repo-policy-invalid", "subject": ".github/iacbot.yml:2:13"} in fourth["decision"]["reasons"]
        [back] = iacbot_issues(gh)
        assert back["number"] == ours["number"] and back["state"] == "open"
        assert ".github/iacbot.yml:2:13" in back["body"] and "central.yml" not in back["body"]
    person = gh.issue(REPO_NAME, theirs)
    assert person["state"] == "open" and person["body"] == f"{MARKER}\nI copied iacbot's marker."
    for token in gh.world.tokens:
        assert token not in log.read_text()


def test_recommend_and_ignore_open_no_branch_and_are_recorded(gh, redis_db, private_key, celery, tmp_path):  # noqa: F811
    central = tmp_path / "central.yml"
    log = tmp_path / "worker.log"
    fix = make_fix()
    with celery_worker("publish", worker_env(gh, private_key, IACBOT_POLICY_FILE=str(central)), log, "quiet"):
        for action, status in (("recommend", "recommended"), ("ignore", "ignored")):
            done = publish(gh, redis_db, celery, log, fix, central, policy(action))
            assert done["status"] == status and done["branch"] is None and done["pr_number"] is None, done
            assert done["rule"] == f"everything-{action}"
            record = decision_store.latest(redis_db, REPO_NAME, fix.fingerprint)
            assert record.decision.action.value == action and record.pr_number is None
            assert record.decision.policy_digest == hashlib.sha256(policy(action).encode()).hexdigest()
        # the dashboard lists the fix (ignored, the latest decision)
        board = wait_for(lambda: [i for i in gh.issues(REPO_NAME) if i["title"] == "iacbot dashboard"
                                  and "Ignored by policy (1)" in (i["body"] or "")], 60, "the dashboard", log)
    assert f"refs/heads/{branch_name(fix.attempt)}" not in gh.repo(REPO_NAME).refs
    assert gh.repo(REPO_NAME).pulls == {}
    assert "CKV\\_K8S\\_16" in board[0]["body"] or "CKV_K8S_16" in board[0]["body"]


def test_pull_request_and_automerge_label_the_pr_and_store_the_decision(gh, redis_db, private_key, celery,  # noqa: F811
                                                                       tmp_path):
    gh.push_commit(REPO_NAME, {ESCALATING: API_MANIFEST})
    central = tmp_path / "central.yml"
    log = tmp_path / "worker.log"
    automerge = policy("automerge", "[{name: test, app: github-actions}]")
    with celery_worker("publish", worker_env(gh, private_key, IACBOT_POLICY_FILE=str(central)), log, "labels"):
        low = publish(gh, redis_db, celery, log, escalation_fix(), central, automerge)
        assert low["status"] == "created" and low["decision"]["action"] == "automerge", low
        medium = publish(gh, redis_db, celery, log, make_fix(), central, automerge)
        assert medium["status"] == "created" and medium["decision"]["action"] == "pull_request", medium
        # the repository's kill switch, turned on at run time: the same fix again is for review only
        switches.set_repo(redis_db, REPO_NAME, True)
        stopped = publish(gh, redis_db, celery, log, escalation_fix(), central, automerge)
        switches.set_repo(redis_db, REPO_NAME, False)
        assert stopped["status"] == "exists" and stopped["pr_number"] == low["pr_number"], stopped
        assert stopped["decision"]["action"] == "pull_request"
        assert {"reason": "kill-switch-repository", "subject": ""} in stopped["decision"]["reasons"]
        relabelled = gh.repo(REPO_NAME).pulls[low["pr_number"]]
        assert REVIEW_REQUIRED_LABEL in relabelled.labels and AUTOMERGE_LABEL not in relabelled.labels
        assert "iacbot" in relabelled.labels and "kill-switch-repository" in relabelled.body
        assert decision_store.for_pr(redis_db, REPO_NAME, low["pr_number"]).decision.action.value == "pull_request"
        back = publish(gh, redis_db, celery, log, escalation_fix(), central, automerge)
        assert back["decision"]["action"] == "automerge"
    repo = gh.repo(REPO_NAME)
    auto, review = repo.pulls[low["pr_number"]], repo.pulls[medium["pr_number"]]
    assert AUTOMERGE_LABEL in auto.labels and REVIEW_REQUIRED_LABEL not in auto.labels
    assert REVIEW_REQUIRED_LABEL in review.labels and AUTOMERGE_LABEL not in review.labels
    assert "risk-not-low" in review.body and "assumed-value" in review.body   # every reason, on the PR
    digest = hashlib.sha256(automerge.encode()).hexdigest()
    for pr, fix in ((auto, escalation_fix()), (review, make_fix())):
        record = decision_store.for_pr(redis_db, REPO_NAME, pr.number)
        assert record is not None and record.stage == "publish" and record.fingerprint == fix.fingerprint
        assert record.head_sha == pr.head_sha                      # the commit iacbot made
        assert record.base_ref == "main" and record.decision.policy_digest == digest
        assert record.facts["publish"]["global_kill_switch"] is False
        assert record.fix.paths == (fix.path,) and record.fix.changed_lines > 0
    assert decision_store.for_pr(redis_db, REPO_NAME, auto.number).decision.action.value == "automerge"
