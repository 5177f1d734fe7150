"""JSON bodies shaped like GitHub's, built from the state. URLs use https://api.github.com;
app.py rewrites them to the double's address on the way out (PyGithub follows them)."""
from __future__ import annotations

import base64
import time
import zlib
from urllib.parse import quote

from .gitobjects import TREE_MODE, Commit, Signature
from .state import CheckRun, CodeScanningAlert, Installation, Label, PullRequest, Repo, Review

API = "https://api.github.com"
WEB = "https://github.com"
DOCS = "https://docs.github.com/rest"


def iso(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def node_id(kind: str, key: object) -> str:
    return base64.b64encode(f"{kind}:{key}".encode()).decode().rstrip("=")


def user(login: str, kind: str = "User") -> dict:
    uid = zlib.crc32(login.lower().encode())  # stable id per login
    u = f"{API}/users/{login}"
    return {
        "login": login, "id": uid, "node_id": node_id("User", uid),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4", "gravatar_id": "",
        "url": u, "html_url": f"{WEB}/{login}", "followers_url": f"{u}/followers",
        "following_url": f"{u}/following{{/other_user}}", "gists_url": f"{u}/gists{{/gist_id}}",
        "starred_url": f"{u}/starred{{/owner}}{{/repo}}", "subscriptions_url": f"{u}/subscriptions",
        "organizations_url": f"{u}/orgs", "repos_url": f"{u}/repos", "events_url": f"{u}/events{{/privacy}}",
        "received_events_url": f"{u}/received_events", "type": kind, "site_admin": False,
    }


def repository(repo: Repo) -> dict:
    """Fields of both `repository` and `full-repository` (the schemas differ slightly)."""
    u = f"{API}/repos/{repo.full_name}"
    open_count = sum(1 for p in repo.pulls.values() if p.state == "open")
    out = {
        "id": repo.id, "node_id": node_id("Repository", repo.id), "name": repo.name,
        "full_name": repo.full_name, "owner": user(repo.owner, "Organization"), "private": repo.private,
        "html_url": f"{WEB}/{repo.full_name}", "description": None, "fork": False, "url": u,
        "homepage": None, "language": "HCL", "forks": 0, "forks_count": 0, "stargazers_count": 0,
        "watchers": 0, "watchers_count": 0, "size": 1, "default_branch": repo.default_branch,
        "open_issues": open_count, "open_issues_count": open_count, "is_template": False,
        "topics": [], "has_issues": True, "has_projects": False, "has_wiki": False,
        "has_pages": False, "has_downloads": True, "has_discussions": False, "archived": False,
        "disabled": False, "visibility": "private" if repo.private else "public",
        "pushed_at": iso(repo.created_at), "created_at": iso(repo.created_at),
        "updated_at": iso(repo.created_at), "allow_rebase_merge": True, "allow_squash_merge": True,
        "allow_merge_commit": True, "allow_auto_merge": False, "delete_branch_on_merge": False,
        "allow_forking": False, "web_commit_signoff_required": False, "mirror_url": None,
        "license": None, "network_count": 0, "subscribers_count": 0,
        "git_url": f"git://github.com/{repo.full_name}.git", "ssh_url": f"git@github.com:{repo.full_name}.git",
        "clone_url": f"{WEB}/{repo.full_name}.git", "svn_url": f"{WEB}/{repo.full_name}",
        "permissions": {"admin": False, "maintain": False, "push": True, "triage": True, "pull": True},
    }
    templated = {
        "archive_url": "/{archive_format}{/ref}", "assignees_url": "/assignees{/user}",
        "blobs_url": "/git/blobs{/sha}", "branches_url": "/branches{/branch}",
        "collaborators_url": "/collaborators{/collaborator}", "comments_url": "/comments{/number}",
        "commits_url": "/commits{/sha}", "compare_url": "/compare/{base}...{head}",
        "contents_url": "/contents/{+path}", "contributors_url": "/contributors",
        "deployments_url": "/deployments", "downloads_url": "/downloads", "events_url": "/events",
        "forks_url": "/forks", "git_commits_url": "/git/commits{/sha}", "git_refs_url": "/git/refs{/sha}",
        "git_tags_url": "/git/tags{/sha}", "hooks_url": "/hooks", "issue_comment_url": "/issues/comments{/number}",
        "issue_events_url": "/issues/events{/number}", "issues_url": "/issues{/number}",
        "keys_url": "/keys{/key_id}", "labels_url": "/labels{/name}", "languages_url": "/languages",
        "merges_url": "/merges", "milestones_url": "/milestones{/number}",
        "notifications_url": "/notifications{?since,all,participating}", "pulls_url": "/pulls{/number}",
        "releases_url": "/releases{/id}", "stargazers_url": "/stargazers", "statuses_url": "/statuses/{sha}",
        "subscribers_url": "/subscribers", "subscription_url": "/subscription", "tags_url": "/tags",
        "teams_url": "/teams", "trees_url": "/git/trees{/sha}",
    }
    out.update({k: u + v for k, v in templated.items()})
    return out


def git_ref(repo: Repo, ref: str, sha: str) -> dict:
    u = f"{API}/repos/{repo.full_name}"
    return {"ref": ref, "node_id": node_id("Ref", f"{repo.id}:{ref}"), "url": f"{u}/git/{ref}",
            "object": {"type": repo.objects.kind(sha) or "commit", "sha": sha, "url": f"{u}/git/commits/{sha}"}}


def short_blob(repo: Repo, sha: str) -> dict:
    return {"url": f"{API}/repos/{repo.full_name}/git/blobs/{sha}", "sha": sha}


def blob(repo: Repo, sha: str, data: bytes) -> dict:
    return {**short_blob(repo, sha), "node_id": node_id("Blob", sha), "size": len(data),
            "content": base64.encodebytes(data).decode(), "encoding": "base64"}


def tree(repo: Repo, sha: str, recursive: bool, limit: int | None = None) -> dict:
    """GitHub cuts a tree listing at its limit (100,000 entries) and says so with "truncated"."""
    u = f"{API}/repos/{repo.full_name}/git"
    items = []
    truncated = False
    for path, e in repo.objects.walk(sha, recursive=recursive):
        if limit is not None and len(items) >= limit:
            truncated = True
            break
        item = {"path": path, "mode": "040000" if e.mode == TREE_MODE else e.mode, "type": e.kind, "sha": e.sha}
        if e.kind == "blob":
            item["size"] = len(repo.objects.get(e.sha, "blob") or b"")
            item["url"] = f"{u}/blobs/{e.sha}"
        elif e.kind == "tree":
            item["url"] = f"{u}/trees/{e.sha}"
        items.append(item)
    return {"sha": sha, "url": f"{u}/trees/{sha}", "tree": items, "truncated": truncated}


def _person(sig: Signature) -> dict:
    return {"name": sig.name, "email": sig.email, "date": iso(sig.timestamp)}


def git_commit(repo: Repo, sha: str, c: Commit) -> dict:
    u = f"{API}/repos/{repo.full_name}/git"
    return {
        "sha": sha, "node_id": node_id("Commit", sha), "url": f"{u}/commits/{sha}",
        "html_url": f"{WEB}/{repo.full_name}/commit/{sha}", "author": _person(c.author),
        "committer": _person(c.committer), "message": c.message,
        "tree": {"sha": c.tree, "url": f"{u}/trees/{c.tree}"},
        "parents": [{"sha": p, "url": f"{u}/commits/{p}", "html_url": f"{WEB}/{repo.full_name}/commit/{p}"}
                    for p in c.parents],
        "verification": {"verified": False, "reason": "unsigned", "payload": None, "signature": None,
                         "verified_at": None},
    }


def commit(repo: Repo, sha: str, c: Commit) -> dict:
    """The `commit` schema (repos API), as embedded in a branch."""
    u = f"{API}/repos/{repo.full_name}"
    inner = git_commit(repo, sha, c)
    return {
        "sha": sha, "node_id": node_id("Commit", sha), "url": f"{u}/commits/{sha}",
        "html_url": f"{WEB}/{repo.full_name}/commit/{sha}", "comments_url": f"{u}/commits/{sha}/comments",
        "commit": {"url": inner["url"], "author": inner["author"], "committer": inner["committer"],
                   "message": c.message, "comment_count": 0, "tree": inner["tree"],
                   "verification": inner["verification"]},
        "author": None, "committer": None,
        "parents": [{"sha": p, "url": f"{u}/commits/{p}", "html_url": f"{WEB}/{repo.full_name}/commit/{p}"}
                    for p in c.parents],
    }


def branch(repo: Repo, name: str, sha: str) -> dict:
    u = f"{API}/repos/{repo.full_name}/branches/{name}"
    return {
        "name": name, "commit": commit(repo, sha, repo.objects.commit(sha)),
        "_links": {"self": u, "html": f"{WEB}/{repo.full_name}/tree/{name}"},
        "protected": name in repo.protection,
        "protection": _branch_protection_summary(repo.protection.get(name)),
        "protection_url": f"{u}/protection",
    }


def _branch_protection_summary(settings: dict | None) -> dict:
    required = (settings or {}).get("required_status_checks")
    if required is None:
        return {"enabled": settings is not None,
                "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []}}
    level = "everyone" if settings["enforce_admins"] else "non_admins"
    return {"enabled": True, "required_status_checks": {
        "enforcement_level": level, "contexts": [c["context"] for c in required["checks"]],
        "checks": [dict(c) for c in required["checks"]]}}


def content_file(repo: Repo, path: str, sha: str, data: bytes, ref: str) -> dict:
    u = f"{API}/repos/{repo.full_name}"
    quoted = quote(path)  # GitHub percent-encodes a path in its URLs (a backslash, a newline...)
    self_url = f"{u}/contents/{quoted}?ref={ref}"
    html = f"{WEB}/{repo.full_name}/blob/{ref}/{quoted}"
    git = f"{u}/git/blobs/{sha}"
    return {
        "type": "file", "encoding": "base64", "size": len(data), "name": path.rsplit("/", 1)[-1],
        "path": path, "content": base64.encodebytes(data).decode(), "sha": sha, "url": self_url,
        "git_url": git, "html_url": html,
        "download_url": f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{quoted}",
        "_links": {"self": self_url, "git": git, "html": html},
    }


def content_dir_entry(repo: Repo, path: str, kind: str, sha: str, size: int, ref: str) -> dict:
    u = f"{API}/repos/{repo.full_name}"
    quoted = quote(path)
    self_url = f"{u}/contents/{quoted}?ref={ref}"
    html = f"{WEB}/{repo.full_name}/{'blob' if kind == 'file' else 'tree'}/{ref}/{quoted}"
    git = f"{u}/git/{'blobs' if kind == 'file' else 'trees'}/{sha}"
    return {
        "type": kind, "size": size, "name": path.rsplit("/", 1)[-1], "path": path, "sha": sha,
        "url": self_url, "git_url": git, "html_url": html,
        "download_url": f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{quoted}" if kind == "file" else None,
        "_links": {"self": self_url, "git": git, "html": html},
    }


def label(repo: Repo, lab: Label) -> dict:
    return {"id": lab.id, "node_id": node_id("Label", lab.id),
            "url": f"{API}/repos/{repo.full_name}/labels/{lab.name}", "name": lab.name,
            "description": lab.description, "color": lab.color, "default": False}


def pull(repo: Repo, pr: PullRequest, full: bool, details: dict | None = None) -> dict:
    """`details`: what GitHub computes for the full form (mergeable, mergeable_state, counts)."""
    u = f"{API}/repos/{repo.full_name}"
    n = pr.number

    def end(ref: str, sha: str) -> dict:
        return {"label": f"{repo.owner}:{ref}", "ref": ref, "sha": sha,
                "user": user(repo.owner, "Organization"), "repo": repository(repo)}

    out = {
        "url": f"{u}/pulls/{n}", "id": pr.id, "node_id": node_id("PullRequest", pr.id),
        "html_url": f"{WEB}/{repo.full_name}/pull/{n}", "diff_url": f"{WEB}/{repo.full_name}/pull/{n}.diff",
        "patch_url": f"{WEB}/{repo.full_name}/pull/{n}.patch", "issue_url": f"{u}/issues/{n}",
        "commits_url": f"{u}/pulls/{n}/commits", "review_comments_url": f"{u}/pulls/{n}/comments",
        "review_comment_url": f"{u}/pulls/comments{{/number}}", "comments_url": f"{u}/issues/{n}/comments",
        "statuses_url": f"{u}/statuses/{pr.head_sha}", "number": n, "state": pr.state,
        "locked": False, "title": pr.title, "user": user(pr.user_login, "Bot" if pr.user_login.endswith("[bot]") else "User"), "body": pr.body,
        "labels": [label(repo, repo.labels[name.lower()]) for name in pr.labels],
        "milestone": None, "active_lock_reason": None, "created_at": iso(pr.created_at),
        "updated_at": iso(pr.updated_at), "closed_at": iso(pr.closed_at), "merged_at": iso(pr.merged_at),
        "merge_commit_sha": pr.merge_commit_sha, "assignee": None, "assignees": [],
        "requested_reviewers": [user(login) for login in pr.requested_reviewers],
        "requested_teams": [team(repo, slug) for slug in pr.requested_teams],
        "head": end(pr.head_ref, pr.head_sha), "base": end(pr.base_ref, pr.base_sha),
        "_links": {k: {"href": v} for k, v in {
            "self": f"{u}/pulls/{n}", "html": f"{WEB}/{repo.full_name}/pull/{n}",
            "issue": f"{u}/issues/{n}", "comments": f"{u}/issues/{n}/comments",
            "review_comments": f"{u}/pulls/{n}/comments", "review_comment": f"{u}/pulls/comments{{/number}}",
            "commits": f"{u}/pulls/{n}/commits", "statuses": f"{u}/statuses/{pr.head_sha}"}.items()},
        "author_association": "NONE", "auto_merge": None, "draft": pr.draft,
    }
    if full:
        out.update({"merged": pr.merged_at is not None, "mergeable": None, "rebaseable": None,
                    "mergeable_state": "unknown",
                    "merged_by": user(pr.merged_by, "Bot" if pr.merged_by.endswith("[bot]") else "User")
                    if pr.merged_by else None,
                    "comments": 0, "review_comments": 0,
                    "maintainer_can_modify": pr.maintainer_can_modify, "commits": 1, "additions": 0,
                    "deletions": 0, "changed_files": 0})
        out.update(details or {})
    return out


def team(repo: Repo, slug: str) -> dict:
    """Fields of both `team` and `team-simple` (a requested team is listed with either)."""
    tid = zlib.crc32(f"{repo.owner}/{slug}".lower().encode())
    u = f"{API}/organizations/{zlib.crc32(repo.owner.lower().encode())}/team/{tid}"
    return {"id": tid, "node_id": node_id("Team", tid), "url": u, "members_url": f"{u}/members{{/member}}",
            "name": slug, "slug": slug, "description": None, "privacy": "closed",
            "notification_setting": "notifications_enabled", "permission": "push",
            "html_url": f"{WEB}/orgs/{repo.owner}/teams/{slug}", "repositories_url": f"{u}/repos",
            "type": "organization", "parent": None}


def review_requests(repo: Repo, pr: PullRequest) -> dict:
    return {"users": [user(login) for login in pr.requested_reviewers],
            "teams": [team(repo, slug) for slug in pr.requested_teams]}


def code_scanning_instance(repo: Repo, alert: CodeScanningAlert) -> dict:
    return {
        "ref": alert.ref, "analysis_key": f".github/workflows/{alert.tool}.yml:scan", "environment": "{}",
        "category": f".github/workflows/{alert.tool}.yml:scan", "state": alert.state,
        "commit_sha": alert.commit_sha, "message": {"text": alert.message},
        "location": {"path": alert.path, "start_line": alert.start_line, "end_line": alert.end_line,
                     "start_column": 1, "end_column": 1},
        "html_url": f"{WEB}/{repo.full_name}/security/code-scanning/{alert.number}",
        "classifications": [],
    }


def code_scanning_alert(repo: Repo, alert: CodeScanningAlert, with_instance: bool = True) -> dict:
    u = f"{API}/repos/{repo.full_name}/code-scanning/alerts/{alert.number}"
    return {
        "number": alert.number, "created_at": iso(alert.created_at), "updated_at": iso(alert.created_at),
        "url": u, "html_url": f"{WEB}/{repo.full_name}/security/code-scanning/{alert.number}",
        "instances_url": f"{u}/instances", "state": alert.state, "fixed_at": None, "dismissed_by": None,
        "dismissed_at": None, "dismissed_reason": None, "dismissed_comment": None,
        "rule": {"id": alert.rule_id, "severity": alert.severity, "security_severity_level": None,
                 "description": alert.message or alert.rule_id, "name": alert.rule_id,
                 "full_description": alert.message or alert.rule_id, "tags": ["security"], "help": None,
                 "help_uri": None},
        "tool": {"name": alert.tool, "guid": None, "version": None},
        "most_recent_instance": code_scanning_instance(repo, alert) if with_instance else None,
    }


def review(repo: Repo, pr: PullRequest, rev: Review) -> dict:
    pull_url = f"{API}/repos/{repo.full_name}/pulls/{pr.number}"
    html = f"{WEB}/{repo.full_name}/pull/{pr.number}#pullrequestreview-{rev.id}"
    out = {
        "id": rev.id, "node_id": node_id("PullRequestReview", rev.id),
        "user": user(rev.user_login, "Bot" if rev.user_login.endswith("[bot]") else "User"),
        "body": rev.body, "state": rev.state, "html_url": html, "pull_request_url": pull_url,
        "_links": {"html": {"href": html}, "pull_request": {"href": pull_url}},
        "commit_id": rev.commit_id,
        "author_association": "COLLABORATOR" if rev.user_login.lower() in repo.collaborators else "NONE",
    }
    if rev.submitted_at is not None:  # a PENDING review has not been submitted: GitHub leaves the key out
        out["submitted_at"] = iso(rev.submitted_at)
    return out


def integration(app_id: int, slug: str, permissions: dict[str, str]) -> dict:
    """A GitHub App as embedded in a check run (`nullable-integration`)."""
    return {
        "id": app_id, "slug": slug, "node_id": node_id("Integration", app_id), "client_id": f"Iv1.{app_id:016x}",
        "owner": user(f"{slug}-developers", "Organization"), "name": slug, "description": None,
        "external_url": f"https://{slug}.example.com", "html_url": f"{WEB}/apps/{slug}",
        "created_at": iso(1_600_000_000), "updated_at": iso(1_600_000_000),
        "permissions": permissions, "events": [],
    }


def pull_minimal(repo: Repo, pr: PullRequest) -> dict:
    small = {"id": repo.id, "url": f"{API}/repos/{repo.full_name}", "name": repo.name}
    return {"id": pr.id, "number": pr.number, "url": f"{API}/repos/{repo.full_name}/pulls/{pr.number}",
            "head": {"ref": pr.head_ref, "sha": pr.head_sha, "repo": small},
            "base": {"ref": pr.base_ref, "sha": pr.base_sha, "repo": small}}


def check_run(repo: Repo, run: CheckRun, app_permissions: dict[str, str], pulls: list[PullRequest]) -> dict:
    u = f"{API}/repos/{repo.full_name}/check-runs/{run.id}"
    return {
        "id": run.id, "node_id": node_id("CheckRun", run.id), "head_sha": run.head_sha,
        "external_id": run.external_id, "url": u, "html_url": f"{WEB}/{repo.full_name}/runs/{run.id}",
        "details_url": run.details_url or f"https://{run.app_slug}.example.com", "status": run.status,
        "conclusion": run.conclusion, "started_at": iso(run.started_at), "completed_at": iso(run.completed_at),
        "output": {"title": run.output.get("title"), "summary": run.output.get("summary"),
                   "text": run.output.get("text"), "annotations_count": run.annotations_count,
                   "annotations_url": f"{u}/annotations"},
        "name": run.name, "check_suite": {"id": run.suite_id},
        "app": integration(run.app_id, run.app_slug, app_permissions),
        "pull_requests": [pull_minimal(repo, pr) for pr in pulls],
    }


def installation(inst: Installation, app_slug: str) -> dict:
    account = user(inst.account, "Organization")
    return {
        "id": inst.id, "account": account, "repository_selection": "selected",
        "access_tokens_url": f"{API}/app/installations/{inst.id}/access_tokens",
        "repositories_url": f"{API}/installation/repositories",
        "html_url": f"{WEB}/organizations/{inst.account}/settings/installations/{inst.id}",
        "app_id": inst.app_id, "app_slug": app_slug, "target_id": account["id"], "target_type": "Organization",
        "permissions": dict(inst.permissions), "events": [], "created_at": iso(inst.created_at),
        "updated_at": iso(inst.created_at), "single_file_name": None, "has_multiple_single_files": False,
        "single_file_paths": [], "suspended_by": None, "suspended_at": None,
    }


def error(status: int, message: str, errors: list | None = None) -> dict:
    body = {"message": message, "documentation_url": DOCS, "status": str(status)}
    if errors:
        body["errors"] = errors
    return body


# -- issues, statuses, suites, protection, comparisons (issue 8) ------------------------------
def minimal_repository(repo: Repo) -> dict:
    return {k: v for k, v in repository(repo).items() if k != "permissions"}


def commit_with_accounts(repo: Repo, sha: str, c: Commit, account_for_email) -> dict:
    """The `commit` schema with `author`/`committer` linked by e-mail, as GitHub links them
    (None when the address belongs to no account)."""
    out = commit(repo, sha, c)
    out["author"] = account_for_email(c.author.email)
    out["committer"] = account_for_email(c.committer.email)
    return out


def diff_entry(repo: Repo, change, head_sha: str) -> dict:
    u, path = f"{API}/repos/{repo.full_name}", quote(change.filename)
    out = {"sha": change.sha, "filename": change.filename, "status": change.status,
           "additions": change.additions, "deletions": change.deletions,
           "changes": change.additions + change.deletions,
           "blob_url": f"{WEB}/{repo.full_name}/blob/{head_sha}/{path}",
           "raw_url": f"{WEB}/{repo.full_name}/raw/{head_sha}/{path}",
           "contents_url": f"{u}/contents/{path}?ref={head_sha}"}
    if change.patch is not None:
        out["patch"] = change.patch
    return out


def issue(repo: Repo, number: int, title: str, body: str | None, user_login: str, state: str,
          state_reason: str | None, labels: list[str], created_at: float, updated_at: float,
          closed_at: float | None, closed_by: str | None, comments: int, pull: PullRequest | None = None) -> dict:
    u = f"{API}/repos/{repo.full_name}/issues/{number}"
    kind = "Bot" if user_login.endswith("[bot]") else "User"
    out = {
        "id": pull.id if pull else zlib.crc32(f"issue:{repo.id}:{number}".encode()),
        "node_id": node_id("Issue", f"{repo.id}:{number}"), "url": u,
        "repository_url": f"{API}/repos/{repo.full_name}", "labels_url": f"{u}/labels{{/name}}",
        "comments_url": f"{u}/comments", "events_url": f"{u}/events",
        "html_url": f"{WEB}/{repo.full_name}/{'pull' if pull else 'issues'}/{number}",
        "number": number, "state": state, "state_reason": state_reason, "title": title, "body": body,
        "user": user(user_login, kind), "labels": [label(repo, repo.labels[n.lower()]) for n in labels],
        "assignee": None, "assignees": [], "milestone": None, "locked": False, "active_lock_reason": None,
        "comments": comments, "closed_at": iso(closed_at), "created_at": iso(created_at),
        "updated_at": iso(updated_at),
        "closed_by": user(closed_by, "Bot" if closed_by.endswith("[bot]") else "User") if closed_by else None,
        "author_association": "COLLABORATOR" if user_login.lower() in repo.collaborators else "NONE",
        "timeline_url": f"{u}/timeline",
    }
    if pull is not None:
        p = f"{API}/repos/{repo.full_name}/pulls/{number}"
        out["pull_request"] = {"url": p, "html_url": f"{WEB}/{repo.full_name}/pull/{number}",
                               "diff_url": f"{WEB}/{repo.full_name}/pull/{number}.diff",
                               "patch_url": f"{WEB}/{repo.full_name}/pull/{number}.patch",
                               "merged_at": iso(pull.merged_at)}
        out["draft"] = pull.draft
    return out


def issue_comment(repo: Repo, comment) -> dict:
    base = f"{API}/repos/{repo.full_name}/issues"
    kind = "Bot" if comment.user_login.endswith("[bot]") else "User"
    return {
        "id": comment.id, "node_id": node_id("IssueComment", comment.id),
        "url": f"{base}/comments/{comment.id}",
        "html_url": f"{WEB}/{repo.full_name}/issues/{comment.issue_number}#issuecomment-{comment.id}",
        "issue_url": f"{base}/{comment.issue_number}", "body": comment.body, "user": user(comment.user_login, kind),
        "created_at": iso(comment.created_at), "updated_at": iso(comment.updated_at),
        "author_association": "COLLABORATOR" if comment.user_login.lower() in repo.collaborators else "NONE",
    }


def status(repo: Repo, s, with_creator: bool = True) -> dict:
    kind = "Bot" if s.creator_login.endswith("[bot]") else "User"
    creator = user(s.creator_login, kind)
    out = {"url": f"{API}/repos/{repo.full_name}/statuses/{s.sha}", "avatar_url": creator["avatar_url"],
           "id": s.id, "node_id": node_id("StatusContext", s.id), "state": s.state,
           "description": s.description, "target_url": s.target_url, "context": s.context,
           "created_at": iso(s.created_at), "updated_at": iso(s.created_at)}
    if with_creator:
        out["creator"] = creator
    return out


def combined_status(repo: Repo, sha: str, state: str, statuses: list, total: int) -> dict:
    u = f"{API}/repos/{repo.full_name}"
    return {"state": state, "sha": sha, "total_count": total,
            "statuses": [status(repo, s, with_creator=False) for s in statuses],
            "repository": minimal_repository(repo), "commit_url": f"{u}/commits/{sha}",
            "url": f"{u}/commits/{sha}/status"}


def check_suite(repo: Repo, suite_id: int, app: dict, head_sha: str, c: Commit, head_branch: str | None,
                status_: str, conclusion: str | None, runs: int, created_at: float | None,
                updated_at: float | None, pulls: list[PullRequest]) -> dict:
    u = f"{API}/repos/{repo.full_name}/check-suites/{suite_id}"
    return {
        "id": suite_id, "node_id": node_id("CheckSuite", suite_id), "head_branch": head_branch,
        "head_sha": head_sha, "status": status_, "conclusion": conclusion, "url": u,
        "before": c.parents[0] if c.parents else "0" * 40, "after": head_sha,
        "pull_requests": [pull_minimal(repo, p) for p in pulls], "app": app,
        "repository": minimal_repository(repo), "created_at": iso(created_at), "updated_at": iso(updated_at),
        "head_commit": {"id": head_sha, "tree_id": c.tree, "message": c.message, "timestamp": iso(c.committer.timestamp),
                        "author": {"name": c.author.name, "email": c.author.email},
                        "committer": {"name": c.committer.name, "email": c.committer.email}},
        "latest_check_runs_count": runs, "check_runs_url": f"{u}/check-runs",
        "rerequestable": True, "runs_rerequestable": True,
    }


def status_check_policy(repo: Repo, branch_name: str, required: dict) -> dict:
    u = f"{API}/repos/{repo.full_name}/branches/{branch_name}/protection/required_status_checks"
    return {"url": u, "strict": required["strict"], "contexts": [c["context"] for c in required["checks"]],
            "contexts_url": f"{u}/contexts",
            "checks": [{"context": c["context"], "app_id": c["app_id"]} for c in required["checks"]]}


def protection(repo: Repo, branch_name: str, settings: dict) -> dict:
    """The `protected-branch` answer of PUT and (a subset of the same keys) of GET."""
    u = f"{API}/repos/{repo.full_name}/branches/{branch_name}/protection"
    out = {"url": u,
           "enforce_admins": {"url": f"{u}/enforce_admins", "enabled": settings["enforce_admins"]},
           "required_signatures": {"url": f"{u}/required_signatures", "enabled": False}}
    for key in ("required_linear_history", "allow_force_pushes", "allow_deletions", "block_creations",
                "required_conversation_resolution", "lock_branch", "allow_fork_syncing"):
        out[key] = {"enabled": settings[key]}
    if settings["required_status_checks"] is not None:
        out["required_status_checks"] = status_check_policy(repo, branch_name, settings["required_status_checks"])
    reviews = settings["required_pull_request_reviews"]
    if reviews is not None:
        out["required_pull_request_reviews"] = {
            "url": f"{u}/required_pull_request_reviews",
            "dismiss_stale_reviews": bool(reviews.get("dismiss_stale_reviews")),
            "require_code_owner_reviews": bool(reviews.get("require_code_owner_reviews")),
            "required_approving_review_count": int(reviews.get("required_approving_review_count") or 0),
            "require_last_push_approval": bool(reviews.get("require_last_push_approval"))}
    return out
