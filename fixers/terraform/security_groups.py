"""CKV_AWS_23: every security group and rule has a description.

A group without description gets the provider's own default ("Managed by Terraform"): the group's
description forces replacement when it changes, and writing the default changes nothing in AWS.
Rules get a placeholder that says a person must write the real purpose.
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
    Unknown,
)

GROUP_DEFAULT = "Managed by Terraform"
RULE_PLACEHOLDER = "Added by iacbot - review: describe what this rule allows"
GROUP_TYPES = ("aws_security_group", "aws_db_security_group", "aws_elasticache_security_group",
               "aws_redshift_security_group")
RULE_TYPES = ("aws_security_group_rule", "aws_vpc_security_group_ingress_rule",
              "aws_vpc_security_group_egress_rule")


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
            value = GROUP_DEFAULT if kind in GROUP_TYPES else RULE_PLACEHOLDER
            text = set_attribute(text, block, "description", render_value(value))
            changed.append("the group" if kind in GROUP_TYPES else "the rule")
        if kind == "aws_security_group":
            while True:
                current = next(b for b in top_level_blocks(parse_tree(text)) if (b.type, b.labels) == header)
                missing = [b for b in nested_blocks(current) if b.type in ("ingress", "egress")
                           and not _has_description(b)]
                if not missing:
                    break
                text = set_attribute(text, missing[0], "description", render_value(RULE_PLACEHOLDER))
                changed.append(missing[0].type)
        if not changed:
            return NoChange(f"{finding.resource} and its rules already have descriptions")
        return Patched(text, f"add descriptions to {', '.join(changed)} of {finding.resource} (review the text)",
                       locate(source, tree, finding))
    except HclEditError as error:
        return Unknown(str(error))


SG_DESCRIPTIONS = FunctionFixer(
    FixerInfo("tf.sg-descriptions", ("CKV_AWS_23",), Category.NETWORK, Risk.LOW, Confidence.ASSUMED_VALUE,
              "Describe security groups and their rules; rule texts are placeholders a reviewer "
              "must replace with the real purpose."),
    fix_descriptions,
)

FIXERS = [SG_DESCRIPTIONS]
