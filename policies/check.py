"""``iacbot policy check`` in one call: a policy file's load errors, or, when it loads, its lint
findings. Any problem means the file is not valid (the CLI exits 2)."""
from __future__ import annotations

from policies.lint import lint
from policies.load import load_policy, load_repo_policy
from policies.model import PolicyError, PolicyProblem


def check_policy(data: bytes | str, source: str, known_rule_ids: frozenset[str], known_fix_classes: frozenset[str],
                 *, repository: bool = False) -> tuple[PolicyProblem, ...]:
    """Every problem of the policy in ``data`` (a ``.github/iacbot.yml`` when ``repository``),
    each as ``FILE:LINE:COL: message`` through ``PolicyProblem.text()``; () when it is valid."""
    try:
        policy = (load_repo_policy if repository else load_policy)(data, source)
    except PolicyError as e:
        return e.problems
    return lint(policy, known_rule_ids, known_fix_classes, repository=repository)
