"""Ingest benchmark: signed push deliveries against the receiver as deployed.

Run with the engine's python:  .venv/bin/python scripts/bench_ingest.py [--deliveries N]

Starts the service exactly as the README documents for production (uvicorn with
``--factory bot.service.app:app_from_env``) on Redis db 9 with the real broker enqueue (no
worker), then drives it from a lean asyncio HTTP/1.1 keep-alive client on loopback: many
connections, every request pre-built and pre-signed, unique deliveries made from GitHub's real
push payload plus a share of redeliveries of ids already sent. Prints throughput, latency
percentiles, status counts and the exactly-once check: accepted-as-queued == unique delivery
ids == messages on the Celery "scan" list, each id exactly once, every redelivery "duplicate".
Redis db 9 is flushed before and after.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import json
import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.service.signature import sign  # noqa: E402

PAYLOAD = ROOT.parent / "shared" / "github" / "webhook-examples" / "api.github.com" / "push" / \
    "with-new-branch.payload.json"
REDIS_URL = "redis://127.0.0.1:6379/9"
SECRET = "bench-" + uuid.uuid4().hex
PATH = "/webhooks/github"

#: The production server command (README "The GitHub App service"); the benchmark measures it.
SERVER_ARGS = ["--factory", "bot.service.app:app_from_env", "--host", "127.0.0.1",
               "--loop", "uvloop", "--http", "bot.service.uvicorn_http:HttpTools", "--no-access-log",
               "--timeout-keep-alive", "5", "--limit-concurrency", "512"]


def server_command(port: int, workers: int, extra: list[str]) -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "uvicorn"), *SERVER_ARGS, "--port", str(port),
            "--workers", str(workers), *extra]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_request(body: bytes, event: str, delivery: str) -> bytes:
    head = (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"User-Agent: GitHub-Hookshot/bench\r\nX-GitHub-Event: {event}\r\n"
            f"X-GitHub-Delivery: {delivery}\r\nX-Hub-Signature-256: {sign(SECRET.encode(), body)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def plan(deliveries: int, redelivery_share: float, seed: int, first: int = 0) -> list[tuple[str, bytes]]:
    """(delivery id, request bytes): unique pushes, with redeliveries of earlier ids mixed in."""
    base = json.loads(PAYLOAD.read_text())
    rng = random.Random(seed)
    uniques: list[tuple[str, bytes]] = []
    for i in range(deliveries):
        payload = dict(base, after=f"{first + i:040x}")  # a distinct head commit per push
        body = json.dumps(payload).encode()
        delivery = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        uniques.append((delivery, build_request(body, "push", delivery)))
    requests = []
    for i, item in enumerate(uniques):
        requests.append(item)
        # A redelivery re-sends the same bytes (GitHub redelivers the identical request).
        if i > 200 and rng.random() < redelivery_share:
            requests.append(uniques[rng.randrange(0, i - 150)])
    return requests


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    return status, body


async def load(port: int, requests: list[tuple[str, bytes]], connections: int, rate: float | None = None):
    """Send every request over ``connections`` keep-alive connections: as fast as answers come
    back (closed loop), or open loop at ``rate`` requests/s, when latency counts from the moment
    a request was due, so time spent waiting for a free connection is not hidden."""
    queue = collections.deque(enumerate(requests))
    results: list[tuple[str, int, str, float]] = []
    clock = time.perf_counter  # uvloop's loop.time() has only millisecond resolution

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                index, (delivery, raw) = queue.popleft()
                due = start + index / rate if rate else clock()
                if due > clock():
                    await asyncio.sleep(due - clock())
                writer.write(raw)
                status, body = await read_response(reader)
                elapsed = clock() - due
                state = json.loads(body).get("status", "?") if body else "?"
                results.append((delivery, status, state, elapsed))
        finally:
            writer.close()

    start = clock()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return results, clock() - start


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("server did not become ready")


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def check_broker(client, queue: str, results, requests) -> bool:
    """Exactly once: every unique id answered "queued" once (its redeliveries "duplicate") and
    on the broker once; nothing else on the broker."""
    unique_ids = {d for d, _ in requests}
    queued = [d for d, _, state, _ in results if state == "queued"]
    answers = collections.defaultdict(list)
    for d, _, state, _ in results:
        answers[d].append(state)
    messages = [json.loads(m) for m in client.lrange(queue, 0, -1)]
    task_ids = collections.Counter(m["headers"]["id"] for m in messages)
    jobs_ok = all(json.loads(base64.b64decode(m["body"]))[0][0]["delivery_id"] == m["headers"]["id"]
                  for m in messages)
    answers_ok = all(states.count("queued") == 1 and states.count("duplicate") == len(states) - 1
                     for states in answers.values())
    print(f"\nexactly-once: queued answers {len(queued)}, unique delivery ids {len(unique_ids)}, "
          f"messages on {queue!r} {len(messages)}, distinct task ids {len(task_ids)}, "
          f"most messages for one id {max(task_ids.values(), default=0)}")
    print(f"redeliveries: {len(requests) - len(unique_ids)} sent; every id answered 'queued' once and "
          f"'duplicate' after: {answers_ok}; every message's job carries its own id: {jobs_ok}")
    ok = (len(queued) == len(set(queued)) == len(unique_ids) == len(messages) == len(task_ids)
          and set(task_ids) == unique_ids and answers_ok and jobs_ok)
    print("exactly-once check:", "PASS" if ok else "FAIL")
    return ok


def report(title: str, results, seconds: float) -> None:
    latencies = sorted(r[3] for r in results)
    statuses = collections.Counter(f"{r[1]} {r[2]}" for r in results)
    print(f"\n{title}")
    print(f"  throughput: {len(results) / seconds:,.0f} deliveries/s ({len(results)} in {seconds:.2f} s)")
    print(f"  latency ms: p50 {percentile(latencies, 0.5) * 1e3:.1f}, p99 {percentile(latencies, 0.99) * 1e3:.1f}, "
          f"max {latencies[-1] * 1e3:.1f}")
    print("  statuses:", ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=20_000, help="unique deliveries per phase")
    parser.add_argument("--redeliveries", type=float, default=0.1, help="share of redeliveries")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rate", type=float, default=1000, help="open-loop phase: deliveries/s")
    parser.add_argument("--workers", type=int, default=1,
                        help="uvicorn worker processes (1 measured best here: the generator shares the 2 cores)")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="extra uvicorn argument (for experiments; repeatable)")
    args = parser.parse_args()

    import redis

    from workers.celery_app import job_target
    queue = job_target({"kind": "scan_push"})[1]
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    at_rate = plan(args.deliveries, args.redeliveries, seed=7)
    flat_out = plan(args.deliveries, args.redeliveries, seed=8, first=args.deliveries)
    # Warm-up: real deliveries too (checked like the rest), so both sides have opened their
    # Redis and HTTP connections and loaded the script before anything is timed.
    warm = plan(args.connections * 30, args.redeliveries, seed=9, first=2 * args.deliveries)
    port = free_port()
    command = server_command(port, args.workers, args.server_arg)
    env = {**os.environ, "IACBOT_REDIS_URL": REDIS_URL, "IACBOT_WEBHOOK_SECRET": SECRET}
    # Measured on whatever Redis answers at REDIS_URL; a volatile one must be allowed by name.
    env.setdefault("IACBOT_BROKER_DURABILITY", "volatile-allowed")
    env.pop("IACBOT_TENANTS_FILE", None)
    printable = shlex.join(["IACBOT_REDIS_URL=" + REDIS_URL, "IACBOT_WEBHOOK_SECRET=...",
                            *[c.replace(str(ROOT) + "/", "") for c in command]])
    print(f"server: {printable}")
    print(f"load:   per phase {len(at_rate)} requests ({args.deliveries} unique signed push deliveries + "
          f"{len(at_rate) - args.deliveries} redeliveries), {args.connections} keep-alive connections, "
          f"{os.cpu_count()} cores shared with the generator; jobs go to the {queue!r} list")
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_ready(port, proc)
        try:
            import uvloop
            runner = uvloop.run
        except ImportError:
            runner = asyncio.run
        warm_results, _ = runner(load(port, warm, args.connections))
        rate_results, rate_seconds = runner(load(port, at_rate, args.connections, args.rate))
        flat_results, flat_seconds = runner(load(port, flat_out, args.connections))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            _, stderr = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, stderr = proc.communicate()
    report(f"open loop at {args.rate:,.0f} deliveries/s (latency from when each was due):",
           rate_results, rate_seconds)
    report("closed loop, as fast as answers come (saturation):", flat_results, flat_seconds)
    ok = check_broker(client, queue, warm_results + rate_results + flat_results, warm + at_rate + flat_out)
    errors = [line for line in stderr.decode(errors="replace").splitlines() if "Traceback" in line]
    if errors:
        print(f"server printed {len(errors)} tracebacks")
        ok = False
    client.flushdb()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
