"""scripts/serve, the README's command for running the service locally, really serves: the receiver,
a scan worker in the checkov environment, the main worker and Celery beat (the sweep's schedule) come
up on the test Redis, a signed push delivery becomes a PR on the GitHub double, and stopping the
script stops all four."""
from __future__ import annotations

import os
import signal
import subprocess

import pytest
import requests

from tests import signing
from tests.celery_worker import wait_for
from tests.github_double import GitHubDouble, new_app_key_pem
from tests.github_double.webhooks import push_delivery
from tests.paths import REPO
from tests.redis_server import free_port
from tests.service.conftest import TEST_REDIS_URL, redis_db  # noqa: F401  (fixture)

APP_ID = 464646
SECRET = "serve-test-webhook-secret-0123"
MANIFEST = """apiVersion: v1
kind: Pod
metadata:
  name: tool
spec:
  containers:
    - name: tool
      image: busybox:1.36
      securityContext:
        privileged: true
"""


@pytest.fixture
def served(redis_db, tmp_path):  # noqa: F811
    key = tmp_path / "app.pem"
    key.write_text(new_app_key_pem())
    with GitHubDouble() as gh:
        gh.create_repo("octo/served", files={"k8s/pod.yaml": MANIFEST})
        gh.installation = gh.install_app(APP_ID, key.read_text(), repos=["octo/served"])
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("IACBOT_")}
        env.update(IACBOT_REDIS_URL=TEST_REDIS_URL, IACBOT_WEBHOOK_SECRET=SECRET, IACBOT_GITHUB_APP_ID=str(APP_ID),
                   IACBOT_GITHUB_APP_PRIVATE_KEY_FILE=str(key), IACBOT_GITHUB_API_URL=gh.base_url,
                   IACBOT_SIGNING_KEY_FILE=str(signing.private_key_file()),
                   IACBOT_GITHUB_WRITE_INTERVAL_SECONDS="0", IACBOT_PORT=str(port),
                   # the test Redis has no persistence: say so, as the receiver demands
                   IACBOT_BROKER_DURABILITY="volatile-allowed", IACBOT_SPOOL_DIR=str(tmp_path / "spool"))
        log = tmp_path / "serve.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([str(REPO / "scripts" / "serve")], env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        try:
            yield gh, f"http://127.0.0.1:{port}", proc, log
            key_body = key.read_text().splitlines()[1]  # a line of the PEM's base64
            assert key_body not in log.read_text() and key_body not in gh.published_text("octo/served")
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        assert gh.violations == [], gh.violations


def ready(base: str) -> bool:
    try:
        return requests.get(base + "/readyz", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def test_serve_turns_a_signed_push_into_a_pull_request_and_stops_cleanly(served):
    gh, base, proc, log = served
    wait_for(lambda: ready(base), 60, "the receiver to answer /readyz", log)
    wait_for(lambda: log.read_text().count(" ready.") >= 2, 60, "both workers to be ready", log)
    wait_for(lambda: "beat: Starting..." in log.read_text(), 60, "Celery beat to start", log)
    assert (REPO / ".state" / "celerybeat-schedule").exists() or any((REPO / ".state").glob("celerybeat-schedule*"))
    headers, body = push_delivery(gh, "octo/served", ["k8s/pod.yaml"], SECRET)
    answer = requests.post(base + "/webhooks/github", data=body, headers=headers, timeout=5)
    assert answer.status_code == 202 and answer.json()["status"] == "queued", answer.text

    pulls = wait_for(lambda: gh.repo("octo/served").pulls, 120, "a pull request on the double", log)
    assert any(p.head_ref.startswith("iacbot/") for p in pulls.values())
    assert "iacbot_scanner.worker.scan_job" in log.read_text()  # the scan ran in the scan worker
    # Every token a task asked for is revoked once its step ends, and none shows anywhere.
    wait_for(lambda: gh.unrevoked_tokens() == [], 30, "every installation token to be revoked", log)
    assert gh.leaked_tokens(log.read_text(), gh.published_text("octo/served")) == []

    os.killpg(proc.pid, signal.SIGTERM)  # what Ctrl-C in a terminal sends to the whole group
    assert proc.wait(timeout=30) is not None
    wait_for(lambda: not ready(base), 10, "the receiver to stop", log)


def test_serve_refuses_a_redis_without_persistence_before_starting_anything(redis_db, tmp_path):  # noqa: F811
    key = tmp_path / "app.pem"
    key.write_text(new_app_key_pem())
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACBOT_")}
    env.update(IACBOT_REDIS_URL=TEST_REDIS_URL, IACBOT_WEBHOOK_SECRET=SECRET, IACBOT_GITHUB_APP_ID=str(APP_ID),
               IACBOT_GITHUB_APP_PRIVATE_KEY_FILE=str(key), IACBOT_SPOOL_DIR=str(tmp_path / "spool"),
               IACBOT_SIGNING_KEY_FILE=str(signing.private_key_file()))
    done = subprocess.run([str(REPO / "scripts" / "serve")], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "serve: the broker is not durable: appendonly is off" in done.stderr
    assert "IACBOT_BROKER_DURABILITY" in done.stderr and " ready." not in done.stdout + done.stderr


def test_serve_refuses_to_start_without_a_signing_key(redis_db, tmp_path):  # noqa: F811
    key = tmp_path / "app.pem"
    key.write_text(new_app_key_pem())
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACBOT_")}
    env.update(IACBOT_REDIS_URL=TEST_REDIS_URL, IACBOT_WEBHOOK_SECRET=SECRET, IACBOT_GITHUB_APP_ID=str(APP_ID),
               IACBOT_GITHUB_APP_PRIVATE_KEY_FILE=str(key), IACBOT_SPOOL_DIR=str(tmp_path / "spool"))
    done = subprocess.run([str(REPO / "scripts" / "serve")], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "serve: set IACBOT_SIGNING_KEY_FILE" in done.stderr and " ready." not in done.stdout + done.stderr
