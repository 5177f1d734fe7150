"""`iacbot audit verify` (exit 0 intact, 1 not, 2 usage) and `iacbot fix --audit-log`, end to end."""
from __future__ import annotations

import contextlib
import json
import subprocess
import sys

import pytest

from bot.attest import keys
from bot.audit import chain, jsonl
from bot.audit.events import Event
from bot.cli import main
from tests.bot.attest.helpers import git
from tests.bot.test_cli import ENGINE_FIXTURES, git_repo_of
from tests.paths import REPO


@pytest.fixture
def keypair(tmp_path):
    private, public = keys.keygen(tmp_path / "keys")
    return private, public


def write_log(path, n, private):
    appender = jsonl.Appender(path, keys.load_private_key(private))
    for seq in range(n):
        appender.record(Event.RECEIVED, repository="o/r", subject=f"job-{seq}", actor="iacbot")
    appender.close()


def verify(capsys, *argv):
    code = main(["--no-color", "audit", "verify", *map(str, argv)])
    return code, capsys.readouterr().out


def test_verify_accepts_the_original_and_names_the_first_bad_line(tmp_path, keypair, capsys):
    private, public = keypair
    log = tmp_path / "audit.jsonl"
    write_log(log, 5, private)
    code, out = verify(capsys, log, "--key", public)
    assert code == 0 and "5 entries" in out and "signature checked" in out and "audit log intact" in out
    lines = log.read_text().splitlines()
    doc = json.loads(lines[2])
    doc["actor"] = "someone-else"
    lines[2] = json.dumps(doc)
    log.write_text("\n".join(lines) + "\n")
    code, out = verify(capsys, log, "--key", public)
    assert code == 1 and "FAIL  line 3 (seq 2): edited" in out and "NOT intact" in out


def test_verify_without_a_key_says_checkpoints_were_not_checked(tmp_path, keypair, capsys):
    log = tmp_path / "audit.jsonl"
    write_log(log, 2, keypair[0])
    code, out = verify(capsys, log)
    assert code == 0 and "signatures NOT checked" in out and "checkpoints were not checked" in out


def test_verify_a_truncation_against_a_kept_checkpoint(tmp_path, keypair, capsys):
    private, public = keypair
    log = tmp_path / "audit.jsonl"
    write_log(log, 3, private)
    kept = tmp_path / "kept.json"
    kept.write_text(log.read_text().splitlines()[-1])
    write_log(log, 2, private)  # the next run continues the chain: seq 3, 4, then a checkpoint of 5
    lines = log.read_text().splitlines()
    assert [json.loads(line).get("seq") for line in lines] == [0, 1, 2, None, 3, 4, None]
    log.write_text("\n".join(lines[:2]) + "\n")
    code, out = verify(capsys, log, "--key", public, "--checkpoint", kept)
    assert code == 1 and "truncated" in out and "entry seq 2 is missing" in out


def test_usage_errors_exit_2(tmp_path, keypair, capsys):
    log = tmp_path / "audit.jsonl"
    write_log(log, 1, keypair[0])
    bad = tmp_path / "bad.pem"
    bad.write_text("nope")
    assert main(["--no-color", "audit", "verify", str(tmp_path / "none.jsonl")]) == 2
    assert main(["--no-color", "audit", "verify", str(log), "--key", str(bad)]) == 2
    assert "not a PEM public key" in capsys.readouterr().err


def test_verify_as_a_command_exits_0_then_1(tmp_path, keypair):
    private, public = keypair
    log = tmp_path / "audit.jsonl"
    write_log(log, 3, private)
    command = [sys.executable, "-m", "bot.cli", "--no-color", "audit", "verify", str(log), "--key", str(public)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = log.read_text().splitlines()
    del lines[1]
    log.write_text("\n".join(lines) + "\n")
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 1 and "deleted" in done.stdout


def test_an_appender_refuses_a_file_whose_chain_is_broken(tmp_path, keypair):
    log = tmp_path / "audit.jsonl"
    write_log(log, 3, keypair[0])
    lines = log.read_text().splitlines()
    lines[0], lines[1] = lines[1], lines[0]
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(jsonl.AuditFileError, match="does not verify.*reordered"):
        jsonl.Appender(log)


def test_fix_audit_log_records_the_run_and_verify_accepts_it(run, tmp_path, keypair):
    private, public = keypair
    repo = git_repo_of(ENGINE_FIXTURES / "one-fix", tmp_path)
    log = tmp_path / "audit.jsonl"
    code, _, err = run("fix", str(repo), "--branch", "--signing-key", str(private), "--audit-log", str(log))
    assert code == 0, err
    docs = [json.loads(line) for line in log.read_text().splitlines()]
    events = [d.get("event") for d in docs]
    assert events[0] == "received" and events[-1] is None and "checkpoint" in docs[-1]
    for kind in ("located", "patched", "verified", "signed"):
        assert kind in events, events
    verified = [d for d in docs if d.get("event") == "verified"]
    assert verified[0]["details"]["verified"] == "yes" and verified[0]["details"]["fingerprint"]
    signed = next(d for d in docs if d.get("event") == "signed")
    branch = signed["details"]["branch"]
    note = git(repo, "notes", "--ref=refs/notes/iacbot", "show", branch).strip()
    import hashlib
    assert hashlib.sha256(json.dumps(json.loads(note), sort_keys=True, separators=(",", ":")).encode()).hexdigest() \
        == signed["details"]["envelope_sha256"]
    code, out, _ = run("audit", "verify", str(log), "--key", str(public))
    assert code == 0, out
    # A second run (dry) continues the same chain; an audit key alone signs its checkpoint.
    code, _, err = run("fix", str(repo), "--audit-log", str(log), "--audit-key", str(private))
    assert code == 0, err
    result = jsonl.verify_file(log, [keys.load_public_key(public)])
    assert result.ok and result.entries > len(docs) - 1 and result.covered == result.entries
    assert result.checkpoints == 2


def test_fix_audit_log_refuses_a_broken_file_before_any_work(tmp_path, capsys):
    repo = git_repo_of(ENGINE_FIXTURES / "one-fix", tmp_path)
    log = tmp_path / "audit.jsonl"
    log.write_text('{"seq": 0}\n')

    @contextlib.contextmanager
    def no_scanner():
        raise AssertionError("a usage error must be found before the scanner starts")
        yield

    code = main(["--no-color", "fix", str(repo), "--audit-log", str(log)], open_scanner=no_scanner)
    assert code == 2 and "does not verify" in capsys.readouterr().err
    assert main(["--no-color", "fix", str(repo), "--audit-key", str(log)], open_scanner=no_scanner) == 2
    assert chain.verify(log.read_text().splitlines()).ok is False


def test_the_cli_starts_without_cryptography_or_redis():
    """`iacbot scan`/`fix` pay for neither: only signing, verifying and export import them."""
    probe = "import sys, bot.cli; print(sorted(m for m in ('cryptography', 'redis') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr
