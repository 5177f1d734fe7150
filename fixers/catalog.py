"""checkov's rule metadata, as exported by the scanner environment.

The snapshot fixers/data/checkov_catalog.json is produced by `scripts/export-catalog` from the
pinned checkov in scanner/uv.lock; a test checks that it matches the live export, so it cannot
drift. Reading a file keeps fix proposal pure and free of the scanner process.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Mapping

from fixers.models import RuleMeta

CATALOG_PATH = Path(__file__).parent / "data" / "checkov_catalog.json"


def parse_catalog(raw: dict) -> dict[str, RuleMeta]:
    """raw: {"checkov_version": str, "rules": [ {RuleMeta fields, lists for tuples} ]}."""
    rules = {}
    for entry in raw["rules"]:
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()}
        rules[entry["id"]] = RuleMeta(**fields)
    return rules


@lru_cache(maxsize=1)
def load_catalog(path: Path = CATALOG_PATH) -> Mapping[str, RuleMeta]:
    if not path.exists():
        return {}
    return parse_catalog(json.loads(path.read_text()))
