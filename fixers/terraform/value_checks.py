"""One fixer for every checkov value check: "attribute at this key must equal one of these values".

The catalog gives the inspected key (e.g. "metadata_options/[0]/http_tokens") and the acceptable
values; the fixer writes the preferred literal into the finding's resource block, creating nested
blocks as needed. Checks it cannot express safely are not claimed (wildcards, ANY_VALUE only,
indices other than the first block, keys that run through map attributes).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from fixers.edit.hcl import (
    HclEditError,
    NotLiteral,
    find_block,
    insert_statements,
    literal_value,
    parse_tree,
    read_path,
    render_value,
    set_path,
    walk_path,
)
from fixers.locate.terraform import find_finding_block, locate, non_literal_reason
from fixers.terraform.value_rules import (
    AddsArgument,
    KeepsFamily,
    NeedsArgument,
    NotWritable,
    RejectedFor,
    Requirement,
    same_family_value,
    value_rule,
)
from fixers.models import (
    Category,
    Confidence,
    Finding,
    Impact,
    FixContext,
    FixerInfo,
    FunctionFixer,
    NoChange,
    Outcome,
    Patched,
    Risk,
    RuleMeta,
    Unknown,
)

FIXER_ID = "tf.value-check"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_BLOCK_NAME = re.compile(r"[a-z][a-z0-9_]*")
_FIRST_INDEX = re.compile(r"\[?0\]?")
_ANY_INDEX = re.compile(r"\[?\d+\]?")
# Arguments that are maps, not nested blocks: checkov's conf shows both the same way, and writing
# `tags { ... }` where Terraform expects `tags = { ... }` would be invalid.
_MAP_ARGUMENTS = frozenset({
    "tags", "tags_all", "labels", "metadata", "parameters", "environment", "variables",
    "annotations", "policy", "options", "settings_map", "default_tags",
})

_CATEGORIES = {
    "ENCRYPTION": Category.ENCRYPTION,
    "LOGGING": Category.LOGGING,
    "NETWORKING": Category.NETWORK,
    "IAM": Category.IDENTITY,
    "SECRETS": Category.SECRET,
    "BACKUP_AND_RECOVERY": Category.AVAILABILITY,
    "GENERAL_SECURITY": Category.HARDENING,
    "KUBERNETES": Category.HARDENING,
    "CONVENTION": Category.HARDENING,
    "SUPPLY_CHAIN": Category.HARDENING,
    "APPLICATION_SECURITY": Category.HARDENING,
    "API_SECURITY": Category.NETWORK,
}


def rule_category(meta: RuleMeta) -> Category:
    """Our category for a checkov rule, from its CheckCategories (graph checks spell them in words)."""
    for name in meta.categories:
        category = _CATEGORIES.get(name.upper().replace(" ", "_"))
        if category is not None:
            return category
    return Category.HARDENING


def key_path(inspected_key: str) -> tuple[str, ...] | None:
    """Names along a checkov key, or None when it is not a plain path of first blocks."""
    names: list[str] = []
    for segment in inspected_key.split("/"):
        if _ANY_INDEX.fullmatch(segment):
            if not names or not _FIRST_INDEX.fullmatch(segment):
                return None
            continue
        if not _NAME.fullmatch(segment):
            return None
        names.append(segment)
    if not names:
        return None
    if any(not _BLOCK_NAME.fullmatch(n) or n in _MAP_ARGUMENTS for n in names[:-1]):
        return None
    return tuple(names)


def preferred_value(meta: RuleMeta) -> object | None:
    """The value to write: a real bool if one is accepted, else the first literal accepted."""
    literals = [v for v in meta.expected_values
                if isinstance(v, (bool, int, float, str)) and v != "" and v != "*"]
    return next((v for v in literals if isinstance(v, bool)), literals[0] if literals else None)


def claims(meta: RuleMeta) -> bool:
    return (
        "terraform" in meta.frameworks
        and meta.inspected_key is not None
        and key_path(meta.inspected_key) is not None
        and preferred_value(meta) is not None
        and any("_" in t for t in meta.resource_types)  # Terraform types, not Kubernetes kinds
    )


def _satisfies(value: object, meta: RuleMeta) -> bool:
    """The same comparison checkov makes, so NoChange agrees with a re-scan."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value in meta.expected_values or (not isinstance(value, str) and str(value) in meta.expected_values)


@dataclass(frozen=True)
class ValueEdit:
    """What the family writes for one rule: the path, the value, and how it reads in HCL."""

    path: tuple[str, ...]
    value: object

    @property
    def hcl(self) -> str:
        return render_value(self.value)


def apply_value_edit(source: str, finding: Finding, meta: RuleMeta, edit: ValueEdit,
                     requirements: tuple[Requirement, ...] = ()) -> Outcome:
    """Set edit.path = edit.value in the finding's block, unless the rule is already satisfied.

    requirements: what the provider demands beside the value (value_rules); each is checked
    before anything is written, and companions are written with the value.
    """
    try:
        tree = parse_tree(source)
        block = find_finding_block(source, tree, finding)
        if meta.resource_types and block.labels and block.labels[0] not in meta.resource_types:
            return Unknown(f"{finding.resource} is a {block.labels[0]}, which {meta.id} does not inspect")
        current = read_path(block, edit.path)
        if current is not None:
            try:
                value = literal_value(current.value_text(source))
            except NotLiteral:
                return Unknown(non_literal_reason("/".join(edit.path), current.value_text(source)))
            if _satisfies(value, meta):
                return NoChange(f"{'/'.join(edit.path)} already satisfies {meta.id}")
        elif meta.missing_attribute_result == "PASSED":
            return NoChange(f"{meta.id} passes when {'/'.join(edit.path)} is absent")
        for keeps in (r for r in requirements if isinstance(r, KeepsFamily)):
            chosen = same_family_value(value if current is not None else None, meta.expected_values)
            if chosen is None:
                return Unknown(keeps.why.format(value="(not set)" if current is None else render_value(value)))
            edit = ValueEdit(edit.path, chosen)
        checked = check_requirements(source, block, requirements)
        if isinstance(checked, Unknown):
            return checked
        patched = _write(source, block, edit, checked)
        for written in (edit, *checked):
            _verify(patched, block.type, block.labels, written)
        also = "".join(f", {'/'.join(c.path)} = {c.hcl}" for c in checked)
        return Patched(
            text=patched,
            summary=f"set {'/'.join(edit.path)} = {edit.hcl}{also} in {finding.resource} ({meta.id})",
            location=locate(source, tree, finding),
        )
    except HclEditError as error:
        return Unknown(str(error))


def _write(source: str, block, edit: ValueEdit, companions: list[ValueEdit]) -> str:
    """Write the value and its companions; new lines that share a block go in together, as one run."""
    together = [c for c in companions if c.path[:-1] == edit.path[:-1]]
    if together and read_path(block, edit.path) is None:
        step = walk_path(block, edit.path)
        statement: list = [(e.path[-1], e.hcl) for e in (edit, *together)]
        for name in reversed(step.remaining[:-1]):
            statement = [(name, statement)]
        text = insert_statements(source, step.block, statement)
        rest = [c for c in companions if c not in together]
    else:
        text = set_path(source, block, edit.path, edit.hcl)
        rest = companions
    for companion in rest:
        text = set_path(text, find_block(parse_tree(text), block.type, block.labels), companion.path, companion.hcl)
    return text


def check_requirements(source: str, block, requirements: tuple[Requirement, ...]) -> list[ValueEdit] | Unknown:
    """The companion edits the requirements add, or Unknown with the first requirement that fails."""
    companions: list[ValueEdit] = []
    for requirement in requirements:
        if isinstance(requirement, NotWritable):
            return Unknown(requirement.why)
        if isinstance(requirement, KeepsFamily):
            continue  # chooses the value itself (apply_value_edit)
        existing = read_path(block, requirement.path)
        if isinstance(requirement, NeedsArgument) and existing is None:
            return Unknown(requirement.why)
        if isinstance(requirement, AddsArgument) and existing is None:
            companions.append(ValueEdit(requirement.path, requirement.value))
        elif isinstance(requirement, AddsArgument) and requirement.must_equal:
            try:
                kept = literal_value(existing.value_text(source)) == requirement.value
            except NotLiteral:
                kept = False
            if not kept:
                return Unknown(f"{requirement.why}, and {'/'.join(requirement.path)} is "
                               f"`{existing.value_text(source).strip()}`, not {render_value(requirement.value)}")
        if isinstance(requirement, RejectedFor):
            if existing is None:
                if requirement.when_absent:
                    return Unknown(requirement.when_absent)
                continue
            name = "/".join(requirement.path)
            try:
                value = literal_value(existing.value_text(source))
            except NotLiteral:
                return Unknown(f"{non_literal_reason(name, existing.value_text(source))}; the provider rejects "
                               f"this change for some values of {name}")
            if isinstance(value, str) and re.fullmatch(requirement.pattern, value):
                return Unknown(requirement.why.format(value=value))
    return companions


def _verify(patched: str, block_type: str, labels: tuple[str, ...], edit: ValueEdit) -> None:
    block = find_block(parse_tree(patched), block_type, labels)
    written = read_path(block, edit.path) if block else None
    if written is None:
        raise HclEditError("after the edit the value is not where it should be; nothing was changed")
    try:
        ok = literal_value(written.value_text(patched)) == edit.value
    except NotLiteral:
        ok = False
    if not ok:
        raise HclEditError("after the edit the value reads back differently; nothing was changed")


def fix_value_check(source: str, finding: Finding, ctx: FixContext) -> Outcome:
    meta = ctx.catalog.get(finding.rule_id)
    if meta is None or not claims(meta):
        return Unknown(f"{finding.rule_id} is not a value check this fixer can write")
    return apply_value_edit(source, finding, meta, ValueEdit(key_path(meta.inspected_key), preferred_value(meta)),
                            value_rule(meta).requirements)


_DESCRIPTION = ("Sets the attribute a checkov value check inspects to the value it expects, with what the "
                "provider requires beside it; category, risk, confidence and impact are per rule "
                "(fixers/terraform/value_rules.py, docs/fixer-labels.md).")


@dataclass(frozen=True)
class ValueCheckFamily:
    """The family as registered: `info` is the label of a rule nobody reviewed; for_rule labels one rule."""

    info: FixerInfo

    def fix(self, source: str, finding: Finding, ctx: FixContext) -> Outcome:
        return fix_value_check(source, finding, ctx)

    def for_rule(self, meta: RuleMeta) -> FunctionFixer:
        return _rule_fixer(meta)


@lru_cache(maxsize=None)
def _rule_fixer(meta: RuleMeta) -> FunctionFixer:
    review = value_rule(meta).review
    info = FixerInfo(FIXER_ID, (), rule_category(meta), review.risk, review.confidence,
                     f"{_DESCRIPTION} {meta.id}: {review.reason}.", review.impact)
    return FunctionFixer(info, fix_value_check)


VALUE_CHECK_FIXER = ValueCheckFamily(
    FixerInfo(
        id=FIXER_ID,
        rule_ids=(),  # claims rules by their catalog metadata, see claims()
        category=Category.HARDENING,
        risk=Risk.MEDIUM,
        confidence=Confidence.ASSUMED_VALUE,
        description=_DESCRIPTION,
        impact=frozenset({Impact.UNREVIEWED}),
    ),
)
