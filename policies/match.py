"""Does a rule's match hold for a fix? Globs are compiled once per Match (``compile_match``), so
deciding is a handful of regex matches and set look-ups.

Glob semantics (documented in docs/policy.md):
* ``rule_ids`` and ``fix_classes``: fnmatch globs (``*``, ``?``, ``[...]``), case-sensitive
  (checkov writes ids in upper case; ``policies.lint`` reports a glob that matches no known id,
  which catches ``ckv_*``). Every rule id a fix carries must match one of the globs.
* ``repositories``: fnmatch globs on ``owner/name``, case-insensitive as GitHub's names are.
* ``paths`` / ``not_paths``: path globs, case-sensitive as git is: ``*`` and ``?`` stay inside one
  path segment, a segment that is exactly ``**`` spans any number of segments (``**/x.tf``
  matches ``x.tf`` and ``a/b/x.tf``; a trailing ``envs/prod/**`` matches every file below
  ``envs/prod/``). Every file the fix changes must match one of ``paths`` and none of
  ``not_paths``; a fix that names no file does not match a rule with ``paths``.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policies.facts import FixFacts
    from policies.model import Match


def path_glob_regex(glob: str) -> str:
    """The regular expression (anchored by fullmatch) for one path glob."""
    parts = glob.split("/")
    out = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append(".+" if last else "(?:[^/]+/)*")
        else:
            out.append(_segment_regex(part) + ("" if last else "/"))
    return "".join(out)


def _segment_regex(segment: str) -> str:
    out, i = [], 0
    while i < len(segment):
        c = segment[i]
        if c == "*":
            while i < len(segment) and segment[i] == "*":
                i += 1
            out.append("[^/]*")
            continue
        if c == "?":
            out.append("[^/]")
        elif c == "[" and (close := _class_end(segment, i)) > 0:
            body = segment[i + 1:close]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            body = body.replace("\\", "\\\\").replace("^", "\\^").replace("[", "\\[")
            out.append(f"(?!/)[{'^' if negate else ''}{body}]")
            i = close + 1
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _class_end(segment: str, start: int) -> int:
    """The index of the ``]`` closing the class opened at ``start`` (-1: no class, a literal ``[``)."""
    j = start + 1
    if j < len(segment) and segment[j] in "!^":
        j += 1
    if j < len(segment) and segment[j] == "]":
        j += 1
    close = segment.find("]", j)
    return close


def _any(patterns: tuple[str, ...] | None, regex_of, flags: int = 0) -> re.Pattern | None:
    if patterns is None:
        return None
    return re.compile("|".join(f"(?:{regex_of(p)})" for p in patterns) or "(?!)", flags)


def _fnmatch_regex(glob: str) -> str:
    return fnmatch.translate(glob)   # "(?s:...)\Z"; fullmatch makes the \Z harmless


@dataclass(frozen=True)
class CompiledMatch:
    rule_ids: re.Pattern | None
    fix_classes: re.Pattern | None
    repositories: re.Pattern | None
    paths: re.Pattern | None
    not_paths: re.Pattern | None


def compile_match(match: "Match") -> CompiledMatch:
    return CompiledMatch(
        rule_ids=_any(match.rule_ids, _fnmatch_regex),
        fix_classes=_any(match.fix_classes, _fnmatch_regex),
        repositories=_any(match.repositories, _fnmatch_regex, re.IGNORECASE),
        paths=_any(match.paths, path_glob_regex),
        not_paths=_any(match.not_paths, path_glob_regex),
    )


def path_matches(glob: str, path: str) -> bool:
    return re.fullmatch(path_glob_regex(glob), path) is not None


def matches(match: "Match", fix: "FixFacts") -> bool:
    """Whether ``fix`` is one the rule is about. A rule's ``window`` is not consulted here: it says
    when the rule's fixes may be merged automatically (a guardrail, ``policies.guardrails``), not
    which rule a fix belongs to, so a fix found at night keeps its rule and its pull request."""
    c: CompiledMatch = match.compiled   # type: ignore[assignment]
    if c.rule_ids is not None and not (fix.rule_ids and all(c.rule_ids.fullmatch(r) for r in fix.rule_ids)):
        return False
    if c.fix_classes is not None and not c.fix_classes.fullmatch(fix.fix_class):
        return False
    if match.categories is not None and fix.category not in match.categories:
        return False
    if match.risk is not None and fix.risk not in match.risk:
        return False
    if match.confidence is not None and fix.confidence not in match.confidence:
        return False
    if match.impact is not None and not fix.impact <= match.impact:
        return False
    if match.severity is not None and fix.severity not in match.severity:
        return False
    if c.repositories is not None and not c.repositories.fullmatch(fix.repository):
        return False
    if c.paths is not None and not (fix.paths and all(c.paths.fullmatch(p) for p in fix.paths)):
        return False
    if c.not_paths is not None and any(c.not_paths.fullmatch(p) for p in fix.paths):
        return False
    if match.max_files is not None and len(fix.paths) > match.max_files:
        return False
    if match.max_changed_lines is not None and fix.changed_lines > match.max_changed_lines:
        return False
    if match.max_resources is not None and fix.resources > match.max_resources:
        return False
    return True


def first_match(rules, fix: "FixFacts"):
    """The first rule whose match holds for ``fix``, or None."""
    for rule in rules:
        if matches(rule.match, fix):
            return rule
    return None
