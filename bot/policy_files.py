"""Reading policy files for the `iacbot policy` commands: which loader, bounded reads, lint.

A file is read as a repository policy (policies.load.load_repo_policy, the `.github/iacbot.yml`
subset) when it is named iacbot.yml or .iacbot.yml (or .yaml), or when the caller says so;
otherwise as a central policy (load_policy). Every problem, whether the file cannot be read, does
not parse, breaks the schema, or means something it cannot (policies.lint), is a
policies.model.PolicyProblem: `FILE:LINE:COL: message`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fixers import registry
from fixers.catalog import load_catalog
from policies.lint import lint
from policies.load import MAX_BYTES, load_policy, load_repo_policy
from policies.model import Policy, PolicyError, PolicyProblem

REPO_POLICY_NAMES = frozenset({"iacbot.yml", ".iacbot.yml", "iacbot.yaml", ".iacbot.yaml"})

CENTRAL, REPOSITORY = "central", "repository"


@dataclass(frozen=True)
class Checked:
    """One file's result: the policy when it loaded, and every problem (load or lint)."""

    path: Path
    kind: str                               # CENTRAL or REPOSITORY
    policy: Policy | None
    problems: tuple[PolicyProblem, ...]

    @property
    def valid(self) -> bool:
        return self.policy is not None and not self.problems


def kind_of(path: Path, repo_policy: bool | None = None) -> str:
    """REPOSITORY when forced, or (unless forced central) when the file has a repository policy's name."""
    if repo_policy is not None:
        return REPOSITORY if repo_policy else CENTRAL
    return REPOSITORY if path.name.lower() in REPO_POLICY_NAMES else CENTRAL


def read_bytes(path: Path) -> tuple[bytes | None, PolicyProblem | None]:
    """The file's bytes, or the problem (at 1:1) that says why they cannot be had."""
    name = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)   # enough to know it is too large, never more
    except FileNotFoundError:
        return None, PolicyProblem(name, 1, 1, "no such file")
    except IsADirectoryError:
        return None, PolicyProblem(name, 1, 1, "is a directory, not a policy file")
    except PermissionError:
        return None, PolicyProblem(name, 1, 1, "cannot read: permission denied")
    except OSError as exc:
        return None, PolicyProblem(name, 1, 1, f"cannot read: {exc.strerror or type(exc).__name__}")
    if len(data) > MAX_BYTES:
        return None, PolicyProblem(name, 1, 1, f"larger than {MAX_BYTES} bytes, the most a policy file may be; not read")
    return data, None


def load(path: Path, kind: str) -> tuple[Policy | None, tuple[PolicyProblem, ...]]:
    """Read and load one file (no lint): the policy, or None and every problem."""
    data, unreadable = read_bytes(path)
    if unreadable is not None:
        return None, (unreadable,)
    loader = load_repo_policy if kind == REPOSITORY else load_policy
    try:
        return loader(data, str(path)), ()
    except PolicyError as exc:
        return None, tuple(exc.problems) or (PolicyProblem(str(path), 1, 1, "invalid policy"),)


def check(path: Path, kind: str) -> Checked:
    """Load, then lint what loaded against the rules and fix classes this iacbot knows (as
    policies.check.check_policy does, keeping the policy for explain and simulate). Every lint
    finding is an error: each names a rule that does not do what it says (it names nothing, can
    never match, is shadowed, or a guardrail always blocks it) or a window that never opens."""
    policy, problems = load(path, kind)
    if policy is not None:
        problems = lint(policy, known_rule_ids(), known_fix_classes(), repository=kind == REPOSITORY)
    return Checked(path, kind, policy, problems)


@lru_cache(maxsize=1)
def known_rule_ids() -> frozenset[str]:
    """Every rule id a policy can name: checkov's catalog (the snapshot the engine fixes from) and
    every hand-written fixer's rules (a SARIF-only rule is not in checkov's catalog)."""
    hand_written = {rule for fixer in registry.HAND_WRITTEN.values() for rule in fixer.info.rule_ids}
    return frozenset(load_catalog()) | frozenset(hand_written)


@lru_cache(maxsize=1)
def known_fix_classes() -> frozenset[str]:
    """Every fixer id (what FixFacts.fix_class holds for a fix made by a fixer), families included."""
    return frozenset(fixer.info.id for fixer in registry.all_fixers())
