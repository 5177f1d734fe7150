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
import uuid

from tests.paths import GITHUB

from . import render
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
    payload, repo = _common(double, example("pull_request", "closed.payload.json"), repo_full_name)
    with double.world.lock:
        pr = repo.pulls[number]
        rendered = render.pull(repo, pr, full=True)
    rendered = copy.deepcopy(rendered)
    for end in ("head", "base"):
        rendered[end]["repo"] = payload["repository"]
    payload["pull_request"] = {**payload["pull_request"], **rendered}
    payload.update({"action": "closed", "number": number})
    return signed("pull_request", payload, secret)
