"""What a valid policy may still get wrong: globs that name no known rule or fixer, rules that can
never match or that an earlier rule shadows, windows that never open, automerge rules that a
guardrail always blocks, and rollback settings that do nothing (policies.rollback.lint).
``iacbot policy check`` prints these beside the load errors.

Every finding is certain, never a guess: the glob comparisons below answer "does this glob match
everything that glob matches" only when they can prove it (``path_glob_covers``), so a rule
reported as shadowed is shadowed, and some shadowed rules may go unreported.
"""
from __future__ import annotations

import re
from fnmatch import fnmatchcase

from fixers.models import Category, Confidence, Risk
from policies.guardrails import PROTECTED_PATHS
from policies.model import Match, Policy, PolicyProblem, Rule
from policies.reasons import Action, Reason
from policies.rollback import lint as rollback_lint

_WILD = re.compile(r"[*?\[]")
_UNSAFE_CATEGORIES = frozenset({Category.IDENTITY, Category.NETWORK, Category.SECRET})
_CATEGORY_REASON = {Category.IDENTITY: Reason.CATEGORY_IDENTITY, Category.NETWORK: Reason.CATEGORY_NETWORK,
                    Category.SECRET: Reason.CATEGORY_SECRET}


def lint(policy: Policy, known_rule_ids: frozenset[str], known_fix_classes: frozenset[str], *,
         repository: bool = False) -> tuple[PolicyProblem, ...]:
    """Every problem, at the line and column of the rule (or setting) it is about. An empty
    ``known_*`` set means "not known", and its check is skipped. ``repository``: ``policy`` is a
    ``.github/iacbot.yml``, whose required checks add to the central ones (so having none is fine)."""
    out: list[PolicyProblem] = []

    def at(rule: Rule, message: str) -> None:
        out.append(PolicyProblem(policy.source, rule.line or 1, rule.column or 1, f"rule '{rule.name}': {message}"))

    if policy.window is not None and policy.window.never_opens():
        line, col = policy.mark("automerge.window")
        out.append(PolicyProblem(policy.source, line, col,
                                 f"automerge.window never opens ({_never_why(policy.window)}): nothing merges automatically"))
    for i, rule in enumerate(policy.rules):
        m = rule.match
        for message in _unknown_globs(m.rule_ids, known_rule_ids, "rule id"):
            at(rule, message)
        for message in _unknown_globs(m.fix_classes, known_fix_classes, "fix class"):
            at(rule, message)
        never = _never_matches(m)
        if never:
            at(rule, f"can never match: {never}")
        else:
            earlier = next((e for e in policy.rules[:i] if match_covers(e.match, m)), None)
            if earlier is not None:
                at(rule, f"can never match: the earlier rule '{earlier.name}' (line {earlier.line}) matches every "
                         f"fix it matches")
        if rule.action is Action.AUTOMERGE:
            for message in _never_automerges(policy, m, repository):
                at(rule, f"can never auto-merge: {message}")
        elif m.window is not None:
            at(rule, f"window has no effect: a rule's window limits when it may auto-merge, and this rule's "
                     f"action is {rule.action.value}")
    out += rollback_lint(policy, repository=repository)
    return tuple(sorted(out, key=lambda p: (p.line, p.column, p.message)))


def _never_why(window) -> str:
    return "no days" if not window.days else "its start is its end"


def _unknown_globs(globs: tuple[str, ...] | None, known: frozenset[str], what: str) -> list[str]:
    if not globs or not known:
        return []
    return [f"{what} glob '{g}' matches no known {what}" for g in globs if not any(fnmatchcase(k, g) for k in known)]


def _never_matches(m: Match) -> str | None:
    if m.max_files == 0:
        return "max_files: 0 (every fix changes a file)"
    if m.max_resources == 0:
        return "max_resources: 0 (every fix changes a resource)"
    if m.paths and m.not_paths and all(any(path_glob_covers(n, p) for n in m.not_paths) for p in m.paths):
        return "every path its paths allow, its not_paths exclude"
    return None


def _never_automerges(policy: Policy, m: Match, repository: bool) -> list[str]:
    out = []
    if m.categories is not None and m.categories <= _UNSAFE_CATEGORIES:
        out += [f"guardrail {_CATEGORY_REASON[c].value}" for c in sorted(m.categories, key=lambda c: c.value)]
    if m.risk is not None and Risk.LOW not in m.risk:
        out.append(f"guardrail {Reason.RISK_NOT_LOW.value}")
    if m.confidence is not None and Confidence.SAFE_DEFAULT not in m.confidence:
        out.append(f"guardrail {Reason.ASSUMED_VALUE.value}")
    if m.paths and all(any(path_glob_covers(g, p, ignore_case=True) for g in PROTECTED_PATHS) for p in m.paths):
        out.append(f"guardrail {Reason.PROTECTED_PATH.value} (every path it allows is protected)")
    if not policy.required_checks and not repository:
        out.append(f"guardrail {Reason.NO_REQUIRED_CHECKS.value} (automerge.required_checks names none)")
    if m.window is not None and m.window.never_opens():
        out.append(f"its window never opens ({_never_why(m.window)})")
    return out


# -- "matches everything that one matches": provable cases only -------------------------------

def match_covers(a: Match, b: Match) -> bool:
    """Whether every fix ``b`` matches is matched by ``a`` (proven, or False). Windows are not part
    of matching (policies.match), so they are not compared."""
    return (_globs_cover(a.rule_ids, b.rule_ids, fnmatchcase)
            and _globs_cover(a.fix_classes, b.fix_classes, fnmatchcase)
            and _globs_cover(a.repositories, b.repositories, lambda s, g: fnmatchcase(s.lower(), g.lower()),
                             fold=True)
            and _globs_cover(a.paths, b.paths, None, paths=True)
            and _sets_cover(a.categories, b.categories) and _sets_cover(a.risk, b.risk)
            and _sets_cover(a.confidence, b.confidence) and _sets_cover(a.severity, b.severity)
            and _sets_cover(a.impact, b.impact)
            and _not_paths_cover(a.not_paths, b.not_paths)
            and _limit_covers(a.max_files, b.max_files) and _limit_covers(a.max_changed_lines, b.max_changed_lines)
            and _limit_covers(a.max_resources, b.max_resources))


def _sets_cover(a: frozenset | None, b: frozenset | None) -> bool:
    return a is None or (b is not None and b <= a)


def _limit_covers(a: int | None, b: int | None) -> bool:
    return a is None or (b is not None and b <= a)


def _globs_cover(a: tuple[str, ...] | None, b: tuple[str, ...] | None, fn, fold: bool = False,
                 paths: bool = False) -> bool:
    if a is None:
        return True
    if b is None:
        return False
    if paths:
        return all(any(path_glob_covers(x, y) for x in a) for y in b)
    return all(any(_name_glob_covers(x, y, fn, fold) for x in a) for y in b)


def _name_glob_covers(a: str, b: str, fn, fold: bool) -> bool:
    """fnmatch glob ``a`` matches every name glob ``b`` matches: equal, ``a`` is ``*``, ``b`` is a
    plain name ``a`` matches, or ``a`` is a prefix followed by ``*`` that ``b``'s literal prefix extends."""
    if fold:
        a, b = a.lower(), b.lower()
    if a == b or a == "*":
        return True
    if not _WILD.search(b):
        return fn(b, a)
    if a.endswith("*") and not _WILD.search(a[:-1]):
        literal = _WILD.split(b, 1)[0]
        return literal.startswith(a[:-1])
    return False


def _not_paths_cover(a: tuple[str, ...] | None, b: tuple[str, ...] | None) -> bool:
    """``a``'s exclusions exclude no fix ``b`` matches: each glob ``a`` excludes is inside one of ``b``'s."""
    if a is None:
        return True
    return b is not None and all(any(path_glob_covers(y, x) for y in b) for x in a)


def path_glob_covers(a: str, b: str, ignore_case: bool = False) -> bool:
    """Path glob ``a`` matches every path that path glob ``b`` matches (proven, or False)."""
    if ignore_case:
        a, b = a.lower(), b.lower()
    return _segments_cover(tuple(a.split("/")), tuple(b.split("/")))


def _segments_cover(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    if not a:
        return not b
    if a[0] == "**":
        if len(a) == 1:
            return bool(b)                     # a trailing ** matches one or more segments
        return any(_segments_cover(a[1:], b[k:]) for k in range(len(b) + 1))
    if not b or b[0] == "**":
        return False                           # b's ** can be any depth; a single segment cannot cover it
    return _segment_covers(a[0], b[0]) and _segments_cover(a[1:], b[1:])


def _segment_covers(a: str, b: str) -> bool:
    if a == b or a == "*" or re.fullmatch(r"\*+", a):
        return True
    if not _WILD.search(b):
        return fnmatchcase(b, a) and "/" not in b
    return False
