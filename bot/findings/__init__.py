"""Finding normalizers: any scanner's output in, fixers.models.Finding out.

Every normalizer returns (findings, problems): a problem names the file and the field or
entry that could not be read, and the rest of the input is still used.
"""
from __future__ import annotations

import json
from pathlib import Path

from typing import Mapping

from bot.findings import asff, checkov_json, runtime, sarif
from bot.findings.paths import InputProblem
from bot.findings.tf_state import State
from fixers.models import Finding, RuleMeta

__all__ = ["InputProblem", "load_findings_file"]


def load_findings_file(path: Path, repo_root: Path, state: State | None = None,
                       catalog: Mapping[str, RuleMeta] | None = None) -> tuple[list[Finding], list[InputProblem]]:
    """Read checkov JSON, SARIF 2.1.0, AWS Security Hub findings (ASFF) or iacbot's findings
    (detected from the content) from `path`. Findings about live resources (ASFF, iacbot entries
    without a file) are mapped to source through `state` and the repository (bot.findings.runtime)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [], [InputProblem(str(path), "file not found")]
    except UnicodeDecodeError as exc:
        return [], [InputProblem(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
    except json.JSONDecodeError as exc:
        return [], [InputProblem(str(path), f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")]
    except OSError as exc:
        return [], [InputProblem(str(path), f"cannot read: {exc.strerror}")]
    if sarif.looks_like_sarif(raw):
        return sarif.parse(raw, repo_root, source_name=str(path))
    if checkov_json.looks_like_checkov(raw):
        return checkov_json.parse(raw, repo_root, source_name=str(path))
    if asff.looks_like_asff(raw) or runtime.looks_like_iacbot(raw):
        return runtime.load_runtime(raw, repo_root, catalog or {}, state, str(path))
    return [], [InputProblem(str(path), "neither SARIF 2.1.0 (no 'runs'), checkov JSON (no 'results'), "
                             "Security Hub ASFF (no 'Findings') nor iacbot findings (no 'findings')")]
