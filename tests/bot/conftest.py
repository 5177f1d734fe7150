"""The CLI run in-process against the session's shared scanner (tests/conftest.py's ``scanner``)."""
from __future__ import annotations

import contextlib

import pytest

from bot.cli import main


@pytest.fixture
def run(scanner, capsys):
    """``run(*argv)`` -> (exit code, stdout, stderr) of ``iacbot --no-color *argv``."""
    def invoke(*argv: str) -> tuple[int, str, str]:
        code = main(["--no-color", *argv], open_scanner=lambda: contextlib.nullcontext(scanner))
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return invoke
