"""A stateful, local double of GitHub's REST API for tests (see server.GitHubDouble).

Real git object ids, enforced GitHub App auth, and every exchange checked against GitHub's
published OpenAPI description (../shared/github/openapi-subset.json).
"""
from .keys import new_app_key_pem
from .server import GitHubDouble

__all__ = ["GitHubDouble", "new_app_key_pem"]
