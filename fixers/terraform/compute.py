"""EC2 fixers: IMDSv2 (CKV_AWS_79) and EBS encryption (CKV_AWS_3, CKV_AWS_8)."""
from __future__ import annotations

from fixers.edit.hcl import (
    HclEditError,
    NotLiteral,
    find_attribute,
    literal_value,
    nested_blocks,
    parse_tree,
    set_attribute,
    set_path,
    top_level_blocks,
)
from fixers.locate.terraform import find_finding_block, locate, non_literal_reason
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
    RuleMeta,
    Unknown,
)
from fixers.terraform.value_checks import ValueEdit, apply_value_edit

IMDS_META = RuleMeta(id="CKV_AWS_79", resource_types=("aws_instance", "aws_launch_template", "aws_launch_configuration"),
                     inspected_key="metadata_options/[0]/http_tokens", expected_values=("required",),
                     missing_attribute_result="FAILED")
EBS_VOLUME_META = RuleMeta(id="CKV_AWS_3", resource_types=("aws_ebs_volume",), inspected_key="encrypted",
                           expected_values=(True,), missing_attribute_result="FAILED")


def fix_imdsv2(source: str, finding: Finding, ctx: FixContext) -> Outcome:
    try:
        block = find_finding_block(source, parse_tree(source), finding)
        options = nested_blocks(block, "metadata_options")
        endpoint = find_attribute(options[0], "http_endpoint") if options else None
        if endpoint is not None and endpoint.value_text(source).strip() == '"disabled"':
            return NoChange("the instance metadata service is disabled, which the rule accepts")
    except HclEditError as error:
        return Unknown(str(error))
    return apply_value_edit(source, finding, IMDS_META, ValueEdit(("metadata_options", "http_tokens"), "required"))


def _is_true(source: str, attribute) -> bool:
    try:
        return literal_value(attribute.value_text(source)) in (True, "true")
    except NotLiteral:
        raise HclEditError(non_literal_reason("encrypted", attribute.value_text(source))) from None


def _encrypt_device_blocks(source: str, finding: Finding) -> Outcome:
    """CKV_AWS_8: root_block_device and every ebs_block_device get encrypted = true."""
    tree = parse_tree(source)
    block = find_finding_block(source, tree, finding)
    header = (block.type, block.labels)
    text, changed = source, []
    if not nested_blocks(block, "root_block_device"):
        text = set_path(text, block, ("root_block_device", "encrypted"), "true")
        changed.append("root_block_device")
    index = 0
    while True:
        current = next(b for b in top_level_blocks(parse_tree(text)) if (b.type, b.labels) == header)
        devices = nested_blocks(current, "root_block_device") + nested_blocks(current, "ebs_block_device")
        if index >= len(devices):
            break
        device = devices[index]
        index += 1
        encrypted = find_attribute(device, "encrypted")
        if encrypted is not None and _is_true(text, encrypted):
            continue
        if encrypted is None and find_attribute(device, "snapshot_id") is not None:
            continue  # a volume from a snapshot inherits the snapshot's encryption; checkov accepts it
        text = set_attribute(text, device, "encrypted", "true")
        changed.append(device.type)
    if not changed:
        return NoChange(f"every block device of {finding.resource} is already encrypted")
    return Patched(text, f"set encrypted = true on {', '.join(changed)} of {finding.resource}",
                   locate(source, tree, finding))


def fix_ebs_encryption(source: str, finding: Finding, ctx: FixContext) -> Outcome:
    if finding.rule_id == "CKV_AWS_3":
        return apply_value_edit(source, finding, EBS_VOLUME_META, ValueEdit(("encrypted",), True))
    try:
        return _encrypt_device_blocks(source, finding)
    except HclEditError as error:
        return Unknown(str(error))


IMDSV2 = FunctionFixer(
    FixerInfo("tf.imdsv2", ("CKV_AWS_79",), Category.HARDENING, Risk.MEDIUM, Confidence.ASSUMED_VALUE,
              "Require IMDSv2 session tokens (metadata_options http_tokens = \"required\") on instances, "
              "launch templates and launch configurations; software still using IMDSv1 stops getting "
              "credentials.", frozenset({Impact.COMPATIBILITY})),
    fix_imdsv2,
)
EBS_ENCRYPTION = FunctionFixer(
    FixerInfo("tf.ebs-encryption", ("CKV_AWS_3", "CKV_AWS_8"), Category.ENCRYPTION, Risk.HIGH,
              Confidence.ASSUMED_VALUE,
              "Encrypt EBS volumes and instance block devices; on existing resources Terraform "
              "replaces the volume (and the instance for root devices).", frozenset({Impact.REPLACEMENT})),
    fix_ebs_encryption,
)

FIXERS = [IMDSV2, EBS_ENCRYPTION]
