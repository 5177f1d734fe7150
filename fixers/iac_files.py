"""Which files iacbot treats as IaC, and how many of them one push job carries. Pure.

Shared by the receiver (bot/service/events.py, which lists a push's files in the job) and the
workers (workers/job_sources.py, which fetches them): one definition for both, importable by
workers without importing bot.service.
"""
from __future__ import annotations

IAC_SUFFIXES = (".tf", ".tfvars", ".yaml", ".yml")
#: The most files one push job lists and is scanned for. A push listing more becomes a job with
#: the first MAX_PUSH_FILES (by path) and ``files_complete`` False, so the fetch compares trees
#: and reports or defers the rest; the broker message stays small whatever the push listed.
MAX_PUSH_FILES = 300


def is_iac_path(path: str) -> bool:
    return path.lower().endswith(IAC_SUFFIXES)
