"""The kill switches for automatic merging: one for every repository, one per repository.

The global switch is on when the deployment's setting says so (``IACBOT_AUTOMERGE_KILL_SWITCH``,
read at start) OR an operator flipped it at run time in Redis (``scripts/kill-switch on``): a
restart is not needed to stop merges, and Redis cannot turn off what the setting turned on.
A switch only ever stops merges (policies.reasons KILL_SWITCH_GLOBAL / KILL_SWITCH_REPOSITORY);
the decision is re-made right before every merge, so a switch turned on while a merge is being
considered stops it there.

| key | what |
|---|---|
| ``iacbot:kill-switch`` | string: present = automatic merging is off everywhere (value: when, for people) |
| ``iacbot:kill-switch:<owner/name>`` | string: present = off in that repository (lower-cased) |

No TTL: a switch stays on until someone turns it off. Each flip is a ``kill_switch`` entry in
the audit log, by the name given with ``--by`` (or "operator").
"""
from __future__ import annotations

import re
import time

import redis

from bot.audit.events import Event
from workers import audit_log
from workers.store import repo_key

GLOBAL_KEY = "iacbot:kill-switch"
OPERATOR = "operator"
_OPERATOR_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
REPO_PREFIX = "iacbot:kill-switch:"


def repo_switch_key(repository: str) -> str:
    if "/" not in repository.strip().strip("/"):
        raise ValueError(f"a repository is owner/name, not {repository!r}")
    return repo_key(REPO_PREFIX, repository)


def global_on(cfg, r: redis.Redis) -> bool:
    """Is automatic merging off everywhere? The setting, or the run-time flag."""
    return bool(getattr(cfg, "automerge_kill_switch", False)) or bool(r.exists(GLOBAL_KEY))


def global_flag(r: redis.Redis) -> bool:
    """Only the run-time flag (what ``scripts/kill-switch`` can change)."""
    return bool(r.exists(GLOBAL_KEY))


def repo_on(r: redis.Redis, repository: str) -> bool:
    return bool(r.exists(repo_switch_key(repository)))


def set_global(r: redis.Redis, on: bool, actor: str = OPERATOR) -> None:
    actor = operator_name(actor)
    if on:
        r.set(GLOBAL_KEY, str(time.time()))
    else:
        r.delete(GLOBAL_KEY)
    _audit(r, None, on, actor)


def set_repo(r: redis.Redis, repository: str, on: bool, actor: str = OPERATOR) -> None:
    key, actor = repo_switch_key(repository), operator_name(actor)
    if on:
        r.set(key, str(time.time()))
    else:
        r.delete(key)
    _audit(r, repository, on, actor)


def _audit(r: redis.Redis, repository: str | None, on: bool, actor: str) -> None:
    """Every flip is recorded (a repeated ``on`` too: someone ran it), after the write."""
    audit_log.record(r, Event.KILL_SWITCH, repository=repository, subject=f"kill-switch:{repository or 'global'}",
                     actor=actor, details={"on": on, "scope": "repository" if repository else "global"})


def operator_name(name: str | None) -> str:
    """The name an operator gave (--by), checked; "operator" without one."""
    if not name:
        return OPERATOR
    if not _OPERATOR_NAME.match(name):
        raise ValueError("an operator name is 1-64 letters, digits, and . _ @ -")
    return name


def repos_on(r: redis.Redis, limit: int = 1_000) -> list[str]:
    """The repositories whose switch is on (lower-cased), at most ``limit``."""
    found = []
    for key in r.scan_iter(match=REPO_PREFIX + "*", count=500):
        found.append(key.decode()[len(REPO_PREFIX):])
        if len(found) >= limit:
            break
    return sorted(found)


# -- scripts/kill-switch ----------------------------------------------------------------------

USAGE = "usage: scripts/kill-switch on|off|status [--repo owner/name] [--by NAME]"


def main(argv: list[str] | None = None, out=None) -> int:
    """``on``/``off`` flip the run-time flag (global, or one repository's with ``--repo``);
    ``status`` prints every switch. Redis from IACBOT_REDIS_URL (bot.settings.CommonSettings).
    Exit 0 done, 2 usage, 1 Redis unreachable."""
    import argparse
    import sys

    from bot.settings import CommonSettings

    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="scripts/kill-switch", description="Stop or allow iacbot's "
                                     "automatic merges, at run time, everywhere or in one repository.")
    parser.add_argument("command", choices=["on", "off", "status"])
    parser.add_argument("--repo", metavar="owner/name", help="one repository's switch instead of the global one")
    parser.add_argument("--by", metavar="NAME", help="who is flipping it, for the audit log (default: operator)")
    args = parser.parse_args(argv)
    try:
        if args.repo is not None:
            repo_switch_key(args.repo)
        actor = operator_name(args.by)
    except ValueError as exc:
        print(f"kill-switch: {exc}", file=sys.stderr)
        return 2
    cfg = CommonSettings()
    r = redis.Redis.from_url(cfg.redis_url, socket_connect_timeout=2, socket_timeout=5)
    try:
        if args.command in ("on", "off"):
            on = args.command == "on"
            if args.repo:
                set_repo(r, args.repo, on, actor)
            else:
                set_global(r, on, actor)
            where = args.repo or "every repository"
            print(f"automatic merging is {'OFF' if on else 'allowed again'} for {where}", file=out)
        if args.repo:
            print(f"{args.repo}: kill switch {'on' if repo_on(r, args.repo) else 'off'}", file=out)
        else:
            setting = bool(cfg.automerge_kill_switch)
            print(f"global: kill switch {'on' if global_on(cfg, r) else 'off'} (run-time flag "
                  f"{'on' if global_flag(r) else 'off'}, IACBOT_AUTOMERGE_KILL_SWITCH {'on' if setting else 'off'})",
                  file=out)
            if args.command == "status":
                for name in repos_on(r):
                    print(f"{name}: kill switch on", file=out)
        if args.command == "off" and not args.repo and cfg.automerge_kill_switch:
            print("note: IACBOT_AUTOMERGE_KILL_SWITCH is set in this environment; the workers' setting "
                  "keeps merges off until it is unset and they restart", file=out)
    except redis.RedisError as exc:
        print(f"kill-switch: Redis at {cfg.redis_url_redacted} did not answer ({type(exc).__name__})",
              file=sys.stderr)
        return 1
    finally:
        r.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
