"""Benchmark `iacbot policy simulate --findings F` on the findings of every shared corpus.

    .venv/bin/python scripts/bench_policy_simulate.py [--corpus-root ../shared/corpus] [--policy FILE]
                                                      [--runs N] [NAME ...]

First (not timed) each corpus is scanned with `iacbot scan --json`, the findings cached under
.state/bench/simulate/<name>.json (reused while the corpus' IaC files are unchanged), plus one
file holding every corpus' findings with paths under the corpus root ("all"). Then each
simulation runs as a subprocess, from the corpus directory (so the findings' files are read and
the patches of the fixes whose decision depends on their size are proposed to measure it), and
again with --labels-only; the wall clock includes Python's start-up and the table printed to a
pipe, and the CPU time is printed beside it. The target: under 5 s for all
corpora together. The median of --runs runs is printed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IACBOT = REPO / ".venv" / "bin" / "iacbot"
CACHE = REPO / ".state" / "bench" / "simulate"
TARGET_SECONDS = 5.0
IAC_SUFFIXES = (".tf", ".tfvars", ".yaml", ".yml")


def corpora(root: Path, names: list[str]) -> list[Path]:
    found = sorted(p for p in root.iterdir() if p.is_dir())
    return [p for p in found if not names or p.name in names]


def content_key(directory: Path) -> str:
    """A digest of the corpus' IaC files: the cache is reused only while they are unchanged."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in IAC_SUFFIXES):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def findings_of(directory: Path) -> Path:
    """The corpus' checkov JSON (paths relative to it), scanned once per content."""
    CACHE.mkdir(parents=True, exist_ok=True)
    cached = CACHE / f"{directory.name}-{content_key(directory)}.json"
    if not cached.exists():
        print(f"scanning {directory.name} (not timed)...", file=sys.stderr)
        run = subprocess.run([str(IACBOT), "--no-color", "scan", str(directory), "--json", str(cached)],
                             capture_output=True, text=True)
        if run.returncode != 0 or not cached.exists():
            raise SystemExit(f"iacbot scan failed on {directory.name} (exit {run.returncode}):\n{run.stderr[-2000:]}")
    return cached


def combined(root: Path, files: dict[str, Path]) -> Path:
    """Every corpus' findings in one checkov JSON, each path prefixed with its corpus' name."""
    reports = []
    for name, path in files.items():
        report = json.loads(path.read_text())
        for check in report["results"]["failed_checks"]:
            check["file_path"] = f"{name}/{check['file_path'].lstrip('/')}"
            check.pop("file_abs_path", None)
        reports.append(report)
    out = CACHE / f"all-{hashlib.sha256(''.join(sorted(p.name for p in files.values())).encode()).hexdigest()[:16]}.json"
    out.write_text(json.dumps(reports))
    return out


def timed(findings: Path, cwd: Path, policy: Path, labels_only: bool, runs: int) -> tuple[float, float, int, str]:
    """(median wall seconds, median CPU seconds, findings, summary line) of `iacbot policy simulate`.
    CPU time (user + system of the process and its workers) says what the machine's other load
    does not: on a busy machine the wall clock also counts the wait for a core."""
    command = [str(IACBOT), "--no-color", "policy", "simulate", "--policy", str(policy), "--findings", str(findings),
               "--at", "2026-12-02T10:00:00+01:00", "--json", str(CACHE / "last-simulation.json")]
    if labels_only:
        command.append("--labels-only")
    times, cpu, out = [], [], None
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        out = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
        times.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if out.returncode != 0:
            raise SystemExit(f"simulate failed in {cwd} (exit {out.returncode}):\n{out.stderr[-2000:]}")
    document = json.loads((CACHE / "last-simulation.json").read_text())
    summary = next((line for line in out.stdout.splitlines() if " findings in " in line), "")
    return statistics.median(times), statistics.median(cpu), len(document["findings"]), summary.split(". ")[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus-root", type=Path, default=REPO.parent / "shared" / "corpus")
    parser.add_argument("--policy", type=Path, default=REPO / "policies" / "defaults" / "low-risk-outside-prod.yml")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    root = args.corpus_root.resolve()
    dirs = corpora(root, args.names)
    files = {d.name: findings_of(d) for d in dirs}
    rows = [(d.name, files[d.name], d) for d in dirs]
    if len(dirs) > 1:
        rows.append(("all", combined(root, files), root))
    print(f"iacbot policy simulate --policy {args.policy.relative_to(REPO) if args.policy.is_relative_to(REPO) else args.policy}"
          f" --findings F; median of {args.runs} runs, wall clock incl. Python start-up; target < {TARGET_SECONDS:.0f} s")
    cached = any((REPO / "bot" / "__pycache__").glob("policy_commands.*.pyc"))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; bytecode caches "
          f"{'present' if cached else 'absent (every start compiles every module: PYTHONDONTWRITEBYTECODE?)'}")
    print(f"{'corpus':<16} {'findings':>8} {'wall s':>7} {'cpu s':>6} {'labels-only wall':>17} {'cpu':>5}  summary")
    worst = 0.0
    for name, findings, cwd in rows:
        with_patches, cpu, count, summary = timed(findings, cwd, args.policy.resolve(), False, args.runs)
        labels, labels_cpu, _, _ = timed(findings, cwd, args.policy.resolve(), True, args.runs)
        print(f"{name:<16} {count:>8} {with_patches:>7.2f} {cpu:>6.2f} {labels:>17.2f} {labels_cpu:>5.2f}  {summary}")
        if name == "all" or len(rows) == 1:
            worst = max(worst, with_patches)
    print(f"all corpora together: {worst:.2f} s ({'under' if worst < TARGET_SECONDS else 'OVER'} the {TARGET_SECONDS:.0f} s target)")
    return 0 if worst < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
