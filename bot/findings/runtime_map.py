"""A finding about a live cloud resource, mapped to the Terraform block that declares it. Pure.

In: a RuntimeFinding (from ASFF, bot.findings.asff, or iacbot's runtime entries), the Terraform
state given with it (bot.findings.tf_state, optional) and the repository's `.tf` files as text.
Out: an ordinary fixers.models.Finding (file, block, lines, rule), or a Refusal whose reason is
one of a closed set (Reason). Tried in order, the first that decides wins:

1. yor trace tags: the block whose source carries the finding's ``yor_trace`` value (yor writes
   it into the resource's tags), looked for in the ``git_file`` the tags name first, then in every
   file; or, without ``yor_trace``, the block named ``yor_name`` in ``git_file``.
2. the state: the resource whose ``arn`` equals the finding's ARN, else whose ``id`` / ``bucket``
   / ``name`` equals its cloud id (or the ARN's last part), else whose tags include all of the
   finding's tags; its address is then resolved as in 3.
3. an address (from the state or given with the finding): ``module.x.aws_s3_bucket.y`` is the
   block ``resource "aws_s3_bucket" "y"`` in the directory that ``module "x" { source = "./..." }``
   names, from the state's root directory (the one directory declaring every root-level resource
   and module call of the state), or, without a state, from any directory where it resolves.

Several matches (two instances, two blocks with the same trace, two roots) are AMBIGUOUS, an
``AwsAccount`` resource is ACCOUNT_LEVEL: named, never guessed.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from enum import Enum
from typing import Mapping

from bot.findings.tf_state import State, StateResource
from fixers.edit.hcl import Block, HclEditError, find_attribute, literal_value, NotLiteral, parse_tree, top_level_blocks
from fixers.models import Finding

#: How many candidates a problem names.
NAMED = 5
_YOR_TRACE = re.compile(r'\byor_trace\s*=\s*"([^"\\]{1,200})"')


class Reason(str, Enum):
    ACCOUNT_LEVEL = "ambiguous-account"  # about an AWS account: no one block in source owns it, so ambiguous
    AMBIGUOUS = "ambiguous"              # several blocks, instances or roots match
    NOT_FOUND = "not found"              # nothing in the state or the source matches
    NO_RULE_MAPPING = "no rule mapping"  # the control has no known checkov rule
    NOT_LOCAL_MODULE = "not a local module"  # the block lives in a registry or remote module
    NO_IDENTITY = "no identity"          # the finding names no ARN, id, tag or address


@dataclass(frozen=True)
class RuntimeFinding:
    where: str                          # names the entry in problems: "asff.json: Findings[3]"
    rule_id: str | None                 # checkov id, or None when the control maps to none
    control: str = ""                   # the tool's own id, e.g. "EC2.3", for messages
    arn: str = ""
    cloud_id: str = ""
    resource_type: str = ""             # ASFF type, e.g. AwsEc2Volume
    tf_type: str = ""                   # the Terraform type the rule checks, e.g. aws_ebs_volume; "" any
    tags: tuple[tuple[str, str], ...] = ()
    address: str = ""
    title: str = ""
    severity: str | None = None
    source: str = "runtime"
    account_level: bool = False         # the finding's only resource is an account
    ambiguous: str = ""                 # set by a normalizer when the finding names several resources


@dataclass(frozen=True)
class Refusal:
    where: str
    reason: Reason
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason.value}: {self.detail}"


@dataclass(frozen=True)
class _Hit:
    file: str
    block: Block
    how: str


class Sources:
    """The repository's `.tf` files ({repository-relative path: text}), parsed and indexed once
    on use: one run maps up to a thousand findings over thousands of files."""

    def __init__(self, files: Mapping[str, str]) -> None:
        self.files = dict(files)
        self._by_dir: dict[str, list[str]] = {}
        for path in sorted(self.files):
            self._by_dir.setdefault(posixpath.dirname(path), []).append(path)
        self._blocks: dict[str, list[Block]] = {}
        self._declared: dict[str, dict[tuple[str, tuple[str, ...]], list[tuple[str, Block]]]] = {}
        self._roots: dict[int, tuple[State, "str | Refusal"]] = {}
        self._traces: dict[str, set[str]] | None = None
        self._dir_text: dict[str, str] = {}

    def dirs(self) -> list[str]:
        return sorted(self._by_dir)

    def blocks(self, path: str) -> list[Block]:
        if path not in self._blocks:
            try:
                self._blocks[path] = top_level_blocks(parse_tree(self.files[path]))
            except (HclEditError, KeyError):
                self._blocks[path] = []  # an unreadable file declares nothing we can fix
        return self._blocks[path]

    def declared(self, directory: str, kind: str, labels: tuple[str, ...]) -> list[tuple[str, Block]]:
        if directory not in self._declared:
            index: dict[tuple[str, tuple[str, ...]], list[tuple[str, Block]]] = {}
            for path in self._by_dir.get(directory, []):
                for block in self.blocks(path):
                    index.setdefault((block.type, block.labels), []).append((path, block))
            self._declared[directory] = index
        return self._declared[directory].get((kind, labels), [])

    def traced(self, trace: str, paths: list[str] | None = None) -> list[tuple[str, Block]]:
        """Resource blocks whose text carries `yor_trace = "<trace>"`. The files that mention any
        yor_trace are indexed once, and only those are parsed."""
        if self._traces is None:
            self._traces = {}
            for path, text in self.files.items():
                for match in _YOR_TRACE.finditer(text):
                    self._traces.setdefault(match.group(1), set()).add(path)
        hits = []
        for path in sorted(self._traces.get(trace, ())):
            if paths is not None and path not in paths:
                continue
            pattern = re.compile(r'\byor_trace\s*=\s*"' + re.escape(trace) + '"')
            hits += [(path, b) for b in self.blocks(path)
                     if b.type == "resource" and pattern.search(self.files[path], b.start, b.end)]
        return hits

    def mentions(self, directory: str, words: tuple[str, ...]) -> bool:
        """Cheap test before parsing: every word appears in some `.tf` file of `directory`."""
        if directory not in self._dir_text:
            self._dir_text[directory] = "\n".join(self.files[p] for p in self._by_dir.get(directory, []))
        return all(w in self._dir_text[directory] for w in words)

    def state_root(self, state: State) -> "str | Refusal":
        """_state_root, once per state (the state is kept so its id cannot be reused)."""
        cached = self._roots.get(id(state))
        if cached is None or cached[0] is not state:
            cached = self._roots[id(state)] = (state, _state_root(state, self))
        return cached[1]


def map_finding(rf: RuntimeFinding, state: State | None, sources: Sources) -> Finding | Refusal:
    if rf.account_level:
        return Refusal(rf.where, Reason.ACCOUNT_LEVEL, f"{rf.control or 'the finding'} is about the AWS account "
                       f"{rf.cloud_id or rf.arn}, which no resource block declares")
    if rf.ambiguous:
        return Refusal(rf.where, Reason.AMBIGUOUS, rf.ambiguous)
    if rf.rule_id is None:
        return Refusal(rf.where, Reason.NO_RULE_MAPPING, f"control {rf.control or '(none)'} maps to no checkov rule "
                       "iacbot knows (docs/runtime-findings.md lists the mapped controls)")
    if not (rf.arn or rf.cloud_id or rf.tags or rf.address):
        return Refusal(rf.where, Reason.NO_IDENTITY, "the finding names no ARN, cloud id, tag or address")
    tried: list[str] = []
    for step in (_by_yor, _by_state, _by_address):
        result = step(rf, state, sources, tried)
        if isinstance(result, Refusal):
            return result
        if result is not None:
            if rf.tf_type and result.block.labels[:1] != (rf.tf_type,):
                return Refusal(rf.where, Reason.NOT_FOUND, f"{result.how} names {'.'.join(result.block.labels)} in "
                               f"{result.file}, but {rf.rule_id} checks {rf.tf_type}")
            return _finding(rf, result, sources)
    return Refusal(rf.where, Reason.NOT_FOUND, "; ".join(tried) or "nothing to match")


def _finding(rf: RuntimeFinding, hit: _Hit, sources: Sources) -> Finding:
    text = sources.files[hit.file]
    start = text.count("\n", 0, hit.block.start) + 1
    end = text.count("\n", 0, hit.block.end) + 1
    return Finding(rule_id=rf.rule_id or "", file=hit.file, resource=".".join(hit.block.labels),
                   line_start=start, line_end=end, severity=rf.severity, source=rf.source,
                   message=f"{rf.title} (mapped by {hit.how})" if rf.title else f"mapped by {hit.how}")


# --- 1. yor ----------------------------------------------------------------------------------

def _by_yor(rf: RuntimeFinding, state: State | None, sources: Sources, tried: list[str]) -> _Hit | Refusal | None:
    tags = dict(rf.tags)
    trace, git_file, yor_name = tags.get("yor_trace", ""), tags.get("git_file", ""), tags.get("yor_name", "")
    if not trace and not (git_file and yor_name):
        return None
    first = [git_file] if git_file in sources.files else []
    if trace:
        for paths in (first, None):
            hits = [_Hit(p, b, f"yor_trace {trace}") for p, b in sources.traced(trace, paths)]
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                return Refusal(rf.where, Reason.AMBIGUOUS, f"yor_trace {trace} is on {len(hits)} blocks: "
                               + _names(f"{h.file}:{'.'.join(h.block.labels)}" for h in hits))
        tried.append(f"no block carries yor_trace {trace}")
        return None
    hits = [_Hit(git_file, b, f"yor_name {yor_name} in git_file") for b in sources.blocks(git_file)
            if b.type == "resource" and b.labels[-1:] == (yor_name,)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        return Refusal(rf.where, Reason.AMBIGUOUS, f"{len(hits)} resources named {yor_name} in {git_file}")
    tried.append(f"no resource named {yor_name} in git_file {git_file!r}")
    return None


# --- 2. state --------------------------------------------------------------------------------

def _by_state(rf: RuntimeFinding, state: State | None, sources: Sources, tried: list[str]) -> _Hit | Refusal | None:
    if state is None:
        if rf.arn or rf.cloud_id:
            tried.append("no state was given to match the ARN or id against")
        return None
    matches, how = _state_matches(rf, state)
    if not matches:
        if how:
            tried.append(f"no resource in the state has {how}")
        return None
    if len(matches) > 1:
        return Refusal(rf.where, Reason.AMBIGUOUS, f"{len(matches)} resources in the state have {how}: "
                       + _names(m.address for m in matches))
    match = matches[0]
    root = sources.state_root(state)
    if isinstance(root, Refusal):
        return Refusal(rf.where, root.reason, f"{match.address} (state {how}): {root.detail}")
    return _resolve(rf, match.module_calls, match.type, match.name, [root], sources, f"state {how} -> {match.address}")


def _state_matches(rf: RuntimeFinding, state: State) -> tuple[list[StateResource], str]:
    """The state resources the finding names, and how. With `tf_type`, only resources of that
    type count: an S3 bucket's companions (versioning, public access block...) share its name as id."""
    def of_type(found: list[StateResource]) -> list[StateResource]:
        return [r for r in found if r.type == rf.tf_type] if rf.tf_type else found

    kind = f" of type {rf.tf_type}" if rf.tf_type else ""
    if rf.arn:
        found = of_type([r for r in state.resources if r.arn == rf.arn])
        if found:
            return found, f"arn {rf.arn}"
    ids = [i for i in (rf.cloud_id, _arn_tail(rf.arn)) if i]
    for cloud_id in dict.fromkeys(ids):
        found = of_type([r for r in state.resources if cloud_id in (r.id, *r.names)])
        if found:
            return found, f"id or name {cloud_id}{kind}"
    wanted = set((k, v) for k, v in rf.tags if not k.startswith(("yor_", "git_")))
    if wanted and not ids:
        found = of_type([r for r in state.resources if wanted <= set(r.tags)])
        return found, "tags " + ", ".join(f"{k}={v}" for k, v in sorted(wanted)) + kind
    return [], (f"arn or id {rf.arn or rf.cloud_id}{kind}" if ids else "")


def _arn_tail(arn: str) -> str:
    """The resource part of an ARN: vol-0abc of arn:aws:ec2:r:a:volume/vol-0abc, my-bucket of arn:aws:s3:::my-bucket."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return ""
    return re.split(r"[/:]", parts[5])[-1]


def _state_root(state: State, sources: Sources) -> str | Refusal:
    """The one directory that declares every root-level resource and module call of the state."""
    wanted = state.root_declarations()
    words = tuple(sorted({part for _, name in wanted for part in name.split(".")}))
    roots = [d for d in sources.dirs() if sources.mentions(d, words)
             and all(sources.declared(d, kind, (*name.split("."),) if kind == "resource" else (name,))
                    for kind, name in wanted)]
    if len(roots) == 1:
        return roots[0]
    if not roots:
        return Refusal("", Reason.NOT_FOUND, "no directory declares every root-level resource of the state")
    return Refusal("", Reason.AMBIGUOUS, "several directories declare the state's root module: "
                   + _names(d or "." for d in roots))


# --- 3. address ------------------------------------------------------------------------------

_ADDRESS = re.compile(r'^((?:module\.[A-Za-z0-9_-]+(?:\[(?:\d+|"[^"\\]*")\])?\.)*)([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)'
                      r'(?:\[(?:\d+|"[^"\\]*")\])?$')


def _by_address(rf: RuntimeFinding, state: State | None, sources: Sources, tried: list[str]) -> _Hit | Refusal | None:
    if not rf.address:
        return None
    parsed = _ADDRESS.match(rf.address)
    if parsed is None or parsed.group(2) == "data":
        return Refusal(rf.where, Reason.NOT_FOUND, f"address {rf.address!r} is not a managed resource address")
    calls = tuple(re.findall(r"module\.([A-Za-z0-9_-]+)", parsed.group(1)))
    if state is not None:
        root = sources.state_root(state)
        if isinstance(root, Refusal):
            return Refusal(rf.where, root.reason, f"address {rf.address}: {root.detail}")
        roots = [root]
    else:
        roots = sources.dirs()
    return _resolve(rf, calls, parsed.group(2), parsed.group(3), roots, sources, f"address {rf.address}",
                    quiet=state is None)


def _resolve(rf: RuntimeFinding, calls: tuple[str, ...], rtype: str, name: str, roots: list[str],
             sources: Sources, how: str, quiet: bool = False) -> _Hit | Refusal:
    """The block declaring `rtype.name` after following `calls` from each of `roots`; several
    distinct blocks: ambiguous. `quiet`: a root where the calls do not resolve is skipped."""
    hits: dict[tuple[str, int], _Hit] = {}
    last_why = ""
    for root in roots:
        directory, why = root, ""
        for call in calls:
            directory, why = _module_dir(directory, call, sources)
            if directory is None:
                break
        if directory is None:
            if not quiet or why.startswith(Reason.NOT_LOCAL_MODULE.value):
                last_why = why
            continue
        for path, block in sources.declared(directory, "resource", (rtype, name)):
            hits[(path, block.start)] = _Hit(path, block, how)
        if not hits and not quiet:
            last_why = f"no resource \"{rtype}\" \"{name}\" in {directory or '.'}"
    if len(hits) == 1:
        return next(iter(hits.values()))
    if len(hits) > 1:
        return Refusal(rf.where, Reason.AMBIGUOUS, f"{how}: {len(hits)} blocks declare it: "
                       + _names(f"{p}:{rtype}.{name}" for p, _ in hits))
    if last_why.startswith(Reason.NOT_LOCAL_MODULE.value):
        return Refusal(rf.where, Reason.NOT_LOCAL_MODULE, f"{how}: {last_why.split(': ', 1)[1]}")
    return Refusal(rf.where, Reason.NOT_FOUND, f"{how}: {last_why or 'no block declares it'}")


def _module_dir(directory: str, call: str, sources: Sources) -> tuple[str | None, str]:
    declared = sources.declared(directory, "module", (call,))
    if len(declared) != 1:
        return None, f"{len(declared)} module \"{call}\" blocks in {directory or '.'}"
    path, block = declared[0]
    attribute = find_attribute(block, "source")
    try:
        source = literal_value(attribute.value_text(sources.files[path])) if attribute else None
    except NotLiteral:
        source = None
    if not isinstance(source, str) or not source.startswith(("./", "../")):
        return None, f"{Reason.NOT_LOCAL_MODULE.value}: module \"{call}\" in {path} has source {source!r}"
    target = posixpath.normpath(posixpath.join(directory, source))
    if target == ".":
        target = ""
    if target.startswith("../") or target == "..":
        return None, f"module \"{call}\" in {path}: source {source!r} leaves the repository"
    return target, ""


def _names(items) -> str:
    items = list(items)
    return ", ".join(items[:NAMED]) + (f", ... ({len(items)} in all)" if len(items) > NAMED else "")
