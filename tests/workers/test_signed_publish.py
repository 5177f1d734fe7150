"""Signed provenance of the service's PRs, end to end on REAL parts: Celery workers (queue publish),
the real Redis and the GitHub double (every exchange checked against GitHub's OpenAPI), and the
`iacbot provenance verify` command a person would run on the saved PR body.

* a published PR's body verifies against the session's public key, and fails against another;
  its subjects are the files at the PR's head; its commit's Iacbot-Statement trailer matches;
* an edited body fails: the payload, the signature, a network fix relabelled (signed or not);
* no (usable) key: no branch, no PR, the outcome says why, no retry;
* a worker SIGKILLed while publishing (the PR creation or the branch held) leaves no PR without a
  valid envelope, and after redelivery there is exactly one PR, signed;
* an auto-merge carries a second, merge-stage statement (in the body, named by the merge
  commit's trailer), also when the worker is killed between signing it and merging.
"""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from github import Auth, Github

from bot.attest import MERGE_STATEMENT_TRAILER, STATEMENT_TRAILER, blocks, keys, statement, trailer_values
from bot.audit.events import Event
from bot.github import pr_body
from bot.github.auth import installation_token
from bot.settings import CommonSettings
from fixers import registry
from fixers.catalog import load_catalog
from fixers.engine import FIXED, Attempt
from fixers.models import Finding, FixContext, Patched
from tests import signing
from tests.celery_worker import celery_worker, wait_for
from tests.github_double import GitHubDouble
from tests.service.conftest import TEST_REDIS_URL, redis_db  # noqa: F401  (fixture)
from tests.workers.merge_harness import APP_ID, INSTALL_PERMISSIONS, PATHS, REPO_NAME, Stage, k8s20_fix, repo_files
from bot.audit import redis_log
from workers import store
from workers.celery_app import PUBLISH_TASK, make_celery
from workers.remediation import Fix, fix_to_json

IACBOT = Path(sys.executable).with_name("iacbot")
SG_PATH = "infra/sg.tf"
SECURITY_GROUP = '''resource "aws_security_group" "web" {
  name   = "web"
  vpc_id = "vpc-123"

  ingress {
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["10.0.0.0/8"]
  }
}
'''
VISIBILITY = 3  # seconds: how soon the broker hands a dead worker's task to another


@pytest.fixture
def gh(private_key, redis_db):  # noqa: F811  (redis_db first: the broker db is empty before a worker starts)
    with GitHubDouble() as double:
        double.create_repo(REPO_NAME, files={**repo_files(), SG_PATH: SECURITY_GROUP})
        double.install_app(APP_ID, private_key.read_text(), repos=[REPO_NAME], permissions=INSTALL_PERMISSIONS)
        token = installation_token(APP_ID, private_key.read_text(), double.installation_for(REPO_NAME).id, REPO_NAME,
                                   {"contents": "read", "pull_requests": "read"}, double.base_url)
        double.api = Github(base_url=double.base_url, auth=Auth.Token(token.value), seconds_between_requests=0,
                            seconds_between_writes=0).get_repo(REPO_NAME)
        yield double
        assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


@pytest.fixture
def stage(gh, redis_db, private_key, tmp_path):  # noqa: F811
    return Stage(gh, redis_db, private_key, tmp_path)


@pytest.fixture
def celery():
    return make_celery(CommonSettings(redis_url=TEST_REDIS_URL))


@pytest.fixture(scope="module")
def other_pub(tmp_path_factory) -> Path:
    """Somebody else's key pair: nothing iacbot signed verifies under it."""
    return keys.keygen(tmp_path_factory.mktemp("other"))[1]


# -- helpers -------------------------------------------------------------------------------------

def network_fix() -> Fix:
    """The verified CKV_AWS_23 fix (tf.sg-descriptions: category network, assumed value)."""
    catalog = load_catalog()
    finding = Finding("CKV_AWS_23", SG_PATH, "aws_security_group.web", line_start=1,
                      line_end=len(SECURITY_GROUP.splitlines()), message="Ensure every security group rule has a description")
    finding = Finding(**{**finding.__dict__, "fix_class": registry.fix_class(finding, catalog)})
    fixer = registry.fixer_for(finding.rule_id, catalog)
    patched = fixer.fix(SECURITY_GROUP, finding, FixContext(SG_PATH, catalog))
    assert isinstance(patched, Patched) and fixer.info.category.value == "network"
    return Fix(Attempt(finding, FIXED, fixer=fixer, summary=patched.summary), SG_PATH, patched.text,
               "checkov: CKV_AWS_23 passes; nothing newly fails")


def hardening_fix(stage: Stage, path: str = PATHS[0]) -> Fix:
    attempt, new_text = k8s20_fix(path, stage.gh.api.get_contents(path).decoded_content.decode())
    return Fix(attempt, path, new_text, "checkov: CKV_K8S_20 passes")


def send(stage: Stage, celery, fix: Fix) -> tuple[str, str]:
    """Store ``fix`` as the remediate step does and send publish_job for it: (job id, fingerprint)."""
    job_id = str(uuid.uuid4())
    data = {**fix_to_json(fix), "repository": REPO_NAME, "installation_id": stage.installation.id,
            "trigger": {"event": "push", "head_sha": "f" * 40, "delivery_id": job_id}}
    store.save_fixes(stage.r, job_id, {fix.fingerprint: data}, {"job": {"delivery_id": job_id}, "problems": []}, 3600)
    celery.send_task(PUBLISH_TASK, args=[job_id, fix.fingerprint], queue="publish",
                     task_id=f"{job_id}:publish:{fix.fingerprint}", ignore_result=True)
    return job_id, fix.fingerprint


def outcome(r, job_id: str, fingerprint: str) -> dict | None:
    raw = r.hget(store.PUBLISHED_PREFIX + job_id, fingerprint)
    return json.loads(raw) if raw is not None else None


def publish(stage: Stage, celery, fix: Fix, tmp_path: Path, name: str = "publish") -> dict:
    log = tmp_path / f"{name}.log"
    with celery_worker("publish", stage.worker_env(), log, name):
        job_id, fp = send(stage, celery, fix)
        done = wait_for(lambda: outcome(stage.r, job_id, fp), 60, "the fix to be published", log)
    assert done["status"] == "created", done
    return done


def body_of(gh, number: int) -> str:
    """The PR body as a person would save it (`gh pr view N --json body -q .body`): through the API."""
    return gh.api.get_pull(number).body


def verify(tmp_path: Path, body: str, *keys_: Path) -> tuple[int, str]:
    """`iacbot provenance verify --pr-body` in its own process: (exit status, output)."""
    path = tmp_path / f"body-{uuid.uuid4().hex[:8]}.md"
    path.write_text(body)
    argv = [str(IACBOT), "--no-color", "provenance", "verify", *sum((["--key", str(k)] for k in keys_), []),
            "--pr-body", str(path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def statements(body: str) -> list[dict]:
    return [json.loads(base64.b64decode(json.loads(e)["payload"])) for e in blocks.envelopes(body)]


def replace_envelope(body: str, edit) -> str:
    """``body`` with its (only) envelope replaced by ``edit(envelope_json)``."""
    [found] = blocks.envelopes(body)
    doc = json.loads(found)
    edit(doc)
    return body.replace(pr_body.attestation_block(json.loads(found)), pr_body.attestation_block(doc))


PUB = signing.public_key_file


# -- publish ------------------------------------------------------------------------------------

def test_a_published_pr_verifies_under_the_services_key_and_not_under_another(stage, gh, celery, tmp_path, other_pub):
    fix = hardening_fix(stage)
    done = publish(stage, celery, fix, tmp_path)
    pr = gh.api.get_pull(done["pr_number"])
    body = pr.body
    code, out = verify(tmp_path, body, PUB())
    assert code == 0, out
    assert "stage publish" in out and "provenance verified" in out
    code, out = verify(tmp_path, body, other_pub)
    assert code == 1 and "FAIL" in out and "signature" in out, out
    # Rotation: the old key and the new one trusted together; the keyid is only a hint.
    assert verify(tmp_path, body, other_pub, PUB())[0] == 0

    [doc] = statements(body)
    head = pr.head.sha
    assert statement.commit_of(doc) == head
    files = {s["name"]: s["digest"]["sha256"] for s in doc["subject"] if s["name"] != statement.COMMIT_SUBJECT}
    at_head = gh.api.get_contents(fix.path, ref=head).decoded_content
    assert files == {fix.path: statement.sha256_hex(at_head)} and at_head.decode() == fix.new_text
    # The commit names the statement (its trailer), the statement names the commit (its subject).
    message = gh.api.get_git_commit(head).message
    assert trailer_values(message, STATEMENT_TRAILER) == [statement.change_digest(doc)]
    predicate = doc["predicate"]
    assert predicate["policy"]["stage"] == "publish" and predicate["policy"]["decision"]["action"] == "automerge"
    assert predicate["policy"]["decided_at"] > 0 and predicate["policy"]["digest"]
    assert predicate["identities"] == {"analysed_by": "iacbot-service:remediate", "acted_by": pr.user.login}
    assert predicate["finding"]["fingerprint"] == fix.fingerprint and predicate["finding"]["trigger"]["event"] == "push"
    assert predicate["fixer"]["id"] == fix.attempt.fixer.info.id and predicate["fixer"]["version"].startswith("sha256:")


def test_the_audit_log_records_the_signing_the_pr_and_the_decision(stage, gh, celery, tmp_path):
    fix = hardening_fix(stage)
    done = publish(stage, celery, fix, tmp_path)
    entries = redis_log.entries(stage.r)
    events = [(e["event"], e["subject"]) for e in entries]
    assert (Event.SIGNED.value, fix.fingerprint) in events
    assert (Event.PR_OPENED.value, f"pr:{done['pr_number']}") in events
    assert (Event.DECIDED.value, fix.fingerprint) in events
    signed = next(e for e in entries if e["event"] == Event.SIGNED.value)
    [found] = blocks.envelopes(body_of(gh, done["pr_number"]))
    from bot.attest.dsse import envelope_digest
    assert signed["details"]["envelope_digest"] == envelope_digest(json.loads(found))
    assert signed["details"]["stage"] == "publish"


def test_an_edited_body_fails_verification(stage, gh, celery, tmp_path):
    fix = network_fix()
    done = publish(stage, celery, fix, tmp_path)
    body = body_of(gh, done["pr_number"])
    assert verify(tmp_path, body, PUB())[0] == 0
    assert pr_body.read_provenance(body)["category"] == "network"

    def payload(edit):
        def apply(doc):
            data = json.loads(base64.b64decode(doc["payload"]))
            edit(data)
            doc["payload"] = base64.b64encode(statement.canonical(data)).decode()
        return apply

    def relabel_signed(data):
        data["predicate"]["policy"]["facts"]["category"] = "hardening"

    def other_rule(data):
        data["predicate"]["finding"]["rule"] = "CKV_AWS_1"

    def flip(doc):
        sig = bytearray(base64.b64decode(doc["signatures"][0]["sig"]))
        sig[7] ^= 1
        doc["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()

    tampered = {
        "payload changed": replace_envelope(body, payload(other_rule)),
        "signature changed": replace_envelope(body, flip),
        "network fix relabelled in the signed payload": replace_envelope(body, payload(relabel_signed)),
        # The unsigned provenance block is what `iacbot policy explain` reads: relabelled there,
        # with the signature left intact, the body still fails.
        "network fix relabelled in the provenance block": body.replace('"category":"network"', '"category":"hardening"'),
        "the attestation block removed": re.sub(r"<!-- iacbot:attestation .*? -->", "", body, flags=re.S),
    }
    assert all(text != body for text in tampered.values())
    for what, text in tampered.items():
        code, out = verify(tmp_path, text, PUB())
        assert code == 1 and "FAIL" in out and "provenance NOT verified" in out, (what, out)
    assert "category" in verify(tmp_path, tampered["network fix relabelled in the provenance block"], PUB())[1]


@pytest.mark.parametrize("key_file", ["", "garbage"])
def test_without_a_usable_key_nothing_is_published_and_the_outcome_says_why(stage, gh, celery, tmp_path, key_file):
    if key_file:
        bad = tmp_path / "not-a-key.pem"
        bad.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
        key_file = str(bad)
    fix = hardening_fix(stage)
    log = tmp_path / "nokey.log"
    with celery_worker("publish", stage.worker_env(IACBOT_SIGNING_KEY_FILE=key_file), log, "nokey"):
        job_id, fp = send(stage, celery, fix)
        done = wait_for(lambda: outcome(stage.r, job_id, fp), 60, "the failure to be recorded", log)
    assert done["status"] == "failed" and done["pr_number"] is None, done
    assert "IACBOT_SIGNING_KEY_FILE" in done["reason"], done
    assert gh.repo(REPO_NAME).pulls == {}
    assert gh.requests_matching("POST", r"/git/(refs|commits|blobs)$") == []  # nothing pushed
    text = log.read_text()
    assert "failed for good" in text and "retry 1" not in text
    assert "not a key" not in done["reason"] and "not a key" not in text  # never the key file's bytes


@pytest.mark.parametrize("held", [r"/pulls$", r"/git/refs$"])
def test_a_worker_killed_while_publishing_leaves_no_unsigned_pr_and_one_pr_after_redelivery(
        stage, gh, celery, tmp_path, held):
    env = stage.worker_env(IACBOT_VISIBILITY_TIMEOUT_SECONDS=str(VISIBILITY))
    fix = hardening_fix(stage)
    # Hold the PR's creation (or the branch's) long enough to kill the worker inside it; the
    # double still handles it afterwards, as GitHub would a request whose client went away.
    gh.inject_fault("POST", held, 0, delay=6)
    with celery_worker("publish", env, tmp_path / "doomed.log", "doomed") as doomed:
        job_id, fp = send(stage, celery, fix)
        wait_for(lambda: gh.faults_served, 30, "the worker to reach the held request", tmp_path / "doomed.log")
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
    time.sleep(6.5)  # the held request has been handled by now
    for pr in gh.repo(REPO_NAME).pulls.values():  # whatever exists now is signed
        assert verify(tmp_path, body_of(gh, pr.number), PUB())[0] == 0, pr.number
    assert outcome(stage.r, job_id, fp) is None

    wait_for(lambda: stage.r.zrangebyscore("unacked_index", 0, time.time() - VISIBILITY - 0.5), 30,
             "the dead worker's task to become visible again")
    log = tmp_path / "fresh.log"
    with celery_worker("publish", env, log, "fresh"):
        done = wait_for(lambda: outcome(stage.r, job_id, fp), 60, "the fix to be published by the new worker", log)
    assert done["status"] in ("created", "exists"), done
    pulls = list(gh.repo(REPO_NAME).pulls.values())
    assert [p.number for p in pulls] == [done["pr_number"]]
    body = body_of(gh, done["pr_number"])
    code, out = verify(tmp_path, body, PUB())
    assert code == 0, out
    [doc] = statements(body)
    head = gh.api.get_pull(done["pr_number"]).head.sha
    assert statement.commit_of(doc) == head
    assert trailer_values(gh.api.get_git_commit(head).message, STATEMENT_TRAILER) == [statement.change_digest(doc)]


# -- merge --------------------------------------------------------------------------------------

def _merge_commit_checks(gh, number: int, body: str) -> dict:
    """The merge-stage statement of ``body``, checked against the merge commit GitHub made."""
    by_stage = {d["predicate"]["policy"]["stage"]: d for d in statements(body)}
    assert set(by_stage) == {"publish", "merge"}
    merge = by_stage["merge"]
    pr = gh.repo(REPO_NAME).pulls[number]
    assert statement.commit_of(merge) == statement.commit_of(by_stage["publish"]) == pr.head_sha
    assert merge["predicate"]["policy"]["decision"]["action"] == "automerge"
    message = gh.api.get_git_commit(pr.merge_commit_sha).message
    assert trailer_values(message, MERGE_STATEMENT_TRAILER) == [statement.statement_digest(merge)]
    return merge


def test_an_automerge_carries_a_signed_merge_stage_statement(stage, gh, celery, tmp_path, other_pub):
    log = tmp_path / "worker.log"
    with celery_worker("publish", stage.worker_env(), log, "merge"):
        published = stage.publish_on_worker(celery)
        stage.green(published)
        stage.send(celery, published.number).get(timeout=60)
    assert stage.merged() == [published.number]
    body = body_of(gh, published.number)
    code, out = verify(tmp_path, body, PUB())
    assert code == 0, out
    assert "stage publish" in out and "stage merge" in out
    assert verify(tmp_path, body, other_pub)[0] == 1
    merge = _merge_commit_checks(gh, published.number, body)
    at_head = gh.api.get_contents(published.path, ref=published.head_sha).decoded_content
    assert [s["digest"].get("sha256") for s in merge["subject"] if s["name"] == published.path] == \
        [statement.sha256_hex(at_head)]
    # A merge-stage block edited: the body fails, and says which stage.
    merge_block = blocks.envelopes(body)[1]
    doc = json.loads(merge_block)
    data = json.loads(base64.b64decode(doc["payload"]))
    data["predicate"]["policy"]["decision"]["action"] = "pull_request"
    doc["payload"] = base64.b64encode(statement.canonical(data)).decode()
    edited = body.replace(pr_body.attestation_block(json.loads(merge_block)), pr_body.attestation_block(doc))
    code, out = verify(tmp_path, edited, PUB())
    assert code == 1 and "FAIL  block 2" in out, out
    events = redis_log.entries(stage.r)
    assert any(e["event"] == Event.SIGNED.value and e["details"].get("stage") == "merge" for e in events)
    assert any(e["event"] == Event.MERGED.value and e["subject"] == f"pr:{published.number}" for e in events)
    assert any(e["event"] == Event.DECIDED.value and e["details"].get("stage") == "merge" for e in events)


def test_a_worker_killed_between_signing_and_merging_merges_once_signed(stage, gh, celery, tmp_path):
    env = stage.worker_env(IACBOT_VISIBILITY_TIMEOUT_SECONDS=str(VISIBILITY))
    with celery_worker("publish", env, tmp_path / "publish.log", "publish"):
        published = stage.publish_on_worker(celery)
    stage.green(published)
    # The merge-stage statement's edit into the body is held; the worker dies there, before its PUT.
    gh.inject_fault("PATCH", rf"/pulls/{published.number}$", 0, delay=5)
    with celery_worker("publish", env, tmp_path / "doomed.log", "doomed") as doomed:
        stage.send(celery, published.number)
        wait_for(lambda: gh.faults_served, 30, "the worker to reach the held body edit", tmp_path / "doomed.log")
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
    time.sleep(5.5)
    assert stage.merged() == [] and stage.merge_calls() == []

    wait_for(lambda: stage.r.zrangebyscore("unacked_index", 0, time.time() - VISIBILITY - 0.5), 30,
             "the dead worker's task to become visible again")
    log = tmp_path / "fresh.log"
    with celery_worker("publish", env, log, "fresh"):
        wait_for(lambda: stage.merged() == [published.number], 60, "the redelivered consideration to merge", log)
    assert len(stage.merge_calls()) == 1
    body = body_of(gh, published.number)
    assert len(blocks.envelopes(body)) == 2  # the merge block replaced, not doubled
    code, out = verify(tmp_path, body, PUB())
    assert code == 0, out
    _merge_commit_checks(gh, published.number, body)


def test_a_later_run_re_signs_the_open_pr_and_rebuilds_the_commit_only_when_the_change_differs(
        stage, gh, celery, tmp_path):
    fix = hardening_fix(stage)
    log = tmp_path / "rerun.log"

    def run(which: Fix) -> tuple[str, dict]:
        job_id, fp = send(stage, celery, which)
        return job_id, wait_for(lambda: outcome(stage.r, job_id, fp), 60, "the publish", log)

    with celery_worker("publish", stage.worker_env(), log, "rerun"):
        _, first = run(fix)
        number = first["pr_number"]
        head = gh.api.get_pull(number).head.sha
        # Another push finds the same finding: a new trigger and a new decision, the same change.
        second_job, again = run(fix)
        assert again["status"] == "exists" and again["pr_number"] == number, again
        assert gh.api.get_pull(number).head.sha == head  # its checks are not restarted
        [doc] = statements(body_of(gh, number))
        assert doc["predicate"]["finding"]["trigger"]["delivery_id"] == second_job  # signed afresh, this run's
        assert verify(tmp_path, body_of(gh, number), PUB())[0] == 0
        # The same fix with other evidence is another change: the commit is rebuilt to name it.
        _, third = run(Fix(fix.attempt, fix.path, fix.new_text, "checkov: CKV_K8S_20 passes (re-verified)"))
    assert third["status"] == "updated" and third["pr_number"] == number, third
    new_head = gh.api.get_pull(number).head.sha
    assert new_head != head and len(gh.repo(REPO_NAME).pulls) == 1
    body = body_of(gh, number)
    [doc] = statements(body)
    assert statement.commit_of(doc) == new_head
    assert trailer_values(gh.api.get_git_commit(new_head).message, STATEMENT_TRAILER) == [statement.change_digest(doc)]
    assert verify(tmp_path, body, PUB())[0] == 0
