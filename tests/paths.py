"""Paths tests share: the repository and the shared corpus beside it (../shared in CI)."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"
GITHUB = SHARED / "github"
