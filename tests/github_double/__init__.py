"""A stateful, local double of GitHub's REST API for tests (see server.GitHubDouble).

Real git object ids, enforced GitHub App auth, and every exchange checked against GitHub's
published OpenAPI description (/work/shared/github/openapi-subset.json).
"""
from .server import GitHubDouble

__all__ = ["GitHubDouble"]
