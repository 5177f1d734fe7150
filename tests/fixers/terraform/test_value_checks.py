"""The generic value-check family over every rule it claims in the catalog."""
from __future__ import annotations

import pytest

from fixers.catalog import load_catalog
from fixers.models import Category, Finding, FixContext, NoChange, Patched, RuleMeta, Unknown
from fixers.registry import fixer_for
from fixers.terraform.value_checks import VALUE_CHECK_FIXER, claims, key_path, preferred_value, rule_category
from fixers.terraform.value_rules import KeepsFamily, NeedsArgument, NotWritable, RejectedFor, value_rule

CATALOG = load_catalog()
CLAIMED = sorted(rule for rule, meta in CATALOG.items() if claims(meta))


def test_family_claims_a_large_share_of_terraform_value_checks():
    value_checks = [m for m in CATALOG.values() if "terraform" in m.frameworks and m.inspected_key]
    assert len(CLAIMED) >= 0.6 * len(value_checks)


@pytest.mark.parametrize("rule_id", CLAIMED)
def test_every_claimed_rule_is_written_read_back_and_idempotent(rule_id):
    meta = CATALOG[rule_id]
    resource_type = next(t for t in meta.resource_types if "_" in t)
    source = f'# {rule_id}\nresource "{resource_type}" "subject" {{\n  name = "x" # keep\n}}\n'
    finding = Finding(rule_id=rule_id, file="main.tf", resource=f"{resource_type}.subject", line_start=2)
    ctx = FixContext(path="main.tf", catalog=CATALOG)
    outcome = VALUE_CHECK_FIXER.fix(source, finding, ctx)
    if meta.missing_attribute_result == "PASSED":
        assert isinstance(outcome, NoChange)
        return
    blocking = _blocking_reason(meta)
    if blocking:
        assert isinstance(outcome, Unknown) and outcome.reason == blocking
        return
    assert isinstance(outcome, Patched), outcome
    assert outcome.text.startswith(f'# {rule_id}\nresource "{resource_type}" "subject" {{\n  name = "x" # keep\n')
    assert isinstance(VALUE_CHECK_FIXER.fix(outcome.text, finding, ctx), NoChange)


def _blocking_reason(meta: RuleMeta) -> str | None:
    """The Unknown reason a requirement gives on a block holding nothing but `name`."""
    for requirement in value_rule(meta).requirements:
        if isinstance(requirement, (NotWritable, NeedsArgument)):
            return requirement.why
        if isinstance(requirement, RejectedFor) and requirement.when_absent:
            return requirement.when_absent
        if isinstance(requirement, KeepsFamily):  # nothing set: no family to stay in
            return requirement.why.format(value="(not set)")
    return None


def test_hand_written_fixers_win_over_the_family():
    assert claims(CATALOG["CKV_AWS_79"])
    assert fixer_for("CKV_AWS_79", CATALOG).info.id == "tf.imdsv2"
    assert fixer_for("CKV_AWS_126", CATALOG).info.id == "tf.value-check"


@pytest.mark.parametrize("key, path", [
    ("metadata_options/[0]/http_tokens", ("metadata_options", "http_tokens")),
    ("encrypted", ("encrypted",)),
    ("site_config/[0]/min_tls_version/[0]", ("site_config", "min_tls_version")),
    ("security_rule/[1]/access", None),       # not the first block
    ("tags/[0]/Name", None),                  # a map argument, not a block
    ("*/enabled", None),
])
def test_key_path(key, path):
    assert key_path(key) == path


def test_any_value_only_is_not_claimed():
    meta = RuleMeta(id="X", frameworks=("terraform",), resource_types=("aws_x",), inspected_key="a",
                    expected_values=({"any_value": True},))
    assert preferred_value(meta) is None and not claims(meta)


def test_a_real_bool_is_preferred_over_its_string_form():
    meta = RuleMeta(id="X", inspected_key="a", expected_values=("true", True))
    assert preferred_value(meta) is True


@pytest.mark.parametrize("categories, category", [
    (("ENCRYPTION",), Category.ENCRYPTION), (("NETWORKING",), Category.NETWORK), (("Networking",), Category.NETWORK),
    (("IAM",), Category.IDENTITY), (("BACKUP_AND_RECOVERY",), Category.AVAILABILITY),
    (("GENERAL_SECURITY",), Category.HARDENING), (("LOGGING",), Category.LOGGING), (("SECRETS",), Category.SECRET),
])
def test_rule_category(categories, category):
    assert rule_category(RuleMeta(id="X", categories=categories)) == category


def test_wrong_resource_type_is_unknown():
    source = 'resource "aws_s3_bucket" "b" {\n}\n'
    finding = Finding(rule_id="CKV_AWS_126", file="main.tf", resource="aws_s3_bucket.b")
    outcome = VALUE_CHECK_FIXER.fix(source, finding, FixContext(path="main.tf", catalog=CATALOG))
    assert isinstance(outcome, Unknown) and "does not inspect" in outcome.reason


def test_a_rule_needing_a_companion_argument_is_unknown_without_it_and_patched_with_it():
    """CKV_AWS_118: monitoring_interval without monitoring_role_arn is rejected by the provider."""
    ctx = FixContext(path="main.tf", catalog=CATALOG)
    finding = Finding(rule_id="CKV_AWS_118", file="main.tf", resource="aws_db_instance.db")
    bare = 'resource "aws_db_instance" "db" {\n  engine = "postgres"\n}\n'
    outcome = fixer_for("CKV_AWS_118", CATALOG).fix(bare, finding, ctx)
    assert isinstance(outcome, Unknown) and "set monitoring_role_arn" in outcome.reason
    with_role = 'resource "aws_db_instance" "db" {\n  monitoring_role_arn = aws_iam_role.rds.arn\n}\n'
    outcome = fixer_for("CKV_AWS_118", CATALOG).fix(with_role, finding, ctx)
    assert isinstance(outcome, Patched) and "monitoring_interval = 1" in outcome.text


def test_a_major_version_upgrade_stays_in_the_current_engine_and_edition():
    """CKV_GCP_79 accepts POSTGRES_18, MYSQL_8_0, ... SQLSERVER_2022_<edition>: writing the first
    (POSTGRES_18) onto a MySQL instance would be an engine change the provider rejects."""
    from fixers.terraform.value_rules import same_family_value

    accepted = ("POSTGRES_18", "MYSQL_8_0", "MYSQL_8_4", "SQLSERVER_2022_STANDARD", "SQLSERVER_2022_WEB")
    assert same_family_value("POSTGRES_9_6", accepted) == "POSTGRES_18"
    assert same_family_value("MYSQL_5_7", accepted) == "MYSQL_8_0"
    assert same_family_value("SQLSERVER_2017_WEB", accepted) == "SQLSERVER_2022_WEB"
    assert same_family_value("SQLSERVER_2017_ENTERPRISE", accepted) is None
    assert same_family_value(None, accepted) is None
