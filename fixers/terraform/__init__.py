"""Terraform fixers. FIXERS: hand-written fixers; FAMILIES: (claims(meta), fixer) pairs."""
from fixers.terraform import compute, s3, security_groups, value_checks

FIXERS: list = [*s3.FIXERS, *compute.FIXERS, *security_groups.FIXERS]
FAMILIES: list = [(value_checks.claims, value_checks.VALUE_CHECK_FIXER)]
