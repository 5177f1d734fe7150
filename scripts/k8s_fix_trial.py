"""Trial of the Kubernetes fixers on real vulnerable manifests, verified by checkov.

Copies badpods and kubernetes-goat to a temporary directory, applies a fixer to every failed
finding of the baseline scans (/tmp/<corpus>.json) in file order, re-scans with the checkov CLI
and prints per check id: baseline failures, cleared, new failures; files that no longer parse;
and the changed lines per patch.

    cd /work/main && .venv/bin/python scripts/k8s_fix_trial.py
"""
from __future__ import annotations

import collections
import difflib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fixers.catalog import load_catalog  # noqa: E402
from fixers.edit.yaml_nodes import YamlEditError, load_documents  # noqa: E402
from fixers.models import Finding, FixContext, Patched, Unknown  # noqa: E402
from fixers.registry import fixer_for  # noqa: E402

CORPUS = Path("/work/shared/corpus")
CORPORA = ("badpods", "kubernetes-goat")
CHECKOV = Path(__file__).resolve().parent.parent / ".venv-scanner" / "bin" / "checkov"
SAFE_DEFAULT_RULES = {
    "CKV_K8S_20", "CKV_K8S_16", "CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19", "CKV_K8S_37", "CKV_K8S_28",
    "CKV_K8S_31", "CKV_K8S_29", "CKV_K8S_30", "CKV_K8S_38", "CKV_K8S_15",
}


def failed_checks(report: object) -> list[dict]:
    reports = report if isinstance(report, list) else [report]
    return [f for r in reports if r.get("check_type") == "kubernetes" for f in r["results"]["failed_checks"]]


def scan(directory: Path) -> list[dict]:
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    run = subprocess.run(
        [str(CHECKOV), "-d", str(directory), "--framework", "kubernetes", "-o", "json", "--compact", "--skip-download"],
        capture_output=True, text=True, env=env,
    )
    return failed_checks(json.loads(run.stdout))


def key(f: dict) -> tuple[str, str, str]:
    return f["check_id"], f["resource"], f["file_path"]


def changed_lines(old: str, new: str) -> int:
    ops = difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(), autojunk=False).get_opcodes()
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal")


def apply_all(root: Path, baseline: list[dict], outcomes: collections.Counter, sizes: list[int]) -> None:
    catalog = load_catalog()
    by_file: dict[str, list[dict]] = collections.defaultdict(list)
    for f in baseline:
        by_file[f["file_path"]].append(f)
    for rel, findings in sorted(by_file.items()):
        path = root / rel.lstrip("/")
        text = path.read_bytes().decode("utf-8")
        for f in sorted(findings, key=lambda f: (f["file_line_range"][0], f["check_id"])):
            finding = Finding(
                rule_id=f["check_id"], file=rel.lstrip("/"), resource=f["resource"],
                line_start=f["file_line_range"][0], line_end=f["file_line_range"][1],
                evaluated_keys=tuple(f["check_result"].get("evaluated_keys") or ()),
            )
            fixer = fixer_for(finding.rule_id, catalog)
            if fixer is None:
                outcomes[(finding.rule_id, "no fixer")] += 1
                continue
            outcome = fixer.fix(text, finding, FixContext(path=finding.file, catalog=catalog))
            outcomes[(finding.rule_id, type(outcome).__name__)] += 1
            if isinstance(outcome, Unknown):
                generic = re.sub(r"(container|named) \S+", r"\1 X", outcome.reason)
                outcomes[(finding.rule_id, "Unknown: " + generic[:90])] += 1
            if isinstance(outcome, Patched):
                sizes.append(changed_lines(text, outcome.text))
                text = outcome.text
        path.write_bytes(text.encode("utf-8"))


def _parses(path: Path) -> bool:
    try:
        load_documents(path.read_text())
        return True
    except YamlEditError:
        return False


def main() -> None:
    outcomes: collections.Counter = collections.Counter()
    sizes: list[int] = []
    per_rule: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
    unparseable: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in CORPORA:
            root = Path(tmp) / name
            shutil.copytree(CORPUS / name, root)
            baseline = failed_checks(json.loads(Path(f"/tmp/{name}.json").read_text()))
            parsed_before = {p for p in root.rglob("*.y*ml") if _parses(p)}
            apply_all(root, baseline, outcomes, sizes)
            after = scan(root)
            before_keys, after_keys = {key(f) for f in baseline}, {key(f) for f in after}
            for check, _, _ in before_keys:
                per_rule[check][0] += 1
            for k in before_keys - after_keys:
                per_rule[k[0]][1] += 1
            for k in after_keys - before_keys:
                per_rule[k[0]][2] += 1
            unparseable += [str(p.relative_to(tmp)) for p in parsed_before if not _parses(p)]
    print(f"{'check':<12}{'baseline':>9}{'cleared':>9}{'new':>6}")
    for check in sorted(per_rule, key=lambda c: (c not in SAFE_DEFAULT_RULES, c)):
        base, cleared, new = per_rule[check]
        mark = " safe-default" if check in SAFE_DEFAULT_RULES else ""
        print(f"{check:<12}{base:>9}{cleared:>9}{new:>6}{mark}")
    safe_base = sum(per_rule[c][0] for c in SAFE_DEFAULT_RULES)
    safe_cleared = sum(per_rule[c][1] for c in SAFE_DEFAULT_RULES)
    print(f"safe-default cleared: {safe_cleared}/{safe_base} = {safe_cleared / max(safe_base, 1):.1%}")
    print(f"all cleared: {sum(v[1] for v in per_rule.values())}/{sum(v[0] for v in per_rule.values())}")
    print(f"new failures: {sum(v[2] for v in per_rule.values())}")
    print(f"files that parsed before and no longer parse: {unparseable}")
    if sizes:
        print(f"patches: {len(sizes)}, changed lines per patch: median {statistics.median(sizes)}, max {max(sizes)}")
    print("outcomes:")
    for (rule, kind), count in sorted(outcomes.items()):
        print(f"  {rule:<12} {kind:<80} {count}")


if __name__ == "__main__":
    main()
