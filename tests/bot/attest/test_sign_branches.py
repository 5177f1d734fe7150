"""End to end: `iacbot fix --branch --signing-key` signs each branch commit into refs/notes/iacbot,
and `iacbot provenance verify --repo --commit` accepts it, and refuses it once the file is changed."""
from __future__ import annotations

import base64
import contextlib
import json

import pytest

from bot.attest import keys
from bot.cli import main
from tests.bot.attest.helpers import git
from tests.bot.test_cli import ENGINE_FIXTURES, git_repo_of
from tests.paths import REPO


def test_fix_branch_signs_each_branch_and_verify_checks_it(run, tmp_path):
    private, public = keys.keygen(tmp_path / "keys")
    repo = git_repo_of(REPO / "examples" / "sample-repo", tmp_path)
    code, out, err = run("fix", str(repo), "--branch", "--signing-key", str(private))
    assert code == 0, err
    branches = [b for b in git(repo, "branch", "--format=%(refname:short)").split() if b.startswith("iacbot/")]
    assert branches
    for branch in branches:
        commit = git(repo, "rev-parse", branch).strip()
        code, out, _ = run("provenance", "verify", "--key", str(public), "--repo", str(repo), "--commit", branch)
        assert code == 0, out
        [changed] = git(repo, "diff", "--name-only", "main", branch).split()
        assert f"{changed}: sha256 matches" in out and f"git+commit: {commit}" in out
    note = json.loads(git(repo, "notes", "--ref=refs/notes/iacbot", "show", branches[0]))
    doc = json.loads(base64.b64decode(note["payload"]))
    predicate = doc["predicate"]
    assert predicate["fixer"]["id"] and predicate["fixer"]["version"].startswith("sha256:")
    assert predicate["finding"]["fingerprint"] in branches[0] and predicate["verification"]["scanner_version"]
    assert predicate["identities"] == {"analysed_by": "iacbot-cli", "acted_by": "iacbot-cli"}
    # A file changed after signing: its note, presented for the changed commit, fails.
    [changed] = git(repo, "diff", "--name-only", "main", branches[0]).split()
    git(repo, "checkout", "-q", branches[0])
    (repo / changed).write_text((repo / changed).read_text() + "\n# edited\n")
    git(repo, "commit", "-qam", "edit after signing")
    env = tmp_path / "env.json"
    env.write_text(json.dumps(note))
    code, out, _ = run("provenance", "verify", "--key", str(public), "--envelope", str(env),
                       "--repo", str(repo), "--commit", "HEAD")
    assert code == 1 and f"{changed}: differs" in out


def test_signing_key_errors_are_found_before_any_work(tmp_path, capsys):
    repo = git_repo_of(ENGINE_FIXTURES / "one-fix", tmp_path)
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    for argv, says in ((["--branch", "--signing-key", str(bad)], "bad.pem: not a PEM private key"),
                       (["--branch", "--signing-key", str(tmp_path / "none.pem")], "none.pem: cannot read"),
                       (["--signing-key", str(bad)], "give --branch too")):
        code = main(["--no-color", "fix", str(repo), *argv], open_scanner=_no_scanner)
        assert code == 2 and says in capsys.readouterr().err


@contextlib.contextmanager
def _no_scanner():
    raise AssertionError("a usage error must be found before the scanner starts")
    yield
