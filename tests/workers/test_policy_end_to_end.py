"""Policy decides, end to end on REAL parts (issue 8, "Done when"): the GitHub double, the real
Redis, real Celery workers (main env on remediate+publish, scanner env on scan), the receiver
taking GitHub's signed webhooks, and a central policy file. Every fix here comes from a push
that goes through the whole chain (fetch -> scan -> remediate -> publish), not from a stored fix.

(a) a low-risk fix auto-merges once its required check passes, not before (pending first);
(b) a network fix waits for review, with its reason on the PR (label and text);
(c) a person closing iacbot's PR is a risk acceptance with an expiry: the finding is not proposed
    while it lasts, and is proposed again once it has expired (the record's clock moved back,
    not 90 days of sleep), and the term is the policy's (declines.expire_after_days);
(d) a check event iacbot missed is caught by the periodic sweep.
"""
from __future__ import annotations

import json
import time

import pytest

from policies.reasons import Action, Reason
from tests.github_double.webhooks import pull_request_closed_delivery, push_delivery
from tests.workers.redteam_harness import CHECK, CI_APP, SECRET, TF_LB, Harness, harness
from workers import decision_store

#: A Deployment hardened in every way checkov looks at but one: allowPrivilegeEscalation is not
#: set. The chain makes exactly one fix of it, CKV_K8S_20 (low risk, safe default, no impact).
HARDENED = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: app
          image: nginx@sha256:2d194184b067db3598771b4cf326cfe6ad5051937ba1132b8b7d4b0184e0d0a6
          imagePullPolicy: Always
          securityContext:
            readOnlyRootFilesystem: true
            runAsNonRoot: true
            runAsUser: 10001
            capabilities:
              drop: [ALL]
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {cpu: 500m, memory: 256Mi}
          livenessProbe:
            httpGet: {path: /healthz, port: 8080}
          readinessProbe:
            httpGet: {path: /ready, port: 8080}
"""

LOW_RISK_OUTSIDE_PROD = f"""\
version: 1
automerge:
  required_checks: [{{name: {CHECK}, app: {CI_APP}}}]
  max_per_hour: 5
declines: {{expire_after_days: 7}}
rules:
  - name: low-risk
    match: {{risk: [low], confidence: [safe-default], not_paths: ["envs/prod/**"]}}
    action: automerge
  - name: the-rest
    match: {{}}
    action: pull_request
"""

DAY = 24 * 3600


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    started = time.monotonic()
    with harness(tmp_path_factory.mktemp("policy-e2e"), scan=True) as w:
        w.write_policy(LOW_RISK_OUTSIDE_PROD)
        yield w
    print(f"\npolicy end-to-end world ran {time.monotonic() - started:.1f} s")


def the_pr(world: Harness, repository: str, outcomes: dict[str, dict], rule_id: str) -> tuple[str, int]:
    """(fingerprint, PR number) of the one published fix for ``rule_id``."""
    from workers.store import FIXES_PREFIX
    found = []
    for fp, outcome in outcomes.items():
        job = outcome["job_id"]
        fix = json.loads(world.r.hget(FIXES_PREFIX + job, fp))
        if fix["finding"]["rule_id"] == rule_id:
            found.append((fp, outcome))
    assert len(found) == 1, outcomes
    fp, outcome = found[0]
    assert outcome["status"] == "created" and outcome["pr_number"], outcome
    return fp, outcome["pr_number"]


def set_check(world: Harness, repository: str, run_id: int, conclusion: str) -> None:
    """CI finishes the run it started (GitHub keeps one run, now completed)."""
    with world.gh.world.lock:
        run = world.gh.repo(repository).check_runs[run_id]
        run.status, run.conclusion, run.completed_at = "completed", conclusion, time.time()


def test_a_low_risk_fix_auto_merges_once_its_required_checks_pass(world):
    repo = world.new_repo()
    before = world.default_head(repo)
    outcomes = world.push_and_wait(repo, {"k8s/web.yaml": HARDENED})
    fp, number = the_pr(world, repo, outcomes, "CKV_K8S_20")
    pr = world.pull(repo, number)
    published = decision_store.for_pr(world.r, repo, number, decision_store.PUBLISH)
    assert published.decision.action is Action.AUTOMERGE and published.decision.rule == "low-risk", published.decision
    assert published.head_sha == pr.head_sha

    # CI starts; another check finishes first: the required one is still running.
    run = world.check(repo, pr.head_sha, CHECK, None, status="in_progress")
    world.check(repo, pr.head_sha, "lint", "success")
    mine = world_published(world, repo, number, fp)
    seen = world.consider(mine, event="check_run", name="lint")
    assert seen.merge is not None and Reason.CHECK_PENDING in seen.reasons, seen
    assert seen.merge.decision.action is not Action.AUTOMERGE
    assert world.merged_pulls(repo) == [] and world.merge_calls(repo) == []

    # The required check passes: merged, once, at the head iacbot made.
    set_check(world, repo, run, "success")
    seen = world.consider(mine, event="check_run", name=CHECK)
    assert seen.outcome == "merged" and seen.merge.decision.action is Action.AUTOMERGE, seen
    assert world.merged_pulls(repo) == [number]
    merged = world.pull(repo, number)
    assert merged.merged_by == "iacbot[bot]" and len(world.merge_calls(repo)) == 1
    main = world.default_head(repo)
    assert main != before
    with world.gh.world.lock:
        objects = world.gh.repo(repo).objects
        _, blob = objects.flatten(objects.commit(main).tree)["k8s/web.yaml"]
        text = objects.get(blob, "blob").decode()
    assert "allowPrivilegeEscalation: false" in text and text != HARDENED
    assert [m["pr_number"] for m in decision_store.recent_merges(world.r, repo, 5)] == [number]


def test_a_missed_check_event_is_caught_by_the_sweep(world):
    """CI turned green but its event never reached iacbot (no webhook at all): the periodic sweep
    (sent by name, as Celery beat sends it) decides again and merges, once."""
    from workers.celery_app import PUBLISH_QUEUE, SWEEP_TASK
    repo = world.new_repo()
    outcomes = world.push_and_wait(repo, {"k8s/web.yaml": HARDENED})
    _, number = the_pr(world, repo, outcomes, "CKV_K8S_20")
    world.check(repo, world.pull(repo, number).head_sha)
    world.settle_dashboards()
    sweep_id = f"sweep-{time.time()}"
    world.celery.send_task(SWEEP_TASK, queue=PUBLISH_QUEUE, task_id=sweep_id, ignore_result=True)
    result = world.task_result(sweep_id)
    assert result["pulls"] >= 1, result
    world.wait(lambda: world.merged_pulls(repo) == [number], "the swept PR to be merged")
    assert len(world.merge_calls(repo)) == 1
    # The double shows the merge as soon as the PUT lands; the worker records it just after.
    world.wait(lambda: [m["pr_number"] for m in decision_store.recent_merges(world.r, repo, 5)] == [number],
               "the merge to be recorded")


def world_published(world: Harness, repo: str, number: int, fp: str):
    """A harness Published for a PR the chain opened."""
    from tests.workers.redteam_harness import Published
    pr = world.pull(repo, number)
    return Published(repo, fp, number, pr.head_ref, pr.head_sha, pr.base_sha, {}, None)


def test_a_network_fix_waits_for_review_with_its_reason_on_the_pr(world):
    repo = world.new_repo({"CODEOWNERS": "tf/ @alice\n"})
    world.gh.add_collaborators(repo, "alice")
    outcomes = world.push_and_wait(repo, {"tf/lb.tf": TF_LB})
    fp, number = the_pr(world, repo, outcomes, "CKV_AWS_131")
    published = decision_store.for_pr(world.r, repo, number, decision_store.PUBLISH)
    assert published.decision.action is Action.PULL_REQUEST, published.decision
    assert published.decision.has(Reason.CATEGORY_NETWORK), published.decision
    pr = world.pull(repo, number)
    with world.gh.world.lock:
        comments = [c.body for c in world.gh.repo(repo).comments.values() if c.issue_number == number]
    assert "category-network" in (pr.body or "") + "\n".join(comments), pr.body
    # Checks green: it still waits for a person.
    world.check(repo, pr.head_sha)
    seen = world.consider(world_published(world, repo, number, fp))
    assert seen.outcome == "not-candidate", seen  # decided at publish: it waits for a person
    assert seen.record.decision.action is not Action.AUTOMERGE and Reason.CATEGORY_NETWORK in seen.reasons
    assert world.merged_pulls(repo) == [] and world.merge_calls(repo) == []
    assert "alice" in pr.requested_reviewers, pr.requested_reviewers  # CODEOWNERS are asked to review
    # "labelled with the reason" (issue 8): a label on the PR names it.
    assert "iacbot:review-required" in pr.labels, pr.labels
    assert any("category-network" in label for label in pr.labels), pr.labels


def revert_pair_push(world: Harness, repository: str, path: str, text: str) -> dict[str, dict]:
    """A person changes ``path`` and changes it back: a push that lists the file as modified
    while its content (its blob) is the one the PR was declined on."""
    world.gh.push_commit(repository, {path: text + "# try something\n"}, "Try something\n", login="octocat")
    world.gh.push_commit(repository, {path: text}, "Revert: try something\n", login="octocat")
    headers, body = push_delivery(world.gh, repository, [path], SECRET)
    answer = world.receiver.post("/webhooks/github", content=body, headers=headers)
    assert answer.status_code == 202 and answer.json()["status"] == "queued", answer.text
    job_id = headers["X-GitHub-Delivery"]
    from workers.store import FIXES_PREFIX, PUBLISHED_PREFIX, REMEDIATED_PREFIX

    def published():
        fixes = world.r.hkeys(FIXES_PREFIX + job_id)
        done = {k.decode(): json.loads(v) for k, v in world.r.hgetall(PUBLISHED_PREFIX + job_id).items()}
        return done if world.r.exists(REMEDIATED_PREFIX + job_id) and fixes and len(done) == len(fixes) else None
    return world.wait(published, "the push's fixes to be published (or declined)", 120)


REVIEW_WITH_7_DAY_DECLINES = LOW_RISK_OUTSIDE_PROD.replace("action: automerge", "action: pull_request")


def declined_pr(world: Harness):
    """A push whose one fix becomes a PR; a person closes it unmerged and GitHub's signed
    pull_request "closed" goes through the receiver. (repo, fingerprint, PR number, the record)."""
    from workers import declined
    repo = world.new_repo()
    outcomes = world.push_and_wait(repo, {"k8s/web.yaml": HARDENED})
    fp, number = the_pr(world, repo, outcomes, "CKV_K8S_20")
    world.gh.close_pull(repo, number, login="alice")
    closed_at = time.time()
    headers, body = pull_request_closed_delivery(world.gh, repo, number, SECRET)
    answer = world.receiver.post("/webhooks/github", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    record = world.wait(lambda: declined.load(world.r, repo, fp), "the decline to be recorded")
    assert record.outcome == declined.DECLINED and record.pr_number == number
    assert record.closed_by and abs(record.recorded_at - closed_at) < 60, record
    return repo, fp, number, record


def test_a_human_close_is_an_accepted_risk_with_an_expiry_and_the_finding_returns_after_it(world):
    from workers import declined
    world.write_policy(REVIEW_WITH_7_DAY_DECLINES)
    try:
        repo, fp, number, record = declined_pr(world)
        assert record.expires_at is not None and record.expires_at > time.time() + DAY, record

        # While it lasts: the same source is not proposed again.
        again = revert_pair_push(world, repo, "k8s/web.yaml", HARDENED)
        assert [o["status"] for o in again.values()] == [declined.DECLINED], again
        assert [p.number for p in world.gh.repo(repo).pulls.values()] == [number]

        # A day past the expiry it was recorded with (its clock moved back, as if closed that long
        # ago): the finding is proposed again, and the lapse is recorded, not silent.
        move_decline_clock(world, repo, fp, record.expires_at - time.time() + DAY)
        back = revert_pair_push(world, repo, "k8s/web.yaml", HARDENED)
        assert [o["status"] for o in back.values()] == ["created"], back
        new_number = next(iter(back.values()))["pr_number"]
        assert new_number != number and world.pull(repo, new_number).state == "open"
        lapsed = declined.load(world.r, repo, fp)
        assert lapsed is not None and lapsed.expired_at is not None, lapsed
    finally:
        world.write_policy(LOW_RISK_OUTSIDE_PROD)


def test_the_acceptance_lasts_as_long_as_the_policy_says(world):
    """declines.expire_after_days: 7. Closed (by the record's clock) eight days ago: expired."""
    from workers import declined
    world.write_policy(REVIEW_WITH_7_DAY_DECLINES)
    try:
        repo, fp, number, record = declined_pr(world)
        closed = record.closed_at or record.recorded_at
        move_decline_clock(world, repo, fp, 8 * DAY)
        back = revert_pair_push(world, repo, "k8s/web.yaml", HARDENED)
        assert [o["status"] for o in back.values()] == ["created"], (
            f"8 days after the close, under a 7-day policy, the finding was not proposed again: {back}; "
            f"the acceptance was recorded for {(record.expires_at - closed) / DAY:.1f} days")
        assert declined.load(world.r, repo, fp).expired_at is not None
    finally:
        world.write_policy(LOW_RISK_OUTSIDE_PROD)


def move_decline_clock(world: Harness, repo: str, fp: str, seconds: float) -> None:
    """Rewrite the decline record as if it had been made ``seconds`` earlier."""
    from workers import declined
    key = declined.decisions_key(repo)
    raw = json.loads(world.r.hget(key, fp))
    for name in ("recorded_at", "expires_at", "closed_at"):
        if raw.get(name) is not None:
            raw[name] = float(raw[name]) - seconds
    world.r.hset(key, fp, json.dumps(raw))
