"""Benchmark `iacbot fix --write` on copies of the shared corpora, judged by an independent re-scan.

    .venv/bin/python scripts/bench_fix.py [--corpus-root ../shared/corpus] [NAME ...]

Per corpus: baseline checkov failures, failures cleared (by an independent `checkov -d` re-scan
of the fixed copy), new failures, files that no longer parse, changed lines per cleared failure,
changed files without a cleared failure, and the fix run's time beside a bare `checkov -d` of the
same copy, measured in this run. Also the clearance of issue 2's class-L Kubernetes and EC2 checks (the ones it called safe
defaults; since issue 7 some carry an impact label, e.g. CKV_AWS_135 and 126 cost, see
docs/fixer-labels.md, and t2 instances cannot take CKV_AWS_135 at all).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.render import changed_line_count  # noqa: E402
from fixers.syntax import file_kind, parse_error  # noqa: E402

CORPORA = ["terragoat", "kubernetes-goat", "badpods", "tam-s3-bucket"]
# The Kubernetes and EC2 checks issue 2 called safe defaults (fixability class "L"): kept as
# they were so that figures compare across versions.
CLASS_L_RULES = {
    "CKV_K8S_20", "CKV_K8S_16", "CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19", "CKV_K8S_37", "CKV_K8S_28",
    "CKV_K8S_31", "CKV_K8S_29", "CKV_K8S_30", "CKV_K8S_38", "CKV_K8S_15",
    "CKV_AWS_79", "CKV_AWS_126", "CKV_AWS_135", "CKV_AWS_8", "CKV_AWS_3", "CKV_AWS_23",
}
CHECKOV_ENV = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE"}


def checkov_scan(directory: Path) -> tuple[Counter, float]:
    """Failed (check_id, file, resource) multiset from the checkov CLI, and its wall time."""
    command = [str(REPO / ".venv-scanner" / "bin" / "checkov"), "-d", str(directory), "--framework", "terraform",
               "kubernetes", "-o", "json", "--compact", "--skip-download", "--quiet"]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=CHECKOV_ENV)
    elapsed = time.perf_counter() - started
    reports = json.loads(result.stdout or "[]")
    reports = reports if isinstance(reports, list) else [reports]
    failed = Counter()
    for report in reports:
        for check in (report.get("results") or {}).get("failed_checks") or []:
            failed[(check["check_id"], check["file_path"].lstrip("/"), check["resource"])] += 1
    return failed, elapsed


def iac_files(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes()
            for p in directory.rglob("*") if p.is_file() and file_kind(p.name)}


def bench(name: str, corpus_root: Path, scratch: Path) -> dict:
    copy = scratch / name
    shutil.copytree(corpus_root / name, copy)
    before_files = iac_files(copy)
    baseline, checkov_seconds = checkov_scan(copy)
    started = time.perf_counter()
    run = subprocess.run([str(REPO / ".venv" / "bin" / "iacbot"), "--no-color", "fix", str(copy), "--write",
                          "--json", str(scratch / f"{name}.json")], capture_output=True, text=True)
    fix_seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise SystemExit(f"iacbot fix failed on {name} (exit {run.returncode}):\n{run.stderr[-2000:]}")
    after, _ = checkov_scan(copy)
    after_files = iac_files(copy)

    cleared = baseline - after
    new = after - baseline
    changed = [p for p in before_files if after_files.get(p) != before_files[p]]
    unparseable = [p for p in changed if parse_error(p, after_files[p].decode("utf-8"), strict=True)]
    cleared_by_file = Counter(key[1] for key in cleared.elements())
    per_failure = []
    total_lines = 0
    for path in changed:
        lines = changed_line_count(before_files[path].decode("utf-8"), after_files[path].decode("utf-8"))
        total_lines += lines
        per_failure += [lines / cleared_by_file[path]] * cleared_by_file[path]
    safe_base = sum(n for k, n in baseline.items() if k[0] in CLASS_L_RULES)
    safe_cleared = sum(n for k, n in cleared.items() if k[0] in CLASS_L_RULES)
    return {
        "corpus": name,
        "baseline": sum(baseline.values()),
        "cleared": sum(cleared.values()),
        "new": sum(new.values()),
        "new_examples": [list(k) for k in list(new)[:5]],
        "unparseable": len(unparseable),
        "changed_files": len(changed),
        "changed_without_cleared": sum(1 for p in changed if not cleared_by_file[p]),
        "changed_lines": total_lines,
        "median_lines_per_cleared": statistics.median(per_failure) if per_failure else 0.0,
        "safe_baseline": safe_base,
        "safe_cleared": safe_cleared,
        "fix_seconds": fix_seconds,
        "checkov_seconds": checkov_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=CORPORA)
    parser.add_argument("--corpus-root", type=Path, default=REPO.parent / "shared" / "corpus")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="iacbot-bench-") as scratch:
        for name in args.names:
            rows.append(bench(name, args.corpus_root, Path(scratch)))
            print(f"done: {name}", file=sys.stderr)
    header = ("| corpus | baseline failures | cleared | new failures | unparseable files | changed files "
              "(without a cleared failure) | median changed lines / cleared | class-L K8s+EC2 cleared "
              "| iacbot fix s | checkov -d s | ratio |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in rows:
        safe = f"{r['safe_cleared']}/{r['safe_baseline']}" if r["safe_baseline"] else "-"
        print(f"| {r['corpus']} | {r['baseline']} | {r['cleared']} ({r['cleared'] / max(r['baseline'], 1):.0%}) "
              f"| {r['new']} | {r['unparseable']} | {r['changed_files']} ({r['changed_without_cleared']}) "
              f"| {r['median_lines_per_cleared']:.2f} | {safe} | {r['fix_seconds']:.1f} | {r['checkov_seconds']:.1f} "
              f"| {r['fix_seconds'] / r['checkov_seconds']:.2f} |")
    total = sum(r["baseline"] for r in rows)
    cleared = sum(r["cleared"] for r in rows)
    safe_total = sum(r["safe_baseline"] for r in rows)
    safe_cleared = sum(r["safe_cleared"] for r in rows)
    print(f"\nall: {cleared}/{total} cleared ({cleared / max(total, 1):.1%}); class-L K8s+EC2: "
          f"{safe_cleared}/{safe_total} ({safe_cleared / max(safe_total, 1):.1%}); new failures: "
          f"{sum(r['new'] for r in rows)}; unparseable: {sum(r['unparseable'] for r in rows)}; changed files "
          f"without a cleared failure: {sum(r['changed_without_cleared'] for r in rows)}")
    for r in rows:
        if r["new_examples"]:
            print(f"new failures in {r['corpus']} (first 5): {r['new_examples']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
