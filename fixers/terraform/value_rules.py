"""What each generic value check (tf.value-check) really does: its label, and what the provider demands.

checkov's metadata says which value a rule wants, not what writing it costs or whether Terraform
accepts it. This table says both, per rule, with the reason:

* a Review: risk and Impact (cost, availability, operations, replacement, compatibility). A rule
  with any impact is not a safe default (Confidence follows from the impact, see Review.confidence).
  Rules not reviewed one by one get Impact.UNREVIEWED, so policy can tell them apart.
* Requirements consulted before proposing: an argument the provider needs with the value
  (NeedsArgument: Unknown with the reason when absent), one written with it (AddsArgument), a
  value of another argument the provider rejects it for (RejectedFor), a value that must stay in
  the current value's family (KeepsFamily: an upgrade, never an engine change), or a rule whose
  value cannot be written validly at all (NotWritable).

Reviewed against the AWS provider's resource documentation; labels for other clouds come from
the inspected key (KEY_REVIEWS), the rest is unreviewed. docs/fixer-labels.md lists the changes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from fixers.models import Confidence, Impact, Risk, RuleMeta

COST, AVAILABILITY, OPERATIONS = Impact.COST, Impact.AVAILABILITY, Impact.OPERATIONS
REPLACEMENT, COMPATIBILITY = Impact.REPLACEMENT, Impact.COMPATIBILITY


@dataclass(frozen=True)
class Review:
    risk: Risk
    impact: frozenset[Impact]
    reason: str

    @property
    def confidence(self) -> Confidence:
        return Confidence.ASSUMED_VALUE if self.impact else Confidence.SAFE_DEFAULT


@dataclass(frozen=True)
class NeedsArgument:
    """The provider requires this argument (any expression) beside the value; Unknown(why) without it."""

    path: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class AddsArgument:
    """The provider requires this argument beside the value, and `value` is right for every owner.

    must_equal: an existing setting counts only if it is this literal (Unknown(why) otherwise).
    """

    path: tuple[str, ...]
    value: object
    why: str
    must_equal: bool = False


@dataclass(frozen=True)
class RejectedFor:
    """The provider (or the cloud API) rejects the value when `path` holds a literal matching `pattern`.

    why names the value: "instance type {value} does not support EBS optimization". when_absent is
    the Unknown reason when the argument is not set here (None: absent is fine).
    """

    path: tuple[str, ...]
    pattern: str
    why: str
    when_absent: str | None = None


@dataclass(frozen=True)
class NotWritable:
    why: str


@dataclass(frozen=True)
class KeepsFamily:
    """The accepted values name an engine (and edition) with a version: the value written is the
    accepted one of the current value's family (POSTGRES_9_6 -> POSTGRES_18), never another engine,
    which the provider rejects. Unknown(why) when the value is not a literal here or no accepted
    value is of its family; why names the value."""

    why: str


Requirement = Union[NeedsArgument, AddsArgument, RejectedFor, NotWritable, KeepsFamily]


def family(value: str) -> str:
    """The value without its version numbers: SQLSERVER_2017_STANDARD -> SQLSERVER_STANDARD."""
    return re.sub(r"_\d+(?=_|$)", "", value)


def same_family_value(current: object, accepted: tuple[object, ...]) -> str | None:
    """The first accepted value of `current`'s family; None when there is none. Pure."""
    if not isinstance(current, str):
        return None
    return next((v for v in accepted if isinstance(v, str) and family(v) == family(current)), None)


@dataclass(frozen=True)
class ValueRule:
    review: Review
    requirements: tuple[Requirement, ...] = ()


def _r(risk: Risk, *impact: Impact, why: str, needs: tuple[Requirement, ...] = ()) -> ValueRule:
    return ValueRule(Review(risk, frozenset(impact), why), needs)


def _safe(why: str) -> ValueRule:
    return ValueRule(Review(Risk.LOW, frozenset(), why))


def _refused(why: str, *impact: Impact) -> ValueRule:
    """A rule whose value this family never writes: always Unknown(why); the label says what it would do."""
    return ValueRule(Review(Risk.HIGH, frozenset(impact), f"never patched: {why}"), (NotWritable(why),))


LOW, MEDIUM, HIGH = Risk.LOW, Risk.MEDIUM, Risk.HIGH

# Instance types without EBS optimization (AWS EC2 user guide, "Amazon EBS-optimized instances":
# T1 and T2 have none; of the previous generation only c1.xlarge, c3/i2/r3 xlarge to 4xlarge,
# g2.2xlarge, m1.large/xlarge, m2.2xlarge/4xlarge and m3.xlarge/2xlarge offer it). Current
# generation types are EBS-optimized by default, so the value changes nothing there.
NO_EBS_OPTIMIZATION = (r"(t1|t2)\..+|m1\.(small|medium)|m2\.xlarge|m3\.(medium|large)|c1\.medium"
                       r"|c3\.(large|8xlarge)|r3\.(large|8xlarge)|i2\.8xlarge|g2\.8xlarge"
                       r"|cc1\.4xlarge|cc2\.8xlarge|cg1\.4xlarge|cr1\.8xlarge|hi1\.4xlarge|hs1\.8xlarge")

_REPLACES_STORAGE = "on an existing resource the provider replaces it (ForceNew): its data is lost unless restored"
_DELETION = "blocks `terraform destroy` and deletion until it is turned off again"
_LOGS = "logs are billed by volume"
_MINOR = "minor engine upgrades restart the service in its maintenance window"
_NOT_AN_ARGUMENT = ("{key} of {type} is an attribute the provider reads back, not an argument: Terraform "
                    "rejects it; the snapshot is encrypted when its cluster is")

RULES: dict[str, ValueRule] = {
    "CKV_AWS_5": _r(HIGH, REPLACEMENT, why="enabling encryption at rest replaces older Elasticsearch domains"),
    "CKV_AWS_7": _r(LOW, COST, why="each rotated key version is billed for its first two rotations"),
    "CKV_AWS_9": _r(MEDIUM, OPERATIONS, why="passwords older than 90 days expire at the next sign-in"),
    "CKV_AWS_10": _safe("applies when passwords are next changed"),
    "CKV_AWS_11": _safe("applies when passwords are next changed"),
    "CKV_AWS_12": _safe("applies when passwords are next changed"),
    "CKV_AWS_13": _safe("applies when passwords are next changed"),
    "CKV_AWS_14": _safe("applies when passwords are next changed"),
    "CKV_AWS_15": _safe("applies when passwords are next changed"),
    "CKV_AWS_16": _r(HIGH, REPLACEMENT, why=_REPLACES_STORAGE),
    "CKV_AWS_28": _r(LOW, COST, why="point-in-time recovery is billed per GB stored"),
    "CKV_AWS_29": _r(HIGH, REPLACEMENT, why=_REPLACES_STORAGE),
    "CKV_AWS_30": _r(HIGH, REPLACEMENT, COMPATIBILITY,
                     why="clients must speak TLS; older engines replace the replication group"),
    "CKV_AWS_36": _safe("digest files only; nothing else changes"),
    "CKV_AWS_39": _r(HIGH, COMPATIBILITY, why="kubectl and CI outside the VPC lose the cluster endpoint", needs=(
        AddsArgument(("vpc_config", "endpoint_private_access"), True,
                     "EKS rejects a cluster with neither a public nor a private endpoint", must_equal=True),)),
    "CKV_AWS_42": _r(HIGH, REPLACEMENT, why=_REPLACES_STORAGE),
    "CKV_AWS_43": _r(LOW, COST, why="KMS requests are billed", needs=(
        AddsArgument(("kms_key_id",), "alias/aws/kinesis", "encryption_type KMS requires kms_key_id; the "
                     "AWS managed key needs no key policy"),)),
    "CKV_AWS_44": _r(HIGH, REPLACEMENT, why=_REPLACES_STORAGE),
    "CKV_AWS_47": _r(HIGH, REPLACEMENT, why=_REPLACES_STORAGE),
    "CKV_AWS_48": _r(LOW, COST, OPERATIONS, why=_LOGS + "; the broker needs a CloudWatch Logs resource policy"),
    "CKV_AWS_50": _safe("PassThrough is the service default: nothing changes and nothing is billed"),
    "CKV_AWS_51": _r(MEDIUM, COMPATIBILITY, why="pipelines that re-push a tag (latest) start failing"),
    "CKV_AWS_53": _r(HIGH, COMPATIBILITY, why="breaks buckets that are public on purpose"),
    "CKV_AWS_54": _r(HIGH, COMPATIBILITY, why="breaks buckets that are public on purpose"),
    "CKV_AWS_55": _r(HIGH, COMPATIBILITY, why="breaks buckets that are public on purpose"),
    "CKV_AWS_56": _r(HIGH, COMPATIBILITY, why="breaks buckets that are public on purpose"),
    "CKV_AWS_64": _r(HIGH, AVAILABILITY, why="encrypting an existing cluster migrates it; it is read-only meanwhile"),
    "CKV_AWS_67": _r(LOW, COST, why="events of every region are delivered; a second trail's copy is billed"),
    "CKV_AWS_71": _r(LOW, COST, why=_LOGS, needs=(
        NeedsArgument(("logging", "bucket_name"), "Redshift logging to S3 needs a bucket: name the log bucket "
                      "(logging.bucket_name)"),)),
    "CKV_AWS_73": _r(LOW, COST, why="X-Ray traces are billed"),
    "CKV_AWS_74": _r(HIGH, REPLACEMENT, why=_REPLACES_STORAGE),
    "CKV_AWS_75": _r(LOW, COST, why=_LOGS, needs=(
        NeedsArgument(("attributes", "flow_logs_s3_bucket"), "flow logs need a bucket: name the log bucket "
                      "(attributes.flow_logs_s3_bucket)"),)),
    "CKV_AWS_82": _r(MEDIUM, COMPATIBILITY, why="clients' own query settings are overridden"),
    "CKV_AWS_83": _r(MEDIUM, COMPATIBILITY, why="plain-HTTP clients stop working"),
    "CKV_AWS_87": _r(HIGH, COMPATIBILITY, why="clients outside the VPC lose the cluster"),
    "CKV_AWS_91": _r(LOW, COST, why=_LOGS, needs=(
        NeedsArgument(("access_logs", "bucket"), "access_logs needs a bucket: name the log bucket "
                      "(access_logs.bucket; its policy must let the load balancer write)"),)),
    "CKV_AWS_96": _r(HIGH, REPLACEMENT, why=_REPLACES_STORAGE),
    "CKV_AWS_106": _r(MEDIUM, COMPATIBILITY, why="every new volume in the region is encrypted; sharing "
                      "snapshots with the default key across accounts stops working"),
    "CKV_AWS_118": _r(LOW, COST, why="enhanced monitoring is billed as CloudWatch Logs", needs=(
        NeedsArgument(("monitoring_role_arn",), "enhanced monitoring (monitoring_interval) needs an IAM role: "
                      "set monitoring_role_arn"),)),
    "CKV_AWS_120": _r(MEDIUM, COST, COMPATIBILITY, why="the cache cluster is billed by the hour; clients may get "
                      "cached responses"),
    "CKV_AWS_122": _r(HIGH, REPLACEMENT, COMPATIBILITY, why="the notebook is replaced and loses internet access",
                      needs=(NeedsArgument(("subnet_id",), "a notebook without direct internet access must sit in "
                                           "a VPC: set subnet_id"),)),
    "CKV_AWS_123": _r(MEDIUM, OPERATIONS, why="each new endpoint connection waits for manual acceptance"),
    "CKV_AWS_126": _r(LOW, COST, why="detailed monitoring is billed per metric"),
    "CKV_AWS_131": ValueRule(
        Review(LOW, frozenset(), "invalid header fields are dropped, valid requests are unchanged"),
        (RejectedFor(("load_balancer_type",), r"network|gateway",
                     "drop_invalid_header_fields applies only to application load balancers, not {value} ones"),)),
    "CKV_AWS_135": _r(MEDIUM, COST, AVAILABILITY, why="previous-generation types bill EBS optimization by the hour, "
                      "and changing it on a running instance stops and starts it", needs=(
        RejectedFor(("instance_type",), NO_EBS_OPTIMIZATION, "instance type {value} does not support EBS optimization",
                    when_absent="the instance type is not set in this resource, so whether it supports EBS "
                                "optimization is unknown"),)),
    "CKV_AWS_136": _r(HIGH, REPLACEMENT, COST, why="the repository is replaced (its images are lost); KMS requests "
                      "are billed"),
    "CKV_AWS_138": _safe("cross-zone balancing is free on classic load balancers"),
    "CKV_AWS_139": _r(MEDIUM, OPERATIONS, why=_DELETION),
    "CKV_AWS_141": _r(MEDIUM, AVAILABILITY, why="version upgrades restart the cluster in its maintenance window"),
    "CKV_AWS_146": _refused(_NOT_AN_ARGUMENT.format(key="storage_encrypted", type="aws_db_cluster_snapshot"),
                            COMPATIBILITY),
    "CKV_AWS_150": _r(MEDIUM, OPERATIONS, why=_DELETION),
    "CKV_AWS_152": _r(LOW, COST, why="traffic across zones is billed for network and gateway load balancers"),
    "CKV_AWS_155": _r(HIGH, REPLACEMENT, why="the WorkSpace is rebuilt: its user volume is lost"),
    "CKV_AWS_156": _r(HIGH, REPLACEMENT, why="the WorkSpace is rebuilt"),
    "CKV_AWS_157": _r(MEDIUM, COST, AVAILABILITY, why="a standby instance doubles the bill; converting takes a "
                      "snapshot and slows the database meanwhile"),
    "CKV_AWS_161": _safe("IAM authentication is added beside passwords; existing logins keep working"),
    "CKV_AWS_162": _safe("IAM authentication is added beside passwords; existing logins keep working"),
    "CKV_AWS_163": _safe("basic scanning on push is free and blocks nothing"),
    "CKV_AWS_164": _r(HIGH, COMPATIBILITY, why="the server leaves the internet", needs=(
        NeedsArgument(("endpoint_details",), "a VPC endpoint needs endpoint_details (VPC and subnets)"),)),
    "CKV_AWS_170": _r(HIGH, COMPATIBILITY, why="every PartiQL statement then needs an IAM permission"),
    "CKV_AWS_172": _r(MEDIUM, OPERATIONS, why=_DELETION),
    "CKV_AWS_174": _refused("checkov's metadata asks for `true`, but minimum_protocol_version is a TLS policy "
                            "name (e.g. TLSv1.2_2021) that needs a custom certificate: a person chooses it",
                            COMPATIBILITY),
    "CKV_AWS_194": _r(LOW, COST, why=_LOGS, needs=(
        NeedsArgument(("log_config", "cloudwatch_logs_role_arn"), "AppSync logging needs an IAM role: set "
                      "log_config.cloudwatch_logs_role_arn"),)),
    "CKV_AWS_197": _r(LOW, COST, why=_LOGS, needs=(
        RejectedFor(("engine_type",), r"(?i)rabbitmq", "audit logs are not supported for {value} brokers"),)),
    "CKV_AWS_206": _r(LOW, COMPATIBILITY, why="clients without TLS 1.2 fail"),
    "CKV_AWS_207": _r(LOW, AVAILABILITY, why=_MINOR),
    "CKV_AWS_211": _r(MEDIUM, AVAILABILITY, COMPATIBILITY, why="the instance restarts; clients pinning the old CA "
                      "fail"),
    "CKV_AWS_214": _r(LOW, REPLACEMENT, why="the API cache is re-created (emptied)"),
    "CKV_AWS_215": _r(LOW, REPLACEMENT, why="the API cache is re-created (emptied)"),
    "CKV_AWS_216": _r(HIGH, COST, COMPATIBILITY, why="a distribution disabled on purpose starts serving"),
    "CKV_AWS_217": _safe("Terraform creates the new deployment before deleting the old"),
    "CKV_AWS_218": _r(LOW, COMPATIBILITY, why="clients without TLS 1.2 fail"),
    "CKV_AWS_220": _r(MEDIUM, COMPATIBILITY, why="plain-HTTP clients stop working"),
    "CKV_AWS_222": _r(LOW, AVAILABILITY, why=_MINOR),
    "CKV_AWS_225": _r(MEDIUM, COST, COMPATIBILITY, why="caching needs a billed stage cache; clients may get cached "
                      "responses"),
    "CKV_AWS_226": _r(LOW, AVAILABILITY, why=_MINOR),
    "CKV_AWS_227": _r(MEDIUM, OPERATIONS, why="a key disabled on purpose becomes usable again"),
    "CKV_AWS_228": _r(LOW, COMPATIBILITY, why="clients without TLS 1.2 fail"),
    "CKV_AWS_233": _safe("Terraform creates the new certificate before deleting the old"),
    "CKV_AWS_237": _safe("Terraform creates the new API before deleting the old"),
    "CKV_AWS_238": _r(MEDIUM, COST, why="GuardDuty is billed by the events it analyses"),
    "CKV_AWS_239": _r(HIGH, REPLACEMENT, COMPATIBILITY, why="the cluster is replaced; clients must use TLS"),
    "CKV_AWS_242": _r(LOW, COST, why=_LOGS),
    "CKV_AWS_243": _r(LOW, COST, why=_LOGS),
    "CKV_AWS_244": _r(LOW, COST, why=_LOGS),
    "CKV_AWS_251": _r(MEDIUM, COST, why="a trail stopped on purpose starts delivering (and billing) again"),
    "CKV_AWS_279": _refused(_NOT_AN_ARGUMENT.format(key="storage_encrypted", type="aws_neptune_cluster_snapshot"),
                            COMPATIBILITY),
    "CKV_AWS_284": _r(LOW, COST, why="X-Ray traces are billed"),
    "CKV_AWS_285": _r(LOW, COMPATIBILITY, why="execution input and output, which may hold secrets, go to the logs"),
    "CKV_AWS_292": _r(HIGH, REPLACEMENT, why=_REPLACES_STORAGE),
    "CKV_AWS_293": _r(MEDIUM, OPERATIONS, why=_DELETION),
    "CKV_AWS_307": _r(MEDIUM, COMPATIBILITY, why="notebook users lose root (package installs and the like)"),
    "CKV_AWS_308": _safe("cached data is encrypted; nothing else changes"),
    "CKV_AWS_309": _r(HIGH, COMPATIBILITY, why="unsigned callers of the route are refused"),
    "CKV_AWS_313": _safe("snapshots carry the cluster's tags"),
    "CKV_AWS_321": _r(MEDIUM, AVAILABILITY, COMPATIBILITY, why="the cluster restarts; COPY and UNLOAD then need a "
                      "route to S3 inside the VPC"),
    "CKV_AWS_322": _r(LOW, AVAILABILITY, why=_MINOR),
    "CKV_AWS_339": _refused("a Kubernetes version upgrade (and EKS never downgrades) is the cluster owner's "
                            "decision", AVAILABILITY, COMPATIBILITY),
    "CKV_AWS_341": _r(MEDIUM, COMPATIBILITY, why="containers on the instance lose the metadata service"),
    "CKV_AWS_344": _r(MEDIUM, OPERATIONS, why=_DELETION),
    "CKV_AWS_353": _r(LOW, COST, why="beyond the free 7 days, retention is billed; some small instance classes do "
                      "not support it"),
    "CKV_AWS_359": _safe("IAM authentication is added beside passwords; existing logins keep working"),
    "CKV_AWS_360": _refused("checkov's metadata asks for `true`, but backup_retention_period is a number of "
                            "days: a person chooses it", COST),
    "CKV_AWS_362": _safe("snapshots carry the cluster's tags"),
    "CKV_AWS_365": _r(LOW, COMPATIBILITY, why="mail to servers without TLS is not delivered"),
    "CKV_AWS_366": _r(HIGH, COMPATIBILITY, why="guest users of the app are refused"),
    "CKV_AWS_369": _r(LOW, COST, why="encrypted traffic between containers makes jobs slower and costlier"),
    "CKV_AWS_370": _r(MEDIUM, COMPATIBILITY, why="the model container loses all network access"),
    "CKV_AWS_371": _r(MEDIUM, COMPATIBILITY, why="software using IMDSv1 on the notebook stops getting credentials"),
    "CKV_AWS_390": _r(MEDIUM, COMPATIBILITY, why="clusters with public security group rules can no longer start"),
    # Not AWS, but the value itself is not a change a fixer can make for the owner:
    "CKV_GCP_79": _r(HIGH, AVAILABILITY, COMPATIBILITY,
                     why="a database major version upgrade: the instance restarts, and its applications and "
                         "extensions must support the new version",
                     needs=(KeepsFamily("database_version {value} has no accepted major version of the same "
                                        "engine and edition; changing the engine is not an upgrade"),)),
    "CKV_AZURE_226": _refused("ephemeral OS disks replace the node pool and need a VM size whose cache holds the "
                              "disk", REPLACEMENT),
    "CKV_AZURE_228": _refused("checkov asks for a zone-redundant region; moving the namespace to another "
                              "region replaces it", REPLACEMENT),
}

# Other clouds: a label from the inspected attribute's name, where the name says what it does.
_PUBLIC = _r(HIGH, COMPATIBILITY, why="clients outside the private network lose access")
_PROTECT = _r(MEDIUM, OPERATIONS, why=_DELETION)
_BILLED = _r(MEDIUM, COST, why="a higher tier or extra replica is billed")
_TLS = _r(LOW, COMPATIBILITY, why="clients without the required TLS version or HTTPS fail")
_LOCAL = _r(HIGH, COMPATIBILITY, why="clients using local keys, passwords or accounts are refused")
KEY_REVIEWS: dict[str, ValueRule] = {
    **dict.fromkeys(("public_network_access_enabled", "publicly_accessible", "endpoint_public_access",
                     "private_cluster_enabled", "no_public_ip", "private_instance", "internal_ip_only",
                     "allow_nested_items_to_be_public", "default_action", "no_external_ip"), _PUBLIC),
    **dict.fromkeys(("deletion_protection", "enable_deletion_protection", "delete_protection",
                     "enable_drop_protection", "purge_protection_enabled", "prevent_destroy"), _PROTECT),
    **dict.fromkeys(("multi_az", "zone_redundant", "zone_balancing_enabled", "account_replication_type",
                     "sku", "sku_name", "sku_tier", "tier"), _BILLED),
    **dict.fromkeys(("geo_redundant_backup_enabled", "infrastructure_encryption_enabled"),
                    _r(HIGH, REPLACEMENT, COST, why="the server is replaced (ForceNew)")),
    **dict.fromkeys(("minimum_tls_version", "min_tls_version", "ssl_minimal_tls_version_enforced",
                     "tls_security_policy", "ssl_enforcement_enabled", "https_only", "enforce_https",
                     "is_http_allowed", "ssl_action"), _TLS),
    **dict.fromkeys(("local_auth_enabled", "local_account_disabled", "local_user_enabled"), _LOCAL),
    **dict.fromkeys(("auto_upgrade", "auto_minor_version_upgrade", "auto_upgrade_minor_version",
                     "allow_version_upgrade", "auto_repair"), _r(LOW, AVAILABILITY, why=_MINOR)),
    **dict.fromkeys(("email_account_admins", "alert_notifications", "alerts_to_admins", "http2_enabled"),
                    _safe("notifications or protocol support only")),
}

UNREVIEWED = ValueRule(Review(MEDIUM, frozenset({Impact.UNREVIEWED}),
                              "not reviewed one by one: checkov's metadata names the value, not its cost, "
                              "availability or operational effect"))


def value_rule(meta: RuleMeta) -> ValueRule:
    """The reviewed label and requirements of a value check (UNREVIEWED when it has no entry)."""
    if meta.id in RULES:
        return RULES[meta.id]
    last = (meta.inspected_key or "").split("/")
    names = [n for n in last if n and not n.strip("[]").isdigit()]
    return KEY_REVIEWS.get(names[-1] if names else "", UNREVIEWED)
