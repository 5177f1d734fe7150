"""A small signed git repository for the provenance tests (no scanner needed)."""
from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.attest import dsse, statement
from bot.attest.verify import NOTES_REF

ID = ["-c", "user.name=t", "-c", "user.email=t@example.com"]


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo), *ID, *args], check=True, capture_output=True, text=True,
                          input=stdin).stdout


def make_statement(files: dict[str, bytes], commit: str | None = None) -> dict:
    return statement.build(
        files,
        finding={"rule": "CKV_K8S_1", "rules": ["CKV_K8S_1"], "scanner": "checkov", "resource": "Pod.default.web",
                 "fingerprint": "abc123", "file": "pod.yaml", "trigger": {"event": "local_run"}},
        location={"file": "pod.yaml", "layer": "manifest", "why": "the manifest sets it"},
        fixer={"id": "k8s.example", "version": "sha256:" + "0" * 64}, iacbot_version="0.1.0",
        verification={"text": "CKV_K8S_1 passes after the fix", "scanner_version": "3.2.0"},
        policy=None, identities={"analysed_by": "iacbot-cli", "acted_by": "iacbot-cli"}, commit=commit)


def signed(doc: dict, key: Ed25519PrivateKey) -> dsse.Envelope:
    return dsse.sign(statement.canonical(doc), key)


def repo_with_two_commits(tmp_path: Path, key: Ed25519PrivateKey) -> tuple[Path, str, str]:
    """A repository whose commit A changes pod.yaml (signed, envelope in A's note) and whose child B
    changes only other.txt, so pod.yaml is the same at both."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "pod.yaml").write_text("kind: Pod\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "initial")
    (repo / "pod.yaml").write_text("kind: Pod\nspec: {fixed: true}\n")
    git(repo, "commit", "-qam", "fix")
    a = git(repo, "rev-parse", "HEAD").strip()
    env = signed(make_statement({"pod.yaml": (repo / "pod.yaml").read_bytes()}, commit=a), key)
    git(repo, "notes", f"--ref={NOTES_REF}", "add", "-F", "-", a, stdin=env.dumps())
    (repo / "other.txt").write_text("x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "other")
    b = git(repo, "rev-parse", "HEAD").strip()
    return repo, a, b
