"""Does a file parse? One answer per file kind, used before and after every edit."""
from __future__ import annotations

from functools import lru_cache
from pathlib import PurePosixPath

import hcl2
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from fixers.edit.hcl import HclEditError, parse_tree
from fixers.edit.yaml_nodes import YamlEditError, load_cached

TERRAFORM_SUFFIXES = {".tf", ".tfvars"}
YAML_SUFFIXES = {".yaml", ".yml"}


def file_kind(path: str) -> str | None:
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in TERRAFORM_SUFFIXES:
        return "terraform"
    if suffix in YAML_SUFFIXES:
        return "yaml"
    return None


def _yaml_loads_cached(text: str) -> bool:
    try:
        load_cached(text)
    except YamlEditError:
        return False  # the plain loader below says where
    return True


@lru_cache(maxsize=256)
def parse_error(path: str, text: str, strict: bool = False) -> str | None:
    """Cached, since verification asks again about files an earlier batch already checked.
    None when `text` parses as the kind of file `path` names; otherwise a short reason with a line."""
    kind = file_kind(path)
    try:
        if kind == "terraform":
            parse_tree(text)  # the grammar and what HCL rejects beyond it, from the tree cache the HCL fixers fill
        if kind == "terraform" and strict:
            hcl2.loads(text)  # transform to data too, as a consumer of the file would
        elif kind == "yaml" and not strict and _yaml_loads_cached(text):
            return None
        elif kind == "yaml":
            for _ in YAML(typ="safe", pure=True).load_all(text):
                pass
    except HclEditError as exc:
        return f"invalid HCL: {exc}"
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        return f"invalid YAML{where}: {getattr(exc, 'problem', None) or exc}"
    except Exception as exc:  # python-hcl2 raises lark errors and plain ValueErrors alike
        line = getattr(exc, "line", None)
        where = f" at line {line}" if isinstance(line, int) and line > 0 else ""
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"invalid HCL{where}: {first_line}"
    return None
