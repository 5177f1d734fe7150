"""The service's PR body and commits under `iacbot provenance verify`: every block is verified and
named by its stage, and with --repo --commit the commit's Iacbot-Statement trailer (and a merge
commit's Iacbot-Merge-Statement) is checked against the envelope. A local git repository stands in
for a clone of the repository the PR is in."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.attest import MERGE_STATEMENT_TRAILER, STATEMENT_TRAILER, blocks, dsse, statement
from bot.attest.signer import Signer, merge_statement
from bot.attest.verify import attestation_block
from bot.cli import main
from policies.decision import Decision
from policies.reasons import Action
from tests.bot.attest.helpers import git, make_statement

POD = b"kind: Pod\nspec: {fixed: true}\n"


def staged(stage: str, action: Action = Action.AUTOMERGE) -> dict:
    doc = make_statement({"pod.yaml": POD})
    doc["predicate"]["policy"] = statement.policy_part(Decision(action, ()), 1764662400.0, stage)
    return doc


def repo_with_fix(tmp_path: Path, trailer: str | None) -> tuple[Path, str]:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "pod.yaml").write_text("kind: Pod\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "initial")
    git(repo, "checkout", "-qb", "iacbot/fix")
    (repo / "pod.yaml").write_bytes(POD)
    message = "iacbot: fix\n\nIacbot-Finding: abc123" + (f"\n{STATEMENT_TRAILER}: {trailer}" if trailer else "")
    git(repo, "commit", "-qam", message)
    return repo, git(repo, "rev-parse", "HEAD").strip()


def cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(["--no-color", "provenance", "verify", *argv])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_the_commit_trailer_binds_the_commit_to_the_statement_and_back(tmp_path, key, pub, capsys):
    signer = Signer(key, staged("publish"))
    repo, sha = repo_with_fix(tmp_path, signer.trailer)
    body = tmp_path / "body.md"
    body.write_text(f"# fix\n\n{signer.block(sha)}\n")
    code, out = cli(capsys, "--key", str(pub), "--pr-body", str(body), "--repo", str(repo), "--commit", sha)
    assert code == 0, out
    assert "block 1 (stage publish)" in out and f"{STATEMENT_TRAILER} trailer names this statement" in out
    # The envelope alone, with the commit: the same checks.
    env = tmp_path / "env.json"
    env.write_text(signer.envelope(sha).dumps())
    assert cli(capsys, "--key", str(pub), "--envelope", str(env), "--repo", str(repo), "--commit", sha)[0] == 0


@pytest.mark.parametrize("trailer", [None, "sha256:" + "0" * 64])
def test_a_commit_without_the_statements_trailer_fails(tmp_path, key, pub, capsys, trailer):
    signer = Signer(key, staged("publish"))
    repo, sha = repo_with_fix(tmp_path, trailer)
    body = tmp_path / "body.md"
    body.write_text(signer.block(sha))
    code, out = cli(capsys, "--key", str(pub), "--pr-body", str(body), "--repo", str(repo), "--commit", sha)
    assert code == 1 and f"FAIL  block 1 (stage publish): commit {sha[:12]}" in out and STATEMENT_TRAILER in out, out


def test_the_trailer_ignores_the_decision_so_a_new_decision_still_matches_the_commit(key):
    first, later = staged("publish"), staged("publish", Action.PULL_REQUEST)
    assert Signer(key, first).trailer == Signer(key, later).trailer
    other_file = make_statement({"pod.yaml": b"other"})
    assert statement.change_digest(other_file) != Signer(key, first).trailer


def test_a_merge_stage_block_is_verified_and_the_merge_commit_names_it(tmp_path, key, pub, capsys):
    signer = Signer(key, staged("publish"))
    repo, sha = repo_with_fix(tmp_path, signer.trailer)
    doc = merge_statement(statement.with_commit(signer.doc, sha), {"pod.yaml": POD}, sha,
                          Decision(Action.AUTOMERGE, ()), 1764662500.0, None, "iacbot-cli")
    merge_env = dsse.sign(statement.canonical(doc), key)
    body_text = blocks.with_stage_block(f"# fix\n{signer.block(sha)}\n", "merge", attestation_block(merge_env))
    assert blocks.with_stage_block(body_text, "merge", attestation_block(merge_env)) == body_text  # replaced, not added
    body = tmp_path / "body.md"
    body.write_text(body_text)
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "iacbot/fix", "-m",
        f"Merge\n\n{MERGE_STATEMENT_TRAILER}: {statement.statement_digest(doc)}")
    merge = git(repo, "rev-parse", "HEAD").strip()
    for commit in (sha, merge):
        code, out = cli(capsys, "--key", str(pub), "--pr-body", str(body), "--repo", str(repo), "--commit", commit)
        assert code == 0, out
        assert "block 2 (stage merge)" in out
    assert f"{MERGE_STATEMENT_TRAILER} trailer names this statement" in out
    # A merge-stage statement about files the head does not have cannot be made.
    with pytest.raises(ValueError):
        merge_statement(statement.with_commit(signer.doc, sha), {"pod.yaml": b"changed"}, sha,
                        Decision(Action.AUTOMERGE, ()), 1.0, None, "x")


def test_two_publish_blocks_or_a_merge_block_alone_fail(tmp_path, key, pub, capsys):
    sha = "c" * 40
    publish = Signer(key, staged("publish")).block(sha)
    merge = Signer(key, staged("merge")).block(sha)
    for text in (f"{publish}\n{publish}", merge):
        body = tmp_path / "body.md"
        body.write_text(text)
        code, out = cli(capsys, "--key", str(pub), "--pr-body", str(body))
        assert code == 1 and "FAIL" in out, out
