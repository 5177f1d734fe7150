"""A long-lived checkov process: JSON requests on stdin, JSON replies on stdout, one per line.

Run in .venv-scanner:  PYTHONPATH=<repo>/scanner <repo>/.venv-scanner/bin/python -m iacbot_scanner.server

checkov's CLI pays ~2.5 s of start-up per call; here it is paid once and each scan reuses the
imported check registries. Scans behave like
`checkov -d ROOT --framework terraform kubernetes --skip-download` (or `-f FILE...`), offline.

Only the standard library and checkov are imported: the engine's python-hcl2 and checkov's
bc-python-hcl2 cannot share an environment.
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import IO, Any, Callable

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


class _CheckovAdapter:
    """checkov's in-process API, used the way its CLI uses it."""

    def __init__(self) -> None:
        import logging

        from checkov.common.bridgecrew.check_type import checkov_runners
        from checkov.common.bridgecrew.platform_integration import bc_integration
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
        bc_integration.skip_download = True  # what --skip-download does
        # checkov keeps every DEBUG record in an in-memory log for its --support upload; in a
        # long-lived process that only costs time and memory.
        logging.getLogger().setLevel(OFFLINE_ENV["LOG_LEVEL"])

    def scan_request(self, request: dict[str, Any]) -> dict[str, Any]:
        root = _existing_dir(request.get("root"))
        files = _existing_files(request.get("files"), root)
        reports = self._fresh_registry().run(
            root_folder=None if files is not None else str(root),
            files=files,
        )
        failed: list[dict[str, Any]] = []
        passed: list[dict[str, Any]] = []
        parsing_errors: set[str] = set()
        for report in reports:
            failed.extend(self._record(record, root) for record in report.failed_checks)
            passed.extend(self._record(record, root) for record in report.passed_checks)
            parsing_errors.update(os.path.abspath(path) for path in report.parsing_errors)
        return {"failed": failed, "passed": passed, "parsing_errors": sorted(parsing_errors)}

    def _fresh_registry(self) -> Any:
        # Runners cache their parsed definitions and the registry merges reports by check type,
        # so reusing either would return the previous request's results: build new ones each time.
        runner_filter = self._filter_class(
            framework=FRAMEWORKS,
            include_all_checkov_policies=True,  # what the CLI sets when there is no API key
            download_external_modules=False,
            evaluate_variables=True,
            runners=self._all_runner_names,
            show_progress_bar=False,
        )
        runners = [runner_class() for runner_class in self._runner_classes]
        return self._registry_class(self._banner, runner_filter, *runners)

    def _record(self, record: Any, root: Path) -> dict[str, Any]:
        # Round-trip through checkov's own encoder so values look exactly as in its JSON output.
        raw = json.loads(json.dumps({key: getattr(record, key, None) for key in RECORD_KEYS}, cls=self._encoder))
        raw["file_path"] = _root_relative(raw.get("file_abs_path"), root, raw.get("file_path"))
        return raw


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
