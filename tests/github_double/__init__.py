"""A stateful, local double of GitHub's REST API for tests (see server.GitHubDouble).

Real git object ids, enforced GitHub App auth, and every exchange checked against GitHub's
published OpenAPI description (../shared/github/openapi-subset.json).

Beyond seeding (create_repo, install_app, add_collaborators, add_teams, add_code_scanning_alert,
add_review, add_check_run, push_commit)
the double can inject faults (inject_fault, inject_secondary_rate_limit,
inject_rate_limit_exhausted, faults_served), count and gather requests (requests,
requests_matching, gather), act as a human (close_pull, merged or not) and, with
webhooks.py, build signed deliveries from GitHub's recorded payloads.
"""
from .keys import new_app_key_pem
from .server import GitHubDouble

__all__ = ["GitHubDouble", "new_app_key_pem"]
