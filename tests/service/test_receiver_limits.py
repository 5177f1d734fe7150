"""The receiver's bounds on what a request may cost, against a real uvicorn running the production
command (scripts/serve, README) on a free port, with raw sockets as hostile clients.

* what headers tell is refused before a byte of the body is read (a missing webhook signature,
  an unknown tenant or a wrong bearer token, a declared Content-Length over the cap);
* many concurrent large bodies: only ``IACBOT_MAX_LARGE_BODIES`` are read, the rest get 503 with
  Retry-After at once, and the process's peak memory (VmHWM) stays within slots x 2 x cap;
* a body or a head sent slowly is cut off with 408 instead of holding the connection.

No timed assertions: every wait is for an answer, with a generous guard that only fails the
test when no answer comes at all (which is what the old receiver did).
"""
from __future__ import annotations

import hashlib
import json
import os
import select
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tests.celery_worker import wait_for
from tests.paths import REPO
from tests.service.conftest import SECRET, TEST_REDIS_URL

TOKEN = "limits-token-0123456789abcdef"
GUARD = 60  # seconds: only reached when the server never answers
CAP = 8 * 1024 * 1024
SLOTS = 2
MiB = 1024 * 1024
#: The production server's flags (scripts/serve and the README run the same ones).
SERVE_FLAGS = ["--loop", "uvloop", "--http", "bot.service.uvicorn_http:HttpTools", "--no-access-log",
               "--timeout-keep-alive", "5", "--limit-concurrency", "512"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def receiver(tmp_path: Path, **env_overrides: str) -> Iterator[tuple[int, int]]:
    tenants = tmp_path / "tenants.json"
    tenants.write_text(json.dumps({"tenants": [
        {"id": "acme", "installation_id": 42, "repositories": ["acme/*"],
         "token_sha256": hashlib.sha256(TOKEN.encode()).hexdigest()}]}))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACBOT_")}
    env.update(IACBOT_WEBHOOK_SECRET=SECRET, IACBOT_REDIS_URL=TEST_REDIS_URL, IACBOT_TENANTS_FILE=str(tenants),
               IACBOT_MAX_BODY_BYTES=str(CAP), IACBOT_FINDINGS_MAX_BODY_BYTES=str(CAP),
               IACBOT_MAX_LARGE_BODIES=str(SLOTS),
               IACBOT_BROKER_DURABILITY="volatile-allowed",  # the machine's test Redis keeps nothing on disk
               **env_overrides)
    log = tmp_path / f"uvicorn-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(REPO / ".venv" / "bin" / "uvicorn"), "--factory", "bot.service.app:app_from_env",
                                 "--host", "127.0.0.1", "--port", str(port), *SERVE_FLAGS],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _answers(port), 30, "uvicorn to answer /healthz", log)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(12).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(GUARD)
    return s


def head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def webhook_headers(**extra: str) -> dict[str, str]:
    return {"X-GitHub-Event": "push", "X-GitHub-Delivery": "0f0e0d0c-0000-4000-8000-000000000001",
            "X-Hub-Signature-256": "sha256=" + "0" * 64, **extra}  # well-formed, but not the body's


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def read_answer(s: socket.socket) -> tuple[int, dict[str, str], dict]:
    """Status, headers and JSON body of one response (the guard timeout raises when none comes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = s.recv(65536)
        if not more:
            raise AssertionError(f"connection closed without an answer: {data!r}")
        data += more
    raw_head, body = data.split(b"\r\n\r\n", 1)
    lines = raw_head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        more = s.recv(65536)
        if not more:
            break
        body += more
    return int(lines[0].split()[1]), headers, json.loads(body) if body else {}


def peak_rss(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One receiver for the tests below; none of their requests gets past verification, so
    nothing reaches Redis."""
    with receiver(tmp_path_factory.mktemp("receiver"), IACBOT_BODY_TIMEOUT_SECONDS="120") as running:
        yield running


@pytest.fixture(scope="module")
def impatient(tmp_path_factory):
    """A receiver with 1 s deadlines for the head and the body."""
    with receiver(tmp_path_factory.mktemp("impatient"), IACBOT_BODY_TIMEOUT_SECONDS="1",
                  IACBOT_HEADER_TIMEOUT_SECONDS="1") as running:
        yield running


@pytest.mark.parametrize("path,headers,status,detail", [
    ("/webhooks/github", {k: v for k, v in webhook_headers().items() if k != "X-Hub-Signature-256"}, 401,
     "X-Hub-Signature-256"),
    ("/webhooks/github", webhook_headers(**{"X-Hub-Signature-256": "sha256=short"}), 401, "X-Hub-Signature-256"),
    ("/webhooks/github", webhook_headers(**{"Content-Length": str(CAP + 1)}), 413, "larger than"),
    ("/v1/findings?repository=acme/infra", {"Authorization": "Bearer wrong-token-0123456789"}, 401,
     "invalid credential"),
    ("/v1/findings?repository=acme/infra", {"X-Iacbot-Tenant": "nobody", "X-Iacbot-Timestamp": "{now}",
                                            "X-Iacbot-Signature-256": "sha256=" + "0" * 64}, 401, "unknown tenant"),
    ("/v1/findings?repository=acme/infra", {"Authorization": f"Bearer {TOKEN}", "Content-Length": str(CAP + 1)},
     413, "larger than"),
    ("/v1/findings?repository=other/infra", {"Authorization": f"Bearer {TOKEN}"}, 403, "may not submit"),
])
def test_refused_before_the_body_is_read(server, path, headers, status, detail):
    """Only the head is sent (it announces 7 MiB that never come): the answer can only be given
    from the headers. The old receiver read the whole body first and never answered here."""
    port, _ = server
    headers = {"Content-Length": str(7 * MiB), **{k: v.replace("{now}", str(int(time.time())))
                                                  for k, v in headers.items()}}
    with connect(port) as s:
        s.sendall(head(path, headers))
        code, answer_headers, body = read_answer(s)
    assert code == status and detail in body["detail"], body
    assert answer_headers.get("connection") == "close"


@pytest.mark.parametrize("path,headers", [
    ("/webhooks/github", webhook_headers()),
    ("/v1/findings?repository=acme/infra", {"Authorization": f"Bearer {TOKEN}"}),
])
def test_concurrent_large_bodies_are_bounded(server, path, headers):
    """16 clients send large chunked bodies at once. Each first sends just over 64 KiB, so the
    server must decide to read on; only SLOTS of them are read, the other 14 are answered 503 with
    Retry-After while those SLOTS are still open, and the process's peak memory grows by no more
    than SLOTS x 2 x the body size (plus small change), not 16 x that."""
    port, pid = server
    clients = 16
    body_size = 7 * MiB
    first = b" " * (64 * 1024 + 1)
    before = peak_rss(pid)
    sockets = [connect(port) for _ in range(clients)]
    for s in sockets:
        s.sendall(head(path, {**headers, "Transfer-Encoding": "chunked"}) + chunk(first))
    answered: dict[socket.socket, tuple[int, dict[str, str], dict]] = {}
    while len(answered) < clients - SLOTS:
        waiting = [s for s in sockets if s not in answered]
        readable, _, _ = select.select(waiting, [], [], GUARD)
        assert readable, f"only {len(answered)} of {clients - SLOTS} refusals came: the excess was read"
        for s in readable:
            answered[s] = read_answer(s)
    for code, answer_headers, body in answered.values():
        assert code == 503 and answer_headers["retry-after"] == "1" and "large bodies" in body["detail"], body
    holders = [s for s in sockets if s not in answered]
    assert len(holders) == SLOTS
    rest = b" " * (1 * MiB)
    for s in holders:
        for _ in range(body_size // len(rest) - 1):
            s.sendall(chunk(rest))
        s.sendall(b"0\r\n\r\n")
    for s in holders:
        code, _, body = read_answer(s)  # read whole, then judged: not the body's signature / not JSON
        assert code in (400, 401), body
    for s in sockets:
        s.close()
    growth = peak_rss(pid) - before
    assert growth < SLOTS * 2 * body_size + 16 * MiB, f"peak memory grew by {growth / MiB:.0f} MiB"
    print(f"{clients} x {body_size // MiB} MiB chunked bodies, {SLOTS} slots: peak RSS +{growth / MiB:.1f} MiB")
    # The slots are free again: a small request is judged as usual (bad signature, or not findings).
    with connect(port) as s:
        s.sendall(head(path, {**headers, "Content-Length": "2"}) + b"{}")
        assert read_answer(s)[0] in (400, 401)


@pytest.mark.parametrize("path,headers", [
    ("/webhooks/github", webhook_headers()),
    ("/v1/findings?repository=acme/infra", {"Authorization": f"Bearer {TOKEN}"}),
])
def test_slow_body_gets_408(impatient, path, headers):
    """A client that trickles its body a byte at a time is cut off at the body deadline (1 s here)
    with 408, long before it could finish; the old receiver waited as long as the client did."""
    port, _ = impatient
    with connect(port) as s:
        s.sendall(head(path, {**headers, "Content-Length": "10000"}))
        sent = 0
        while not select.select([s], [], [], 0.2)[0]:
            s.sendall(b" ")
            sent += 1
            assert sent < 10000, "the whole body went through without a deadline"
        code, answer_headers, body = read_answer(s)
    assert code == 408 and "within 1 s" in body["detail"], body
    assert answer_headers.get("connection") == "close"


def test_slow_head_gets_408(impatient):
    """A client that never finishes its headers (slowloris) is answered 408 and closed at the head
    deadline (1 s here); plain uvicorn keeps such a connection for ever."""
    port, _ = impatient
    with connect(port) as s:
        s.sendall(b"POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sent = 0
        while not select.select([s], [], [], 0.2)[0]:
            s.sendall(f"X-Slow-{sent}: 1\r\n".encode())
            sent += 1
            assert sent < 1000, "the head was never cut off"
        answer = s.recv(1024)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    with connect(port) as s:  # a connection that sends nothing at all is closed too
        assert s.recv(1024).startswith(b"HTTP/1.1 408")
