"""Trial the Terraform fixers on real vulnerable code and re-scan with checkov.

Copies each corpus to a temporary directory, applies the registered fixer of every failed check
in the baseline scan (file order, successive patches to the same file), re-scans, and prints per
check id: baseline failures, cleared, new failures; files that no longer parse; changed lines.

Usage: .venv/bin/python scripts/tf_fix_trial.py [corpus ...]   (default: terragoat tam-s3-bucket)
Baselines: /tmp/<corpus>.json from `checkov -d DIR --framework terraform kubernetes -o json --compact`.
"""
from __future__ import annotations

import collections
import difflib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fixers.catalog import load_catalog  # noqa: E402
from fixers.edit.hcl import parses  # noqa: E402
from fixers.models import Finding, FixContext, Patched, RepoFacts  # noqa: E402
from fixers.registry import fixer_for  # noqa: E402
from fixers.terraform.provider import aws_provider_major  # noqa: E402

CORPUS = Path("/work/shared/corpus")
CHECKOV = ROOT / ".venv-scanner" / "bin" / "checkov"


def failed_checks(scan: object) -> list[dict]:
    reports = scan if isinstance(scan, list) else [scan]
    return [f for r in reports if r.get("check_type") == "terraform" for f in r["results"]["failed_checks"]]


def scan(directory: Path) -> list[dict]:
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    out = subprocess.run([str(CHECKOV), "-d", str(directory), "--framework", "terraform", "-o", "json",
                          "--compact", "--skip-download", "--quiet"], capture_output=True, text=True, env=env)
    return failed_checks(json.loads(out.stdout))


def key(f: dict) -> tuple[str, str, str]:
    return f["check_id"], f["file_path"], f["resource"]


def to_finding(f: dict) -> Finding:
    lines = f.get("file_line_range") or [0, 0]
    return Finding(rule_id=f["check_id"], file=f["file_path"].lstrip("/"), resource=f["resource"],
                   line_start=lines[0], line_end=lines[1],
                   evaluated_keys=tuple((f.get("check_result") or {}).get("evaluated_keys") or ()))


def trial(name: str) -> None:
    baseline = failed_checks(json.loads(Path(f"/tmp/{name}.json").read_text()))
    catalog = load_catalog()
    work = Path(tempfile.mkdtemp(prefix=f"tf-trial-{name}-")) / name
    shutil.copytree(CORPUS / name, work)
    tf_texts = {str(p): p.read_text(errors="replace") for p in work.rglob("*.tf")}
    repo = RepoFacts(aws_provider_major=aws_provider_major(tf_texts))
    originals: dict[str, str] = {}
    outcomes = collections.Counter()
    unique = {key(f): f for f in baseline}  # module callers repeat one finding per caller
    for f in sorted(unique.values(), key=lambda f: (f["file_path"], f["file_line_range"][0], f["check_id"])):
        finding = to_finding(f)
        fixer = fixer_for(finding.rule_id, catalog)
        if fixer is None:
            outcomes["no fixer"] += 1
            continue
        path = work / finding.file
        text = path.read_text()
        originals.setdefault(finding.file, text)
        outcome = fixer.fix(text, finding, FixContext(path=finding.file, catalog=catalog, repo=repo))
        outcomes[type(outcome).__name__] += 1
        if isinstance(outcome, Patched):
            path.write_text(outcome.text)
    after = scan(work)
    base_keys = collections.Counter(key(f) for f in baseline)
    after_keys = collections.Counter(key(f) for f in after)
    print(f"\n== {name}  (aws provider major: {repo.aws_provider_major}; outcomes: {dict(outcomes)})")
    print(f"{'check':<14}{'baseline':>9}{'cleared':>9}{'new':>6}")
    checks = sorted({k[0] for k in base_keys} | {k[0] for k in after_keys})
    total_cleared = 0
    for check in checks:
        b = sum(n for k, n in base_keys.items() if k[0] == check)
        cleared = sum(n for k, n in base_keys.items() if k[0] == check and k not in after_keys)
        new = sum(n for k, n in after_keys.items() if k[0] == check and k not in base_keys)
        total_cleared += cleared
        if cleared or new:
            print(f"{check:<14}{b:>9}{cleared:>9}{new:>6}")
    new_total = sum(n for k, n in after_keys.items() if k not in base_keys)
    broken = [f for f in originals if not parses((work / f).read_text())]
    changed = sum(
        sum(1 for line in difflib.unified_diff(text.splitlines(), (work / f).read_text().splitlines(), n=0)
            if line[:1] in "+-" and line[:3] not in ("+++", "---"))
        for f, text in originals.items())
    print(f"total: baseline {sum(base_keys.values())}, cleared {total_cleared}, new failures {new_total}, "
          f"files no longer parsing {len(broken)} {broken}")
    print(f"changed lines (added+removed) {changed}, per cleared failure "
          f"{changed / total_cleared if total_cleared else 0:.2f}")
    for k in sorted(k for k in after_keys if k not in base_keys):
        print("  new:", *k)


if __name__ == "__main__":
    for corpus in sys.argv[1:] or ["terragoat", "tam-s3-bucket"]:
        trial(corpus)
