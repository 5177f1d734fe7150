"""`iacbot provenance verify` and `iacbot provenance keygen` (docs/provenance.md).

verify exit status: 0 every check held, 1 something is tampered or invalid (the output says what),
2 a usage error (a missing or unreadable file, no --key, a key that is not an Ed25519 PEM key).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from bot import attest

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def add_commands(commands, common: argparse.ArgumentParser) -> None:
    prov = commands.add_parser("provenance", parents=[common], help="verify signed provenance; make a signing key")
    sub = prov.add_subparsers(dest="provenance_command", required=True, metavar="{verify,keygen}")
    check = sub.add_parser("verify", parents=[common], help="check a signed provenance envelope")
    check.add_argument("--key", type=Path, action="append", default=[], metavar="PUB.pem",
                       help="a trusted Ed25519 public key (repeat to trust several, e.g. during a rotation)")
    where = check.add_mutually_exclusive_group()
    where.add_argument("--pr-body", type=Path, metavar="FILE",
                       help="a PR body: every iacbot:attestation block (publish, merge) is verified")
    where.add_argument("--envelope", type=Path, metavar="FILE", help="a DSSE envelope (JSON)")
    check.add_argument("--repo", type=Path, metavar="PATH", help="a git repository: check the subjects at --commit")
    check.add_argument("--commit", metavar="REV", help="with --repo: the commit (its files and its Iacbot-Statement "
                                                       "trailer are checked); its envelope is its refs/notes/iacbot "
                                                       "note unless --envelope or --pr-body gives one")
    gen = sub.add_parser("keygen", parents=[common], help="write a new Ed25519 signing key pair")
    gen.add_argument("--out", type=Path, required=True, metavar="DIR",
                     help=f"directory for {attest.PRIVATE_NAME} (mode 0600) and {attest.PUBLIC_NAME}")


def run(args, console, errors) -> int:
    # cryptography is imported only by the commands that sign or verify: every other
    # `iacbot` start (scan, fix) stays without it.
    from bot.attest import keys
    if args.provenance_command == "keygen":
        try:
            private, public = keys.keygen(args.out)
        except FileExistsError as exc:
            errors.print(f"iacbot: {exc.filename}: exists; not overwritten")
            return EXIT_USAGE
        except OSError as exc:
            errors.print(f"iacbot: {args.out}: cannot write ({exc.strerror})")
            return EXIT_USAGE
        console.print(f"wrote {private} (private, mode 0600) and {public} (public)")
        return EXIT_OK
    return _verify(args, console, errors)


def _usage(errors, text: str) -> int:
    errors.print(f"iacbot: {text}", markup=False, highlight=False)
    return EXIT_USAGE


def _read(path: Path) -> str:
    from bot.attest import dsse
    if path.stat().st_size > dsse.MAX_ENVELOPE_BYTES * 2:
        raise ValueError(f"{path}: larger than {dsse.MAX_ENVELOPE_BYTES * 2} bytes, not read")
    return path.read_text(encoding="utf-8", errors="replace")


def _verify(args, console, errors) -> int:
    from bot.attest import keys, verify
    if not args.key:
        return _usage(errors, "provenance verify needs at least one --key PUB.pem")
    if (args.repo is None) != (args.commit is None):
        return _usage(errors, "--repo and --commit go together")
    if args.repo is None and args.pr_body is None and args.envelope is None:
        return _usage(errors, "give --pr-body FILE, --envelope FILE, or --repo PATH --commit REV")
    try:
        trusted = keys.load_public_keys(args.key)
    except keys.KeyFileError as exc:
        return _usage(errors, str(exc))
    source = args.pr_body or args.envelope
    try:
        text = _read(source) if source else None
    except (OSError, ValueError) as exc:
        return _usage(errors, f"{source}: cannot read ({getattr(exc, 'strerror', None) or exc})")
    if args.repo is not None and not (args.repo / ".git").exists() and verify.resolve(args.repo, "HEAD") is None:
        return _usage(errors, f"--repo {args.repo}: not a git repository")
    lines = []
    if args.pr_body:
        return _verify_body(console, args, text, trusted)
    if text is None:
        commit = verify.resolve(args.repo, args.commit)
        if commit is None:
            return _invalid(console, [f"commit {args.commit!r}: not found in {args.repo}"], [])
        text = verify.note_of(args.repo, commit)
        if text is None:
            return _invalid(console, [f"commit {commit[:12]}: no {verify.NOTES_REF} note (not signed)"], [])
        lines.append(f"envelope: the {verify.NOTES_REF} note of {commit[:12]}")
    result = verify.verify_envelope(text, trusted, args.repo, args.commit)
    if not result.ok:
        return _invalid(console, result.problems, lines + result.checked)
    for line in lines + result.checked:
        console.print(f"ok    {line}", markup=False, highlight=False)
    console.print("provenance verified", markup=False, highlight=False)
    return EXIT_OK


def _invalid(console, problems: list[str], checked: list[str]) -> int:
    for line in checked:
        console.print(f"ok    {line}", markup=False, highlight=False)
    for problem in problems:
        console.print(f"FAIL  {problem}", markup=False, highlight=False)
    console.print("provenance NOT verified", markup=False, highlight=False)
    return EXIT_INVALID


def _verify_body(console, args, text: str, trusted) -> int:
    """Every block of a PR body, each under its stage; the whole body holds only if all do."""
    from bot.attest import pr_check
    result = pr_check.verify_pr_body(text, trusted, args.repo, args.commit)
    out = []
    for label, block in result.blocks:
        out += [f"ok    {label}: {line}" for line in block.checked]
        out += [f"FAIL  {label}: {problem}" for problem in block.problems]
    out += [f"ok    {line}" for line in result.checked]
    out += [f"FAIL  {problem}" for problem in result.problems]
    for line in out:
        console.print(line, markup=False, highlight=False)
    if not result.ok:
        console.print("provenance NOT verified", markup=False, highlight=False)
        return EXIT_INVALID
    console.print(f"provenance verified ({len(result.blocks)} signed statement(s))", markup=False, highlight=False)
    return EXIT_OK
