"""S3 bucket fixers: encryption, versioning, public access block, lifecycle.

AWS provider < 4 configures these inside aws_s3_bucket; provider >= 4 (or unconstrained, i.e.
the latest) uses a separate aws_s3_bucket_* resource pointing at the bucket. Whatever the bucket
already has wins: an existing inline block is edited in place, an existing separate resource is
edited, and a second resource for the same bucket is never added. Known limit: the engine passes
one file, so a separate resource in another file of the module is not seen.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from fixers.edit.hcl import (
    Block,
    HclEditError,
    NotLiteral,
    Statement,
    append_block_after,
    find_attribute,
    insert_statements,
    literal_value,
    nested_blocks,
    parse_tree,
    read_path,
    render_value,
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
    Unknown,
)

Path = tuple[str, ...]


@dataclass(frozen=True)
class Setting:
    """One attribute the fix demands, and the values that already count as compliant."""

    path: Path
    value: object
    accepted: tuple[object, ...]


@dataclass(frozen=True)
class S3Feature:
    """How one bucket feature is written inline (provider < 4) and as a separate resource."""

    name: str                          # for summaries: "default encryption"
    inline_block: str | None           # "versioning"; None when there is no inline form
    inline: tuple[Setting, ...]        # settings relative to the bucket block
    resource_type: str
    resource: tuple[Setting, ...]      # settings relative to the separate resource
    inline_is_list: bool = False       # lifecycle_rule: any existing rule counts, do not edit it


def _bucket_reference(bucket: Block) -> re.Pattern[str]:
    name = re.escape(bucket.labels[1])
    return re.compile(rf"^\s*aws_s3_bucket\.{name}(\[[^\]]*\])?\.(id|bucket)\s*$")


def _companion(text: str, blocks: list[Block], bucket: Block, resource_type: str) -> Block | None:
    """The separate resource of this type that points at the bucket, if the file has one."""
    pattern = _bucket_reference(bucket)
    for block in blocks:
        if block.type == "resource" and block.labels[:1] == (resource_type,):
            reference = find_attribute(block, "bucket")
            if reference is not None and pattern.match(reference.value_text(text)):
                return block
    return None


def _statements(settings: tuple[Setting, ...]) -> list[Statement]:
    """Nested statements for settings, merging shared block prefixes."""
    root: dict = {}
    for setting in settings:
        node = root
        for name in setting.path[:-1]:
            node = node.setdefault(name, {})
        node[setting.path[-1]] = render_value(setting.value)

    def to_statements(node: dict) -> list[Statement]:
        return [(k, v if isinstance(v, str) else to_statements(v)) for k, v in node.items()]

    return to_statements(root)


def _apply_settings(text: str, block: Block, settings: tuple[Setting, ...]) -> tuple[str, list[str]]:
    """Set each unsatisfied setting inside `block` (re-finding it after each edit)."""
    changed: list[str] = []
    header = (block.type, block.labels)
    for setting in settings:
        current = next(b for b in top_level_blocks(parse_tree(text)) if (b.type, b.labels) == header)
        existing = read_path(current, setting.path)
        if existing is not None:
            try:
                value = literal_value(existing.value_text(text))
            except NotLiteral:
                raise HclEditError(non_literal_reason("/".join(setting.path), existing.value_text(text))) from None
            if value in setting.accepted:
                continue
        text = set_path(text, current, setting.path, render_value(setting.value))
        changed.append("/".join(setting.path))
    return text, changed


def _bucket_of(text: str, blocks: list[Block], block: Block) -> Block | None:
    """For a finding on a companion resource, the bucket it points at (when in this file)."""
    reference = find_attribute(block, "bucket")
    match = re.match(r"^\s*aws_s3_bucket\.([\w-]+)", reference.value_text(text)) if reference else None
    if not match:
        return None
    return next((b for b in blocks if b.type == "resource" and b.labels == ("aws_s3_bucket", match.group(1))), None)


def fix_feature(feature: S3Feature, source: str, finding: Finding, ctx: FixContext) -> Outcome:
    try:
        tree = parse_tree(source)
        blocks = top_level_blocks(tree)
        target = find_finding_block(source, tree, finding)
        kind = target.labels[0] if target.labels else ""
        if kind == feature.resource_type:
            bucket = _bucket_of(source, blocks, target)
            return _finish(source, finding, feature, target, feature.resource, tree, bucket)
        if kind != "aws_s3_bucket":
            return Unknown(f"{finding.resource} is not an S3 bucket or a {feature.resource_type}")
        companion = _companion(source, blocks, target, feature.resource_type)
        if companion is not None:
            if feature.inline_is_list:
                return NoChange(f"the bucket already has a {feature.resource_type}")
            return _finish(source, finding, feature, companion, feature.resource, tree, target)
        if feature.inline_block and (find_attribute(target, feature.inline_block) or
                                     nested_blocks(target, feature.inline_block)):
            if feature.inline_is_list:
                return NoChange(f"the bucket already has a {feature.inline_block} block")
            return _finish(source, finding, feature, target, feature.inline, tree, target)
        if find_attribute(target, "count") or find_attribute(target, "for_each"):
            return Unknown(f"{finding.resource} uses count or for_each; a matching {feature.resource_type} "
                           "would need the same, which is not supported yet")
        major = ctx.repo.aws_provider_major
        if feature.inline_block and major is not None and major < 4:
            text = insert_statements(source, target, _statements(feature.inline))
            where = f"inline {feature.inline_block} block (AWS provider {major}.x)"
        else:
            bucket_name = target.labels[1]
            statements = [("bucket", f"aws_s3_bucket.{bucket_name}.id")] + _statements(feature.resource)
            text = append_block_after(source, target, f'resource "{feature.resource_type}" "{bucket_name}"',
                                      statements)
            where = f"new {feature.resource_type}.{bucket_name}"
        return Patched(text, f"enable {feature.name} for {finding.resource}: {where}",
                       locate(source, tree, finding))
    except HclEditError as error:
        return Unknown(str(error))


def _finish(source: str, finding: Finding, feature: S3Feature, block: Block, settings: tuple[Setting, ...],
            tree, bucket: Block | None) -> Outcome:
    text, changed = _apply_settings(source, block, settings)
    if not changed:
        return NoChange(f"{feature.name} is already configured for {finding.resource}")
    name = f"{block.labels[0]}.{block.labels[1]}" if len(block.labels) == 2 else block.type
    return Patched(text, f"enable {feature.name}: set {', '.join(changed)} in {name}",
                   locate(source, tree, finding))


KMS = ("aws:kms", "aws:kms:dsse")
_SSE = ("rule", "apply_server_side_encryption_by_default", "sse_algorithm")

ENCRYPTION = S3Feature(
    name="default encryption (SSE-KMS)",
    inline_block="server_side_encryption_configuration",
    inline=(Setting(("server_side_encryption_configuration",) + _SSE, "aws:kms", KMS),),
    resource_type="aws_s3_bucket_server_side_encryption_configuration",
    resource=(Setting(_SSE, "aws:kms", KMS),),
)
VERSIONING = S3Feature(
    name="versioning",
    inline_block="versioning",
    inline=(Setting(("versioning", "enabled"), True, (True, "true")),),
    resource_type="aws_s3_bucket_versioning",
    resource=(Setting(("versioning_configuration", "status"), "Enabled", ("Enabled",)),),
)
PUBLIC_ACCESS_BLOCK = S3Feature(
    name="the public access block",
    inline_block=None,
    inline=(),
    resource_type="aws_s3_bucket_public_access_block",
    resource=tuple(Setting((name,), True, (True, "true")) for name in
                   ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")),
)
# Only aborting failed multipart uploads: it deletes nothing a user stored, so it is a safe
# default; expiry and transitions are retention policy and stay the owner's decision.
LIFECYCLE = S3Feature(
    name="a lifecycle rule aborting incomplete multipart uploads",
    inline_block="lifecycle_rule",
    inline=(
        Setting(("lifecycle_rule", "id"), "abort-incomplete-multipart-uploads", ()),
        Setting(("lifecycle_rule", "enabled"), True, ()),
        Setting(("lifecycle_rule", "abort_incomplete_multipart_upload_days"), 7, ()),
    ),
    resource_type="aws_s3_bucket_lifecycle_configuration",
    resource=(
        Setting(("rule", "id"), "abort-incomplete-multipart-uploads", ()),
        Setting(("rule", "status"), "Enabled", ()),
        Setting(("rule", "filter", "prefix"), "", ()),
        Setting(("rule", "abort_incomplete_multipart_upload", "days_after_initiation"), 7, ()),
    ),
    inline_is_list=True,
)


def _fixer(fixer_id: str, rule_ids: tuple[str, ...], feature: S3Feature, category: Category, risk: Risk,
           confidence: Confidence, description: str, *impact: Impact) -> FunctionFixer:
    return FunctionFixer(
        FixerInfo(fixer_id, rule_ids, category, risk, confidence, description, frozenset(impact)),
        lambda source, finding, ctx: fix_feature(feature, source, finding, ctx),
    )


S3_ENCRYPTION = _fixer(
    "tf.s3-encryption", ("CKV_AWS_19", "CKV_AWS_145"), ENCRYPTION, Category.ENCRYPTION, Risk.MEDIUM,
    Confidence.ASSUMED_VALUE, "Default SSE-KMS encryption (AWS managed key) for S3 buckets: KMS requests are "
    "billed, and other accounts cannot read objects encrypted with the AWS managed key.",
    Impact.COST, Impact.COMPATIBILITY)
S3_VERSIONING = _fixer(
    "tf.s3-versioning", ("CKV_AWS_21",), VERSIONING, Category.AVAILABILITY, Risk.MEDIUM,
    Confidence.ASSUMED_VALUE, "Enable S3 versioning (costs storage for every overwritten or deleted object; "
    "once enabled it can only be suspended, never turned off).", Impact.COST, Impact.OPERATIONS)
S3_PUBLIC_ACCESS_BLOCK = _fixer(
    "tf.s3-public-access-block", ("CKV2_AWS_6",), PUBLIC_ACCESS_BLOCK, Category.NETWORK, Risk.HIGH,
    Confidence.ASSUMED_VALUE, "Block all public access to an S3 bucket (breaks intentionally public buckets).",
    Impact.COMPATIBILITY)
S3_LIFECYCLE = _fixer(
    "tf.s3-lifecycle", ("CKV2_AWS_61",), LIFECYCLE, Category.AVAILABILITY, Risk.LOW,
    Confidence.ASSUMED_VALUE, "Lifecycle rule that aborts incomplete multipart uploads after 7 days. A new "
    "aws_s3_bucket_lifecycle_configuration replaces the bucket's whole lifecycle configuration, including "
    "rules set outside this file.", Impact.OPERATIONS)

FIXERS = [S3_ENCRYPTION, S3_VERSIONING, S3_PUBLIC_ACCESS_BLOCK, S3_LIFECYCLE]
