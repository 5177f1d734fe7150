"""A security-group rule's description, derived from the rule itself: "tcp 443 from 10.0.0.0/8".

Only literal protocols, ports and sources are described (and plain references to another
security group or to a VPC's CIDR in the configuration); anything computed makes the description unknowable here,
and the reason says which attribute. The text keeps to the characters AWS accepts in rule
descriptions and to its 255-character limit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from fixers.edit.hcl import Block, NotLiteral, find_attribute, literal_value
from fixers.locate.terraform import non_literal_reason

MAX_LENGTH = 255  # AWS's limit for a rule description
_PROTOCOL_NAMES = {"-1": "all", "all": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
# References to objects of the configuration that name a source as well as a literal would.
_REFERENCES = (
    (re.compile(r"aws_security_group\.([A-Za-z0-9_-]+)\.id"), "{}"),
    (re.compile(r'"?\$\{aws_vpc\.([A-Za-z0-9_-]+)\.cidr_block\}"?|aws_vpc\.([A-Za-z0-9_-]+)\.cidr_block'),
     "the CIDR of VPC {}"),
)
# The characters AWS allows in a security group rule description.
_ALLOWED = re.compile(r"[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]*")


class NotDescribable(Exception):
    """str(error) says why the rule cannot be described from its own attributes."""


@dataclass(frozen=True)
class RuleShape:
    """Where one kind of rule keeps its protocol, ports and sources."""

    protocol: str
    sources: tuple[tuple[str, str], ...]   # (attribute, how it reads: "" for addresses, "security group", ...)


INLINE = RuleShape("protocol", (("cidr_blocks", ""), ("ipv6_cidr_blocks", ""), ("prefix_list_ids", "prefix list"),
                                ("security_groups", "security group")))
STANDALONE = RuleShape("protocol", (("cidr_blocks", ""), ("ipv6_cidr_blocks", ""), ("prefix_list_ids", "prefix list"),
                                    ("source_security_group_id", "security group")))
VPC_RULE = RuleShape("ip_protocol", (("cidr_ipv4", ""), ("cidr_ipv6", ""), ("prefix_list_id", "prefix list"),
                                     ("referenced_security_group_id", "security group")))


def _literal(text: str, block: Block, name: str) -> object | None:
    attribute = find_attribute(block, name)
    if attribute is None:
        return None
    expression = attribute.value_text(text)
    try:
        return literal_value(expression)
    except NotLiteral:
        pass
    stripped = expression.strip()
    items = [i.strip() for i in stripped[1:-1].split(",") if i.strip()] if stripped.startswith("[") else [stripped]
    names = [_reference_name(i) for i in items]
    if items and all(names):
        return names if stripped.startswith("[") else names[0]
    raise NotDescribable(non_literal_reason(name, expression))


def _reference_name(item: str) -> str | None:
    for pattern, text in _REFERENCES:
        match = pattern.fullmatch(item)
        if match:
            return text.format(next(g for g in match.groups() if g))
    return None


def _port(value: object) -> object:
    """Terraform turns "443" into 443 for a number argument; so does the description."""
    return int(value) if isinstance(value, str) and re.fullmatch(r"-?\d+", value) else value


def _ports(protocol: str, low: object, high: object) -> str:
    if protocol == "all":
        return ""
    low, high = _port(low), _port(high)
    if not isinstance(low, int) or not isinstance(high, int) or isinstance(low, bool) or isinstance(high, bool):
        raise NotDescribable(f"the rule's ports ({low!r} to {high!r}) are not whole numbers")
    if protocol.startswith("icmp"):
        return "" if low == -1 else f" type {low}" + ("" if high == -1 else f" code {high}")
    return f" {low}" if low == high else f" {low}-{high}"


def _sources(text: str, block: Block, shape: RuleShape) -> list[str]:
    found: list[str] = []
    for name, kind in shape.sources:
        value = _literal(text, block, name)
        values = value if isinstance(value, list) else ([] if value is None else [value])
        if not all(isinstance(v, str) and v for v in values):
            raise NotDescribable(f"{name} holds something other than plain strings")
        found += [f"{kind} {v}" if kind else v for v in values]
    if _literal(text, block, "self") is True:
        found.append("itself")
    return found


def describe(text: str, block: Block, shape: RuleShape, direction: str) -> str:
    """"tcp 443 from 10.0.0.0/8", "all traffic to 0.0.0.0/0", ...; NotDescribable when it cannot be said."""
    raw = _literal(text, block, shape.protocol)
    if raw is None:
        raise NotDescribable(f"the rule has no {shape.protocol}")
    protocol = _PROTOCOL_NAMES.get(str(raw).lower(), str(raw).lower())
    ports = _ports(protocol, _literal(text, block, "from_port"), _literal(text, block, "to_port")) \
        if protocol != "all" else ""
    sources = _sources(text, block, shape)
    if not sources:
        raise NotDescribable("the rule names no source or destination (CIDR, prefix list or security group)")
    what = "all traffic" if protocol == "all" else f"{protocol}{ports}"
    description = f"{what} {'from' if direction == 'ingress' else 'to'} {', '.join(sources)}"
    if len(description) > MAX_LENGTH:
        raise NotDescribable(f"the rule has too many sources to describe in {MAX_LENGTH} characters")
    if not _ALLOWED.fullmatch(description):
        raise NotDescribable("the rule's values hold characters AWS does not accept in a description")
    return description


def direction_of(text: str, block: Block, kind: str) -> str:
    """ingress or egress for any rule kind (aws_security_group_rule says it in `type`)."""
    if kind.endswith("_ingress_rule") or kind == "ingress":
        return "ingress"
    if kind.endswith("_egress_rule") or kind == "egress":
        return "egress"
    value = _literal(text, block, "type")
    if value not in ("ingress", "egress"):
        raise NotDescribable("the rule's type is neither ingress nor egress")
    return value
