"""CKV_AWS_23: every security group and rule has a description.

A group without description gets the provider's own default ("Managed by Terraform"): the group's
description forces replacement when it changes, and writing the default changes nothing in AWS.
Rules get a description derived from the rule itself ("tcp 443 from 10.0.0.0/8", see
sg_rule_text); when a rule's protocol, ports or sources are not literal, the finding is Unknown
with the reason, and nothing is written.
"""
from __future__ import annotations

from fixers.edit.hcl import (
    HclEditError,
    find_attribute,
    nested_blocks,
    parse_tree,
    render_value,
    set_attribute,
    top_level_blocks,
)
from fixers.locate.terraform import find_finding_block, locate
from fixers.terraform.sg_rule_text import INLINE, STANDALONE, VPC_RULE, NotDescribable, describe, direction_of
from fixers.models import (
    Category,
    Confidence,
    Finding,
    FixContext,
    FixerInfo,
    FunctionFixer,
    Impact,
    NoChange,
    Outcome,
    Patched,
    Risk,
    Unknown,
)

GROUP_DEFAULT = "Managed by Terraform"
GROUP_TYPES = ("aws_security_group", "aws_db_security_group", "aws_elasticache_security_group",
               "aws_redshift_security_group")
RULE_TYPES = ("aws_security_group_rule", "aws_vpc_security_group_ingress_rule",
              "aws_vpc_security_group_egress_rule")
_SHAPES = {"aws_security_group_rule": STANDALONE, "aws_vpc_security_group_ingress_rule": VPC_RULE,
           "aws_vpc_security_group_egress_rule": VPC_RULE}


def _rule_description(text: str, block, kind: str) -> str:
    shape = _SHAPES.get(kind, INLINE)
    try:
        return describe(text, block, shape, direction_of(text, block, kind))
    except NotDescribable as error:
        where = f"the {kind} block" if kind in ("ingress", "egress") else "the rule"
        raise HclEditError(f"cannot describe {where} from its own attributes: {error}") from None


def _has_description(block) -> bool:
    return find_attribute(block, "description") is not None


def fix_descriptions(source: str, finding: Finding, ctx: FixContext) -> Outcome:
    try:
        tree = parse_tree(source)
        block = find_finding_block(source, tree, finding)
        kind = block.labels[0] if block.labels else ""
        if kind not in GROUP_TYPES + RULE_TYPES:
            return Unknown(f"{finding.resource} is not a security group or security group rule")
        header = (block.type, block.labels)
        text, changed = source, []
        if not _has_description(block):
            value = GROUP_DEFAULT if kind in GROUP_TYPES else _rule_description(text, block, kind)
            text = set_attribute(text, block, "description", render_value(value))
            changed.append("the group" if kind in GROUP_TYPES else "the rule")
        if kind == "aws_security_group":
            while True:
                current = next(b for b in top_level_blocks(parse_tree(text)) if (b.type, b.labels) == header)
                missing = [b for b in nested_blocks(current) if b.type in ("ingress", "egress")
                           and not _has_description(b)]
                if not missing:
                    break
                description = _rule_description(text, missing[0], missing[0].type)
                text = set_attribute(text, missing[0], "description", render_value(description))
                changed.append(missing[0].type)
        if not changed:
            return NoChange(f"{finding.resource} and its rules already have descriptions")
        return Patched(text, f"add descriptions to {', '.join(changed)} of {finding.resource}, "
                             "derived from each rule's protocol, ports and sources",
                       locate(source, tree, finding))
    except HclEditError as error:
        return Unknown(str(error))


SG_DESCRIPTIONS = FunctionFixer(
    FixerInfo("tf.sg-descriptions", ("CKV_AWS_23",), Category.NETWORK, Risk.LOW, Confidence.ASSUMED_VALUE,
              "Describe security groups (the provider's default text) and their rules, each rule by "
              "its own protocol, ports and sources (\"tcp 443 from 10.0.0.0/8\"); Unknown when those "
              "are not literal. An inline rule whose description changes is revoked and authorized "
              "again, a moment in which new connections it allows are refused.",
              frozenset({Impact.AVAILABILITY})),
    fix_descriptions,
)

FIXERS = [SG_DESCRIPTIONS]
