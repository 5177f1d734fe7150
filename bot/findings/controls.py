"""Security Hub controls that are the same check as a checkov rule. Pure data.

Only controls whose Security Hub definition and checkov rule test the same setting on the same
resource type are here (the checkov names are from fixers/data/checkov_catalog.json; a test checks
that each id exists and covers the type). Any other control is reported as "no rule mapping":
a near match would fix something the finding did not ask for. Ids are the consolidated control
ids of Security Hub's AWS Foundational Security Best Practices (``Compliance.SecurityControlId``).
"""
from __future__ import annotations

#: control id -> (checkov id, the Terraform resource type both check)
SECURITY_HUB_CONTROLS: dict[str, tuple[str, str]] = {
    "CloudTrail.2": ("CKV_AWS_35", "aws_cloudtrail"),     # encryption at rest (KMS)
    "CloudTrail.4": ("CKV_AWS_36", "aws_cloudtrail"),     # log file validation
    "EC2.3": ("CKV_AWS_3", "aws_ebs_volume"),             # attached EBS volumes encrypted at rest
    "EC2.8": ("CKV_AWS_79", "aws_instance"),              # IMDSv2 required
    "EC2.9": ("CKV_AWS_88", "aws_instance"),              # no public IPv4 address
    "EC2.13": ("CKV_AWS_24", "aws_security_group"),       # no 0.0.0.0/0 ingress to port 22
    "EC2.14": ("CKV_AWS_25", "aws_security_group"),       # no 0.0.0.0/0 ingress to port 3389
    "ECR.1": ("CKV_AWS_163", "aws_ecr_repository"),       # image scanning on push
    "ECR.2": ("CKV_AWS_51", "aws_ecr_repository"),        # tag immutability
    "EKS.1": ("CKV_AWS_39", "aws_eks_cluster"),           # endpoint not publicly accessible
    "ELB.6": ("CKV_AWS_150", "aws_lb"),                   # deletion protection
    "KMS.4": ("CKV_AWS_7", "aws_kms_key"),                # key rotation
    "RDS.2": ("CKV_AWS_17", "aws_db_instance"),           # not publicly accessible
    "RDS.3": ("CKV_AWS_16", "aws_db_instance"),           # storage encrypted
    "RDS.5": ("CKV_AWS_157", "aws_db_instance"),          # Multi-AZ
    "RDS.8": ("CKV_AWS_293", "aws_db_instance"),          # deletion protection
    "S3.9": ("CKV_AWS_18", "aws_s3_bucket"),              # server access logging
    "S3.14": ("CKV_AWS_21", "aws_s3_bucket"),             # versioning
    "S3.17": ("CKV_AWS_145", "aws_s3_bucket"),            # encrypted with KMS keys
    "SNS.1": ("CKV_AWS_26", "aws_sns_topic"),             # encrypted at rest
    "SQS.1": ("CKV_AWS_27", "aws_sqs_queue"),             # encrypted at rest
}

#: GeneratorId prefixes of the per-standard (not consolidated) FSBP findings: the control id follows.
FSBP_GENERATORS = ("aws-foundational-security-best-practices/v/1.0.0/", "security-control/")


def rule_for(control: str) -> str | None:
    entry = SECURITY_HUB_CONTROLS.get(control)
    return entry[0] if entry else None
