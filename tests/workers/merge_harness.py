"""What the merge tests (and the red-team suite) stage on the GitHub double: a repository with
manifests, iacbot's App installed with the merge permissions, a central policy file, and iacbot's
PRs published the way publish_job publishes them, each with its stored publish-stage decision.

* ``Stage(gh, redis, private_key, tmp_path)``: ``publish(path)`` -> a Published (PR number, head
  sha, fingerprint); ``green(published)`` posts the required check; ``consider(numbers)`` runs
  consider_merge in-process (the same code the worker runs), ``send(...)`` through a worker.
* ``POLICY`` auto-merges low-risk, safe-default hardening fixes once check ``test`` from App
  ``ci`` is green; ``policy(...)`` writes another one.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bot.attest.dsse import envelope_digest
from bot.github.auth import installation_session
from bot.github.client import client
from bot.github.ownership import Ownership, app_identity
from bot.github.publish import publish_fix
from bot.settings import CommonSettings
from fixers import registry
from fixers.catalog import load_catalog
from fixers.engine import FIXED, Attempt
from fixers.models import Finding, FixContext, Patched
from policies.decide import decide_publish
from policies.facts import PublishFacts, fix_facts
from tests.service.conftest import TEST_REDIS_URL
from workers import decision_store, policy_source, store
from workers.automerge import MERGE_PERMISSIONS, consider_job
from workers.celery_app import MERGE_TASK, PUBLISH_TASK
from workers.celery_app import app as _worker_app
from workers.own_commits import RedisLedger
from workers.publish import publish_signer
from workers.remediation import Fix, fix_to_json
from workers.signing import signing_key

# consider_merge run in this process (Stage.consider, the sweep) sends tasks (a dashboard refresh,
# consider_merge) through the workers' app: to the tests' Redis, never the machine's default db.
_worker_app.conf.update(broker_url=TEST_REDIS_URL, result_backend=TEST_REDIS_URL)

APP_ID = 737373
REPO_NAME = "octo/shop"
INSTALL_PERMISSIONS = {"metadata": "read", "contents": "write", "pull_requests": "write", "issues": "write",
                       "checks": "write", "statuses": "read"}

POLICY = """version: 1
automerge:
  required_checks: [{{name: test, app: ci}}]
  max_per_hour: {max_per_hour}
rules:
  - name: low-risk-hardening
    match: {{categories: [hardening], risk: [low], confidence: [safe-default]}}
    action: automerge
"""

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
        - name: app
          image: nginx:1.25
"""

PATHS = tuple(f"envs/dev/{name}.yaml" for name in ("web", "api", "worker", "cron"))


def manifest(path: str) -> str:
    return DEPLOYMENT.format(name=Path(path).stem)


def repo_files() -> dict[str, str]:
    return {"README.md": "# shop\n", **{p: manifest(p) for p in PATHS}}


@dataclass(frozen=True)
class Published:
    number: int
    head_sha: str
    fingerprint: str
    path: str
    branch: str


def k8s20_fix(path: str, source: str) -> tuple[Attempt, str]:
    """The verified fix for CKV_K8S_20 (allowPrivilegeEscalation) the engine would make: low risk,
    safe-default, hardening, no impact (docs/fixer-labels.md)."""
    catalog = load_catalog()
    finding = Finding("CKV_K8S_20", path, f"Deployment.shop.{Path(path).stem}", line_start=1,
                      line_end=len(source.splitlines()), message="Containers should not run with allowPrivilegeEscalation")
    finding = Finding(**{**finding.__dict__, "fix_class": registry.fix_class(finding, catalog)})
    fixer = registry.fixer_for(finding.rule_id, catalog)
    outcome = fixer.fix(source, finding, FixContext(path, catalog))
    assert isinstance(outcome, Patched), outcome
    return Attempt(finding, FIXED, fixer=fixer, summary=outcome.summary), outcome.text


class Stage:
    def __init__(self, gh, r, private_key: Path, tmp_path: Path, *, max_per_hour: int = 5) -> None:
        self.gh, self.r, self.private_key, self.tmp_path = gh, r, private_key, tmp_path
        self.policy_path = tmp_path / "policy.yml"
        self.policy(POLICY.format(max_per_hour=max_per_hour))
        self.installation = gh.installation_for(REPO_NAME)

    # -- settings and environment -----------------------------------------------------------
    def policy(self, text: str) -> None:
        self.policy_path.write_text(text)

    def settings(self, **extra) -> CommonSettings:
        return CommonSettings(redis_url=TEST_REDIS_URL, github_api_url=self.gh.base_url, github_app_id=APP_ID,
                              github_app_private_key_file=str(self.private_key), github_write_interval_seconds=0,
                              policy_file=str(self.policy_path), **extra)

    def worker_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IACBOT_")}
        env.update(IACBOT_REDIS_URL=TEST_REDIS_URL, IACBOT_GITHUB_API_URL=self.gh.base_url,
                   IACBOT_GITHUB_APP_ID=str(APP_ID), IACBOT_GITHUB_APP_PRIVATE_KEY_FILE=str(self.private_key),
                   IACBOT_GITHUB_WRITE_INTERVAL_SECONDS="0", IACBOT_POLICY_FILE=str(self.policy_path),
                   IACBOT_BROKER_DURABILITY="volatile-allowed", **extra)
        return env

    # -- publishing, as publish_job does it ---------------------------------------------------
    def publish(self, path: str = PATHS[0]) -> Published:
        """publish_fix for the CKV_K8S_20 fix of ``path``, signed as publish_job signs it (the
        session's key, tests/signing.py), and the publish-stage decision stored for its PR
        (decide_publish under the policy as the publish step would make it) with its envelope."""
        cfg = self.settings()
        source = self.gh.api.get_contents(path).decoded_content.decode()
        attempt, new_text = k8s20_fix(path, source)
        owner = Ownership(app_identity(APP_ID, self.private_key.read_text(), self.gh.base_url), RedisLedger(self.r))
        fix = fix_facts(attempt, REPO_NAME, path, source, new_text)
        verification = "checkov: CKV_K8S_20 passes"
        with installation_session(APP_ID, self.private_key.read_text(), self.installation.id, REPO_NAME,
                                  MERGE_PERMISSIONS, self.gh.base_url) as token:
            gh = client(self.gh.base_url, token, seconds_between_requests=0, seconds_between_writes=0)
            repo = gh.get_repo(REPO_NAME)
            policies = policy_source.load_policies(cfg, gh, REPO_NAME, repo.default_branch)
            decided_at = time.time()
            decision = decide_publish(policies, fix, PublishFacts(now=datetime.fromtimestamp(decided_at, timezone.utc)))
            signer = publish_signer(signing_key(cfg), Fix(attempt, path, new_text, verification), {}, decision,
                                    decided_at, fix, owner.app.bot_login)
            result = publish_fix(gh, REPO_NAME, attempt, new_text, verification, ownership=owner,
                                 request_reviews=False, fix=fix, signer=signer)
            assert result.pr_number is not None and result.attestation is not None, result
        attestation = {"envelope": result.attestation, "envelope_digest": envelope_digest(result.attestation)}
        decision_store.save(self.r, decision_store.DecisionRecord(
            repository=REPO_NAME, installation_id=self.installation.id, fingerprint=fix.fingerprint,
            job_id=str(uuid.uuid4()), stage="publish", fix=fix, decision=decision, decided_at=decided_at,
            pr_number=result.pr_number, head_sha=result.commit_sha, base_ref="main",
            facts={"attestation": attestation}))
        return Published(result.pr_number, result.commit_sha, fix.fingerprint, path, result.branch)

    def publish_on_worker(self, celery, path: str = PATHS[0], timeout: float = 60) -> Published:
        """The fix stored as the remediate step stores it, published by publish_job on a running
        worker (serving queue publish), which makes and stores the publish-stage decision itself."""
        source = self.gh.api.get_contents(path).decoded_content.decode()
        attempt, new_text = k8s20_fix(path, source)
        fix = Fix(attempt, path, new_text, "checkov: CKV_K8S_20 passes")
        job_id = str(uuid.uuid4())
        data = {**fix_to_json(fix), "repository": REPO_NAME, "installation_id": self.installation.id}
        store.save_fixes(self.r, job_id, {fix.fingerprint: data}, {"job": {"delivery_id": job_id}, "problems": []},
                         3600)
        celery.send_task(PUBLISH_TASK, args=[job_id, fix.fingerprint], queue="publish",
                         task_id=f"{job_id}:publish:{fix.fingerprint}", ignore_result=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            raw = self.r.hget(store.PUBLISHED_PREFIX + job_id, fix.fingerprint)
            if raw is not None:
                outcome = json.loads(raw)
                assert outcome["status"] == "created", outcome
                record = decision_store.for_pr(self.r, REPO_NAME, outcome["pr_number"], decision_store.PUBLISH)
                return Published(outcome["pr_number"], record.head_sha, fix.fingerprint, path, outcome["branch"])
            time.sleep(0.1)
        raise AssertionError(f"publish_job did not publish {path} within {timeout} s")

    # -- checks ---------------------------------------------------------------------------------
    def check(self, published: Published | str, status: str = "completed", conclusion: str | None = "success",
              name: str = "test", app_slug: str = "ci") -> int:
        sha = published if isinstance(published, str) else published.head_sha
        return self.gh.add_check_run(REPO_NAME, sha, name, status, conclusion if status == "completed" else None,
                                     app_slug=app_slug)

    def green(self, published: Published | str) -> int:
        return self.check(published)

    # -- deciding -----------------------------------------------------------------------------
    def job(self, *numbers: int, head_sha: str | None = None) -> dict:
        """A checks_completed job as the receiver makes it, for PRs ``numbers`` (their head by
        default: what a check event on them names), or for ``head_sha`` alone."""
        if head_sha is None:
            pulls = self.gh.repo(REPO_NAME).pulls
            head_sha = pulls[numbers[0]].head_sha if numbers and numbers[0] in pulls else "0" * 40
        return {"kind": "checks_completed", "event": "check_suite", "delivery_id": str(uuid.uuid4()),
                "repository": REPO_NAME, "installation_id": self.installation.id, "head_sha": head_sha,
                "pull_request_numbers": list(numbers)}

    def consider(self, *numbers: int, head_sha: str | None = None, clock=time.time, **settings):
        """consider_merge's body in this process (no worker): the list of Considered. ``clock``:
        what "now" is (a change window's test), ``settings``: CommonSettings overrides."""
        return consider_job(self.settings(**settings), self.r, self.job(*numbers, head_sha=head_sha),
                            owner=f"test-{uuid.uuid4()}", clock=clock)

    def send(self, celery, *numbers: int, head_sha: str | None = None):
        """consider_merge on a worker; its AsyncResult (``.get(timeout=...)`` waits out retries)."""
        job = self.job(*numbers, head_sha=head_sha)
        return celery.send_task(MERGE_TASK, args=[job], queue="publish", task_id=f"{job['delivery_id']}:merge")

    # -- reading the outcome --------------------------------------------------------------------
    def record(self, published: Published, stage: str = decision_store.MERGE):
        """The PR's latest decision of ``stage`` (the merge step's by default)."""
        return decision_store.for_pr(self.r, REPO_NAME, published.number, stage)

    def reasons(self, published: Published) -> set[str]:
        record = self.record(published)
        return {b.reason.value for b in record.decision.reasons} if record else set()

    def merged(self) -> list[int]:
        return sorted(p.number for p in self.gh.repo(REPO_NAME).pulls.values() if p.merged_at)

    def merge_calls(self) -> list[str]:
        return self.gh.requests_matching("PUT", r"/pulls/\d+/merge$")
