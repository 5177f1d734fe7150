"""The AWS provider major version a repository admits, from its version constraints.

Fixers choose between inline S3 blocks (provider < 4) and the separate aws_s3_bucket_* resources
(provider >= 4). The lowest admitted major is the one a patch must work with.
"""
from __future__ import annotations

import re
from typing import Iterator, Mapping

import hcl2

_CONSTRAINT = re.compile(r"\s*(!=|>=|<=|~>|=|>|<)?\s*v?(\d+)((?:\.\d+)*)\s*")


def _unquote(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip('"')
    return None


def _aws_constraints(text: str) -> Iterator[str]:
    try:
        data = hcl2.loads(text)
    except Exception:
        return  # a file that does not parse constrains nothing we can read
    for terraform in data.get("terraform", []):
        for providers in terraform.get("required_providers", []):
            aws = providers.get("aws")
            version = _unquote(aws.get("version")) if isinstance(aws, dict) else _unquote(aws)
            if version:
                yield version
    for provider in data.get("provider", []):
        # Before Terraform 0.13 the constraint sat in the provider block itself.
        for config in (provider.get('"aws"'), provider.get("aws")):
            version = _unquote(config.get("version")) if isinstance(config, dict) else None
            if version:
                yield version


def _bounds(constraint: str) -> tuple[list[int], list[int]]:
    """(lower majors, upper majors) of one constraint string such as ">= 3.0, < 5"."""
    lower: list[int] = []
    upper: list[int] = []
    for part in constraint.split(","):
        match = _CONSTRAINT.fullmatch(part)
        if not match:
            continue
        op, major, rest = match.group(1) or "=", int(match.group(2)), match.group(3)
        if op in ("=", ">=", ">", "~>"):
            lower.append(major)
        if op == "=":
            upper.append(major)
        elif op == "<=":
            upper.append(major)
        elif op == "<":
            # "< 4.0" excludes all of 4; "< 4.2" still admits 4.0 and 4.1.
            upper.append(major - 1 if not rest.strip(".0") else major)
    return lower, upper


def aws_provider_major(tf_texts: Mapping[str, str]) -> int | None:
    """Lowest AWS provider major admitted by all constraints in the files; None if unconstrained."""
    lowers: list[int] = []
    uppers: list[int] = []
    for text in tf_texts.values():
        for constraint in _aws_constraints(text):
            low, high = _bounds(constraint)
            lowers += low
            uppers += high
    if lowers:
        return max(lowers)
    if uppers:
        return min(uppers)
    return None
