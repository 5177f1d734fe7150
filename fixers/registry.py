"""The one registry of fixers: which fixer handles which rule.

Hand-written fixers declare their rule ids. Families (like the Terraform value-check fixer)
claim a rule by looking at its catalog metadata; hand-written fixers win over families.
"""
from __future__ import annotations

from typing import Mapping

from fixers import kubernetes, terraform
from fixers.models import Finding, Fixer, RuleMeta

HAND_WRITTEN: dict[str, Fixer] = {f.info.id: f for f in (*kubernetes.FIXERS, *terraform.FIXERS)}

_BY_RULE: dict[str, Fixer] = {}
for _fixer in HAND_WRITTEN.values():
    for _rule in _fixer.info.rule_ids:
        if _rule in _BY_RULE:
            raise RuntimeError(f"rule {_rule} claimed by {_BY_RULE[_rule].info.id} and {_fixer.info.id}")
        _BY_RULE[_rule] = _fixer

# (claims(meta) -> bool, fixer): consulted in order when no hand-written fixer declares the rule.
FAMILIES = (*kubernetes.FAMILIES, *terraform.FAMILIES)


def fixer_for(rule_id: str, catalog: Mapping[str, RuleMeta]) -> Fixer | None:
    if rule_id in _BY_RULE:
        return _BY_RULE[rule_id]
    meta = catalog.get(rule_id)
    if meta is None:
        return None
    for claims, fixer in FAMILIES:
        if claims(meta):
            # A family labels each rule it claims on its own (risk, confidence, impact differ per rule).
            for_rule = getattr(fixer, "for_rule", None)
            return for_rule(meta) if for_rule else fixer
    return None


def fix_class(finding: Finding, catalog: Mapping[str, RuleMeta]) -> str:
    """Rules of several scanners that one fixer repairs share one fix class: the fixer's id.

    A value-check family fixer serves many unrelated rules, so its class is per rule.
    """
    fixer = fixer_for(finding.rule_id, catalog)
    if fixer is None or not fixer.info.rule_ids:
        return finding.rule_id
    return fixer.info.id


def all_fixers() -> list[Fixer]:
    return [*HAND_WRITTEN.values(), *(f for _, f in FAMILIES)]
