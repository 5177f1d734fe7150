"""CODEOWNERS: who should review a change to a path (pure; GitHub's documented rules).

* GitHub reads the first file found of .github/CODEOWNERS, CODEOWNERS, docs/CODEOWNERS.
* Each line is a gitignore-like pattern and owners; the LAST matching line wins, and a
  matching line without owners leaves the path unowned.
* Unlike gitignore there is no ``!`` negation and no ``[ ]`` range; ``\\#`` escapes a leading
  ``#``; ``docs/*`` matches files directly in docs/ only (GitHub's own example).
* Owners are ``@user``, ``@org/team`` or an e-mail address. Review requests take logins and team
  slugs, so e-mails are dropped, and teams of another organisation cannot be requested.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")


@dataclass(frozen=True)
class Rule:
    pattern: str
    owners: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Reviewers:
    users: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()  # team slugs, without the organisation

    def __bool__(self) -> bool:
        return bool(self.users or self.teams)


def parse(text: str) -> list[Rule]:
    rules = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens = line.split()
        pattern = tokens[0].replace("\\#", "#", 1) if tokens[0].startswith("\\#") else tokens[0]
        owners = []
        for token in tokens[1:]:
            if token.startswith("#"):  # the rest of the line is a comment
                break
            owners.append(token)
        rules.append(Rule(pattern, tuple(owners), number))
    return rules


def _segment(seg: str) -> str:
    out = ""
    for ch in seg:
        out += {"*": "[^/]*", "?": "[^/]"}.get(ch, re.escape(ch))
    return out


def pattern_regex(pattern: str) -> re.Pattern:
    """The regex a CODEOWNERS pattern stands for, matched against a repository path like 'a/b.tf'."""
    dir_only = pattern.endswith("/")
    body = pattern.strip("/")
    # A slash at the start or in the middle anchors the pattern at the repository root.
    anchored = pattern.startswith("/") or "/" in body
    parts = body.split("/") if body else []
    regex, last = "", len(parts) - 1
    for i, seg in enumerate(parts):
        if seg == "**":
            regex += ".*" if i == last else "(?:.*/)?"
            continue
        regex += _segment(seg) + ("/" if i < last else "")
    prefix = "" if anchored else "(?:.*/)?"
    if dir_only:
        suffix = "/.*"
    elif parts and re.search(r"[*?]", parts[-1]):
        suffix = ""  # "docs/*", "*.tf": what the wildcard names, not what lies below it
    else:
        suffix = "(?:/.*)?"  # a name also owns everything inside it when it is a directory
    return re.compile("^" + prefix + regex + suffix + "$")


def owners_for(rules: list[Rule], path: str) -> tuple[str, ...]:
    path = path.strip("/")
    for rule in reversed(rules):
        if pattern_regex(rule.pattern).match(path):
            return rule.owners
    return ()


def reviewers_for(text: str, path: str, org: str, exclude: Iterable[str] = ()) -> Reviewers:
    """Logins and team slugs to request for a change of `path` in a repository owned by `org`."""
    skip = {e.lower().lstrip("@") for e in exclude}
    users: list[str] = []
    teams: list[str] = []
    for owner in owners_for(parse(text), path):
        if not owner.startswith("@"):
            continue  # an e-mail address: review requests need a login
        name = owner[1:]
        if "/" in name:
            team_org, _, slug = name.partition("/")
            if team_org.lower() == org.lower() and slug and slug.lower() not in (t.lower() for t in teams):
                teams.append(slug)
        elif name and name.lower() not in skip and name.lower() not in (u.lower() for u in users):
            users.append(name)
    return Reviewers(tuple(users), tuple(teams))
