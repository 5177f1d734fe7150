"""Optional local check: do the Terraform golden outputs need `terraform fmt` only where their inputs did?

    .venv/bin/python scripts/check_golden_fmt.py

Needs a `terraform` binary on PATH (the tests never do). For every golden case with an expected
.tf file, the lines the fixer inserted must be lines `terraform fmt` keeps as they are. Where the
input itself is not as fmt writes it (tabs, odd indentation), new lines follow the file's own
indentation, which fmt would rewrite with the rest: those are listed as notes, not failures.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.golden_cases import golden_cases  # noqa: E402


def fmt_rewrites(terraform: str, text: str) -> set[str]:
    """The lines of `text` that terraform fmt changes (compared as stripped of line endings)."""
    result = subprocess.run([terraform, "fmt", "-no-color", "-"], input=text, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"terraform fmt failed: {result.stderr.strip()}")
    kept = set(result.stdout.splitlines())
    return {line for line in text.splitlines() if line.rstrip("\r") not in kept}


def main() -> int:
    terraform = shutil.which("terraform")
    if terraform is None:
        print("no terraform binary on PATH; nothing checked")
        return 0
    failures = 0
    for case in golden_cases():
        if case.expected_path is None or case.expected_path.suffix != ".tf":
            continue
        source = case.read_exact(case.input_path)
        inserted = set(case.read_exact(case.expected_path).splitlines()) - set(source.splitlines())
        rewritten = sorted(inserted & fmt_rewrites(terraform, case.read_exact(case.expected_path)))
        if not rewritten:
            continue
        clean_input = not fmt_rewrites(terraform, source)
        failures += clean_input
        print(f"{case}: {'FAIL' if clean_input else 'note (input not fmt-clean)'}: "
              f"terraform fmt would rewrite {len(rewritten)} inserted line(s):")
        for line in rewritten:
            print(f"    {line!r}")
    print("ok" if not failures else f"{failures} case(s) need terraform fmt")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
