"""A long-lived checkov process: JSON requests on stdin, JSON replies on stdout, one per line.

Run in .venv-scanner:  PYTHONPATH=<repo>/scanner <repo>/.venv-scanner/bin/python -m iacbot_scanner.server

checkov's CLI pays ~2.5 s of start-up per call; here it is paid once and each scan reuses the
imported check registries. Scans behave like
`checkov -d ROOT --framework terraform kubernetes --skip-download` (or `-f FILE...`), offline.

What a scan may cost is bounded: every file checkov would read is pre-checked (limits.py) and
checkov runs in a bounded child (bounded.py); a refused file is named under "refused" in the
reply and the rest is scanned.

Only the standard library and checkov are imported: the engine's python-hcl2 and checkov's
bc-python-hcl2 cannot share an environment.
"""
from __future__ import annotations

import json
import os
import re
import sys
import traceback
from collections import defaultdict
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Sequence

from iacbot_scanner.bounded import BoundedScans, Exceeded, ScanFailed
from iacbot_scanner.limits import HCL_SUFFIXES, Refusal, ScanLimits, limits_from_env, precheck_file, read_by_checkov

# Keep checkov offline and quiet. These must be set before checkov is imported: it reads them
# at import time (the update check runs when checkov.common.util.banner is imported).
OFFLINE_ENV = {
    "BC_SKIP_MAPPING": "TRUE",                 # no policy-metadata / guideline download
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",   # no PyPI version check
    "CHECKOV_PARALLELIZATION_TYPE": "none",    # no fork per scan: stable state, no stray children
    "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
}
FRAMEWORKS = ["terraform", "kubernetes"]
RECORD_KEYS = (
    "check_id",
    "check_name",
    "check_result",
    "file_path",
    "file_abs_path",
    "file_line_range",
    "resource",
    "severity",
    "caller_file_path",
    "caller_file_line_range",
)


class RequestError(Exception):
    """A request that cannot be served; its message goes back to the client as-is."""


def main() -> None:
    reply_stream = _claim_stdout()
    os.environ.update(OFFLINE_ENV)
    checkov = _CheckovAdapter()  # the one-time import
    handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "ping": lambda _request: {"checkov_version": checkov.version},
        "scan": checkov.scan_request,
        "catalog": _catalog_request,
        "graph_connections": lambda _request: {"connections": graph_connections()},
    }
    for line in sys.stdin:
        if line.strip():
            reply_stream.write(json.dumps(handle_line(line, handlers), default=str) + "\n")
            reply_stream.flush()
            checkov.forget_logs()
    # stdin closed: the client is done. Skip the interpreter's teardown of checkov's thousands of
    # modules (about a second); there is nothing to flush or release.
    reply_stream.flush()
    os._exit(0)


def _claim_stdout() -> IO[str]:
    """Keep fd 1 for protocol replies only; everything else that prints (checkov, its logging,
    anything a library writes to fd 1 directly) goes to stderr instead."""
    reply_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(reply_fd, "w", encoding="utf-8", buffering=1)


def handle_line(line: str, handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]]) -> dict[str, Any]:
    """One request line in, one reply out. Never raises: a failure becomes ok:false."""
    request_id = None
    try:
        request = json.loads(line)
        if not isinstance(request, dict):
            raise RequestError("a request must be a JSON object like {\"id\": 1, \"op\": \"ping\"}")
        request_id = request.get("id")
        op = request.get("op")
        if op not in handlers:
            raise RequestError(f"unknown op {op!r}; expected one of {sorted(handlers)}")
        return {"id": request_id, "ok": True, **handlers[op](request)}
    except json.JSONDecodeError as error:
        return {"id": None, "ok": False, "error": f"request is not valid JSON: {error}"}
    except RequestError as error:
        return {"id": request_id, "ok": False, "error": str(error)}
    except Exception as error:  # noqa: BLE001 - one bad request must not stop the server
        traceback.print_exc(file=sys.stderr)
        return {"id": request_id, "ok": False, "error": f"{type(error).__name__}: {error}"}


def _catalog_request(_request: dict[str, Any]) -> dict[str, Any]:
    # Imported lazily: the catalog exporter is written separately and may not exist yet.
    try:
        from iacbot_scanner.catalog import export_catalog
    except ImportError as error:
        raise RequestError(f"the rule catalog exporter is unavailable: {error}") from error
    return {"catalog": export_catalog()}


def graph_connections() -> list[list[list[str]]]:
    """[[resource kinds, connected kinds], ...] of every connection condition in checkov's
    Kubernetes graph checks: the only way a result about one manifest can depend on another
    (the client batches verification scans by it, fixers/scan_batch.py)."""
    import checkov.kubernetes.checks.graph_checks as package

    found: list[list[list[str]]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("cond_type") == "connection":
                found.append([sorted(map(str, node.get("resource_types") or [])),
                              sorted(map(str, node.get("connected_resource_types") or []))])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for directory in package.__path__:
        for path in sorted(Path(directory).rglob("*")):
            if path.suffix == ".json":
                walk(json.loads(path.read_text(encoding="utf-8")))
            elif path.suffix in (".yaml", ".yml"):
                import yaml  # checkov's own dependency

                walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    return found


class _CheckovAdapter:
    """checkov's in-process API, used the way its CLI uses it."""

    def __init__(self) -> None:
        import logging

        from checkov.common.bridgecrew.check_type import checkov_runners
        from checkov.common.bridgecrew.platform_integration import bc_integration
        from checkov.common.runners.base_runner import ignored_directories
        from checkov.common.runners.runner_registry import RunnerRegistry
        from checkov.common.util.banner import banner
        from checkov.common.util.json_utils import CustomJSONEncoder
        from checkov.kubernetes.runner import Runner as KubernetesRunner
        from checkov.logging_init import erase_log_stream
        from checkov.runner_filter import RunnerFilter
        from checkov.terraform.runner import Runner as TerraformRunner
        from checkov.version import version

        self.version: str = version
        self._registry_class = RunnerRegistry
        self._runner_classes = (TerraformRunner, KubernetesRunner)
        self._filter_class = RunnerFilter
        self._all_runner_names = checkov_runners
        self._banner = banner
        self._encoder = CustomJSONEncoder
        self.forget_logs = erase_log_stream
        self.limits: ScanLimits = limits_from_env(os.environ)
        self._ignored_directories = frozenset(ignored_directories)
        self._children = BoundedScans(self._scan, self.limits.memory_bytes)
        self._warm_up()
        bc_integration.skip_download = True  # what --skip-download does
        # checkov keeps every DEBUG record in an in-memory log for its --support upload; in a
        # long-lived process that only costs time and memory.
        logging.getLogger().setLevel(OFFLINE_ENV["LOG_LEVEL"])

    def scan_request(self, request: dict[str, Any]) -> dict[str, Any]:
        """Every file checkov would read is pre-checked (iacbot_scanner.limits); the refused
        ones are left out and named under "refused". The scan runs in a bounded child
        (iacbot_scanner.bounded); when it exceeds a bound, each scope (a Terraform directory, a
        YAML/JSON file) is scanned on its own so that only the files that cost too much are
        refused and the rest is still scanned."""
        root = _existing_dir(request.get("root"))
        files = _existing_files(request.get("files"), root)
        candidates = files if files is not None else list(self._files_read(root))
        refused = {path: refusal for path in candidates
                   if (refusal := precheck_file(path, self.limits)) is not None}
        permitted = [path for path in candidates if path not in refused]
        if files is not None and not permitted:
            reply = _empty_reply()
        else:
            reply = self._bounded(root, None if files is None else permitted, list(refused),
                                  self.limits.timeout_seconds)
            if isinstance(reply, Exceeded):
                reply = self._scan_by_scope(root, permitted, reply)
        reply["refused"] = sorted(reply.get("refused", []) + [_refused_entry(path, refusal)
                                                              for path, refusal in refused.items()],
                                  key=lambda entry: entry["path"])
        return reply

    def _bounded(self, root: Path, files: list[str] | None, excluded: list[str],
                 timeout: float) -> dict[str, Any] | Exceeded:
        try:
            return self._children.call({"root": str(root), "files": files, "excluded": excluded}, timeout)
        except ScanFailed as error:
            raise RequestError(f"checkov failed: {error}") from None

    def _scan_by_scope(self, root: Path, files: Sequence[str], first: Exceeded) -> dict[str, Any]:
        """The whole scan exceeded ``first``'s bound: scan scope by scope, within the request's
        time budget, refusing the scopes that exceed a bound on their own."""
        import time

        deadline = time.monotonic() + self.limits.request_budget_seconds - self.limits.timeout_seconds
        scopes = scan_scopes(files)
        reply = _empty_reply()
        for scope in scopes:
            left = min(self.limits.timeout_seconds, deadline - time.monotonic())
            if len(scopes) == 1:
                outcome: dict[str, Any] | Exceeded = first
            elif left <= 0:
                outcome = Exceeded(first.bound, "the scan's time budget ran out before this file was scanned")
            else:
                outcome = self._bounded(root, scope, [], left)
            if isinstance(outcome, Exceeded):
                together = f" (scanned together with {len(scope) - 1} files of its directory)" if len(scope) > 1 else ""
                reply["refused"] += [{"path": path, "bound": outcome.bound.value, "detail": outcome.detail + together}
                                     for path in scope]
            else:
                for key in ("failed", "passed", "parsing_errors"):
                    reply[key] += outcome[key]
        reply["parsing_errors"] = sorted(set(reply["parsing_errors"]))
        return reply

    def _scan(self, request: dict[str, Any]) -> dict[str, Any]:
        """One checkov run, in the bounded child: {"root", "files" (None: all), "excluded"}."""
        root, files = Path(request["root"]), request["files"]
        try:
            reports = self._fresh_registry(request["excluded"]).run(
                root_folder=None if files is not None else str(root),
                files=files,
            )
        finally:
            self.forget_logs()
        failed: list[dict[str, Any]] = []
        passed: list[dict[str, Any]] = []
        parsing_errors: set[str] = set()
        for report in reports:
            failed.extend(self._record(record, root) for record in report.failed_checks)
            passed.extend(self._record(record, root) for record in report.passed_checks)
            parsing_errors.update(os.path.abspath(path) for path in report.parsing_errors)
        return {"failed": failed, "passed": passed, "parsing_errors": sorted(parsing_errors)}

    def _warm_up(self) -> None:
        """One small scan here, so that the lazily built parts of checkov are built once, in this
        process, and every bounded child inherits them."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="iacbot-warm-") as tmp:
            Path(tmp, "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  bucket = "b"\n}\n')
            Path(tmp, "pod.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"
                                             "spec:\n  containers:\n  - name: c\n    image: nginx\n")
            self._scan({"root": tmp, "files": None, "excluded": []})

    def _files_read(self, root: Path) -> Iterator[str]:
        """The files a `checkov -d root` of our frameworks reads (it skips the same directories)."""
        for directory, subdirectories, names in os.walk(root):
            subdirectories[:] = [name for name in subdirectories
                                 if not name.startswith(".") and name not in self._ignored_directories]
            for name in names:
                if read_by_checkov(name):
                    yield os.path.join(directory, name)

    def _fresh_registry(self, excluded: Sequence[str]) -> Any:
        # Runners cache their parsed definitions and the registry merges reports by check type,
        # so reusing either would return the previous request's results: build new ones each time.
        runner_filter = self._filter_class(
            framework=FRAMEWORKS,
            include_all_checkov_policies=True,  # what the CLI sets when there is no API key
            download_external_modules=False,
            evaluate_variables=True,
            runners=self._all_runner_names,
            show_progress_bar=False,
            # Exact paths: checkov matches each entry as a regex and as a substring of a path.
            excluded_paths=["^" + re.escape(path) + "$" for path in excluded] or None,
        )
        runners = [runner_class() for runner_class in self._runner_classes]
        return self._registry_class(self._banner, runner_filter, *runners)

    def _record(self, record: Any, root: Path) -> dict[str, Any]:
        # Round-trip through checkov's own encoder so values look exactly as in its JSON output.
        raw = json.loads(json.dumps({key: getattr(record, key, None) for key in RECORD_KEYS}, cls=self._encoder))
        raw["file_path"] = _root_relative(raw.get("file_abs_path"), root, raw.get("file_path"))
        return raw


def scan_scopes(files: Sequence[str]) -> list[list[str]]:
    """Files grouped as checkov needs them together: a Terraform directory's files, else each
    file alone (pure)."""
    terraform: dict[str, list[str]] = defaultdict(list)
    alone = []
    for path in sorted(files):
        if path.lower().endswith(HCL_SUFFIXES):
            terraform[os.path.dirname(path)].append(path)
        else:
            alone.append([path])
    return sorted(list(terraform.values()) + alone)


def _empty_reply() -> dict[str, Any]:
    return {"failed": [], "passed": [], "parsing_errors": [], "refused": []}


def _refused_entry(path: str, refusal: Refusal) -> dict[str, str]:
    return {"path": path, "bound": refusal.bound.value, "detail": refusal.detail}


def _existing_dir(value: Any) -> Path:
    if not isinstance(value, str) or not os.path.isabs(value):
        raise RequestError(f"'root' must be an absolute directory path, got {value!r}")
    if not os.path.isdir(value):
        raise RequestError(f"root directory does not exist: {value}")
    return Path(os.path.abspath(value))


def _existing_files(value: Any, root: Path) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RequestError("'files' must be null or a list of absolute file paths")
    if not value:
        raise RequestError("'files' is empty: pass null to scan the whole root")
    files = [os.path.abspath(item if os.path.isabs(item) else root / item) for item in value]
    missing = [item for item in files if not os.path.isfile(item)]
    if missing:
        raise RequestError(f"files do not exist: {', '.join(missing)}")
    return files


def _root_relative(abs_path: str | None, root: Path, fallback: str | None) -> str | None:
    """checkov's file_path ("/sub/a.tf") relative to the requested root.

    With -f, checkov makes paths relative to the files' common directory, not to our root;
    recomputing from the absolute path makes -d and -f answers comparable."""
    if not abs_path:
        return fallback
    try:
        return "/" + Path(abs_path).relative_to(root).as_posix()
    except ValueError:
        return fallback  # outside root (e.g. a module source elsewhere): keep checkov's own


if __name__ == "__main__":
    main()
