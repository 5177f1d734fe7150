"""GitHubDouble: the World served over real HTTP by uvicorn in a background thread."""
from __future__ import annotations

import socket
import threading
import time

import uvicorn
from cryptography.hazmat.primitives import serialization

from .app import build_app
from .openapi_check import Validator, load_spec
from .state import App, Installation, Repo, World, next_id

DEFAULT_PERMISSIONS = {"metadata": "read", "contents": "write", "pull_requests": "write",
                       "issues": "write", "checks": "write"}


class GitHubDouble:
    """`with GitHubDouble() as gh: gh.create_repo(...); Github(base_url=gh.base_url, ...)`.

    Seeding goes through Python methods, not HTTP, so tests set up state GitHub itself would
    have (existing repos, installed apps) without needing endpoints the bot never calls.
    """

    def __init__(self) -> None:
        load_spec()  # pay the parsing cost before the clock of the first request starts
        self.world = World()
        self.validator = Validator()
        self.base_url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- seeding ----------------------------------------------------------------------------
    def create_repo(self, full_name: str, files: dict[str, str | bytes], default_branch: str = "main",
                    private: bool = True) -> Repo:
        return self.world.create_repo(full_name, files, default_branch, private)

    def install_app(self, app_id: int, public_key_pem: bytes | str, repos: list[str],
                    permissions: dict[str, str] | None = None, slug: str = "iacbot") -> Installation:
        """Register App `app_id` (verifying JWTs with `public_key_pem`) and install it on `repos`
        (all of one account). Returns the installation; its `.id` is what the bot uses."""
        key = public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem
        if b"PRIVATE KEY" in key:  # accept a private key for convenience; keep only its public half
            key = serialization.load_pem_private_key(key, None).public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        with self.world.lock:
            self.world.apps[app_id] = App(app_id, slug, key)
            targets = [self.world.repo(*r.split("/")) for r in repos]
            if any(t is None for t in targets):
                raise KeyError(f"unknown repository in {repos}")
            accounts = {t.owner.lower() for t in targets}
            if len(accounts) != 1:
                raise ValueError("an installation belongs to exactly one account")
            inst = Installation(next_id(), app_id, targets[0].owner, [t.id for t in targets],
                                dict(permissions or DEFAULT_PERMISSIONS))
            self.world.installations[inst.id] = inst
            return inst

    def repo(self, full_name: str) -> Repo:
        return self.world.repo(*full_name.split("/"))

    @property
    def violations(self) -> list[str]:
        return self.validator.violations

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> "GitHubDouble":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))  # a free port chosen by the kernel: no races between runs
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        app = build_app(self.world, self.validator, lambda: self.base_url)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("GitHub double did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = None

    def __enter__(self) -> "GitHubDouble":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
