"""Runtime findings at the edge: read the state and the repository's `.tf` files, map each finding.

Also iacbot's own runtime entries, ``{"findings": [{"rule_id": "CKV_AWS_3", "arn": "arn:aws:...",
"cloud_id": "vol-0abc", "tags": {"yor_trace": "..."}, "address": "module.x.aws_ebs_volume.y"}]}``:
an entry with a ``file`` is an ordinary finding (rule_id, file, resource, line_start, line_end,
severity, source, message); one without names the live resource by at least one of arn,
cloud_id, tags or address.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from bot.findings import asff
from bot.findings.paths import InputProblem, RepoFiles, line_number, place
from bot.findings.runtime_map import Refusal, RuntimeFinding, Sources, map_finding
from bot.findings.tf_state import MAX_IDENTIFIER, MAX_STATE_BYTES, MAX_TAGS, State, StateError, parse_state
from fixers.models import Finding, RuleMeta

#: The repository's Terraform read for mapping: at most this many `.tf` files of at most this size.
MAX_TF_FILES = 5000
MAX_TF_BYTES = 1024 * 1024
_SKIPPED_DIRS = frozenset({".git", ".terraform"})


def looks_like_iacbot(raw: Any) -> bool:
    return isinstance(raw, dict) and isinstance(raw.get("findings"), list)


def load_state(path: Path) -> State:
    """StateError naming the file when it is missing, too large or not a state."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise StateError(f"--state {path}: cannot read ({exc.strerror})") from None
    if size > MAX_STATE_BYTES:
        raise StateError(f"--state {path}: {size} bytes, over the cap of {MAX_STATE_BYTES}; refused")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise StateError(f"--state {path}: not JSON ({type(exc).__name__})") from None
    try:
        return parse_state(raw)
    except StateError as exc:
        raise StateError(f"--state {path}: {exc}") from None


def read_sources(root: Path) -> tuple[Sources, list[InputProblem]]:
    """The `.tf` files under `root` (not in .git or .terraform), bounded in count and size."""
    files: dict[str, str] = {}
    problems: list[InputProblem] = []
    root = root.resolve()
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        for name in sorted(n for n in names if n.endswith(".tf")):
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if len(files) >= MAX_TF_FILES:
                problems.append(InputProblem(str(root), f"more than {MAX_TF_FILES} .tf files; the rest are not "
                                             "searched for runtime findings"))
                return Sources(files), problems
            try:
                if path.is_symlink() or path.stat().st_size > MAX_TF_BYTES:
                    continue  # a link may point outside; a huge file is not a hand-written module
                files[relative] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
    return Sources(files), problems


def map_runtime(runtime: list[RuntimeFinding], state: State | None, sources: Sources) -> tuple[list[Finding], list[InputProblem]]:
    findings, problems = [], []
    for rf in runtime:
        mapped = map_finding(rf, state, sources)
        if isinstance(mapped, Refusal):
            problems.append(InputProblem(mapped.where, f"{mapped.reason.value}: {mapped.detail}"))
        else:
            findings.append(mapped)
    return findings, problems


def parse_iacbot(raw: dict, repo_root: Path, source_name: str) -> tuple[list[Finding], list[RuntimeFinding], list[InputProblem]]:
    findings, runtime, problems = [], [], []
    files = RepoFiles(repo_root)
    entries = raw["findings"]
    if len(entries) > asff.MAX_FINDINGS:
        problems.append(InputProblem(source_name, f"{len(entries) - asff.MAX_FINDINGS} findings refused, over the "
                                     f"cap of {asff.MAX_FINDINGS} per file"))
    for i, entry in enumerate(entries[:asff.MAX_FINDINGS]):
        where = f"{source_name}: findings[{i}]"
        if not isinstance(entry, dict):
            problems.append(InputProblem(where, "entry is not an object"))
            continue
        rule = entry.get("rule_id")
        if not isinstance(rule, str) or not rule or len(rule) > 200:
            problems.append(InputProblem(where, "missing or oversized field 'rule_id'"))
            continue
        if "file" in entry:
            finding = _file_entry(entry, rule, repo_root, files, where, problems)
            if finding is not None:
                findings.append(finding)
            continue
        tags = entry.get("tags", {})
        if not isinstance(tags, dict) or len(tags) > MAX_TAGS or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            problems.append(InputProblem(where, f"field 'tags': expected at most {MAX_TAGS} string tags"))
            continue
        texts = {k: entry.get(k, "") for k in ("arn", "cloud_id", "address", "type", "message", "source")}
        if not all(isinstance(v, str) and len(v) <= MAX_IDENTIFIER for v in texts.values()):
            problems.append(InputProblem(where, f"fields arn, cloud_id, address, type, message, source: strings of at "
                                         f"most {MAX_IDENTIFIER} characters"))
            continue
        severity = entry.get("severity")
        runtime.append(RuntimeFinding(where=where, rule_id=rule, control=rule, arn=texts["arn"],
                                      cloud_id=texts["cloud_id"], address=texts["address"], tf_type=texts["type"],
                                      tags=tuple(sorted(tags.items())), title=texts["message"],
                                      severity=severity if isinstance(severity, str) and len(severity) <= 32 else None,
                                      source=texts["source"][:100] or "runtime"))
    return findings, runtime, problems


def _file_entry(entry: dict, rule: str, repo_root: Path, files: RepoFiles, where: str,
                problems: list[InputProblem]) -> Finding | None:
    reported, resource = entry.get("file"), entry.get("resource", "")
    if not isinstance(reported, str) or not reported or not isinstance(resource, str):
        problems.append(InputProblem(where, "field 'file' or 'resource' is not a string"))
        return None
    file, why = place(reported, repo_root, files)
    if file is None:
        problems.append(InputProblem(where, why))
        return None
    try:
        start = line_number(entry.get("line_start"), "line_start")
        end = line_number(entry.get("line_end"), "line_end") or start
    except ValueError as exc:
        problems.append(InputProblem(where, str(exc)))
        return None
    severity, message, source = entry.get("severity"), entry.get("message"), entry.get("source")
    return Finding(rule_id=rule, file=file, resource=resource, line_start=start, line_end=max(start, end),
                   severity=severity if isinstance(severity, str) else None,
                   source=source if isinstance(source, str) and source else "iacbot",
                   message=message if isinstance(message, str) else "")


def load_runtime(raw: Any, repo_root: Path, catalog: Mapping[str, RuleMeta], state: State | None,
                 source_name: str) -> tuple[list[Finding], list[InputProblem]]:
    """ASFF or iacbot findings (already detected by the caller) mapped to source."""
    if looks_like_iacbot(raw):
        findings, runtime, problems = parse_iacbot(raw, repo_root, source_name)
    else:
        runtime, problems = asff.parse(raw, catalog, source_name)
        findings = []
    if state is not None:
        problems += [InputProblem(source_name, p) for p in state.problems]
    if runtime:
        sources, more = read_sources(repo_root)
        mapped, refused = map_runtime(runtime, state, sources)
        findings += mapped
        problems += more + refused
    return findings, problems

