"""Labels decide what may merge without a person (issue 7 item 10), so each one is pinned and reasoned."""
from __future__ import annotations

import pytest

from fixers.catalog import load_catalog
from fixers.labels import generated_section, label_rows, markdown
from fixers.models import Confidence, Impact, Risk
from fixers.registry import HAND_WRITTEN, all_fixers, fixer_for
from tests.paths import REPO

CATALOG = load_catalog()
ROWS = label_rows(CATALOG)


def test_the_label_table_in_the_docs_is_the_one_the_code_gives():
    """A label changes only on purpose: run scripts/fixer-labels --write and say why in docs/fixer-labels.md."""
    documented = generated_section((REPO / "docs" / "fixer-labels.md").read_text())
    assert documented == markdown(ROWS)


def test_a_safe_default_has_no_impact_and_every_impact_makes_it_assumed():
    for row in ROWS:
        safe = row.confidence == Confidence.SAFE_DEFAULT.value
        assert safe == (row.impact == "none"), row


def test_every_family_rule_is_labelled_on_its_own():
    assert {r.fixer for r in ROWS if r.rules.count(" ") == 0 and r.rules.startswith("CKV")} >= {"tf.value-check"}
    assert fixer_for("CKV_AWS_126", CATALOG).info.impact == frozenset({Impact.COST})
    assert fixer_for("CKV_AWS_163", CATALOG).info.confidence is Confidence.SAFE_DEFAULT
    assert fixer_for("CKV_AWS_16", CATALOG).info.category.value == "encryption"  # the rule's category, not the family's


def test_unreviewed_rules_say_so():
    meta = next(m for r, m in CATALOG.items() if r == "CKV_ALI_10")
    info = fixer_for(meta.id, CATALOG).info
    assert info.impact == frozenset({Impact.UNREVIEWED}) and info.confidence is Confidence.ASSUMED_VALUE


# One case per label corrected in issue 7 (docs/fixer-labels.md says why for each).
CORRECTED = {
    # hand-written fixers: (risk, confidence, impact)
    "tf.imdsv2": ("medium", "assumed-value", {"compatibility"}),
    "tf.ebs-encryption": ("high", "assumed-value", {"replacement"}),
    "tf.s3-encryption": ("medium", "assumed-value", {"cost", "compatibility"}),
    "tf.s3-versioning": ("medium", "assumed-value", {"cost", "operations"}),
    "tf.s3-public-access-block": ("high", "assumed-value", {"compatibility"}),
    "tf.s3-lifecycle": ("low", "assumed-value", {"operations"}),
    "tf.sg-descriptions": ("low", "assumed-value", {"availability"}),
    "k8s.privileged": ("medium", "assumed-value", {"compatibility"}),
    "k8s.host-pid": ("medium", "assumed-value", {"compatibility"}),
    "k8s.host-ipc": ("medium", "assumed-value", {"compatibility"}),
    "k8s.host-network": ("medium", "assumed-value", {"compatibility"}),
    "k8s.image-pull-policy": ("low", "assumed-value", {"availability"}),
    "k8s.automount-service-account-token": ("medium", "assumed-value", {"compatibility"}),
    "k8s.drop-capabilities": ("medium", "assumed-value", {"compatibility"}),
    "k8s.added-capabilities": ("medium", "assumed-value", {"compatibility"}),
    "k8s.read-only-root-filesystem": ("medium", "assumed-value", {"compatibility"}),
    "k8s.run-as-non-root": ("medium", "assumed-value", {"compatibility"}),
    "k8s.run-as-high-uid": ("medium", "assumed-value", {"compatibility"}),
    "k8s.resources": ("medium", "assumed-value", {"availability"}),
    "k8s.probes": ("medium", "assumed-value", {"availability"}),
    "k8s.control-plane-flags": ("high", "assumed-value", {"availability", "compatibility"}),
    # value-check rules named in the issue
    "CKV_AWS_135": ("medium", "assumed-value", {"cost", "availability"}),          # ebs_optimized
    "CKV_AWS_157": ("medium", "assumed-value", {"cost", "availability"}),          # multi_az
    "CKV_AWS_126": ("low", "assumed-value", {"cost"}),                             # detailed monitoring
    "CKV_AWS_293": ("medium", "assumed-value", {"operations"}),                    # deletion_protection
    "CKV_AWS_139": ("medium", "assumed-value", {"operations"}),
    "CKV_AWS_150": ("medium", "assumed-value", {"operations"}),
    "CKV_AWS_16": ("high", "assumed-value", {"replacement"}),                      # storage_encrypted
    "CKV_AWS_96": ("high", "assumed-value", {"replacement"}),
    "CKV_AWS_91": ("low", "assumed-value", {"cost"}),                              # LB access logs
    "CKV_AWS_39": ("high", "assumed-value", {"compatibility"}),                    # EKS public endpoint
    "CKV_AWS_313": ("low", "safe-default", set()),                                 # reviewed safe
    "CKV_AWS_162": ("low", "safe-default", set()),
}


@pytest.mark.parametrize("subject", sorted(CORRECTED))
def test_corrected_label(subject):
    info = HAND_WRITTEN[subject].info if subject in HAND_WRITTEN else fixer_for(subject, CATALOG).info
    risk, confidence, impact = CORRECTED[subject]
    assert (info.risk.value, info.confidence.value, {i.value for i in info.impact}) == (risk, confidence, impact)


def test_the_family_row_in_iacbot_fixers_is_the_unreviewed_label():
    family = next(f for f in all_fixers() if f.info.id == "tf.value-check")
    assert family.info.risk is Risk.MEDIUM and family.info.impact == frozenset({Impact.UNREVIEWED})
