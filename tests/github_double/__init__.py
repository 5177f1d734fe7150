"""A stateful, local double of GitHub's REST API for tests (see server.GitHubDouble).

Real git object ids, enforced GitHub App auth, and every exchange checked against GitHub's
published OpenAPI description (../shared/github/openapi-subset.json).

Beyond seeding (create_repo, install_app, installation_token, add_collaborators with a role,
set_permission, add_teams, add_code_scanning_alert, add_review, add_check_run, add_status,
protect_branch, push_commit with a separate author and committer)
the double can inject faults (inject_fault, inject_secondary_rate_limit,
inject_rate_limit_exhausted, faults_served), count and gather requests (requests,
requests_matching, gather), act as a human (open_pull, close_pull merged or not, move_branch,
set_mergeable, open_issue, edit_issue, tick_checkbox, comment) and, with webhooks.py, build
signed deliveries from GitHub's recorded payloads (push, code_scanning_alert, pull_request,
check_run, check_suite, status, issues, issue_comment, merge_group).
"""
from .keys import new_app_key_pem
from .server import GitHubDouble

__all__ = ["GitHubDouble", "new_app_key_pem"]
