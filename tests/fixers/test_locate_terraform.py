"""Locating a checkov finding's block, and reading the AWS provider constraint."""
from __future__ import annotations

import pytest

from fixers.edit.hcl import HclEditError, parse_tree
from fixers.locate.terraform import locate, non_literal_reason, parse_address
from fixers.models import Finding
from fixers.terraform.provider import aws_provider_major

SOURCE = '''resource "aws_s3_bucket" "data" {
  bucket = "a"
}

data "aws_iam_policy_document" "p" {}

module "buckets" {
  source = "./mod"
}

resource "aws_s3_bucket" "this" {
  count = 2
}
'''


@pytest.mark.parametrize("resource, start_text", [
    ("aws_s3_bucket.data", 'resource "aws_s3_bucket" "data"'),
    ("module.x.aws_s3_bucket.this[0]", 'resource "aws_s3_bucket" "this"'),
    ('module.x.module.y.aws_s3_bucket.this["a.b"]', 'resource "aws_s3_bucket" "this"'),
    ("aws_iam_policy_document.p", 'data "aws_iam_policy_document" "p"'),  # checkov drops data.
    ("data.aws_iam_policy_document.p", 'data "aws_iam_policy_document" "p"'),
    ("buckets", 'module "buckets"'),
])
def test_locate_by_address(resource, start_text):
    location = locate(SOURCE, parse_tree(SOURCE), Finding(rule_id="X", file="main.tf", resource=resource))
    assert SOURCE[location.start:].startswith(start_text)
    assert SOURCE[location.end - 1] == "}"
    assert location.layer == "resource"


def test_line_range_rescues_an_unusual_address():
    finding = Finding(rule_id="X", file="main.tf", resource="aws.odd_provider_alias", line_start=7)
    location = locate(SOURCE, parse_tree(SOURCE), finding)
    assert SOURCE[location.start:].startswith('module "buckets"')


def test_missing_resource_is_an_error_with_a_reason():
    with pytest.raises(HclEditError, match="could not find aws_s3_bucket.gone"):
        locate(SOURCE, parse_tree(SOURCE), Finding(rule_id="X", file="main.tf", resource="aws_s3_bucket.gone"))


def test_parse_address_keeps_only_type_and_name():
    assert parse_address("module.a.aws_instance.web[3]").labels == ("aws_instance", "web")


def test_non_literal_reasons_name_the_source():
    assert non_literal_reason("encrypted", "var.enc") == (
        "the value of encrypted comes from var.enc; following variables is not supported yet")
    assert "local.x" in non_literal_reason("a", "local.x")
    assert "expression `var.a ? 1 : 2`" in non_literal_reason("a", "var.a ? 1 : 2")


def _versions(constraint: str) -> dict[str, str]:
    return {"versions.tf": 'terraform {\n  required_providers {\n    aws = {\n      source  = "hashicorp/aws"\n'
                           f'      version = "{constraint}"\n    }}\n  }}\n}}\n'}


@pytest.mark.parametrize("constraint, major", [
    (">= 6.42", 6), ("~> 3.0", 3), ("= 2.70.0", 2), ("2.70.0", 2), ("< 4.0", 3), (">= 3.0, < 5.0", 3),
])
def test_aws_provider_major(constraint, major):
    assert aws_provider_major(_versions(constraint)) == major


def test_unconstrained_or_unreadable_is_none():
    assert aws_provider_major({"main.tf": 'resource "a" "b" {}\n', "bad.tf": "{{{"}) is None


def test_legacy_string_and_provider_block_constraints():
    assert aws_provider_major({"a.tf": 'terraform {\n  required_providers {\n    aws = "~> 2.0"\n  }\n}\n'}) == 2
    assert aws_provider_major({"a.tf": 'provider "aws" {\n  version = "~> 3.1"\n}\n'}) == 3
