"""docs/policy.md names every reason as decisions do, and its examples load."""
from __future__ import annotations

import re
from pathlib import Path

from policies.load import load_policy, load_repo_policy
from policies.reasons import Reason
from policies.reasons_table import generated_section, markdown

DOC = Path(__file__).parents[2] / "docs" / "policy.md"


def test_the_reasons_table_is_current():
    """Run scripts/policy-reasons --write after adding a reason."""
    assert generated_section(DOC.read_text()) == markdown()


def test_the_table_lists_every_reason():
    table = markdown()
    assert all(f"| `{r.value}` |" in table for r in Reason)


def test_every_reason_the_text_names_exists():
    text = DOC.read_text().split("<!-- reasons:begin")[0]
    values = {r.value for r in Reason}
    named = set(re.findall(r"`([a-z]+(?:-[a-z]+)+)`", text))
    assert named - values <= {"max-per-hour"} | {n for n in named if n.endswith(".yml")}, named - values


def test_the_yaml_examples_load():
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 3
    load_policy(blocks[0], "format")
    load_policy(blocks[1], "example")
    load_repo_policy(blocks[2], ".github/iacbot.yml")
