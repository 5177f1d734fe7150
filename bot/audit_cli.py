"""`iacbot audit export` and `iacbot audit verify` (docs/audit-log.md).

verify exit status: 0 the log is intact, 1 it is not (the output names the first bad line and
why), 2 a usage error (a missing file, a key that is not an Ed25519 PEM public key).
export exit status: 0 written, 1 Redis did not answer or the file could not be written, 2 usage.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def add_commands(commands, common: argparse.ArgumentParser) -> None:
    audit = commands.add_parser("audit", parents=[common], help="export or verify the tamper-evident audit log")
    sub = audit.add_subparsers(dest="audit_command", required=True, metavar="{export,verify}")
    export = sub.add_parser("export", parents=[common], help="write the service's audit log (Redis) as JSON lines")
    export.add_argument("--redis-url", metavar="URL", help="the service's Redis (default: IACBOT_REDIS_URL)")
    export.add_argument("-o", "--out", type=Path, metavar="FILE", help="write here (default: standard output)")
    export.add_argument("--checkpoint-key", type=Path, metavar="PRIVATE.pem",
                        help="first sign a checkpoint of the log as it is (the deployment's key), so the export is "
                             "covered to its last entry")
    check = sub.add_parser("verify", parents=[common], help="check an audit log's chain and its signed checkpoints")
    check.add_argument("file", type=Path, metavar="FILE")
    check.add_argument("--key", type=Path, action="append", default=[], metavar="PUB.pem",
                       help="a trusted Ed25519 public key for the checkpoints (repeat to trust several)")
    check.add_argument("--checkpoint", type=Path, action="append", default=[], metavar="FILE",
                       help="a checkpoint line kept apart from the log (e.g. the last one of an earlier export): "
                            "the log must still hold what it covers")


def run(args, console, errors) -> int:
    if args.audit_command == "export":
        return _export(args, console, errors)
    return _verify(args, console, errors)


def _print(console, text: str) -> None:
    console.print(text, markup=False, highlight=False)


def _usage(errors, text: str) -> int:
    errors.print(f"iacbot: {text}", markup=False, highlight=False)
    return EXIT_USAGE


def _export(args, console, errors) -> int:
    import redis

    from bot.settings import CommonSettings
    from bot.audit import redis_log as audit_log
    key = None
    if args.checkpoint_key:
        from bot.attest import keys
        try:
            key = keys.load_private_key(args.checkpoint_key)
        except keys.KeyFileError as exc:
            return _usage(errors, f"--checkpoint-key {exc}")
    url = args.redis_url or CommonSettings().redis_url
    r = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
    try:
        if key is not None and audit_log.checkpoint(r, key):
            _print(errors, "signed a checkpoint of the log's head")
        if args.out is None:
            audit_log.export(r, sys.stdout)
            return EXIT_OK
        with open(args.out, "w", encoding="utf-8") as out:
            lines = audit_log.export(r, out)
        _print(errors, f"wrote {lines} lines to {args.out}")
        return EXIT_OK
    except redis.RedisError as exc:
        errors.print(f"iacbot: Redis did not answer ({type(exc).__name__})", markup=False, highlight=False)
        return EXIT_INVALID
    except OSError as exc:
        errors.print(f"iacbot: {args.out}: cannot write ({exc.strerror})", markup=False, highlight=False)
        return EXIT_INVALID
    finally:
        r.close()


def _verify(args, console, errors) -> int:
    from bot.audit import chain, jsonl
    if not args.file.is_file():
        return _usage(errors, f"{args.file}: no such file")
    trusted = None
    if args.key:
        from bot.attest import keys
        try:
            trusted = keys.load_public_keys(args.key)
        except keys.KeyFileError as exc:
            return _usage(errors, str(exc))
    kept = []
    for path in args.checkpoint:
        try:
            if path.stat().st_size > chain.MAX_LINE_BYTES:
                return _usage(errors, f"--checkpoint {path}: larger than {chain.MAX_LINE_BYTES} bytes")
            kept.append(chain.parse_line(path.read_bytes().strip()))
        except (OSError, ValueError, OverflowError) as exc:
            return _usage(errors, f"--checkpoint {path}: {getattr(exc, 'strerror', None) or exc}")
    try:
        result = jsonl.verify_file(args.file, trusted, kept)
    except OSError as exc:
        return _usage(errors, f"{args.file}: cannot read ({exc.strerror})")
    if not result.ok:
        _print(console, f"FAIL  {result.problem}")
        _print(console, "audit log NOT intact")
        return EXIT_INVALID
    signed = "signature checked" if result.checkpoints_checked else "signatures NOT checked"
    _print(console, f"ok    {result.entries} entries, hash chain unbroken (head {result.head[:16]})")
    _print(console, f"ok    {result.checkpoints} checkpoints ({signed}); {result.covered} entries covered")
    for note in result.notes:
        _print(console, f"note  {note}")
    _print(console, "audit log intact")
    return EXIT_OK
