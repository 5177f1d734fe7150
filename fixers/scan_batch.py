"""One checkov run for the verification scans of several independent scopes.

A checkov run costs a fixed ~0.1 s however little it reads, and a run of `iacbot fix` on many
small manifests makes one verification scan per manifest: most of the time went there. Scopes
whose results cannot depend on each other are written into one root and scanned once; each scope
gets back exactly the records about its own files, i.e. what a scan of it alone reports.

Independence is decided conservatively from the texts:
* a Terraform scope with a `module` block joins no batch (with its module's directory beside it,
  checkov would evaluate the module through the caller);
* two YAML scopes may share a run only if no kind in one and kind in the other are the two ends of
  a connection one of checkov's Kubernetes graph checks follows (a Pod and a NetworkPolicy, a
  RoleBinding and a Role: `Scanner.graph_connections()`); any `kind:` anywhere in the text counts,
  nested ones (roleRef, subjects, List items) too. A templated manifest joins no batch;
* no path is in two scopes.
A batched scan whose records name a file no scope owns, or that refused a file (a bound the batch
met and the scope alone might not), is not split: each scope is then scanned on its own.
"""
from __future__ import annotations

import dataclasses
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from fixers.syntax import file_kind

MAX_SCOPES_PER_SCAN = 64          # bounds one checkov run's memory and the loss if it must be redone
MAX_FILES_PER_SCAN = 400
LINGER_SECONDS = 1.0              # how long a request waits for others while more are coming

_MODULE_BLOCK = re.compile(r'(?m)^\s*module\s+"')
_KIND = re.compile(r'''(?m)["']?\bkind["']?\s*:\s*["']?([A-Za-z0-9_.-]+)''')

Connections = frozenset[tuple[str, str]]   # (kind, connected kind) pairs, either direction matters


def connection_pairs(connections: Iterable[tuple[Iterable[str], Iterable[str]]]) -> Connections:
    """[(resource kinds, connected kinds), ...] as the scanner reports them -> kind pairs (pure)."""
    pairs = set()
    for kinds, connected in connections:
        for a in kinds:
            for b in connected:
                pairs.add((str(a), str(b)))
                pairs.add((str(b), str(a)))
    return frozenset(pairs)


@dataclass(frozen=True)
class Profile:
    """What decides whether a scope may share a checkov run: its paths and YAML kinds; `alone`
    when it may share with nothing."""

    paths: frozenset[str]
    kinds: frozenset[str]
    alone: bool


def profile(files: Mapping[str, str]) -> Profile:
    kinds: set[str] = set()
    alone = False
    for path, text in files.items():
        kind = file_kind(path)
        if kind == "terraform":
            alone |= bool(_MODULE_BLOCK.search(text))
        elif kind == "yaml":
            alone |= "{{" in text
            kinds.update(_KIND.findall(text))
        else:
            alone = True
    return Profile(frozenset(files), frozenset(kinds), alone)


def compatible(a: Profile, b: Profile, pairs: Connections) -> bool:
    if a.alone or b.alone or a.paths & b.paths:
        return False
    return not any((x, y) in pairs for x in a.kinds for y in b.kinds)


@dataclass
class _Request:
    files: Mapping[str, str]
    profile: Profile
    result: object = None
    error: BaseException | None = None
    done: bool = False


@dataclass
class ScanBatcher:
    """A `scan_texts` for many threads at once: a thread that finds the scanner idle scans every
    waiting request that fits with the first one in one call; the others wait for their share.

    A checkov run of one small file is cheap in wall time but not in CPU, which the proposals of
    the next scopes need too: while more requests are coming (`intake_closed` not set), a request
    waits up to LINGER_SECONDS for others, or until a full batch is waiting."""

    scan_texts: Callable[[Mapping[str, str]], object]
    pairs: Connections
    linger: float = LINGER_SECONDS
    _queue: list[_Request] = field(default_factory=list)
    _busy: bool = False
    _closed: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def close_intake(self) -> None:
        """No more first requests are coming: scan what waits without lingering."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __call__(self, files: Mapping[str, str]) -> object:
        request = _Request(dict(files), profile(files))
        with self._cond:
            self._queue.append(request)
            self._cond.notify_all()
        deadline = time.monotonic() + self.linger
        while True:
            with self._cond:
                while not request.done and (self._busy or not self._ready(deadline)):
                    self._cond.wait(timeout=None if self._busy else max(0.0, deadline - time.monotonic()))
                if request.done:
                    break
                batch = self._take()
                self._busy = True
            try:
                self._run(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
        if request.error is not None:
            raise request.error
        return request.result

    def _ready(self, deadline: float) -> bool:
        return self._closed or len(self._queue) >= MAX_SCOPES_PER_SCAN or time.monotonic() >= deadline

    def _take(self) -> list[_Request]:
        batch: list[_Request] = []
        files = 0
        for request in list(self._queue):
            if len(batch) >= MAX_SCOPES_PER_SCAN:
                break
            if batch and files + len(request.files) > MAX_FILES_PER_SCAN:
                continue
            if all(compatible(request.profile, other.profile, self.pairs) for other in batch):
                batch.append(request)
                files += len(request.files)
            if batch[0].profile.alone:
                break
        for request in batch:
            self._queue.remove(request)
        return batch

    def _run(self, batch: list[_Request]) -> None:
        if len(batch) > 1:
            try:
                result = self.scan_texts({p: t for r in batch for p, t in r.files.items()})
                shares = split(result, [r.profile.paths for r in batch])
            except Exception:   # noqa: BLE001 - whose file it was is told by scanning each alone
                shares = None
            if shares is not None:
                for request, share in zip(batch, shares):
                    request.result, request.done = share, True
                return
        for request in batch:
            try:
                request.result = self.scan_texts(request.files)
            except BaseException as error:  # noqa: BLE001 - handed to the thread that asked
                request.error = error
            request.done = True


def split(result, owners: list[frozenset[str]]) -> list[object] | None:
    """Each scope's share of a batched ScanResult, or None when a record names a file no scope
    owns (it cannot be attributed without guessing)."""
    owner_of = {path: index for index, paths in enumerate(owners) for path in paths}
    failed: list[list] = [[] for _ in owners]
    passed: list[list] = [[] for _ in owners]
    errors: list[list] = [[] for _ in owners]
    for records, into in ((result.failed, failed), (result.passed, passed)):
        for record in records:
            if record.file not in owner_of:
                return None
            into[owner_of[record.file]].append(record)
    for path in result.parsing_errors:
        if path not in owner_of:
            return None
        errors[owner_of[path]].append(path)
    if getattr(result, "refused", ()):
        # A refusal may come from the batch's size (memory, the request's time budget), which
        # the scope alone would not meet: no share is trusted, each scope is scanned alone.
        return None
    shares = []
    for index in range(len(owners)):
        changes = {"failed": tuple(failed[index]), "passed": tuple(passed[index]),
                   "parsing_errors": tuple(errors[index])}
        shares.append(dataclasses.replace(result, **changes))
    return shares
