"""The engine's data model: what flows from a finding to a verified patch.

Everything here is plain, immutable data. Fixers are pure functions over these types:
source text in, an Outcome out; no git, no network, no scanner.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import Enum
from typing import Mapping, Protocol, Union


class Category(str, Enum):
    ENCRYPTION = "encryption"
    LOGGING = "logging"
    NETWORK = "network"
    IDENTITY = "identity"
    SECRET = "secret"
    HARDENING = "hardening"
    AVAILABILITY = "availability"
    RESOURCES = "resources"


class Risk(str, Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Confidence(str, Enum):
    # The value is what the rule demands, breaks nothing sane and has no declared Impact.
    SAFE_DEFAULT = "safe-default"
    # The value is a guess about the workload, or it has an Impact its owner must accept: a reviewer confirms.
    ASSUMED_VALUE = "assumed-value"


class Impact(str, Enum):
    """An effect of applying a fix beyond satisfying the rule, declared so that policy can see it.

    A fix with any impact is not a safe default (Confidence.ASSUMED_VALUE): it needs a person.
    """

    COST = "cost"                    # the resource costs more (a feature billed by use or by the hour)
    AVAILABILITY = "availability"    # a restart, fail-over, rule re-creation or throttling while or after it applies
    OPERATIONS = "operations"        # changes how the resource is run, e.g. deletion protection blocks `terraform destroy`
    REPLACEMENT = "replacement"      # Terraform destroys and re-creates an existing resource (its data and ids)
    COMPATIBILITY = "compatibility"  # clients or software relying on the old behaviour stop working
    UNREVIEWED = "unreviewed"        # the rule's effects were not reviewed one by one (generic value checks)


@dataclass(frozen=True)
class Finding:
    """One failed rule on one resource, normalized from any scanner."""

    rule_id: str                    # scanner's id, e.g. CKV_K8S_20
    file: str                       # repository-relative POSIX path, e.g. "k8s/app.yaml"
    resource: str                   # resource address: "aws_s3_bucket.data", "Deployment.default.web"
    line_start: int = 0             # 1-based, inclusive; 0 when unknown
    line_end: int = 0
    severity: str | None = None
    source: str = "checkov"         # which scanner reported it
    message: str = ""               # the rule's title
    evaluated_keys: tuple[str, ...] = ()  # checkov's evaluated keys, e.g. ("metadata_options/[0]/http_tokens",)
    fix_class: str = ""             # filled by the registry: one class for equivalent rules of several scanners

    def fingerprint(self) -> str:
        """Stable key for dedup, branch names and PRs: fix class + resource address + file."""
        key = f"{self.fix_class or self.rule_id}\x00{self.resource}\x00{self.file}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Location:
    """Where the responsible value lives, and why that layer was chosen."""

    file: str
    start: int          # character offsets into the file's text: [start, end)
    end: int
    layer: str          # "resource", "variable", "tfvars", "module-caller", "manifest", ...
    why: str


@dataclass(frozen=True)
class Patched:
    text: str           # the whole new file text
    summary: str        # one line for humans: "set allowPrivilegeEscalation: false on container app"
    location: Location | None = None


@dataclass(frozen=True)
class NoChange:
    reason: str         # the source already satisfies the rule (e.g. a fix applied twice)


@dataclass(frozen=True)
class Unknown:
    reason: str         # why no safe patch could be proposed; shown to the user as-is


Outcome = Union[Patched, NoChange, Unknown]


@dataclass(frozen=True)
class RuleMeta:
    """What the scanner says about a rule (exported from checkov by the scanner process)."""

    id: str
    name: str = ""
    resource_types: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    frameworks: tuple[str, ...] = ()
    # Only for "attribute must equal a value" checks:
    inspected_key: str | None = None          # e.g. "metadata_options/[0]/http_tokens"
    expected_values: tuple[object, ...] = ()  # acceptable values, first is preferred
    missing_attribute_result: str | None = None  # "FAILED" / "PASSED" when the key is absent


@dataclass(frozen=True)
class RepoFacts:
    """Facts about the repository that a fixer may need and cannot see in one file."""

    aws_provider_major: int | None = None   # from required_providers; None when unconstrained


@dataclass(frozen=True)
class FixContext:
    path: str                                      # repository-relative path of the file being fixed
    catalog: Mapping[str, RuleMeta] = field(default_factory=dict)
    repo: RepoFacts = RepoFacts()


@dataclass(frozen=True)
class FixerInfo:
    id: str                          # stable, e.g. "k8s.container-security-context"
    rule_ids: tuple[str, ...]        # every scanner rule id it handles
    category: Category
    risk: Risk
    confidence: Confidence
    description: str
    impact: frozenset[Impact] = frozenset()  # effects beyond the rule (empty for a safe default)

    def impact_text(self) -> str:
        """The impacts for people and labels: "cost, availability", or "none"."""
        return ", ".join(i.value for i in Impact if i in self.impact) or "none"


class Fixer(Protocol):
    info: FixerInfo

    def fix(self, source: str, finding: Finding, ctx: FixContext) -> Outcome:
        """Pure: return the whole patched text, NoChange, or Unknown(reason). Never raise for bad input."""
        ...


@dataclass(frozen=True)
class FunctionFixer:
    """A fixer made of its declaration and one pure function: the common case."""

    info: FixerInfo
    apply: "FixFunction"

    def fix(self, source: str, finding: Finding, ctx: FixContext) -> Outcome:
        return self.apply(source, finding, ctx)


class FixFunction(Protocol):
    def __call__(self, source: str, finding: Finding, ctx: FixContext) -> Outcome: ...
