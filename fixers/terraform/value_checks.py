"""One fixer for every checkov value check: "attribute at this key must equal one of these values".

The catalog gives the inspected key (e.g. "metadata_options/[0]/http_tokens") and the acceptable
values; the fixer writes the preferred literal into the finding's resource block, creating nested
blocks as needed. Checks it cannot express safely are not claimed (wildcards, ANY_VALUE only,
indices other than the first block, keys that run through map attributes).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from fixers.edit.hcl import (
    HclEditError,
    NotLiteral,
    find_block,
    literal_value,
    parse_tree,
    read_path,
    render_value,
    set_path,
)
from fixers.locate.terraform import find_finding_block, locate, non_literal_reason
from fixers.models import (
    Category,
    Confidence,
    Finding,
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

# Value checks whose value alone makes an invalid configuration: the provider demands a companion
# argument the catalog does not know about. Found by reviewing trial patches; extend as found.
_NEEDS_COMPANION = frozenset({
    "CKV_AWS_118",  # monitoring_interval > 0 requires monitoring_role_arn (an IAM role)
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
        and meta.id not in _NEEDS_COMPANION
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


def apply_value_edit(source: str, finding: Finding, meta: RuleMeta, edit: ValueEdit) -> Outcome:
    """Set edit.path = edit.value in the finding's block, unless the rule is already satisfied."""
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
        patched = set_path(source, block, edit.path, edit.hcl)
        _verify(patched, block.type, block.labels, edit)
        return Patched(
            text=patched,
            summary=f"set {'/'.join(edit.path)} = {edit.hcl} in {finding.resource} ({meta.id})",
            location=locate(source, tree, finding),
        )
    except HclEditError as error:
        return Unknown(str(error))


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
    return apply_value_edit(source, finding, meta, ValueEdit(key_path(meta.inspected_key), preferred_value(meta)))


VALUE_CHECK_FIXER = FunctionFixer(
    info=FixerInfo(
        id=FIXER_ID,
        rule_ids=(),  # claims rules by their catalog metadata, see claims()
        category=Category.HARDENING,
        risk=Risk.MEDIUM,
        confidence=Confidence.SAFE_DEFAULT,
        description="Sets the attribute a checkov value check inspects to the value it expects "
                    "(per-rule category: rule_category).",
    ),
    apply=fix_value_check,
)
