"""What one scan may cost, and the pre-check that refuses a file before checkov reads it.

checkov builds a full Python structure for every file it reads: a 1 KB YAML alias bomb
("billion laughs") expands to 10^9 nodes and takes the process down. So every file checkov
would read is measured first, cheaply and without building anything: its size (from stat, never
read past the bound), and for YAML/JSON the number of nodes the document expands to with its
aliases followed, and its nesting depth, counted from PyYAML's event stream (an alias adds the
weight of the node its anchor names, so the count is exact without expanding). HCL's nesting
depth is counted from its brackets. What passes is scanned; what fails is refused with the
bound it exceeded, and the rest of the scan goes on.

Memory and time are bounded while checkov runs (iacbot_scanner.bounded); their values live here
too so one object says what a scan may cost.

Standard library and PyYAML only (checkov brings PyYAML): the scanner environment imports no
engine code. The figures behind the defaults are in docs/architecture.md ("Faults").
"""
from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from typing import Mapping

import yaml


class Bound(str, enum.Enum):
    """Why a file was not scanned: which bound it exceeded."""

    FILE_SIZE = "file size"
    YAML_EXPANSION = "YAML alias expansion"
    NESTING_DEPTH = "nesting depth"
    MEMORY = "memory"
    TIME = "time"
    CRASH = "checkov crashed"


@dataclass(frozen=True)
class ScanLimits:
    #: 2 MiB: far above any hand-written manifest or module; checkov needed 48 s and 600 MB for a
    #: 4.5 MB ConfigMap (measured), so this keeps one file well inside the memory and time bounds.
    max_file_bytes: int = 2 * 1024 * 1024
    #: Nodes a YAML/JSON document may expand to, aliases followed. 10^6 expanded nodes cost checkov
    #: 32 s and 750 MB (measured); a large real manifest has a few thousand.
    max_yaml_nodes: int = 200_000
    #: Collections inside collections (YAML, JSON, HCL blocks and brackets). Real files stay
    #: under 30; parsers recurse per level.
    max_nesting_depth: int = 100
    #: Address space one checkov run may add to the scanner process (RLIMIT_AS in the scan child).
    memory_bytes: int = 2 * 1024 * 1024 * 1024
    #: One checkov run. A scan that exceeded a bound is split by scope and gets twice this more
    #: in all, so one file that hangs checkov costs one timeout and the rest still fits.
    timeout_seconds: float = 120.0

    @property
    def request_budget_seconds(self) -> float:
        return 3 * self.timeout_seconds


#: Environment settings, read by the scanner process and the scan worker.
LIMIT_ENV = {
    "max_file_bytes": "IACBOT_SCAN_MAX_FILE_BYTES",
    "max_yaml_nodes": "IACBOT_SCAN_MAX_YAML_NODES",
    "max_nesting_depth": "IACBOT_SCAN_MAX_NESTING_DEPTH",
    "memory_bytes": "IACBOT_SCAN_MEMORY_BYTES",
    "timeout_seconds": "IACBOT_SCAN_TIMEOUT_SECONDS",
}


def limits_from_env(environ: Mapping[str, str]) -> ScanLimits:
    """ScanLimits with any IACBOT_SCAN_* override; ValueError naming a malformed setting."""
    values = {}
    for field, name in LIMIT_ENV.items():
        raw = environ.get(name)
        if not raw:
            continue
        try:
            value = float(raw) if field == "timeout_seconds" else int(raw)
        except ValueError:
            value = 0
        if value <= 0:
            raise ValueError(f"{name} must be a positive number, got {raw!r}")
        values[field] = value
    return ScanLimits(**values)


@dataclass(frozen=True)
class Refusal:
    bound: Bound
    detail: str


#: Suffixes of the files checkov's terraform and kubernetes frameworks read.
YAML_SUFFIXES = (".yaml", ".yml", ".json")
HCL_SUFFIXES = (".tf", ".hcl", ".tfvars")


def read_by_checkov(path: str) -> bool:
    return path.lower().endswith(YAML_SUFFIXES + HCL_SUFFIXES)


def size_refusal(size: int, limits: ScanLimits) -> Refusal | None:
    if size > limits.max_file_bytes:
        return Refusal(Bound.FILE_SIZE, f"{size} bytes, more than {limits.max_file_bytes}")
    return None


def precheck(path: str, data: bytes, limits: ScanLimits) -> Refusal | None:
    """None when checkov may read ``data`` (the file at ``path``), else why not. Pure."""
    refusal = size_refusal(len(data), limits)
    if refusal is not None:
        return refusal
    lowered = path.lower()
    if lowered.endswith(YAML_SUFFIXES):
        return yaml_refusal(data, limits)
    if lowered.endswith(HCL_SUFFIXES):
        return _depth_refusal(hcl_depth(data), limits)
    return None


def precheck_file(path: str, limits: ScanLimits) -> Refusal | None:
    """precheck for a file on disk; its size is checked before a byte is read. An unreadable
    file is left to checkov, which reports it."""
    try:
        refusal = size_refusal(os.stat(path).st_size, limits)
        if refusal is not None:
            return refusal
        with open(path, "rb") as handle:
            data = handle.read(limits.max_file_bytes + 1)
    except OSError:
        return None
    return precheck(path, data, limits)


def _depth_refusal(depth: int, limits: ScanLimits) -> Refusal | None:
    if depth > limits.max_nesting_depth:
        return Refusal(Bound.NESTING_DEPTH, f"nested more than {limits.max_nesting_depth} levels deep")
    return None


class _TooCostly(Exception):
    def __init__(self, refusal: Refusal) -> None:
        self.refusal = refusal


_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def yaml_refusal(data: bytes, limits: ScanLimits) -> Refusal | None:
    """Count the nodes every document of ``data`` expands to, and how deep, from the event
    stream (nothing is constructed). Text PyYAML cannot parse passes: checkov reports it."""
    try:
        _count_yaml(data, limits)
    except _TooCostly as stop:
        return stop.refusal
    except (yaml.YAMLError, ValueError, UnicodeError):
        return None
    return None


def _count_yaml(data: bytes, limits: ScanLimits) -> None:
    # Per open collection: [anchor, expanded nodes inside it, height of its tallest child].
    open_nodes: list[list] = []
    anchors: dict[str, tuple[int, int]] = {}   # anchor -> (expanded nodes, height)
    expanded = 0

    def count(nodes: int, height: int) -> None:
        nonlocal expanded
        expanded += nodes
        if expanded > limits.max_yaml_nodes:
            raise _TooCostly(Refusal(Bound.YAML_EXPANSION, f"expands to more than {limits.max_yaml_nodes} nodes"))
        if len(open_nodes) + height > limits.max_nesting_depth:
            raise _TooCostly(Refusal(Bound.NESTING_DEPTH,
                                     f"nested more than {limits.max_nesting_depth} levels deep"))

    def into_parent(nodes: int, height: int) -> None:
        if open_nodes:
            parent = open_nodes[-1]
            parent[1] += nodes
            parent[2] = max(parent[2], height)

    loader = _Parser(data)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.AliasEvent):
                nodes, height = anchors.get(event.anchor, (1, 1))  # an unknown anchor: checkov's parse error
                count(nodes, height)
                into_parent(nodes, height)
            elif isinstance(event, yaml.ScalarEvent):
                count(1, 1)
                if event.anchor:
                    anchors[event.anchor] = (1, 1)
                into_parent(1, 1)
            elif isinstance(event, yaml.CollectionStartEvent):
                count(1, 1)
                open_nodes.append([event.anchor, 1, 0])
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, nodes, child_height = open_nodes.pop()
                if anchor:
                    anchors[anchor] = (nodes, child_height + 1)
                into_parent(nodes, child_height + 1)
            elif isinstance(event, yaml.DocumentStartEvent):
                anchors.clear()  # anchors are scoped to one document
    finally:
        loader.dispose()


_OPEN, _CLOSE = frozenset(b"{[("), frozenset(b"}])")


def hcl_depth(data: bytes) -> int:
    """The deepest bracket nesting in HCL text, outside strings, comments and heredocs."""
    depth = deepest = 0
    i, n = 0, len(data)
    while i < n:
        c = data[i]
        if c == 0x22:  # a "string": skip to its unescaped end (interpolations stay inside it)
            i += 1
            while i < n and data[i] != 0x22:
                i += 2 if data[i] == 0x5C else 1
        elif c == 0x23 or data.startswith(b"//", i):  # line comment
            end = data.find(b"\n", i)
            i = n if end < 0 else end
        elif data.startswith(b"/*", i):
            end = data.find(b"*/", i + 2)
            i = n if end < 0 else end + 1
        elif data.startswith(b"<<", i):
            i = _skip_heredoc(data, i)
        elif c in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif c in _CLOSE:
            depth = max(0, depth - 1)
        i += 1
    return deepest


def _skip_heredoc(data: bytes, start: int) -> int:
    """Index of the last byte of a heredoc starting at ``start`` (``<<EOF`` / ``<<-EOF``), or
    ``start + 1`` when it is not one."""
    i = start + 2 + (data[start + 2:start + 3] == b"-")
    j = i
    while j < len(data) and (chr(data[j]).isalnum() or data[j] == 0x5F):
        j += 1
    marker = data[i:j]
    if not marker or data[j:j + 1] not in (b"\n", b"\r"):
        return start + 1
    line_start = data.find(b"\n", j) + 1
    while 0 < line_start < len(data):
        line_end = data.find(b"\n", line_start)
        line = data[line_start:len(data) if line_end < 0 else line_end]
        if line.strip() == marker:
            return len(data) - 1 if line_end < 0 else line_end
        if line_end < 0:
            break
        line_start = line_end + 1
    return len(data) - 1
