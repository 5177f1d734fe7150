"""The dependency direction written in docs/architecture.md ("Dependency direction"), enforced.

An AST walk over every module of iacbot's packages: every ``import`` and ``from ... import``, at
module level or inside a function (a lazy import is still a dependency), resolved to the module it
names (relative imports too), is checked against :data:`LAYERS`. The table in the docs is compared
with :data:`LAYERS`, so the two cannot drift apart.
"""
from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.paths import REPO

#: Where each package's modules live (``scanner/iacbot_scanner`` is imported as
#: ``scanner.iacbot_scanner`` by the main environment and as ``iacbot_scanner`` in its own).
PACKAGES = {"bot": "bot", "fixers": "fixers", "policies": "policies", "jobs": "jobs", "workers": "workers",
            "scanner": "scanner"}
OURS = frozenset(PACKAGES) | {"iacbot_scanner"}


@dataclass(frozen=True)
class Layer:
    may: tuple[str, ...]                  # iacbot modules it may import (prefixes, by dotted name)
    never: tuple[str, ...] = ()           # ... except these
    third_party: frozenset[str] | None = None  # None: any; else only these (and the standard library)


#: Most specific importer first: a module belongs to the first layer whose name prefixes it.
LAYERS: dict[str, Layer] = {
    "fixers": Layer(may=("fixers",)),
    "policies": Layer(may=("policies", "fixers"), third_party=frozenset({"ruamel", "jsonschema"})),
    "jobs": Layer(may=("jobs", "fixers.iac_files"), third_party=frozenset()),
    "bot.service": Layer(may=("bot", "fixers", "jobs", "policies", "workers.celery_app")),
    "bot": Layer(may=("bot", "fixers", "jobs", "policies"), never=("bot.service",)),
    "workers": Layer(may=("workers", "bot", "fixers", "jobs", "policies", "scanner.iacbot_scanner"),
                     never=("bot.service",)),
    "scanner": Layer(may=("scanner", "iacbot_scanner")),
}
STDLIB = frozenset(sys.stdlib_module_names)


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layer_of(module: str) -> str:
    return next(layer for layer in sorted(LAYERS, key=len, reverse=True) if _within(module, layer))


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(root: Path, dotted: str) -> bool:
    base = root.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports(root: Path, path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in ``path``, anywhere in it, resolved to a dotted name:
    ``from workers import declined`` is ``workers.declined`` when that is a module."""
    tree = ast.parse(path.read_text(), str(path))
    here = module_name(root, path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                full = f"{source}.{alias.name}"
                found.append((node.lineno, full if _is_module(root, full) else source))
    return found


def modules(root: Path) -> list[Path]:
    return sorted(p for package in PACKAGES.values() for p in (root / package).rglob("*.py")
                  if ".venv" not in p.parts and "__pycache__" not in p.parts)


def violations(root: Path) -> list[str]:
    """Every import that breaks the table, as ``file:line: importer imports module (why)``."""
    found = []
    for path in modules(root):
        importer = module_name(root, path)
        # The scanner environment imports its package as top-level ``iacbot_scanner``.
        layer = LAYERS[layer_of(importer)]
        for line, imported in imports(root, path):
            top = imported.split(".")[0]
            where = f"{path.relative_to(root)}:{line}: {importer} imports {imported}"
            if top in OURS:
                if any(_within(imported, never) for never in layer.never):
                    found.append(f"{where} (never: {', '.join(layer.never)})")
                elif not any(_within(imported, may) for may in layer.may):
                    found.append(f"{where} (may import only {', '.join(layer.may)} of iacbot)")
            elif layer.third_party is not None and top not in STDLIB and top not in layer.third_party:
                allowed = ", ".join(sorted(layer.third_party)) or "nothing"
                found.append(f"{where} (outside the standard library it may import only {allowed})")
    return found


def test_every_module_imports_only_what_its_layer_may():
    assert violations(REPO) == []


def test_the_walk_sees_every_package_and_function_level_imports():
    names = {module_name(REPO, p) for p in modules(REPO)}
    assert {"bot.service.events", "workers.tasks", "policies.declines", "jobs.kinds", "fixers.engine",
            "scanner.iacbot_scanner.worker"} <= names
    # workers.tasks imports bot.settings inside _continue_chain: a lazy import is found too.
    assert "bot.settings" in {m for _, m in imports(REPO, REPO / "workers" / "tasks.py")}


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_each_kind_of_violation_is_caught(tmp_path):
    """The walk fails on what the table forbids: the imports main had before jobs/ existed
    (workers/declined.py and workers/pr_cap.py took BOT_BRANCH_PREFIX from bot.service.events;
    bot/service/findings_api.py took SUBMISSION_PREFIX from workers.store), a lazy one, a relative
    one, and a third-party one in policies/."""
    for package in PACKAGES.values():
        _write(tmp_path, f"{package}/__init__.py", "")
    _write(tmp_path, "bot/service/__init__.py", "")
    _write(tmp_path, "bot/service/events.py", "BOT_BRANCH_PREFIX = 'iacbot/'\n")
    _write(tmp_path, "workers/store.py", "SUBMISSION_PREFIX = 'iacbot:submission:'\n")
    _write(tmp_path, "workers/celery_app.py", "")
    _write(tmp_path, "workers/declined.py", "from bot.service.events import BOT_BRANCH_PREFIX\n")
    _write(tmp_path, "workers/lazy.py", "def f():\n    import bot.service.events\n")
    _write(tmp_path, "bot/service/findings_api.py", "from workers.store import SUBMISSION_PREFIX\n"
                                                    "from workers import celery_app\n")
    _write(tmp_path, "fixers/engine.py", "from ..policies import decision\n")
    _write(tmp_path, "policies/decision.py", "import requests\nimport json\nfrom ruamel.yaml import YAML\n"
                                             "from fixers import models\n")
    _write(tmp_path, "policies/bad.py", "from jobs import kinds\nfrom bot.quoting import x\n")
    _write(tmp_path, "jobs/kinds.py", "from fixers.iac_files import MAX_PUSH_FILES\nfrom fixers import engine\n")
    _write(tmp_path, "scanner/iacbot_scanner/worker.py", "from fixers import models\nimport celery\n")
    found = violations(tmp_path)
    assert [re.sub(r" \(.*", "", v) for v in found] == [
        "bot/service/findings_api.py:1: bot.service.findings_api imports workers.store",
        "fixers/engine.py:1: fixers.engine imports policies.decision",
        "jobs/kinds.py:2: jobs.kinds imports fixers.engine",
        "policies/bad.py:1: policies.bad imports jobs.kinds",
        "policies/bad.py:2: policies.bad imports bot.quoting",
        "policies/decision.py:1: policies.decision imports requests",
        "scanner/iacbot_scanner/worker.py:1: scanner.iacbot_scanner.worker imports fixers",  # no such module here
        "workers/declined.py:1: workers.declined imports bot.service.events",
        "workers/lazy.py:2: workers.lazy imports bot.service.events",
    ]


def _documented_table() -> dict[str, tuple[str, str]]:
    text = (REPO / "docs" / "architecture.md").read_text()
    section = text.split("## Dependency direction", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        first = re.match(r"`([a-z_/]+)/`", cells[0]) if len(cells) == 4 else None
        if first:
            rows[first.group(1).replace("/", ".")] = (cells[1], cells[2])
    return rows


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_the_table_in_the_docs_is_the_one_enforced(layer):
    documented = _documented_table()
    assert set(documented) == set(LAYERS)
    may, never = documented[layer]
    code = lambda names: {n.strip().strip("`") for n in names.split(",") if n.strip() not in ("", "-")}  # noqa: E731
    assert code(may) == set(LAYERS[layer].may)
    assert code(never) == set(LAYERS[layer].never)
