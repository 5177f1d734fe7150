"""The service's audit log on the real Redis: concurrent appends (threads and processes) form one
unbroken chain, an append cut off between its read and its EXEC (or a process killed mid-append)
leaves no gap, the export verifies, and the events are recorded where they happen."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import redis

from bot.attest import keys
from bot.audit import chain, redis_log
from bot.audit.events import Event
from bot.cli import main
from policies import declines
from policies.model import PolicyProblem, PolicySet
from tests.paths import REPO as REPO_ROOT
from tests.service.conftest import TEST_REDIS_URL, redis_db  # noqa: F401  (fixture)
from workers import audit_log, declined, switches, tasks


@pytest.fixture
def keypair(tmp_path):
    private, public = keys.keygen(tmp_path / "keys")
    return keys.load_private_key(private), keys.load_public_key(public), private, public


def exported(r) -> list[str]:
    out = io.StringIO()
    audit_log.export(r, out)
    return out.getvalue().splitlines()


def entries(r, event: Event | None = None) -> list[dict]:
    docs = [json.loads(line) for line in exported(r)]
    return [d for d in docs if "checkpoint" not in d and (event is None or d["event"] == event.value)]


def test_appends_chain_and_checkpoint_every_n(redis_db, keypair):  # noqa: F811
    key, public, _, _ = keypair
    for n in range(7):
        redis_log.append(redis_db, Event.RECEIVED, repository="o/r", subject=f"j{n}", actor="iacbot", key=key,
                         every=3, seconds=3600)
    lines = exported(redis_db)
    result = chain.verify(lines, [public])
    assert result.ok and result.entries == 7
    # the first append checkpoints (no earlier one), then every 3 entries
    assert [json.loads(line).get("seq", "cp") for line in lines] == [0, "cp", 1, 2, 3, "cp", 4, 5, 6, "cp"]
    status = audit_log.checkpoint_status(redis_db)
    assert (status.size, status.checkpoint_size, status.signed, status.uncovered) == (7, 7, True, 0)


def test_without_a_key_entries_are_recorded_and_checkpoints_skipped(redis_db, caplog, monkeypatch):  # noqa: F811
    monkeypatch.delenv("IACBOT_SIGNING_KEY_FILE", raising=False)
    from workers import runtime
    runtime.settings.cache_clear()
    monkeypatch.setattr(audit_log, "_warned_no_key", False)
    try:
        for n in range(3):
            assert audit_log.record(redis_db, Event.KILL_SWITCH, repository=None, subject="s", actor="operator")
    finally:
        runtime.settings.cache_clear()
    assert len(entries(redis_db)) == 3 and chain.verify(exported(redis_db)).ok
    assert audit_log.checkpoint_status(redis_db) == audit_log.CheckpointStatus(3, 0, None, False)
    warnings = [r for r in caplog.records if "checkpoints are not signed" in r.getMessage()]
    assert len(warnings) == 1 and "IACBOT_SIGNING_KEY_FILE" in warnings[0].getMessage()


def test_a_once_key_records_its_event_once(redis_db):  # noqa: F811
    assert redis_log.append(redis_db, Event.RECEIVED, repository="o/r", subject="d", actor="iacbot", once="x")
    assert redis_log.append(redis_db, Event.RECEIVED, repository="o/r", subject="d", actor="iacbot", once="x") is None
    assert len(entries(redis_db)) == 1


def test_concurrent_threads_give_one_unbroken_chain(redis_db, keypair):  # noqa: F811
    key, public, _, _ = keypair
    clients = [redis.Redis.from_url(TEST_REDIS_URL) for _ in range(8)]

    def work(n: int) -> None:
        for i in range(30):
            redis_log.append(clients[n], Event.PATCHED, repository="o/r", subject=f"t{n}-{i}", actor="iacbot",
                             key=key, every=7, seconds=3600)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result = chain.verify(exported(redis_db), [public])
    assert result.ok, result.problem
    assert result.entries == 240 and len({d["subject"] for d in entries(redis_db)}) == 240
    assert result.checkpoints >= 240 // 7


APPENDER = """
import pathlib, sys, redis
from bot.attest import keys
from bot.audit import redis_log
r = redis.Redis.from_url(sys.argv[1])
key = keys.load_private_key(pathlib.Path(sys.argv[2]))
count = int(sys.argv[3])
n = 0
while count < 0 or n < count:
    redis_log.append(r, "verified", repository="o/r", subject=f"{sys.argv[4]}-{n}", actor="iacbot", key=key,
                     every=5, seconds=3600)
    n += 1
"""


def appenders(private, count: int, n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", APPENDER, TEST_REDIS_URL, str(private), str(count), f"p{i}"],
                             cwd=REPO_ROOT) for i in range(n)]


def test_concurrent_processes_give_one_unbroken_chain(redis_db, keypair):  # noqa: F811
    _, public, private, _ = keypair
    procs = appenders(private, 40, 4)
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    result = chain.verify(exported(redis_db), [public])
    assert result.ok, result.problem
    assert result.entries == 160


def test_processes_killed_mid_append_leave_no_gap_or_fork(redis_db, keypair):  # noqa: F811
    _, public, private, _ = keypair
    procs = appenders(private, -1, 4)
    deadline = time.monotonic() + 30
    while audit_log.checkpoint_status(redis_db).size < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    for p in procs:
        os.kill(p.pid, signal.SIGKILL)
    for p in procs:
        p.wait(timeout=30)
    lines = exported(redis_db)
    result = chain.verify(lines, [public])
    assert result.ok, result.problem
    head = json.loads(redis_db.get(redis_log.HEAD_KEY))
    assert head["size"] == result.entries >= 100 and head["hash"] == result.head
    # ... and the log goes on from there
    redis_log.append(redis_db, Event.VERIFIED, repository="o/r", subject="after", actor="iacbot")
    assert chain.verify(exported(redis_db), [public]).entries == result.entries + 1


class CutOffClient(redis.Redis):
    """A client whose next transaction loses its connection after the reads (WATCH, GET) and
    before EXEC: the server sees the connection killed by another client (CLIENT KILL)."""

    cut = 1

    def pipeline(self, transaction=True, shard_hint=None):
        return CutOffPipeline(self, self.connection_pool, self.response_callbacks, transaction, shard_hint)


class CutOffPipeline(redis.client.Pipeline):
    def __init__(self, owner, *args):
        super().__init__(*args)
        self.owner = owner

    def multi(self):
        if self.owner.cut > 0 and self.watching:
            self.owner.cut -= 1
            own_id = self.client_id()  # immediate: the pipeline is watching
            super().multi()
            with redis.Redis.from_url(TEST_REDIS_URL) as killer:
                assert killer.client_kill_filter(_id=own_id) == 1
            return None
        return super().multi()


def test_an_append_cut_off_before_exec_writes_nothing_and_is_retried(redis_db, keypair):  # noqa: F811
    key, public, _, _ = keypair
    redis_log.append(redis_db, Event.RECEIVED, repository="o/r", subject="before", actor="iacbot", key=key)
    cut = CutOffClient.from_url(TEST_REDIS_URL)
    entry = redis_log.append(cut, Event.PATCHED, repository="o/r", subject="cut", actor="iacbot", key=key)
    assert cut.cut == 0, "the connection was not cut"
    assert entry["seq"] == 1
    redis_log.append(redis_db, Event.VERIFIED, repository="o/r", subject="after", actor="iacbot", key=key)
    assert [d["subject"] for d in entries(redis_db)] == ["before", "cut", "after"]
    assert chain.verify(exported(redis_db), [public]).ok


def test_export_through_the_cli_verifies(redis_db, keypair, tmp_path, capsys):  # noqa: F811
    key, _, _, public = keypair
    for n in range(5):
        redis_log.append(redis_db, Event.MERGED, repository="o/r", subject=f"pr:{n}", actor="iacbot", key=key,
                         every=2)
    out = tmp_path / "export.jsonl"
    assert main(["--no-color", "audit", "export", "--redis-url", TEST_REDIS_URL, "-o", str(out)]) == 0
    assert main(["--no-color", "audit", "verify", str(out), "--key", str(public)]) == 0
    assert "5 entries" in capsys.readouterr().out
    lines = out.read_text().splitlines()
    assert json.loads(lines[2])["seq"] == 1  # line 2 is the checkpoint of the first entry
    out.write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    assert main(["--no-color", "audit", "verify", str(out), "--key", str(public)]) == 1
    assert "line 3 (seq 2): deleted" in capsys.readouterr().out


def test_export_can_first_checkpoint_the_head(redis_db, keypair, tmp_path):  # noqa: F811
    key, public, private, public_path = keypair
    for n in range(3):
        redis_log.append(redis_db, Event.MERGED, repository="o/r", subject=f"pr:{n}", actor="iacbot", key=key,
                         every=100, seconds=3600)
    assert audit_log.checkpoint_status(redis_db).uncovered == 2  # the first append's checkpoint covers 1
    out = tmp_path / "export.jsonl"
    argv = ["--no-color", "audit", "export", "--redis-url", TEST_REDIS_URL, "-o", str(out), "--checkpoint-key"]
    assert main([*argv, str(private)]) == 0
    assert chain.verify(out.read_text().splitlines(), [public]).covered == 3
    assert audit_log.checkpoint_status(redis_db).uncovered == 0
    assert redis_log.checkpoint(redis_db, key) is False  # nothing new to cover: no second checkpoint
    assert main([*argv, str(public_path)]) == 2  # a public key cannot sign


def test_export_of_an_unreachable_redis_exits_1(tmp_path):
    assert main(["--no-color", "audit", "export", "--redis-url", "redis://127.0.0.1:1/0",
                 "-o", str(tmp_path / "x")]) == 1


# -- the call sites ------------------------------------------------------------------------------

JOB = {"kind": "scan_push", "installation_id": 1, "repository": "Codertocat/Hello-World",
       "head_sha": "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "changed_files": ["main.tf"],
       "files_complete": True, "delivery_id": "d-audit", "repository_id": None, "ref": "refs/heads/main",
       "before": None}


@pytest.fixture
def worker_conf(redis_db, monkeypatch):  # noqa: F811
    from workers.celery_app import app
    monkeypatch.setitem(app.conf, "iacbot_redis_url", TEST_REDIS_URL)
    monkeypatch.delenv("IACBOT_GITHUB_APP_ID", raising=False)  # recorded only: no chain follows
    return redis_db


def test_received_is_recorded_once_per_delivery(worker_conf):
    tasks.ingest_job.apply(args=[JOB], task_id="d-audit").get()
    tasks.ingest_job.apply(args=[JOB], task_id="d-audit").get()  # redelivered
    [received] = entries(worker_conf, Event.RECEIVED)
    assert (received["subject"], received["repository"], received["actor"]) == ("d-audit", JOB["repository"], "iacbot")
    assert received["details"]["kind"] == "scan_push"


def test_received_is_recorded_by_the_redelivery_of_a_worker_killed_before_it(worker_conf):
    # The first run recorded the job, then died before the audit entry: the stream record alone.
    worker_conf.register_script(tasks._RECORD_ONCE)(
        keys=[tasks.INGESTED_PREFIX + "d-audit", tasks.jobs_key(JOB)],
        args=["d-audit", "scan_push", json.dumps(JOB), 3600, tasks.STREAM_MAXLEN])
    result = tasks.ingest_job.apply(args=[JOB], task_id="d-audit").get()
    assert result["recorded"] is False
    assert [e["subject"] for e in entries(worker_conf, Event.RECEIVED)] == ["d-audit"]


def acceptance(number: int = 7) -> declined.PrDecision:
    now = time.time()
    return declines.declined("octo/apps", "f" * 16, number, file="k8s/a.yaml", base_sha="1" * 40,
                             source_blob_sha="2" * 40, closed_by="alice", closed_at=now - 100 * declines.DAY_SECONDS,
                             recorded_at=now, expiry_days=90)


def test_a_decline_is_recorded_by_whom_once_and_its_expiry_once(redis_db):  # noqa: F811
    kept = declined.record(redis_db, acceptance())
    declined.record(redis_db, acceptance())  # the close redelivered
    [decline] = entries(redis_db, Event.DECLINED)
    [accepted] = entries(redis_db, Event.RISK_ACCEPTED)
    assert (decline["actor"], decline["subject"], decline["details"]["fingerprint"]) == ("alice", "pr:7", "f" * 16)
    assert accepted["actor"] == "alice" and accepted["details"]["expires_at"] == declines.iso(declines.expires_at(kept))
    declined.note_expired(redis_db, kept, time.time())
    declined.note_expired(redis_db, kept, time.time())
    [expired] = entries(redis_db, Event.RISK_EXPIRED)
    assert expired["actor"] == "iacbot" and expired["details"]["declined_by"] == "alice"
    assert chain.verify(exported(redis_db)).ok


def test_a_merge_records_no_decline(redis_db):  # noqa: F811
    declined.record(redis_db, declined.PrDecision(declined.MERGED, "octo/apps", "e" * 16, 3))
    assert entries(redis_db) == []


def test_a_lapse_written_before_a_crash_is_recorded_by_the_next_look(redis_db):  # noqa: F811
    kept = declined.record(redis_db, acceptance(number=9))
    noted = declines.expired(kept, time.time())  # the record written, the audit entry not (the crash)
    redis_db.hset(declined.decisions_key("octo/apps"), kept.fingerprint, json.dumps(noted.to_json(), sort_keys=True))
    declined.note_expired(redis_db, kept, time.time())
    declined.note_expired(redis_db, kept, time.time())
    assert len(entries(redis_db, Event.RISK_EXPIRED)) == 1


class NoIssues:
    """A repository whose issue calls fail: policy_issue.report must still record the policy error
    (the issue is retried next time; the audit entry is not GitHub's to refuse)."""

    def __getattr__(self, name):
        from github import GithubException
        raise GithubException(503, {"message": "unavailable"}, {})


def test_a_policy_error_is_recorded_once_per_change_of_problems(redis_db):  # noqa: F811
    from bot.github.ownership import AppIdentity
    from workers import policy_issue
    bad = PolicySet(None, None, (), (PolicyProblem(".github/iacbot.yml", 3, 9, "rules: not a list"),))
    worse = PolicySet(None, None, (PolicyProblem("central.yml", 2, 1, "version: must be 1"),), bad.repo_problems)

    def report(policies):
        policy_issue.report(redis_db, NoIssues(), AppIdentity("iacbot"), "octo/apps", policies, "main", None)

    for policies in (bad, bad, worse, worse, PolicySet(None), PolicySet(None), bad):
        report(policies)
    errors = entries(redis_db, Event.POLICY_ERROR)
    assert [e["details"]["problems"] for e in errors] == [1, 2, 1]
    assert "rules: not a list" in errors[0]["details"]["first"][0]
    assert errors[0]["repository"] == "octo/apps" and errors[0]["actor"] == "iacbot"


def run_switch(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACBOT_")}
    env.update(IACBOT_REDIS_URL=TEST_REDIS_URL, IACBOT_BROKER_DURABILITY="volatile-allowed")
    return subprocess.run([str(REPO_ROOT / "scripts" / "kill-switch"), *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_kill_switch_flips_are_recorded_by_the_operator_named(redis_db):  # noqa: F811
    assert run_switch("on", "--by", "alice").returncode == 0
    assert run_switch("off", "--repo", "Octo/Apps").returncode == 0
    bad = run_switch("on", "--by", "alice; rm -rf /")
    assert bad.returncode == 2 and "operator name" in bad.stderr
    flips = entries(redis_db, Event.KILL_SWITCH)
    assert [(f["actor"], f["repository"], f["details"]["on"]) for f in flips] == [
        ("alice", None, True), ("operator", "Octo/Apps", False)]
    assert switches.global_flag(redis_db)  # the refused --by changed nothing


# -- remediate_job on REAL workers (a scan worker, a main worker) and the GitHub double ----------

PIPELINE_APP_ID = 737373
PIPELINE_REPO = "octo/audited"
SECRET = "webhook-secret-for-tests-only"


@pytest.fixture(scope="module")
def gh(private_key):
    from tests.github_double import GitHubDouble
    with GitHubDouble() as double:
        double.create_repo(PIPELINE_REPO, files={"README.md": "# repo\n"})
        double.installation = double.install_app(PIPELINE_APP_ID, private_key.read_text(), repos=[PIPELINE_REPO])
        yield double
        assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


@pytest.fixture(scope="module")
def pipeline(gh, private_key, tmp_path_factory):
    from tests.celery_worker import SCANNER_VENV, celery_worker
    logs = tmp_path_factory.mktemp("logs")
    signing, _ = keys.keygen(tmp_path_factory.mktemp("signing"))
    plain = {k: v for k, v in os.environ.items() if not k.startswith("IACBOT_")}
    main_env = {**plain, "IACBOT_REDIS_URL": TEST_REDIS_URL, "IACBOT_GITHUB_API_URL": gh.base_url,
                "IACBOT_GITHUB_APP_ID": str(PIPELINE_APP_ID), "IACBOT_GITHUB_APP_PRIVATE_KEY_FILE": str(private_key),
                "IACBOT_GITHUB_WRITE_INTERVAL_SECONDS": "0", "IACBOT_MAX_OPEN_PRS_PER_REPO": "0",
                "IACBOT_SIGNING_KEY_FILE": str(signing)}
    with celery_worker("scan", {**plain, "IACBOT_REDIS_URL": TEST_REDIS_URL}, logs / "scan.log", "scan-audit",
                       venv=SCANNER_VENV), \
            celery_worker("remediate,publish", main_env, logs / "main.log", "chain-audit"):
        yield logs / "main.log", keys.load_private_key(signing).public_key()


def push(gh, changes: dict[str, str]) -> str:
    from fastapi.testclient import TestClient

    from bot.service.app import create_app
    from bot.service.settings import Settings
    from tests.github_double.webhooks import push_delivery
    gh.push_commit(PIPELINE_REPO, changes)
    headers, body = push_delivery(gh, PIPELINE_REPO, sorted(changes), SECRET)
    answer = TestClient(create_app(Settings(webhook_secret=SECRET, redis_url=TEST_REDIS_URL))).post(
        "/webhooks/github", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    return headers["X-GitHub-Delivery"]


def test_remediate_records_each_attempt_once_and_the_export_verifies(pipeline, gh, redis_db):  # noqa: F811
    from tests.celery_worker import wait_for
    from tests.workers.manifests import PRIVILEGED_DEPLOYMENT
    from bot.settings import CommonSettings
    from workers.celery_app import REMEDIATE_QUEUE, REMEDIATE_TASK, make_celery
    from workers.store import FIXES_PREFIX, REMEDIATED_PREFIX
    log, public = pipeline
    delivery = push(gh, {"k8s/web.yaml": PRIVILEGED_DEPLOYMENT})
    wait_for(lambda: redis_db.exists(REMEDIATED_PREFIX + delivery), 120, "the job to be remediated", log)
    fingerprints = {k.decode() for k in redis_db.hkeys(FIXES_PREFIX + delivery)}
    assert fingerprints

    def of_job(event: Event) -> list[dict]:
        return [e for e in entries(redis_db, event) if e["subject"] == delivery]

    assert len(of_job(Event.RECEIVED)) == 1
    verified = of_job(Event.VERIFIED)
    assert {e["details"]["fingerprint"] for e in verified if e["details"]["verified"] == "yes"} == fingerprints
    located = {e["details"]["fingerprint"]: e["details"] for e in of_job(Event.LOCATED) if e["details"]["found"]}
    assert set(located) >= fingerprints and all(located[fp]["layer"] == "manifest" for fp in fingerprints)
    patched = of_job(Event.PATCHED)
    assert {e["details"]["fingerprint"] for e in patched} >= fingerprints
    assert all(e["details"]["fixer"] and e["details"]["rule"] and e["details"]["file"] == "k8s/web.yaml"
               for e in patched)
    before = len(entries(redis_db))

    # A worker killed after its entries and before the fixes were stored: the job is done again,
    # and its entries are not recorded twice.
    redis_db.delete(REMEDIATED_PREFIX + delivery)
    celery = make_celery(CommonSettings(redis_url=TEST_REDIS_URL))
    celery.send_task(REMEDIATE_TASK, args=[delivery], queue=REMEDIATE_QUEUE, task_id=f"{delivery}:remediate:again")
    wait_for(lambda: redis_db.exists(REMEDIATED_PREFIX + delivery), 120, "the job to be remediated again", log)
    remediated = [e for e in entries(redis_db) if e["subject"] == delivery]
    assert len([e for e in remediated if e["event"] in ("located", "patched", "verified")]) == \
        len(of_job(Event.LOCATED)) + len(patched) + len(verified)
    assert [e for e in entries(redis_db)[before:] if e["subject"] == delivery] == []
    status = audit_log.checkpoint_status(redis_db)
    assert status.signed and status.checkpoint_size >= 1
    result = chain.verify(exported(redis_db), [public])
    assert result.ok, result.problem
