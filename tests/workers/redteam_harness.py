"""A world for trying to get something auto-merged that policy does not allow, on REAL parts:
the GitHub double (real HTTP, every exchange checked against GitHub's OpenAPI), the real Redis
(the tests' database), real Celery workers (the main environment's on remediate+publish, the
scanner environment's on scan), the receiver (bot.service.app through Starlette's test client,
so webhooks are signed, checked and enqueued exactly as GitHub's would be) and a central policy
file (IACBOT_POLICY_FILE) that each test writes.

One `Harness` per test module (starting workers costs seconds); each test makes its own
repository (`Harness.new_repo`) with the App installed, so no test sees another's PRs, merges,
decisions or hourly count. Everything a test waits for is a bounded poll on a real signal (a
record in Redis, the worker's log line for a task id, the double's state), failing with the
worker's log when it does not come.

How a fix reaches a PR here:
* ``publish`` stores a verified fix exactly as the remediate step does (workers.store) and sends
  publish_job by name: the publish worker decides, records and opens the PR as iacbot;
* ``push_and_wait`` pushes files to the default branch and delivers GitHub's signed ``push``
  through the receiver: fetch -> scan (scanner env) -> remediate -> publish, the whole chain.
The fixes ``make_fix`` builds come from the REAL fixer for the rule (pure: source in, patched
text out), so their labels (category, risk, confidence, impact) are the registry's.
"""
from __future__ import annotations

import ast
import contextlib
import copy
import itertools
import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from bot.service.app import create_app
from bot.service.settings import Settings
from bot.settings import CommonSettings
from fixers import registry
from fixers.catalog import load_catalog
from fixers.engine import FIXED, Attempt
from fixers.models import Finding, FixContext, Patched
from policies.reasons import Reason
from tests.celery_worker import SCANNER_VENV, celery_worker, wait_for
from tests.github_double import GitHubDouble, new_app_key_pem, render
from tests.github_double.webhooks import example, push_delivery, signed
from tests.service.conftest import TEST_REDIS_URL
from workers import decision_store, store
from workers.celery_app import PUBLISH_TASK, make_celery
from workers.remediation import Fix, fix_to_json

APP_ID = 737373
SLUG = "iacbot"
BOT_LOGIN = f"{SLUG}[bot]"
SECRET = "redteam-webhook-secret-0123456789abcdef"
OWNER = "redteam"
#: The CI the policies require: check "test" from the App "github-actions".
CI_APP = "github-actions"
CHECK = "test"

#: The most permissive policy anyone can write (issue 8): every guardrail must hold under it.
AUTOMERGE_ALL = f"""\
version: 1
automerge:
  required_checks: [{{name: {CHECK}, app: {CI_APP}}}]
  max_per_hour: 5
rules:
  - name: all
    match: {{}}
    action: automerge
"""

#: How long a worker may take for one step before a test fails (generous on 2 busy cores).
STEP_TIMEOUT = float(os.environ.get("REDTEAM_STEP_TIMEOUT", "60"))

# -- fixes, from the real fixers ---------------------------------------------------------------

CATALOG = load_catalog()

K8S_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
spec:
  containers:
    - name: app
      image: nginx:1.25
"""

TF_LB = """\
resource "aws_lb" "web" {
  name               = "web"
  internal           = true
  load_balancer_type = "application"
  subnets            = ["subnet-1", "subnet-2"]
}
"""

TF_DB = """\
resource "aws_db_instance" "main" {
  identifier        = "main"
  engine            = "postgres"
  instance_class    = "db.t3.micro"
  allocated_storage = 20
}
"""

TF_KMS = """\
resource "aws_kms_key" "main" {
  description = "main key"
}
"""

TF_GITLAB = """\
resource "gitlab_project" "main" {
  name = "main"
}
"""


@dataclass(frozen=True)
class Case:
    """One fix to publish: the rule, the file it fixes and its text before."""

    rule_id: str
    path: str
    source: str
    resource: str


#: Low risk, safe default, no impact (hardening): the fix a permissive policy would merge.
LOW_RISK = Case("CKV_K8S_20", "k8s/web.yaml", K8S_POD, "Pod.shop.web")
#: Low risk, safe default, but NETWORK (drop_invalid_header_fields on an ALB).
NETWORK = Case("CKV_AWS_131", "tf/lb.tf", TF_LB, "aws_lb.web")
#: Low risk, safe default, but IDENTITY (IAM database authentication).
IDENTITY = Case("CKV_AWS_161", "tf/db.tf", TF_DB, "aws_db_instance.main")
#: SECRET (gitlab project); the only secret fixer there is is medium risk and assumed-value too.
SECRET_FIX = Case("CKV_GLB_3", "tf/gl.tf", TF_GITLAB, "gitlab_project.main")
#: Low risk, but ASSUMED-VALUE with the availability impact (imagePullPolicy: Always).
ASSUMED = Case("CKV_K8S_15", "k8s/web.yaml", K8S_POD, "Pod.shop.web")
#: Low risk, encryption, but declares the COST impact (KMS key rotation).
COST_IMPACT = Case("CKV_AWS_7", "tf/kms.tf", TF_KMS, "aws_kms_key.main")


def make_fix(case: Case) -> Fix:
    """The verified fix the remediate step would store for ``case``, made by the real fixer."""
    lines = case.source.count("\n") or 1
    finding = Finding(case.rule_id, case.path, case.resource, line_start=1, line_end=lines,
                      message=f"{case.rule_id} fails")
    finding = Finding(**{**finding.__dict__, "fix_class": registry.fix_class(finding, CATALOG)})
    fixer = registry.fixer_for(case.rule_id, CATALOG)
    assert fixer is not None, f"no fixer for {case.rule_id}"
    out = fixer.fix(case.source, finding, FixContext(path=case.path, catalog=CATALOG))
    assert isinstance(out, Patched), f"{case.rule_id}: the fixer did not patch the test source: {out}"
    attempt = Attempt(finding, FIXED, fixer=fixer, summary=out.summary, location=out.location)
    return Fix(attempt, case.path, out.text, f"checkov: {case.rule_id} passes; nothing newly fails")


# -- the world ---------------------------------------------------------------------------------

@dataclass
class Published:
    """iacbot's pull request for one fix, as publish_job left it."""

    repository: str
    fingerprint: str
    pr_number: int
    branch: str
    head_sha: str           # the commit iacbot made
    base_sha: str           # the default branch's head when it was published
    outcome: dict
    fix: Fix


@dataclass
class Considered:
    """One merge consideration of one PR: what the task said of it (``outcome``: not-candidate,
    decided, busy, stopped, merged, decide-again ...; None when the task did not name the PR), the
    merge-stage decision it recorded (None if none), and the PR's publish-stage decision."""

    task: dict | None
    merge: Any
    publish: Any

    @property
    def outcome(self) -> str | None:
        return self.task.get("outcome") if self.task else None

    @property
    def record(self):
        """The decision that stands for the PR now: this consideration's, else the publish one."""
        return self.merge or self.publish

    @property
    def reasons(self) -> set[Reason]:
        assert self.record is not None, "no decision was recorded for the pull request"
        return {b.reason for b in self.record.decision.reasons}


@dataclass
class Harness:
    gh: GitHubDouble
    r: redis.Redis
    celery: Any
    receiver: TestClient
    policy_path: Path
    logs: Path
    private_key: Path
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # -- logs ----------------------------------------------------------------------------------
    @property
    def main_log(self) -> Path:
        return self.logs / "main.log"

    def log_text(self) -> str:
        return self.main_log.read_text(errors="replace")

    def wait(self, predicate: Callable[[], Any], what: str, timeout: float = STEP_TIMEOUT) -> Any:
        return wait_for(predicate, timeout, what, self.main_log, interval=0.05)

    def wait_task(self, task_id: str, timeout: float = STEP_TIMEOUT) -> str:
        """Until the main worker finished task ``task_id`` (succeeded, or raised for good); the
        line that says so. A retry is not the end: the task will run again."""
        pattern = re.compile(r"Task [\w.]+\[" + re.escape(task_id) + r"\] (succeeded|raised)[^\n]*")

        def done():
            found = pattern.search(self.log_text())
            return found.group(0) if found else None
        return self.wait(done, f"task {task_id} to finish", timeout)

    # -- policy --------------------------------------------------------------------------------
    def write_policy(self, text: str | bytes | None) -> None:
        """The central policy the workers read (IACBOT_POLICY_FILE); None: the file is missing."""
        if text is None:
            with contextlib.suppress(FileNotFoundError):
                self.policy_path.unlink()
            return
        tmp = self.policy_path.with_suffix(".tmp")
        tmp.write_bytes(text.encode() if isinstance(text, str) else text)
        os.replace(tmp, self.policy_path)  # a reader sees the old file or the new one, never half

    # -- repositories --------------------------------------------------------------------------
    def new_repo(self, files: dict[str, str] | None = None, name: str | None = None) -> str:
        """A repository of its own (README, the test's files) with iacbot's App installed and CI
        (github-actions) able to post checks; its full name."""
        full = f"{OWNER}/{name or 'r'}{next(self._names)}-{uuid.uuid4().hex[:6]}"
        self.gh.create_repo(full, files={"README.md": "# infra\n", **(files or {})})
        self.gh.install_app(APP_ID, self.private_key.read_text(), repos=[full], slug=SLUG)
        return full

    def default_head(self, repository: str) -> str:
        repo = self.gh.repo(repository)
        with self.gh.world.lock:
            return repo.refs[f"refs/heads/{repo.default_branch}"]

    def installation_id(self, repository: str) -> int:
        return self.gh.installation_for(repository).id

    # -- publishing ----------------------------------------------------------------------------
    def store_fix(self, repository: str, fix: Fix, job_id: str | None = None) -> tuple[str, str]:
        """Store ``fix`` as the remediate step does; (job id, fingerprint)."""
        job_id = job_id or str(uuid.uuid4())
        data = {**fix_to_json(fix), "repository": repository, "installation_id": self.installation_id(repository)}
        store.save_fixes(self.r, job_id, {fix.fingerprint: data}, {"job": {"delivery_id": job_id}, "problems": []},
                         3600)
        return job_id, fix.fingerprint

    def outcome(self, job_id: str, fingerprint: str) -> dict | None:
        raw = self.r.hget(store.PUBLISHED_PREFIX + job_id, fingerprint)
        return json.loads(raw) if raw is not None else None

    def publish_outcome(self, repository: str, fix: Fix) -> dict:
        """Send publish_job for ``fix`` and wait for its recorded outcome (whatever it is)."""
        job_id, fp = self.store_fix(repository, fix)
        self.celery.send_task(PUBLISH_TASK, args=[job_id, fp], queue="publish",
                              task_id=f"{job_id}:publish:{fp}", ignore_result=True)
        return self.wait(lambda: self.outcome(job_id, fp), f"the publish outcome of {fix.attempt.finding.rule_id}")

    def publish(self, repository: str, case_or_fix: Case | Fix) -> Published:
        """Publish one fix as iacbot and return its PR; fails unless a PR was opened."""
        fix = case_or_fix if isinstance(case_or_fix, Fix) else make_fix(case_or_fix)
        base = self.default_head(repository)
        out = self.publish_outcome(repository, fix)
        assert out.get("pr_number") and out["status"] in ("created", "exists", "updated"), out
        pr = self.pull(repository, out["pr_number"])
        self.wait(lambda: decision_store.for_pr(self.r, repository, out["pr_number"], decision_store.PUBLISH),
                  "the publish decision to be recorded")
        self.settle_dashboards()
        return Published(repository, fix.fingerprint, out["pr_number"], pr.head_ref, pr.head_sha, base, out, fix)

    def settle_dashboards(self) -> None:
        """Until no dashboard refresh is queued or running (a publish or a merge asks for one): what
        a test then holds or counts in the double is the merge task's, not the dashboard's."""
        started = re.compile(r"Task workers\.dashboard\.refresh_dashboard\[([^\]]+)\] received")
        ended = re.compile(r"Task workers\.dashboard\.refresh_dashboard\[([^\]]+)\] (?:succeeded|raised)")

        def idle():
            text = self.log_text()
            pending = any(self.r.scan_iter(match="iacbot:dashboard-pending:*", count=1000))
            return not pending and set(started.findall(text)) <= set(ended.findall(text))
        self.wait(idle, "the dashboard refreshes to finish")

    def push_and_wait(self, repository: str, files: dict[str, str], message: str = "Add infrastructure\n",
                      timeout: float = 120) -> dict[str, dict]:
        """A person pushes ``files`` to the default branch; GitHub's signed push webhook goes
        through the receiver and the whole chain; the publish outcomes by fingerprint."""
        self.gh.push_commit(repository, files, message, login="octocat")
        headers, body = push_delivery(self.gh, repository, sorted(files), SECRET)
        answer = self.receiver.post("/webhooks/github", content=body, headers=headers)
        assert answer.status_code == 202 and answer.json()["status"] == "queued", answer.text
        job_id = headers["X-GitHub-Delivery"]

        def published():
            fixes = self.r.hkeys(store.FIXES_PREFIX + job_id)
            done = {k.decode(): json.loads(v) for k, v in self.r.hgetall(store.PUBLISHED_PREFIX + job_id).items()}
            remediated = self.r.exists(store.REMEDIATED_PREFIX + job_id)
            return done if remediated and len(done) == len(fixes) and fixes else None
        return self.wait(published, "every fix of the push to be published", timeout)

    # -- the double's state --------------------------------------------------------------------
    def pull(self, repository: str, number: int):
        with self.gh.world.lock:
            return copy.deepcopy(self.gh.repo(repository).pulls[number])

    def merged_pulls(self, repository: str) -> list[int]:
        with self.gh.world.lock:
            return sorted(n for n, p in self.gh.repo(repository).pulls.items() if p.merged_at is not None)

    def merge_calls(self, repository: str) -> list[str]:
        return self.gh.requests_matching("PUT", rf"^/repos/{re.escape(repository)}/pulls/\d+/merge$")

    def issues(self, repository: str, state: str = "all") -> list[dict]:
        """Issues (not PRs) of the repository, as GET .../issues/{n} shows them."""
        return self.gh.issues(repository, state)

    # -- checks and statuses -------------------------------------------------------------------
    def check(self, repository: str, sha: str, name: str = CHECK, conclusion: str | None = "success",
              app: str = CI_APP, status: str = "completed") -> int:
        """An App (CI) reports a check run on ``sha``."""
        return self.gh.add_check_run(repository, sha, name, status=status, conclusion=conclusion, app_slug=app)

    def status(self, repository: str, sha: str, context: str = CHECK, state: str = "success",
               login: str = "mallory") -> Any:
        """A person (or an App) with push access posts a commit status on ``sha``."""
        return self.gh.add_status(repository, sha, state, context, login=login)

    # -- webhooks ------------------------------------------------------------------------------
    def deliver(self, event: str, payload: dict, secret: str | None = SECRET,
                headers: dict | None = None) -> tuple[int, dict, str]:
        """POST one delivery to the receiver, signed with ``secret`` (None: no signature);
        (status code, answer JSON, delivery id)."""
        hdrs, body = signed(event, payload, secret or "unused")
        if secret is None:
            hdrs.pop("X-Hub-Signature-256")
        hdrs.update(headers or {})
        answer = self.receiver.post("/webhooks/github", content=body, headers=hdrs)
        try:
            data = answer.json()
        except ValueError:
            data = {"text": answer.text}
        return answer.status_code, data, hdrs["X-GitHub-Delivery"]

    def _common(self, payload: dict, repository: str) -> dict:
        repo = self.gh.repo(repository)
        from tests.github_double.webhooks import _repository  # the double's own re-pointing
        payload["repository"] = _repository(payload["repository"], repo)
        inst = self.gh.installation_for(repository)
        payload["installation"] = {"id": inst.id, "node_id": render.node_id("Installation", inst.id)}
        if "organization" in payload:
            payload["organization"] = {**payload["organization"], "login": repo.owner}
        return payload

    def _pr_refs(self, repository: str, sha: str) -> list[dict]:
        """The `pull_requests` GitHub puts in a check payload: open PRs whose head is ``sha``."""
        repo = self.gh.repo(repository)
        with self.gh.world.lock:
            return [{"url": f"{render.API}/repos/{repository}/pulls/{p.number}", "id": p.id, "number": p.number,
                     "head": {"ref": p.head_ref, "sha": sha,
                              "repo": {"id": repo.id, "url": f"{render.API}/repos/{repository}",
                                       "name": repo.name}},
                     "base": {"ref": p.base_ref, "sha": p.base_sha,
                              "repo": {"id": repo.id, "url": f"{render.API}/repos/{repository}",
                                       "name": repo.name}}}
                    for p in repo.pulls.values()
                    if p.state == "open" and repo.refs.get(f"refs/heads/{p.head_ref}", p.head_sha) == sha]

    def check_suite_payload(self, repository: str, sha: str, conclusion: str = "success",
                            app: str = CI_APP, branch: str | None = None) -> dict:
        """GitHub's `check_suite` `completed` for ``sha`` (the recorded example, re-pointed)."""
        payload = self._common(example("check_suite", "completed.payload.json"), repository)
        suite = payload["check_suite"]
        suite.update(head_sha=sha, conclusion=conclusion, status="completed",
                     head_branch=branch, pull_requests=self._pr_refs(repository, sha))
        suite["app"] = {**suite["app"], "slug": app, "name": app}
        payload["action"] = "completed"
        return payload

    def check_run_payload(self, repository: str, sha: str, name: str = CHECK, conclusion: str = "success",
                          app: str = CI_APP) -> dict:
        payload = self._common(example("check_run", "completed.payload.json"), repository)
        run = payload["check_run"]
        prs = self._pr_refs(repository, sha)
        run.update(head_sha=sha, name=name, conclusion=conclusion, status="completed", pull_requests=prs)
        run["app"] = {**run["app"], "slug": app, "name": app}
        run["check_suite"] = {**run["check_suite"], "head_sha": sha, "pull_requests": prs,
                              "conclusion": conclusion, "status": "completed"}
        payload["action"] = "completed"
        return payload

    def status_payload(self, repository: str, sha: str, context: str = CHECK, state: str = "success") -> dict:
        payload = self._common(example("status", "with-installation.payload.json"), repository)
        payload.update(sha=sha, context=context, state=state)
        return payload

    def checks_completed(self, repository: str, sha: str, event: str = "check_suite", **kw) -> str:
        """Deliver a signed `check_suite` (or `check_run`, `status`) completed webhook for ``sha``
        through the receiver; the delivery id (the merge task's id is ``<delivery>:merge``)."""
        payload = {"check_suite": self.check_suite_payload, "check_run": self.check_run_payload,
                   "status": self.status_payload}[event](repository, sha, **kw)
        code, answer, delivery = self.deliver(event, payload)
        assert code == 202 and answer.get("status") == "queued", (code, answer)
        return delivery

    # -- decisions -----------------------------------------------------------------------------
    def merge_record(self, repository: str, pr_number: int):
        return decision_store.for_pr(self.r, repository, pr_number, decision_store.MERGE)

    def publish_record(self, repository: str, pr_number: int):
        return decision_store.for_pr(self.r, repository, pr_number, decision_store.PUBLISH)

    def task_result(self, task_id: str, timeout: float = STEP_TIMEOUT) -> Any:
        """What the main worker's task ``task_id`` returned (Celery logs it), once it finished;
        fails if it raised."""
        line = self.wait_task(task_id, timeout)
        assert " succeeded " in line, line
        return ast.literal_eval(line.split(": ", 1)[1]) if ": " in line else None

    def consider(self, published: Published, sha: str | None = None, event: str = "check_suite",
                 payload: dict | None = None, **kw) -> "Considered":
        """Checks completed on the PR's head (or ``sha``): deliver the signed webhook through the
        receiver, wait until the merge task it causes finished, and return what it did."""
        started = time.time()
        if payload is not None:  # exactly this event (e.g. the same one again)
            code, answer, delivery = self.deliver(event, payload)
            assert code == 202 and answer.get("status") == "queued", (code, answer)
        else:
            delivery = self.checks_completed(published.repository, sha or published.head_sha, event, **kw)
        result = self.task_result(f"{delivery}:merge")
        return self.considered(published.repository, published.pr_number, result, started)

    def considered(self, repository: str, pr_number: int, result: Any, started: float) -> "Considered":
        merge = self.merge_record(repository, pr_number)
        fresh = merge if merge is not None and merge.decided_at >= started - 0.001 else None
        pulls = [p for p in (result or {}).get("pulls", []) if p.get("pr_number") == pr_number]
        return Considered(pulls[0] if pulls else None, fresh, self.publish_record(repository, pr_number))

    # -- people ----------------------------------------------------------------------------------
    def human_commit(self, repository: str, branch: str, changes: dict[str, str], login: str = "mallory") -> str:
        """A person with push access pushes a commit on ``branch``; its sha."""
        _, sha = self.gh.push_commit(repository, changes, f"{login} was here\n", branch=branch, login=login)
        return sha

    def recommit(self, repository: str, branch: str, committer: str = "mallory",
                 changes: dict[str, str] | None = None) -> str:
        """Someone with push access replaces the branch's head by a commit with the same parent and
        message whose AUTHOR is iacbot's bot account (its noreply address, which GitHub links to
        the bot) and whose committer is ``committer`` (``iacbot[bot]``: the bot's identity forged
        for both); with ``changes`` applied on top of the head's tree. The branch is force-moved
        to it (git commit --amend; git push -f); its sha."""
        repo = self.gh.repo(repository)
        with self.gh.world.lock:
            head = repo.objects.commit(repo.refs[f"refs/heads/{branch}"])
            parent, message = head.parents[0], head.message
            files = {path: repo.objects.get(sha, "blob") for path, (_, sha) in
                     repo.objects.flatten(head.tree).items()}
        bot = (self.gh.bot_login(SLUG), self.gh.bot_email(SLUG))
        who = bot if committer == self.gh.bot_login(SLUG) else (committer, f"{committer}@example.com")
        # The head's whole tree (its own change included), plus the changes, on the head's parent.
        _, sha = self.gh.push_commit(repository, {**files, **(changes or {})}, message, branch=branch,
                                     login="mallory", parent=parent, author=bot, committer=who)
        return sha

    def assert_not_merged(self, published: Published, base_before: str | None = None) -> None:
        """The attack's end: the PR is not merged and the base branch did not move."""
        pr = self.pull(published.repository, published.pr_number)
        assert pr.merged_at is None and pr.merge_commit_sha is None, f"PR #{pr.number} was merged"
        assert self.default_head(published.repository) == (base_before or published.base_sha), \
            "the default branch moved"
        assert self.merged_pulls(published.repository) == []


# -- fixtures -----------------------------------------------------------------------------------

def worker_env(gh: GitHubDouble, private_key: Path, policy: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACBOT_")}
    env.update({"IACBOT_REDIS_URL": TEST_REDIS_URL, "IACBOT_GITHUB_API_URL": gh.base_url,
                "IACBOT_GITHUB_APP_ID": str(APP_ID), "IACBOT_GITHUB_APP_PRIVATE_KEY_FILE": str(private_key),
                "IACBOT_GITHUB_WRITE_INTERVAL_SECONDS": "0", "IACBOT_POLICY_FILE": str(policy),
                "IACBOT_BROKER_DURABILITY": "volatile-allowed", **extra})
    return env


def scan_worker_env() -> dict[str, str]:
    """What a scan worker gets: the broker, nothing of GitHub."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACBOT_")}
    return {**env, "IACBOT_REDIS_URL": TEST_REDIS_URL}


@contextlib.contextmanager
def harness(tmp: Path, *, scan: bool = True, **extra_env: str) -> Iterator[Harness]:
    """The whole world, for one test module."""
    r = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1)
    try:
        r.ping()
    except redis.ConnectionError:
        pytest.fail(f"no Redis at {TEST_REDIS_URL}: these tests need a real server")
    r.flushdb()  # before any worker starts: the database is the tests' alone
    key = tmp / "app.pem"
    key.write_text(new_app_key_pem())
    policy = tmp / "central-policy.yml"
    policy.write_text(AUTOMERGE_ALL)
    logs = tmp / "logs"
    logs.mkdir()
    with GitHubDouble() as gh:
        env = worker_env(gh, key, policy, **extra_env)
        with contextlib.ExitStack() as stack:
            if scan:
                stack.enter_context(celery_worker("scan", scan_worker_env(), logs / "scan.log", "rt-scan",
                                                  venv=SCANNER_VENV))
            main = stack.enter_context(celery_worker("remediate,publish", env, logs / "main.log", "rt-main"))
            receiver = TestClient(create_app(Settings(webhook_secret=SECRET, redis_url=TEST_REDIS_URL)))
            world = Harness(gh, r, make_celery(CommonSettings(redis_url=TEST_REDIS_URL)), receiver, policy,
                            logs, key)
            world.main = main
            yield world
            assert main.poll() is None, "the main worker died:\n" + world.log_text()[-3000:]
            # No credential in any worker's log, nor in anything iacbot wrote on the double.
            logs_text = [path.read_text(errors="replace") for path in logs.glob("*.log")]
            with gh.world.lock:
                names = [repo.full_name for repo in gh.world.repos.values()]
            written = [gh.published_text(name) for name in names]
            written += [json.dumps(gh.issues(name)) for name in names]
            assert gh.leaked_tokens(*logs_text, *written) == []
            assert key.read_text().splitlines()[1] not in "".join(logs_text)
        assert gh.violations == [], "OpenAPI violations:\n" + "\n".join(gh.violations)
    r.flushdb()
    r.close()
