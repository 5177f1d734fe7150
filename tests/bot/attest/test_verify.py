"""verify_envelope and `iacbot provenance verify`: the untouched original passes; every tampering
named in issue 9 is caught, with exit 1, and usage errors exit 2, never a traceback."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.attest import dsse, keys, statement
from bot.attest.verify import attestation_block, envelope_from_pr_body, verify_envelope
from bot.cli import main
from tests.bot.attest.helpers import git, make_statement, repo_with_two_commits, signed


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["--no-color", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def envelope_doc(key, **files) -> dict:
    return signed(make_statement({k: v.encode() for k, v in (files or {"pod.yaml": "x"}).items()}), key).to_json()


def test_the_untouched_original_verifies(key):
    result = verify_envelope(json.dumps(envelope_doc(key)), [key.public_key()])
    assert result.ok, result.problems
    assert any("signature: good" in c for c in result.checked)


def test_an_edited_payload_fails(key):
    doc = envelope_doc(key)
    payload = json.loads(base64.b64decode(doc["payload"]))
    payload["predicate"]["finding"]["rule"] = "CKV_OTHER"
    doc["payload"] = base64.b64encode(statement.canonical(payload)).decode()
    result = verify_envelope(json.dumps(doc), [key.public_key()])
    assert not result.ok and "signature" in result.problems[0]


def test_an_edited_signature_fails(key):
    doc = envelope_doc(key)
    sig = bytearray(base64.b64decode(doc["signatures"][0]["sig"]))
    sig[0] ^= 1
    doc["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    assert not verify_envelope(json.dumps(doc), [key.public_key()]).ok


def test_a_statement_signed_by_an_untrusted_key_fails(key):
    other = Ed25519PrivateKey.generate()
    result = verify_envelope(json.dumps(envelope_doc(other)), [key.public_key()])
    assert not result.ok and "trusted key" in result.problems[0]


def test_a_wrong_payload_type_fails_even_when_signed(key):
    env = dsse.sign(statement.canonical(make_statement({"a": b"x"})), key, payload_type="application/json")
    result = verify_envelope(env.dumps(), [key.public_key()])
    assert not result.ok and "payload type" in result.problems[0]


def test_a_wrong_keyid_with_a_good_signature_passes(key):
    doc = envelope_doc(key)
    doc["signatures"][0]["keyid"] = "not-this-key"
    assert verify_envelope(json.dumps(doc), [key.public_key()]).ok


def test_rotation_either_trusted_key_verifies(key):
    new = Ed25519PrivateKey.generate()
    trusted = [key.public_key(), new.public_key()]
    assert verify_envelope(json.dumps(envelope_doc(key)), trusted).ok
    assert verify_envelope(json.dumps(envelope_doc(new)), trusted).ok


def test_a_signed_payload_of_the_wrong_shape_fails(key):
    env = dsse.sign(b'{"_type":"https://in-toto.io/Statement/v1"}', key)
    result = verify_envelope(env.dumps(), [key.public_key()])
    assert not result.ok and all(p.startswith("statement:") for p in result.problems)


@pytest.mark.parametrize("text", ["", "null", "[]", "{", '{"payload": 3}', '{"payloadType":"x","payload":"!!","signatures":[]}',
                                  "[" * 100_000, '{"payloadType":"a","payload":"","signatures":[{"sig":"%%"}]}'])
def test_malformed_envelopes_are_invalid_not_a_crash(key, text):
    result = verify_envelope(text, [key.public_key()])
    assert not result.ok and result.problems


def test_an_oversized_envelope_is_refused(key):
    doc = envelope_doc(key)
    doc["padding"] = "x" * (dsse.MAX_ENVELOPE_BYTES + 1)
    result = verify_envelope(json.dumps(doc), [key.public_key()])
    assert not result.ok and "larger than" in result.problems[0]


def test_check_statement_names_each_problem():
    doc = make_statement({"pod.yaml": b"x"})
    assert statement.check_statement(doc) == []
    bad = json.loads(json.dumps(doc))
    bad["subject"][0]["digest"] = {"sha256": "zz"}
    bad["subject"].append({"name": "../etc/passwd", "digest": {"sha256": "0" * 64}})
    del bad["predicate"]["fixer"]
    problems = statement.check_statement(bad)
    assert any("64 hex" in p for p in problems) and any("inside the repository" in p for p in problems)
    assert any("lacks fixer" in p for p in problems)
    assert statement.check_statement([]) == ["the statement is not a JSON object"]


def test_the_pr_body_block_round_trips_and_escapes(key):
    doc = make_statement({"pod.yaml": b"x"}, commit="a" * 40)
    doc["predicate"]["identities"]["acted_by"] = "<!-- --> @someone & co"
    env = signed(doc, key)
    block = attestation_block(env)
    assert "@" not in block[4:] and "-->" not in block[:-3]
    body = f"Fix things\n\n{block}\n"
    found = envelope_from_pr_body(body)
    assert verify_envelope(found, [key.public_key()]).ok


# Repository mode.

def test_repo_mode_the_signed_commit_verifies(tmp_path, key, pub, capsys):
    repo, a, _ = repo_with_two_commits(tmp_path, key)
    code, out, _ = cli(capsys, "provenance", "verify", "--key", str(pub), "--repo", str(repo), "--commit", a)
    assert code == 0, out
    assert "pod.yaml: sha256 matches" in out and f"git+commit: {a}" in out


def test_repo_mode_a_file_changed_after_signing_fails(tmp_path, key, pub, capsys):
    repo, a, _ = repo_with_two_commits(tmp_path, key)
    note = git(repo, "notes", "--ref=refs/notes/iacbot", "show", a)
    (repo / "pod.yaml").write_text("kind: Pod\nspec: {fixed: false}\n")
    git(repo, "commit", "-qam", "undo the fix")
    c = git(repo, "rev-parse", "HEAD").strip()
    env = tmp_path / "env.json"
    env.write_text(note)
    code, out, _ = cli(capsys, "provenance", "verify", "--key", str(pub), "--envelope", str(env),
                       "--repo", str(repo), "--commit", c)
    assert code == 1 and "pod.yaml: differs" in out


def test_repo_mode_a_statement_moved_to_another_commit_fails(tmp_path, key, pub, capsys):
    repo, a, b = repo_with_two_commits(tmp_path, key)
    # pod.yaml is the same at B: only the git+commit subject tells them apart.
    git(repo, "notes", "--ref=refs/notes/iacbot", "copy", a, b)
    code, out, _ = cli(capsys, "provenance", "verify", "--key", str(pub), "--repo", str(repo), "--commit", b)
    assert code == 1 and f"git+commit subject is {a}, not {b}" in out


def test_repo_mode_an_unsigned_commit_fails(tmp_path, key, pub, capsys):
    repo, _, b = repo_with_two_commits(tmp_path, key)
    code, out, _ = cli(capsys, "provenance", "verify", "--key", str(pub), "--repo", str(repo), "--commit", b)
    assert code == 1 and "no refs/notes/iacbot note" in out


# The CLI's exit codes.

def test_cli_envelope_and_pr_body(tmp_path, key, pub, capsys):
    env = signed(make_statement({"pod.yaml": b"x"}, commit="b" * 40), key)
    (tmp_path / "env.json").write_text(env.dumps())
    (tmp_path / "body.md").write_text(f"text\n{attestation_block(env)}\n")
    assert cli(capsys, "provenance", "verify", "--key", str(pub), "--envelope", str(tmp_path / "env.json"))[0] == 0
    assert cli(capsys, "provenance", "verify", "--key", str(pub), "--pr-body", str(tmp_path / "body.md"))[0] == 0
    (tmp_path / "plain.md").write_text("no block here")
    code, out, _ = cli(capsys, "provenance", "verify", "--key", str(pub), "--pr-body", str(tmp_path / "plain.md"))
    assert code == 1 and "no iacbot:attestation block" in out
    (tmp_path / "junk.json").write_text("{not json")
    code, out, _ = cli(capsys, "provenance", "verify", "--key", str(pub), "--envelope", str(tmp_path / "junk.json"))
    assert code == 1 and "not a DSSE envelope" in out


def test_cli_usage_errors_exit_2(tmp_path, key, pub, capsys):
    env = tmp_path / "env.json"
    env.write_text(signed(make_statement({"a": b"x"}), key).dumps())
    assert cli(capsys, "provenance", "verify", "--envelope", str(env))[0] == 2                    # no --key
    code, _, err = cli(capsys, "provenance", "verify", "--key", str(tmp_path / "missing.pem"), "--envelope", str(env))
    assert code == 2 and "missing.pem: cannot read" in err
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    code, _, err = cli(capsys, "provenance", "verify", "--key", str(bad), "--envelope", str(env))
    assert code == 2 and "bad.pem: not a PEM public key" in err and "AAAA" not in err
    assert cli(capsys, "provenance", "verify", "--key", str(pub), "--envelope", str(tmp_path / "nope.json"))[0] == 2
    assert cli(capsys, "provenance", "verify", "--key", str(pub))[0] == 2
    assert cli(capsys, "provenance", "verify", "--key", str(pub), "--repo", str(tmp_path))[0] == 2


def test_keygen_writes_a_usable_pair_and_never_overwrites(tmp_path, capsys):
    code, out, _ = cli(capsys, "provenance", "keygen", "--out", str(tmp_path / "k"))
    assert code == 0
    private = tmp_path / "k" / keys.PRIVATE_NAME
    assert private.stat().st_mode & 0o777 == 0o600
    sk = keys.load_private_key(private)
    [pk] = keys.load_public_keys([tmp_path / "k" / keys.PUBLIC_NAME])
    assert verify_envelope(signed(make_statement({"a": b"x"}), sk).dumps(), [pk]).ok
    assert cli(capsys, "provenance", "keygen", "--out", str(tmp_path / "k"))[0] == 2
    with pytest.raises(keys.KeyFileError, match="not a PEM private key"):
        keys.load_private_key(tmp_path / "k" / keys.PUBLIC_NAME)
