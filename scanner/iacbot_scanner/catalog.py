"""Export checkov's rule metadata for the engine (runs in the scanner environment only).

The engine cannot import checkov (the two hcl2 packages clash), so this module turns checkov's
check registries into plain JSON: one entry per check with the fields of fixers.models.RuleMeta.
Value checks ("attribute must equal one of these values") also carry the inspected key, the
acceptable values and the result when the attribute is missing; that is enough to derive a fix.

Negative value checks (forbidden values) are exported without an inspected key: knowing what a
value must NOT be does not tell a fixer what to write.

Usage: python -m iacbot_scanner.catalog   (prints the JSON)
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from enum import Enum
from typing import Any

# Stands for checkov's ANY_VALUE ("the attribute must be set, to anything") in the export;
# the engine tells it apart from a literal by this exact marker.
ANY_VALUE_MARKER = {"any_value": True}

TERRAFORM = "terraform"
KUBERNETES = "kubernetes"


def _python_registries() -> Iterator[tuple[str, Any]]:
    """(framework, registry) for every Python check registry of the two frameworks."""
    from checkov.kubernetes.checks.resource.registry import registry as k8s_registry
    from checkov.terraform.checks.data.registry import data_registry
    from checkov.terraform.checks.module.registry import module_registry
    from checkov.terraform.checks.provider.registry import provider_registry
    from checkov.terraform.checks.resource.registry import resource_registry

    for registry in (resource_registry, data_registry, provider_registry, module_registry):
        yield TERRAFORM, registry
    yield KUBERNETES, k8s_registry


def _registry_checks(registry: Any) -> Iterator[Any]:
    for checks in (*registry.checks.values(), *registry.wildcard_checks.values()):
        yield from checks


def _category_names(categories: Iterable[Any]) -> list[str]:
    return sorted({c.name if isinstance(c, Enum) else str(c) for c in categories or ()})


def _json_value(value: Any) -> Any:
    """A check's expected value as JSON; ANY_VALUE becomes the marker; anything odd becomes str."""
    from checkov.common.models.consts import ANY_VALUE

    if value == ANY_VALUE:
        return ANY_VALUE_MARKER
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)


def _value_check_fields(check: Any) -> dict[str, Any]:
    """inspected_key, expected_values, missing_attribute_result for a positive value check."""
    from checkov.terraform.checks.resource.base_resource_value_check import BaseResourceValueCheck

    if not isinstance(check, BaseResourceValueCheck):
        return {}
    try:
        key = check.get_inspected_key()
        expected = check.get_expected_values()
    except Exception as error:  # a check computing its key from a scanned conf: not declarative
        logging.debug("no static value metadata for %s: %s", check.id, error)
        return {}
    if not isinstance(key, str):
        return {}
    if not isinstance(expected, (list, tuple)):
        expected = [expected]
    return {
        "inspected_key": key,
        "expected_values": [_json_value(v) for v in expected],
        "missing_attribute_result": check.missing_block_result.name,
    }


def _python_check_entry(framework: str, check: Any) -> dict[str, Any]:
    entry = {
        "id": check.id,
        "name": check.name,
        "resource_types": sorted(set(check.supported_entities)),
        "categories": _category_names(check.categories),
        "frameworks": [framework],
    }
    entry.update(_value_check_fields(check))
    return entry


def _graph_resource_types(check: Any) -> set[str]:
    found = set(check.resource_types or ())
    for sub in check.sub_checks or ():
        found |= _graph_resource_types(sub)
    return found


def _graph_check_entries(framework: str) -> Iterator[dict[str, Any]]:
    from checkov.common.checks_infra.registry import get_graph_checks_registry

    registry = get_graph_checks_registry(framework)
    registry.load_checks()
    for check in registry.checks:
        yield {
            "id": check.id,
            "name": check.name,
            "resource_types": sorted(_graph_resource_types(check)),
            "categories": [check.category] if check.category else [],
            "frameworks": [framework],
        }


def _merge(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per id: a check registered in several registries keeps the union of its lists."""
    by_id: dict[str, dict[str, Any]] = {}
    for entry in entries:
        known = by_id.get(entry["id"])
        if known is None:
            by_id[entry["id"]] = entry
            continue
        for field in ("resource_types", "categories", "frameworks"):
            known[field] = sorted(set(known[field]) | set(entry[field]))
        if "inspected_key" not in known and "inspected_key" in entry:
            known.update({k: entry[k] for k in ("inspected_key", "expected_values", "missing_attribute_result")})
    return [by_id[key] for key in sorted(by_id)]


def export_catalog() -> dict[str, Any]:
    from checkov.version import version

    def entries() -> Iterator[dict[str, Any]]:
        for framework, registry in _python_registries():
            for check in _registry_checks(registry):
                yield _python_check_entry(framework, check)
        for framework in (TERRAFORM, KUBERNETES):
            yield from _graph_check_entries(framework)

    return {"checkov_version": version, "rules": _merge(entries())}


def main() -> None:
    print(json.dumps(export_catalog(), indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
