"""The test session's provenance signing key: made once per session (bot.attest.keys.keygen) in a
temporary directory, and given to every worker and in-process publish as IACBOT_SIGNING_KEY_FILE
(tests/conftest.py, tests/celery_worker.py), since the service signs every PR it opens."""
from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

ENV = "IACBOT_SIGNING_KEY_FILE"


@functools.lru_cache(maxsize=1)
def _pair() -> tuple[Path, Path]:
    from bot.attest import keys
    directory = Path(tempfile.mkdtemp(prefix="iacbot-test-signing-"))
    atexit.register(shutil.rmtree, directory, True)
    return keys.keygen(directory / "key")


def private_key_file() -> Path:
    return _pair()[0]


def public_key_file() -> Path:
    return _pair()[1]
