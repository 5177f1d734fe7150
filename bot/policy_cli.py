"""`iacbot policy check | explain | simulate`: policy files tested offline, before they are turned on.

    iacbot policy check FILE... [--repo-policy | --central]
    iacbot policy explain --policy FILE [--repo-policy FILE] (--pr-body FILE | --finding FILE)
                          [--merge-facts FILE] [--repository OWNER/NAME] [--at ISO-8601] [--json]
    iacbot policy simulate --policy FILE [--compare FILE [--action-changes]] [--repo-policy FILE]
                           (PATH | --findings FILE [PATH])
                           [--labels-only | --measure-all] [--repository OWNER/NAME] [--at ISO-8601] [--json FILE]

Exit status (as the rest of the CLI): 0 done (check: every file is valid), 1 the scanner failed
or the JSON could not be written, 2 a usage or input error, or (check) a file with a problem.
No server, GitHub or Redis is needed. Decisions are the ones the service makes
(policies.decide); labels are the registry's, never the input's.

This module is the command line's shape only, so that `iacbot scan` and `fix` do not import the
policy machinery; bot.policy_commands does the work.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_commands(commands, common: argparse.ArgumentParser) -> None:
    """The `policy` command and its subcommands, on the CLI's subparsers."""
    policy = commands.add_parser("policy", parents=[common], help="check, explain and simulate policy files offline")
    sub = policy.add_subparsers(dest="policy_command", required=True, metavar="{check,explain,simulate}")

    check = sub.add_parser("check", parents=[common], help="validate policy files: schema and meaning, as FILE:LINE:COL")
    check.add_argument("files", type=Path, nargs="+", metavar="FILE")
    kind = check.add_mutually_exclusive_group()
    kind.add_argument("--repo-policy", action="store_true",
                      help="read every FILE as a repository's .github/iacbot.yml (the default for files named "
                           "iacbot.yml or .iacbot.yml)")
    kind.add_argument("--central", action="store_true", help="read every FILE as a central policy, whatever its name")

    explain = sub.add_parser("explain", parents=[common],
                             help="which rule matches a fix, the action, every reason and the guardrails")
    _policy_flags(explain)
    given = explain.add_mutually_exclusive_group(required=True)
    given.add_argument("--pr-body", type=Path, metavar="FILE", help="an iacbot pull request's body (its provenance block)")
    given.add_argument("--finding", type=Path, metavar="FILE",
                       help="one finding as JSON: an entry of `iacbot fix --json`, or a bare finding "
                            "{rule_id, file, resource, ...}; optional changed_lines")
    explain.add_argument("--merge-facts", type=Path, metavar="FILE",
                         help="decide as right before a merge, from these policies.facts.MergeFacts (JSON)")
    explain.add_argument("--json", action="store_true", help="print the explanation as JSON")

    simulate = sub.add_parser("simulate", parents=[common], help="what a policy would do with every finding of a repository")
    _policy_flags(simulate)
    simulate.add_argument("path", type=Path, nargs="?", metavar="PATH",
                          help="the repository: scanned, unless --findings is given (then it is where the findings' "
                               "files are; default: the current directory)")
    simulate.add_argument("--findings", type=Path, metavar="FILE", help="checkov JSON or SARIF instead of scanning")
    simulate.add_argument("--compare", type=Path, metavar="FILE",
                          help="the policy to compare with (the one in force): only findings whose action or "
                               "reasons change are listed, old -> new")
    simulate.add_argument("--action-changes", action="store_true",
                          help="with --compare: list only the findings whose action changes (not only its reasons)")
    size = simulate.add_mutually_exclusive_group()
    size.add_argument("--labels-only", action="store_true",
                      help="read no file and propose no patch: the blast radius (changed lines) is not measured")
    size.add_argument("--measure-all", action="store_true",
                      help="propose every fix's patch (slower), not only those whose decision depends on its size")
    simulate.add_argument("--json", type=Path, metavar="FILE", help="write every finding's decision as JSON")


def _policy_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", type=Path, metavar="FILE", required=True, help="the central policy")
    parser.add_argument("--repo-policy", type=Path, metavar="FILE", help="a repository's .github/iacbot.yml")
    parser.add_argument("--repository", metavar="OWNER/NAME", default=None,
                        help="the repository the fix is in (rules can match on it)")
    parser.add_argument("--at", metavar="ISO-8601", default=None,
                        help="decide as at this time (with a UTC offset), not now: reproducible windows")


def run(args, console, errors, open_scanner) -> int:
    """Run `iacbot policy <args.policy_command>`; the exit status."""
    from bot import policy_commands
    return policy_commands.run(args, console, errors, open_scanner)
