"""Finding-to-PR latency on WARM workers against the GitHub double, the initial scan excluded.

Run with the engine's python:  .venv/bin/python scripts/bench_finding_to_pr.py [-n 20] [--paced 2]

What it does: starts the GitHub double (a repository with one vulnerable Deployment per sample)
and one REAL Celery worker on the remediate and publish queues (Redis db 8, flushed first), with
``IACBOT_GITHUB_WRITE_INTERVAL_SECONDS=0``. The findings come from one scan made up front (not
timed: "excluding the scan"). Each sample submits ONE finding as a ``findings_submitted`` job
(fetch_job -> remediate_job -> publish_job, ids only through Redis) and times, polling every 2 ms:

  fetch      job sent -> the file fetched into Redis        (iacbot:fetched:<job>)
  remediate  -> the fix located, made, verified and stored  (iacbot:remediated:<job>: locate, fix,
                re-scan in the worker's warm checkov process, re-made alone and verified again)
  publish    -> the pull request exists on the double       (publish_job: token, lock, Git data API)

The first sample warms the worker (checkov start, imports) and is not counted. ``--paced N``
then times N more samples on a second warm worker with GitHub's real pacing (1 s between writes, as against
github.com), reported separately: that is the floor a real publish pays for secondary limits.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402

from bot.local_scan import scan_directory  # noqa: E402
from bot.settings import CommonSettings  # noqa: E402
from fixers.scanner import Scanner  # noqa: E402
from tests.celery_worker import celery_worker  # noqa: E402
from tests.github_double import GitHubDouble, new_app_key_pem  # noqa: E402
from workers import store  # noqa: E402
from workers.celery_app import FETCH_TASK, REMEDIATE_QUEUE, make_celery  # noqa: E402

REDIS_URL = os.environ.get("IACBOT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
APP_ID = 777001
REPO_NAME = "bench/apps"
RULE = "CKV_K8S_16"  # privileged container: one finding, one safe-default fix per manifest
POLL = 0.002


def manifest(i: int) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-{i}
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web-{i}
  template:
    metadata:
      labels:
        app: web-{i}
    spec:
      containers:
        - name: app
          image: nginx:1.25
          securityContext:
            privileged: true
"""


def findings_for(files: dict[str, str]) -> dict[str, dict]:
    """The scan made once, up front (not timed): path -> the RULE finding on it."""
    with tempfile.TemporaryDirectory() as tmp, Scanner() as scanner:
        for path, text in files.items():
            (Path(tmp) / path).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / path).write_text(text)
        found, problems = scan_directory(scanner, Path(tmp))
    if problems:
        raise SystemExit(f"the up-front scan had problems: {problems}")
    return {f.file: dataclasses.asdict(f) for f in found if f.rule_id == RULE}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_sample(r, celery, double: GitHubDouble, finding: dict, timeout: float = 120) -> dict[str, float]:
    job_id, sid = str(uuid.uuid4()), str(uuid.uuid4())
    installation_id = double.installation.id
    r.set(store.SUBMISSION_PREFIX + sid, json.dumps({"tenant": "bench", "installation_id": installation_id,
                                               "repository": REPO_NAME, "commit_sha": None,
                                               "findings": [finding], "problems": []}), ex=3600)
    job = {"kind": "findings_submitted", "installation_id": installation_id, "repository": REPO_NAME,
           "submission_id": sid, "delivery_id": job_id}
    before = len(double.repo(REPO_NAME).pulls)
    marks: dict[str, float] = {}
    started = time.perf_counter()
    celery.send_task(FETCH_TASK, args=[job], queue=REMEDIATE_QUEUE, task_id=f"{job_id}:fetch", ignore_result=True)
    while "pr" not in marks:
        now = time.perf_counter()
        if now - started > timeout:
            raise SystemExit(f"job {job_id}: no PR after {timeout} s (marks so far: {marks}); see the worker log")
        if "fetched" not in marks and r.exists(store.FETCHED_PREFIX + job_id):
            marks["fetched"] = now
        if "remediated" not in marks and r.exists(store.REMEDIATED_PREFIX + job_id):
            marks["remediated"] = now
            if not r.hlen(store.FIXES_PREFIX + job_id):
                raise SystemExit(f"job {job_id}: remediated without a fix; see the worker log")
        if len(double.repo(REPO_NAME).pulls) > before:
            marks["pr"] = now
        time.sleep(POLL)
    fetched = marks.get("fetched", marks.get("remediated", marks["pr"]))
    remediated = marks.get("remediated", marks["pr"])
    return {"total": marks["pr"] - started, "fetch": fetched - started, "remediate": remediated - fetched,
            "publish": marks["pr"] - remediated}


def report(title: str, samples: list[dict[str, float]]) -> None:
    print(f"\n{title} ({len(samples)} samples)")
    print(f"{'phase':<10} {'median s':>9} {'p90 s':>7} {'max s':>7}")
    for phase in ("total", "fetch", "remediate", "publish"):
        values = [s[phase] for s in samples]
        print(f"{phase:<10} {statistics.median(values):>9.3f} {pct(values, 0.9):>7.3f} {max(values):>7.3f}")


def measure(args, double: GitHubDouble, key: Path, findings: list[dict], interval: str, log: Path,
            warm: bool) -> list[dict[str, float]]:
    r = redis.Redis.from_url(REDIS_URL)
    env = {**os.environ, "IACBOT_REDIS_URL": REDIS_URL, "IACBOT_GITHUB_API_URL": double.base_url,
           "IACBOT_GITHUB_APP_ID": str(APP_ID), "IACBOT_GITHUB_APP_PRIVATE_KEY_FILE": str(key),
           "IACBOT_GITHUB_WRITE_INTERVAL_SECONDS": interval,
           # Every sample opens a PR in the one benchmark repository: the open-PR cap would defer them.
           "IACBOT_MAX_OPEN_PRS_PER_REPO": "0"}
    env.pop("IACBOT_GITHUB_APP_PRIVATE_KEY", None)
    celery = make_celery(CommonSettings(redis_url=REDIS_URL))
    samples = []
    with celery_worker(",".join((REMEDIATE_QUEUE, "publish")), env, log, f"bench-{interval}", start_timeout=60):
        if warm:
            run_sample(r, celery, double, findings.pop(0))  # checkov start, imports, first token: not counted
        for finding in findings:
            samples.append(run_sample(r, celery, double, finding))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="timed samples on the unpaced worker (default 20)")
    parser.add_argument("--paced", type=int, default=2, help="samples with 1 s between writes (default 2; 0: skip)")
    args = parser.parse_args()
    total = 1 + args.n + (1 + args.paced if args.paced else 0)  # + one warm-up sample per worker
    files = {f"k8s/web-{i}.yaml": manifest(i) for i in range(total)}
    started = time.perf_counter()
    by_file = findings_for(files)
    print(f"up-front scan of {total} manifests (not timed below): {time.perf_counter() - started:.1f} s, "
          f"{len(by_file)} {RULE} findings")
    findings = [by_file[path] for path in files]

    r = redis.Redis.from_url(REDIS_URL)
    r.flushdb()
    with tempfile.TemporaryDirectory() as tmp, GitHubDouble() as double:
        key = Path(tmp) / "app.pem"
        key.write_text(new_app_key_pem())
        double.create_repo(REPO_NAME, files={"README.md": "# bench\n", **files})
        double.installation = double.install_app(APP_ID, key.read_text(), repos=[REPO_NAME])
        log = Path(tmp) / "worker.log"
        try:
            fast = measure(args, double, key, findings[:1 + args.n], "0", log, warm=True)
            report("warm worker, IACBOT_GITHUB_WRITE_INTERVAL_SECONDS=0 (the double)", fast)
            if args.paced:
                paced = measure(args, double, key, findings[1 + args.n:], "1", log, warm=True)
                report("GitHub's pacing, IACBOT_GITHUB_WRITE_INTERVAL_SECONDS=1 (as against github.com)", paced)
        except SystemExit:
            print(log.read_text()[-4000:], file=sys.stderr)
            raise
        if double.violations:
            raise SystemExit("OpenAPI violations:\n" + "\n".join(double.violations))
    r.flushdb()
    print(f"\n{len(double.repo(REPO_NAME).pulls)} pull requests opened on the double; every exchange matched "
          "GitHub's OpenAPI description")


if __name__ == "__main__":
    main()
