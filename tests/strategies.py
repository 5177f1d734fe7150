"""Hypothesis strategies shared by the tests: arbitrary JSON that often looks like a scanner's output."""
from __future__ import annotations

from hypothesis import strategies as st

KEYS = ["ruleId", "rule", "id", "message", "text", "locations", "physicalLocation", "artifactLocation", "uri",
        "region", "startLine", "endLine", "logicalLocations", "name", "fullyQualifiedName", "properties",
        "resource", "level", "tool", "driver", "rules", "shortDescription", "defaultConfiguration",
        "security-severity", "check_id", "file_path", "file_abs_path", "file_line_range", "check_result",
        "evaluated_keys", "severity", "check_name", "results", "failed_checks"]
SCALARS = st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False) | \
    st.sampled_from(["", "abc", "12", "/k8s/a.yaml", "k8s/a.yaml", "../../etc/passwd", "file:///x"]) | st.text(max_size=8)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=6), max_leaves=30)
