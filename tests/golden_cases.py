"""Discovery of golden fixer cases: tests/golden/<fixer-id>/<case>/.

A case holds finding.json, input.<ext>, and one of
  expected.<ext>      the exact bytes the fixer must produce,
  expected.unknown    text that the Unknown reason must contain.
finding.json holds Finding fields (rule_id, resource, line_start, line_end, evaluated_keys, ...)
and optionally "repo": RepoFacts fields. The finding's file is the input file's name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fixers.catalog import load_catalog
from fixers.models import Finding, FixContext, RepoFacts

GOLDEN_ROOT = Path(__file__).parent / "golden"


@dataclass(frozen=True)
class GoldenCase:
    fixer_id: str
    name: str
    directory: Path

    @property
    def input_path(self) -> Path:
        return next(self.directory.glob("input.*"))

    @property
    def expected_path(self) -> Path | None:
        found = [p for p in self.directory.glob("expected.*") if p.suffix != ".unknown"]
        return found[0] if found else None

    @property
    def unknown_path(self) -> Path:
        return self.directory / "expected.unknown"

    @staticmethod
    def read_exact(path: Path) -> str:
        """The file's text with its line endings as stored (read_text would turn CRLF into LF)."""
        return path.read_bytes().decode("utf-8")

    def finding_and_context(self) -> tuple[Finding, FixContext]:
        raw = json.loads((self.directory / "finding.json").read_text())
        repo = RepoFacts(**raw.pop("repo", {}))
        raw["evaluated_keys"] = tuple(raw.get("evaluated_keys", ()))
        finding = Finding(file=self.input_path.name, **raw)
        return finding, FixContext(path=finding.file, catalog=load_catalog(), repo=repo)

    def __str__(self) -> str:
        return f"{self.fixer_id}/{self.name}"


def golden_cases() -> list[GoldenCase]:
    return [
        GoldenCase(fixer_dir.name, case_dir.name, case_dir)
        for fixer_dir in sorted(GOLDEN_ROOT.iterdir()) if fixer_dir.is_dir()
        for case_dir in sorted(fixer_dir.iterdir()) if (case_dir / "finding.json").exists()
    ]
