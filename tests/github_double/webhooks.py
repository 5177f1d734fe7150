"""Signed webhook deliveries as GitHub sends them, built from REAL example payloads.

Each delivery starts from a payload recorded from GitHub (octokit/webhooks examples in
../shared/github/webhook-examples) and replaces the facts with the double's state: the
repository, the installation, commits and SHAs, the alert, the pull request. Everything else
keeps GitHub's real shape. Returns (headers, body bytes) ready to POST to the receiver.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import json
import time
import uuid

from tests.paths import GITHUB

from . import handlers, handlers_checks, handlers_issues, merging, people, render
from .gitobjects import Commit, Signature
from .state import Repo

EXAMPLES = GITHUB / "webhook-examples" / "api.github.com"
ZERO_SHA = "0" * 40


@functools.lru_cache(maxsize=None)
def _example(event: str, name: str) -> str:
    return (EXAMPLES / event / name).read_text()


def example(event: str, name: str) -> dict:
    """A fresh copy of one recorded payload."""
    return json.loads(_example(event, name))


def sign(secret: str | bytes, body: bytes) -> str:
    """X-Hub-Signature-256 as GitHub computes it (same as bot.service.signature.sign)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def signed(event: str, payload: dict, secret: str | bytes) -> tuple[dict, bytes]:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "424242",
        "X-Hub-Signature-256": sign(secret, body),
        "User-Agent": "GitHub-Hookshot/1a2b3c4",
        "Content-Type": "application/json",
    }
    return headers, body


def _repository(template: dict, repo: Repo) -> dict:
    """The template's repository object, re-pointed at `repo` (URLs, ids, names, owner, branch)."""
    out = json.loads(json.dumps(template).replace(template["full_name"], repo.full_name))
    ours = render.repository(repo)
    for key in ("id", "node_id", "name", "full_name", "private", "default_branch", "visibility"):
        out[key] = ours[key]
    # The recorded examples predate this field, which GitHub's webhook description now requires.
    out.setdefault("has_discussions", False)
    if "master_branch" in out:
        out["master_branch"] = repo.default_branch
    owner = render.user(repo.owner, "Organization")
    out["owner"] = {**out["owner"], **{k: v for k, v in owner.items() if k in out["owner"]}}
    if "name" in out["owner"]:  # push payloads carry the owner's name and e-mail too
        out["owner"].update(name=repo.owner, email=f"{repo.owner}@users.noreply.github.com")
    return out


def _common(double, payload: dict, repo_full_name: str) -> tuple[dict, Repo]:
    repo = double.repo(repo_full_name)
    if repo is None:
        raise KeyError(f"unknown repository {repo_full_name}")
    payload["repository"] = _repository(payload["repository"], repo)
    inst = double.installation_for(repo_full_name)
    payload["installation"] = {"id": inst.id, "node_id": render.node_id("Installation", inst.id)}
    if "organization" in payload:
        payload["organization"] = {**payload["organization"], "login": repo.owner}
    return payload, repo


def push_delivery(double, repo_full_name: str, changed_files: list[str], secret: str) -> tuple[dict, bytes]:
    """A push of the default branch's head commit that changed `changed_files` (sorted into
    added/modified/removed by comparing the head with its parent)."""
    payload, repo = _common(double, example("push", "with-new-branch.payload.json"), repo_full_name)
    with double.world.lock:
        after = repo.refs[f"refs/heads/{repo.default_branch}"]
        commit = repo.objects.commit(after)
        before = commit.parents[0] if commit.parents else ZERO_SHA
        now = repo.objects.flatten(commit.tree)
        then = repo.objects.flatten(repo.objects.commit(before).tree) if before != ZERO_SHA else {}
    added = [p for p in changed_files if p in now and p not in then]
    modified = [p for p in changed_files if p in now and p in then]
    removed = [p for p in changed_files if p not in now]
    web = f"{render.WEB}/{repo.full_name}"
    template = payload["head_commit"]
    head = {**template, "id": after, "tree_id": commit.tree, "message": commit.message.rstrip("\n"),
            "timestamp": render.iso(commit.author.timestamp), "url": f"{web}/commit/{after}",
            "author": {**template["author"], "name": commit.author.name, "email": commit.author.email},
            "committer": {**template["committer"], "name": commit.committer.name, "email": commit.committer.email},
            "added": added, "removed": removed, "modified": modified}
    payload.update({
        "ref": f"refs/heads/{repo.default_branch}", "before": before, "after": after,
        "created": before == ZERO_SHA, "deleted": False, "forced": False, "base_ref": None,
        "compare": f"{web}/compare/{before[:12]}...{after[:12]}", "commits": [head], "head_commit": head,
    })
    return signed("push", payload, secret)


def code_scanning_delivery(double, repo_full_name: str, alert_number: int, secret: str, action: str = "created",
                           with_instance: bool = True) -> tuple[dict, bytes]:
    """A code_scanning_alert event for a seeded alert. with_instance=False sends
    `most_recent_instance: null`, as 4 of GitHub's 5 recorded examples do."""
    payload, repo = _common(double, example("code_scanning_alert", "created.payload.json"), repo_full_name)
    with double.world.lock:
        alert = repo.alerts[alert_number]
        rendered = render.code_scanning_alert(repo, alert, with_instance)
    template = payload["alert"]
    template.pop("instances", None)  # a retired field: GitHub now sends most_recent_instance
    payload["alert"] = {**template, **rendered,
                        "rule": {**template["rule"], **{k: rendered["rule"][k] for k in
                                                        ("id", "severity", "description", "name")}},
                        "tool": rendered["tool"]}
    payload.update({"action": action, "ref": alert.ref, "commit_oid": alert.commit_sha})
    return signed("code_scanning_alert", payload, secret)


def pull_request_closed_delivery(double, repo_full_name: str, number: int, secret: str) -> tuple[dict, bytes]:
    """pull_request `closed` for PR `number` as the double has it (merged or not: use close_pull first)."""
    return pull_request_delivery(double, repo_full_name, number, secret, "closed")


# -- deliveries for policy and auto-merge (issue 8) ------------------------------------------------
def _overlay(template: dict, ours: dict) -> dict:
    """The recorded object with the double's values for every key both have (GitHub's shape kept:
    keys the API adds but the webhook lacks stay out, keys only the webhook has keep theirs)."""
    return {**template, **{k: v for k, v in ours.items() if k in template}}


def _sender(template: dict, login: str) -> dict:
    kind = "Bot" if login.endswith("[bot]") else "User"
    return _overlay(template, render.user(login, kind))


def _app(template: dict, ours: dict) -> dict:
    """An App object: the recorded shape, plus the slug GitHub sends today (the recordings predate
    it; the official description has it, and telling Apps apart needs it)."""
    return {**_overlay(template, ours), "slug": ours["slug"]}


def _pull_for_webhook(payload: dict, repo: Repo, pr) -> dict:
    rendered = copy.deepcopy(handlers.full_pull(repo, pr))
    for end in ("head", "base"):
        rendered[end]["repo"] = payload["repository"]
    return {**payload["pull_request"], **rendered}


def pull_request_delivery(double, repo_full_name: str, number: int, secret: str, action: str = "opened",
                          before: str | None = None, sender: str | None = None) -> tuple[dict, bytes]:
    """pull_request `opened`, `synchronize` (give `before`, the head before the push) or `closed`
    for PR `number` as the double has it now."""
    example_name = {"opened": "opened.payload.json", "synchronize": "synchronize.payload.json",
                    "closed": "closed.payload.json"}[action]
    payload, repo = _common(double, example("pull_request", example_name), repo_full_name)
    with double.world.lock:
        pr = repo.pulls[number]
        payload["pull_request"] = _pull_for_webhook(payload, repo, pr)
        who = sender or (pr.closed_by if action == "closed" and pr.closed_by else pr.user_login)
    payload.update({"action": action, "number": number, "sender": _sender(payload["sender"], who)})
    if action == "synchronize":
        payload.update({"before": before or ZERO_SHA, "after": payload["pull_request"]["head"]["sha"]})
    return signed("pull_request", payload, secret)


def check_run_delivery(double, repo_full_name: str, check_run_id: int, secret: str,
                       action: str = "completed") -> tuple[dict, bytes]:
    """check_run for run `check_run_id` as the double has it (its App, head SHA, conclusion)."""
    payload, repo = _common(double, example("check_run", "completed.payload.json"), repo_full_name)
    with double.world.lock:
        run = repo.check_runs[check_run_id]
        rendered = handlers.render_check_run(double.world, repo, run)
        suite_key = (run.app_id, run.head_sha)
        suite = handlers_checks._suite_json(double.world, repo, suite_key[0], suite_key[1], run.suite_id)
    template = payload["check_run"]
    out = _overlay(template, rendered)
    out["app"] = _app(template["app"], rendered["app"])
    out["check_suite"] = {**_overlay(template["check_suite"], suite),
                          "app": _app(template["check_suite"]["app"], suite["app"])}
    out["output"] = {**template["output"], **rendered["output"]}
    if out.get("external_id") is None:
        out["external_id"] = ""  # the API's null is an empty string in the webhook (recorded examples)
    payload.update({"action": action, "check_run": out,
                    "sender": _sender(payload["sender"], f"{run.app_slug}[bot]")})
    return signed("check_run", payload, secret)


def check_suite_delivery(double, repo_full_name: str, check_suite_id: int, secret: str,
                         action: str = "completed") -> tuple[dict, bytes]:
    """check_suite for suite `check_suite_id`: its App, head SHA, status and conclusion now."""
    payload, repo = _common(double, example("check_suite", "completed.payload.json"), repo_full_name)
    with double.world.lock:
        key = handlers_checks._suite_key(repo, check_suite_id)
        if key is None:
            raise KeyError(f"no check suite {check_suite_id} in {repo_full_name}")
        suite = handlers_checks._suite_json(double.world, repo, key[0], key[1], check_suite_id)
    template = payload["check_suite"]
    out = _overlay(template, suite)
    out["app"] = _app(template["app"], suite["app"])
    out["head_commit"] = suite["head_commit"]
    payload.update({"action": action, "check_suite": out,
                    "sender": _sender(payload["sender"], f"{suite['app']['slug']}[bot]")})
    return signed("check_suite", payload, secret)


def status_delivery(double, repo_full_name: str, status_id: int, secret: str) -> tuple[dict, bytes]:
    """status for commit status `status_id`: its SHA, state, context, the branches at that SHA."""
    payload, repo = _common(double, example("status", "payload.json"), repo_full_name)
    with double.world.lock:
        status = next(s for s in repo.statuses if s.id == status_id)
        c = repo.objects.commit(status.sha)
        commit = render.commit_with_accounts(repo, status.sha, c,
                                             lambda email: people.account_for_email(double.world, email))
        branches = [{"name": ref[len("refs/heads/"):], "protected": ref[len("refs/heads/"):] in repo.protection,
                     "commit": {"sha": sha, "url": f"{render.API}/repos/{repo.full_name}/commits/{sha}"}}
                    for ref, sha in sorted(repo.refs.items()) if ref.startswith("refs/heads/") and sha == status.sha]
        creator = status.creator_login
    template = payload["commit"]
    commit = _overlay(template, commit)
    commit["commit"] = {**template["commit"], **commit["commit"]}
    for who in ("author", "committer"):  # a linked account keeps the webhook's user shape
        if commit[who] is not None and template.get(who):
            commit[who] = _overlay(template[who], commit[who])
    payload.update({"id": status.id, "sha": status.sha, "name": repo.full_name, "state": status.state,
                    "context": status.context, "description": status.description, "target_url": status.target_url,
                    "created_at": render.iso(status.created_at), "updated_at": render.iso(status.created_at),
                    "commit": commit, "branches": branches, "sender": _sender(payload["sender"], creator),
                    "avatar_url": render.user(creator)["avatar_url"]})
    return signed("status", payload, secret)


def _issue_for_webhook(template: dict, repo: Repo, number: int) -> dict:
    ours = handlers_issues.issue_json(repo, number)
    out = {**template, **ours}
    out["user"] = _overlay(template["user"], ours["user"])
    for key in ("closed_by", "timeline_url"):  # API-only keys the recorded issue lacks
        if key not in template:
            out.pop(key, None)
    return out


def issues_delivery(double, repo_full_name: str, number: int, secret: str, action: str = "opened",
                    sender: str | None = None, changes: dict | None = None) -> tuple[dict, bytes]:
    """issues `opened`, `edited` (give `changes`, e.g. {"body": {"from": old}}), `closed`,
    `reopened` or `labeled` for issue `number` as the double has it. `sender`: who did it."""
    name = {"opened": "opened.payload.json", "edited": "edited.payload.json", "labeled": "labeled.payload.json",
            "closed": "opened.payload.json", "reopened": "reopened.payload.json"}[action]
    payload, repo = _common(double, example("issues", name), repo_full_name)
    with double.world.lock:
        issue = _issue_for_webhook(payload["issue"], repo, number)
    payload.update({"action": action, "issue": issue,
                    "sender": _sender(payload["sender"], sender or issue["user"]["login"])})
    if action == "edited":
        payload["changes"] = changes or {}
    if action == "labeled" and issue["labels"]:
        payload["label"] = issue["labels"][-1]
    return signed("issues", payload, secret)


def issue_comment_delivery(double, repo_full_name: str, comment_id: int, secret: str,
                           action: str = "created") -> tuple[dict, bytes]:
    """issue_comment `created` for comment `comment_id` (on an issue or a PR)."""
    payload, repo = _common(double, example("issue_comment", "created.payload.json"), repo_full_name)
    with double.world.lock:
        comment = repo.comments[comment_id]
        ours = render.issue_comment(repo, comment)
        issue = _issue_for_webhook(payload["issue"], repo, comment.issue_number)
    template = payload["comment"]
    out = {**template, **ours, "user": _overlay(template["user"], ours["user"])}
    payload.update({"action": action, "comment": out, "issue": issue,
                    "sender": _sender(payload["sender"], comment.user_login)})
    return signed("issue_comment", payload, secret)


def merge_group_delivery(double, repo_full_name: str, number: int, secret: str) -> tuple[dict, bytes]:
    """merge_group `checks_requested` for PR `number` entering the merge queue: GitHub makes a
    merge commit of the PR onto its base and a gh-readonly-queue branch pointing at it."""
    payload, repo = _common(double, example("merge_group", "checks_requested.payload.json"), repo_full_name)
    with double.world.lock:
        pr = handlers._refresh(repo, repo.pulls[number])
        tree = merging.merged_tree(repo.objects, pr.base_sha, pr.head_sha)
        who = Signature(*people.WEB_FLOW, int(time.time()))
        message = f"Merge pull request #{number} from {repo.owner}/{pr.head_ref}\n\n{pr.title}\n"
        sha = repo.objects.put_commit(Commit(tree, (pr.base_sha, pr.head_sha), who, who, message))
        head_ref = f"refs/heads/gh-readonly-queue/{pr.base_ref}/pr-{number}-{pr.base_sha}"
        repo.refs[head_ref] = sha
        base_sha, base_ref = pr.base_sha, f"refs/heads/{pr.base_ref}"
    payload["merge_group"] = {
        "head_sha": sha, "head_ref": head_ref, "base_sha": base_sha, "base_ref": base_ref,
        "head_commit": {"id": sha, "tree_id": tree, "message": message.rstrip("\n"),
                        "timestamp": render.iso(who.timestamp),
                        "author": {"name": who.name, "email": who.email},
                        "committer": {"name": who.name, "email": who.email}}}
    return signed("merge_group", payload, secret)
