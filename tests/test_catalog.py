"""The checkov catalog snapshot: it loads, value checks carry usable metadata, and it matches checkov."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from fixers.catalog import CATALOG_PATH, load_catalog

ROOT = Path(__file__).resolve().parent.parent
SCANNER_PYTHON = ROOT / ".venv-scanner" / "bin" / "python"


def test_snapshot_loads_with_both_frameworks():
    catalog = load_catalog()
    frameworks = {fw for meta in catalog.values() for fw in meta.frameworks}
    assert {"terraform", "kubernetes"} <= frameworks
    assert len(catalog) > 500


@pytest.mark.parametrize("rule_id, key, value", [
    ("CKV_AWS_79", "metadata_options/[0]/http_tokens", "required"),
    ("CKV_AWS_3", "encrypted", True),
    ("CKV_AWS_126", "monitoring", True),
])
def test_known_value_checks(rule_id, key, value):
    meta = load_catalog()[rule_id]
    assert meta.inspected_key == key
    assert meta.expected_values[0] == value
    assert meta.missing_attribute_result == "FAILED"


def test_negative_value_checks_carry_no_inspected_key():
    # CKV_AWS_20 (S3 ACL must not be public-read) is a forbidden-value check: nothing to write.
    meta = load_catalog()["CKV_AWS_20"]
    assert meta.inspected_key is None and meta.expected_values == ()


def test_any_value_is_a_distinct_marker():
    any_values = [v for m in load_catalog().values() for v in m.expected_values if isinstance(v, dict)]
    assert any_values and all(v == {"any_value": True} for v in any_values)


def test_snapshot_equals_a_fresh_export():
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "PYTHONPATH": str(ROOT / "scanner")}
    fresh = subprocess.run(
        [str(SCANNER_PYTHON), "-m", "iacbot_scanner.catalog"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    assert json.loads(fresh) == json.loads(CATALOG_PATH.read_text()), "run scripts/export-catalog"
