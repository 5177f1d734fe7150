"""Name the resource at a line, for findings that carry only a file and a line (SARIF).

Terraform: the `resource`/`data` block whose header is the last one at or before the line.
Kubernetes: the document containing the line, named Kind.namespace.name as checkov names it.
"""
from __future__ import annotations

import re

from ruamel.yaml import YAML
from ruamel.yaml.nodes import MappingNode, ScalarNode

from fixers.syntax import file_kind

_BLOCK_HEADER = re.compile(r'^\s*(resource|data)\s+"([^"]+)"\s+"([^"]+)"\s*\{')


def resource_at_line(path: str, text: str, line: int) -> str:
    """The resource address at 1-based `line`, or "" when none can be told."""
    kind = file_kind(path)
    if kind == "terraform":
        return _terraform_block_at(text, line)
    if kind == "yaml":
        return _manifest_at(text, line)
    return ""


def _terraform_block_at(text: str, line: int) -> str:
    found = ""
    for number, content in enumerate(text.splitlines(), start=1):
        if number > line:
            break
        match = _BLOCK_HEADER.match(content)
        if match:
            block, type_, name = match.groups()
            found = f"{type_}.{name}" if block == "resource" else f"data.{type_}.{name}"
    return found


def _manifest_at(text: str, line: int) -> str:
    try:
        documents = list(YAML(typ="rt").compose_all(text))
    except Exception:  # an unparseable file has no resource to name; the engine reports the parse error
        return ""
    for node in documents:
        if isinstance(node, MappingNode) and node.start_mark.line + 1 <= line <= node.end_mark.line + 1:
            values = {k.value: v for k, v in node.value if isinstance(k, ScalarNode)}
            metadata = values.get("metadata")
            meta = {k.value: v.value for k, v in metadata.value if isinstance(v, ScalarNode)} if isinstance(metadata, MappingNode) else {}
            kind = values.get("kind")
            if isinstance(kind, ScalarNode):
                return f"{kind.value}.{meta.get('namespace', 'default')}.{meta.get('name', '')}"
    return ""
