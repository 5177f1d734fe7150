"""What one merge consideration costs, against the GitHub double, in this process (no worker).

Run with the engine's python:  .venv/bin/python scripts/bench_merge.py [-n 4] [--redis redis://127.0.0.1:6379/8]

For each of ``n`` PRs (iacbot's CKV_K8S_20 fix of one manifest each, published as publish_job
publishes it, under a policy that auto-merges low-risk hardening once check ``test`` from App ``ci``
is green), it times ``workers.automerge.consider_job`` twice and counts the requests the double
served: once with the check still running (gather, decide, store: not merged) and once green
(gather, decide, locks, re-check, pinned PUT, record). Token issue and revocation are included.
A PR number with no stored decision is timed too: that path asks GitHub nothing. The Redis
database given is FLUSHED first and last.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=4, help="PRs to time (at most 4: one per manifest)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/8", help="a Redis database to FLUSH and use")
    args = parser.parse_args()
    os.environ["IACBOT_TEST_REDIS_URL"] = args.redis
    os.environ.setdefault("IACBOT_BROKER_DURABILITY", "volatile-allowed")

    import redis

    from tests.github_double import GitHubDouble, new_app_key_pem
    from tests.workers.merge_harness import APP_ID, INSTALL_PERMISSIONS, PATHS, REPO_NAME, Stage, repo_files
    from tests.workers.test_automerge import _reader

    r = redis.Redis.from_url(args.redis)
    r.flushdb()
    with tempfile.TemporaryDirectory() as tmp, GitHubDouble() as gh:
        key = Path(tmp) / "app.pem"
        key.write_text(new_app_key_pem())
        gh.create_repo(REPO_NAME, files=repo_files())
        gh.install_app(APP_ID, key.read_text(), repos=[REPO_NAME], permissions=INSTALL_PERMISSIONS)
        gh.api = _reader(gh, key)
        stage = Stage(gh, r, key, Path(tmp), max_per_hour=100)
        timed: dict[str, list[float]] = {"decided": [], "merged": []}
        requests: dict[str, int] = {}
        for path in PATHS[:max(1, min(args.n, len(PATHS)))]:
            pr = stage.publish(path)
            for label, post_check in (("decided", lambda: stage.check(pr, status="in_progress")),
                                      ("merged", lambda: stage.green(pr))):
                post_check()
                gh.reset_traffic()
                started = time.perf_counter()
                [done] = stage.consider(pr.number)
                timed[label].append(time.perf_counter() - started)
                assert done.outcome == label, done
                requests[label] = len(gh.requests)
        started = time.perf_counter()
        gh.reset_traffic()
        stage.consider(4242)
        idle = time.perf_counter() - started
        for label, values in timed.items():
            print(f"{label:9} median {statistics.median(values) * 1000:6.0f} ms over {len(values)} PRs, "
                  f"{requests[label]} requests to GitHub")
        print(f"no record  {idle * 1000:6.1f} ms, {len(gh.requests)} requests to GitHub")
    r.flushdb()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
