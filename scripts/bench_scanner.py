"""Measure the long-lived checkov process against the checkov CLI.

Run with the engine's python:  .venv/bin/python scripts/bench_scanner.py [--skip-cli] [--max-files N]

Prints: process start + import time; whole-corpus scan time per corpus, next to the CLI on the
same directory (and whether both report the same failed checks); per-file scan_texts time.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixers.scanner import REPO_ROOT, Scanner  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
CORPORA = ("terragoat", "kubernetes-goat", "badpods", "tam-s3-bucket")
IAC_SUFFIXES = {".tf", ".yaml", ".yml"}


def main() -> None:
    arguments = parse_arguments()
    with Scanner() as scanner:
        started = time.perf_counter()
        version = scanner.ping()
        print(f"checkov {version}: process start + import {time.perf_counter() - started:.2f} s")

        print(f"\n{'corpus':<16} {'server s':>9} {'cli s':>7} {'failed':>7}  same as cli")
        for name in CORPORA:
            root = CORPUS / name
            started = time.perf_counter()
            result = scanner.scan(root)
            server_seconds = time.perf_counter() - started
            ours = collections.Counter((r.check_id, r.raw["file_path"], r.resource) for r in result.failed)
            if arguments.skip_cli:
                cli_text, same = "-", "-"
            else:
                cli_seconds, theirs = run_cli(root)
                cli_text, same = f"{cli_seconds:.2f}", str(ours == theirs)
            print(f"{name:<16} {server_seconds:>9.2f} {cli_text:>7} {sum(ours.values()):>7}  {same}")

        files = corpus_files(arguments.max_files)
        timings = []
        for path in files:
            text = path.read_text(encoding="utf-8", errors="replace")
            started = time.perf_counter()
            scanner.scan_texts({path.name: text})
            timings.append(time.perf_counter() - started)
        timings.sort()
        print(
            f"\nscan_texts, one file at a time, {len(timings)} corpus files: "
            f"median {statistics.median(timings):.3f} s, p90 {percentile(timings, 0.9):.3f} s, "
            f"max {timings[-1]:.3f} s"
        )


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-cli", action="store_true", help="do not run the checkov CLI for comparison")
    parser.add_argument("--max-files", type=int, default=0, help="limit the per-file measurement (0: all files)")
    return parser.parse_args()


def run_cli(root: Path) -> tuple[float, collections.Counter]:
    command = [
        str(REPO_ROOT / ".venv-scanner" / "bin" / "checkov"), "-d", str(root),
        "--framework", "terraform", "kubernetes", "-o", "json", "--compact", "--skip-download", "--quiet",
    ]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    seconds = time.perf_counter() - started
    reports = json.loads(completed.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = collections.Counter(
        (record["check_id"], record["file_path"], record["resource"])
        for report in reports
        for record in report.get("results", {}).get("failed_checks", [])
    )
    return seconds, failed


def corpus_files(limit: int) -> list[Path]:
    files = sorted(
        path for name in CORPORA for path in (CORPUS / name).rglob("*")
        if path.is_file() and path.suffix in IAC_SUFFIXES and not any(part.startswith(".") for part in path.parts)
    )
    return files[:limit] if limit else files


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


if __name__ == "__main__":
    main()
