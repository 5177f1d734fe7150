"""Findings that `iacbot fix` sets aside before fixing, and why: `scan` lists every failed check,
`fix` works on each place once, and both say how many findings that leaves out."""
from __future__ import annotations

from enum import Enum
from typing import Sequence

from fixers.engine import RunReport
from fixers.models import Finding
from fixers.verify import finding_key


class SetAside(Enum):
    # checkov reports a module's resource once per caller of the module; the engine fixes the
    # place (rule, file, resource) once.
    REPEATED_PLACE = "repeated-place"

    @property
    def why(self) -> str:
        return _WHY[self]


_WHY = {SetAside.REPEATED_PLACE: "the same rule on the same resource of the same file, reported again "
                                 "(a module reached through several callers): one place, fixed once"}


def places(findings: Sequence[Finding]) -> int:
    """How many places `fix` would work on: the engine's unit (fixers.verify.finding_key)."""
    return len({finding_key(f) for f in findings})


def repeated_in_run(given: Sequence[Finding], report: RunReport) -> int:
    """Findings given to the engine that no attempt of its report covers: repeats of a place.
    An attempt may carry several findings of one fix (`Attempt.findings`, where the engine has it)."""
    covered = sum(len(getattr(attempt, "findings", ()) or (attempt.finding,)) for attempt in report.attempts)
    return len(given) - covered


def record(count: int) -> dict:
    """The JSON form (`summary.set_aside` of fix --json)."""
    return {"findings": count, "reason": SetAside.REPEATED_PLACE.value, "why": SetAside.REPEATED_PLACE.why}
