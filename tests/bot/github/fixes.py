"""A verified fix to publish, shared by the publishing tests."""
from __future__ import annotations

from fixers.engine import FIXED, Attempt
from fixers.models import Category, Confidence, Finding, FixerInfo, FunctionFixer, Location, NoChange, Risk

MAIN_TF = 'resource "aws_s3_bucket" "logs" {\n  bucket = "logs"\n}\n'
FIXED_TF = 'resource "aws_s3_bucket" "logs" {\n  bucket = "logs"\n  acl    = "private"\n}\n'
FILES = {"README.md": "# infra\n", "terraform/main.tf": MAIN_TF}
VERIFICATION = "before: CKV_AWS_20 FAILED; after: CKV_AWS_20 PASSED, 0 new failures"


def attempt() -> Attempt:
    info = FixerInfo("tf.s3-acl-private", ("CKV_AWS_20",), Category.ENCRYPTION, Risk.LOW,
                     Confidence.SAFE_DEFAULT, "make S3 buckets private")
    fixer = FunctionFixer(info, lambda s, f, c: NoChange("unused"))
    finding = Finding("CKV_AWS_20", "terraform/main.tf", "aws_s3_bucket.logs", 1, 3,
                      message="S3 bucket has an ACL defined which allows public access", fix_class="s3-acl-private")
    loc = Location("terraform/main.tf", 0, 10, "resource", "the bucket is declared literally in this file")
    return Attempt(finding, FIXED, fixer=fixer, summary='set acl = "private" on aws_s3_bucket.logs', location=loc)
