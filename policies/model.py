"""A policy as data: what ``policies.load`` makes of a policy file and ``policies.decide`` reads.

Everything is frozen. What a decision needs often (compiled globs, the time zone) is prepared
once, when the value is made, so that deciding thousands of fixes (``iacbot policy simulate``)
costs no parsing: see ``policies.match``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from fixers.models import Category, Confidence, Impact, Risk
from policies.match import compile_match  # match.py needs this module's types for annotations only
from policies.reasons import Action

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")   # index = datetime.weekday()
END_OF_DAY = time.max      # "24:00": the window runs to the end of its day


@dataclass(frozen=True)
class Window:
    """Days (0=Mon..6=Sun) and hours [start, end) in a named time zone.

    The window belongs to the day it opens on: when ``end`` is before ``start`` it spans midnight,
    so ``fri 22:00-02:00`` is open from Friday 22:00 to Saturday 02:00 (and not on Friday 01:00).
    ``start == end`` is never open (``policies.lint`` reports it); a whole day is ``00:00-24:00``
    (``end`` is ``END_OF_DAY``). Local time is the wall clock in ``timezone`` at that instant, so
    across a DST change the window keeps its wall-clock hours.
    """

    days: frozenset[int]
    start: time
    end: time
    timezone: str
    _zone: ZoneInfo = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zone", ZoneInfo(self.timezone))   # ValueError/ZoneInfoNotFoundError

    def contains(self, now: datetime) -> bool:
        if now.tzinfo is None:
            raise ValueError("a window is asked about a timezone-aware instant")
        local = now.astimezone(self._zone)
        t = local.time().replace(tzinfo=None)
        day = local.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= t and (t < self.end or self.end == END_OF_DAY)
        if self.start == self.end:
            return False
        # Spans midnight: the evening of a listed day, or the early hours after one.
        return (day in self.days and t >= self.start) or ((day - 1) % 7 in self.days and t < self.end)

    def never_opens(self) -> bool:
        return not self.days or self.start == self.end

    def text(self) -> str:
        days = ",".join(DAY_NAMES[d] for d in sorted(self.days)) or "no days"
        end = "24:00" if self.end == END_OF_DAY else self.end.strftime("%H:%M")
        return f"{days} {self.start.strftime('%H:%M')}-{end} {self.timezone}"


@dataclass(frozen=True)
class RequiredCheck:
    """A check run (or commit status) that must be green on the head commit before a merge."""

    name: str
    app: str | None = None           # the GitHub App slug that must post it; None: any poster

    def text(self) -> str:
        return f"{self.name} (from {self.app})" if self.app else self.name


@dataclass(frozen=True)
class Match:
    """What a rule matches. ``None`` means not constrained; ``Match()`` matches every fix.

    Globs are compiled once, on construction (``policies.match.compile_match``)."""

    rule_ids: tuple[str, ...] | None = None
    fix_classes: tuple[str, ...] | None = None
    categories: frozenset[Category] | None = None
    risk: frozenset[Risk] | None = None
    confidence: frozenset[Confidence] | None = None
    impact: frozenset[Impact] | None = None
    severity: frozenset[str] | None = None
    repositories: tuple[str, ...] | None = None
    paths: tuple[str, ...] | None = None
    not_paths: tuple[str, ...] | None = None
    max_files: int | None = None
    max_changed_lines: int | None = None
    max_resources: int | None = None
    window: Window | None = None
    compiled: object = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", compile_match(self))

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in MATCH_FIELDS)


MATCH_FIELDS = ("rule_ids", "fix_classes", "categories", "risk", "confidence", "impact", "severity",
                "repositories", "paths", "not_paths", "max_files", "max_changed_lines", "max_resources",
                "window")


@dataclass(frozen=True)
class Rule:
    name: str
    match: Match
    action: Action
    line: int = 0                    # where the rule starts in its file (1-based; 0 when not from a file)
    column: int = 0


#: The rollback settings' defaults (docs/rollback.md): revert a fix that did not work, at most 3
#: times a day per repository, and a revert waits for a person unless the policy says otherwise.
DEFAULT_AUTO_REVERT = True
DEFAULT_MAX_REVERTS_PER_DAY = 3
DEFAULT_AUTOMERGE_REVERTS = False


@dataclass(frozen=True)
class RollbackSettings:
    """``rollback:`` as a file states it; None: the file does not say (policies.rollback.effective
    composes the central and repository values, the repository's only tightening)."""

    auto_revert: bool | None = None
    max_reverts_per_day: int | None = None
    automerge_reverts: bool | None = None


@dataclass(frozen=True)
class Policy:
    """A central policy, or a repository's ``.github/iacbot.yml`` (then only ``rules`` and
    ``required_checks`` mean anything: the rest keeps its defaults and is not read)."""

    version: int
    rules: tuple[Rule, ...]
    required_checks: tuple[RequiredCheck, ...] = ()
    max_automerges_per_hour: int = 5
    window: Window | None = None
    repo_may_disable: bool = False
    decline_expiry_days: int = 90
    rollback: RollbackSettings = RollbackSettings()
    source: str = ""
    digest: str = ""                 # sha256 hex of the file's bytes
    #: Where settings that ``policies.lint`` may report on sit in the file: (dotted key, line, column).
    marks: tuple[tuple[str, int, int], ...] = field(default=(), compare=False)

    def mark(self, key: str) -> tuple[int, int]:
        """The 1-based line and column of ``key`` ("automerge.window"), or 1:1 when not known."""
        return next(((line, col) for k, line, col in self.marks if k == key), (1, 1))


@dataclass(frozen=True)
class PolicyProblem:
    """One thing wrong with a policy file, where it is (1-based line and column)."""

    file: str
    line: int
    column: int
    message: str

    def text(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"

    def where(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class PolicyError(Exception):
    """A policy file that cannot be used, with every problem found in it."""

    def __init__(self, problems: tuple[PolicyProblem, ...] | list[PolicyProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(p.text() for p in self.problems) or "invalid policy")


@dataclass(frozen=True)
class PolicySet:
    """The policies one decision is made under, as the workers found them.

    ``central`` None with no problems: no central policy was found (missing); with problems: it
    was found and is invalid. A repository without ``.github/iacbot.yml`` has ``repo`` None and no
    problems. Either kind of problem fails closed (``policies.decide``)."""

    central: Policy | None
    repo: Policy | None = None
    central_problems: tuple[PolicyProblem, ...] = ()
    repo_problems: tuple[PolicyProblem, ...] = ()
