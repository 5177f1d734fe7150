"""The Security Hub control table names real checkov rules for the resource type both check."""
from __future__ import annotations

import pytest

from bot.findings.controls import SECURITY_HUB_CONTROLS, rule_for
from fixers.catalog import load_catalog


@pytest.mark.parametrize("control", sorted(SECURITY_HUB_CONTROLS))
def test_each_mapped_control_is_a_catalog_rule_on_its_resource_type(control):
    rule, resource_type = SECURITY_HUB_CONTROLS[control]
    meta = load_catalog().get(rule)
    assert meta is not None, f"{control} -> {rule}: not in the checkov catalog"
    assert resource_type in meta.resource_types, f"{control} -> {rule} does not check {resource_type}"


def test_an_unmapped_control_has_no_rule():
    assert rule_for("EC2.2") is None and rule_for("IAM.6") is None and rule_for("") is None
