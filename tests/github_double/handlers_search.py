"""GET /search/issues over the repositories the caller can read, with the qualifiers a bot uses
to find its own issues: repo:, is:/type: issue|pr, is:/state: open|closed, label:, author:,
in:title|body, and free text. An unknown qualifier is searched as text, as GitHub does.
Unlike GitHub the index has no lag: what was just created is found at once."""
from __future__ import annotations

import shlex

from .auth import LEVELS, HTTPError
from .handlers import Ctx, _refresh, paginate
from .handlers_issues import _comment_count, issue_json


def _visible(ctx: Ctx, repo, is_pull: bool) -> bool:
    caller = ctx.caller
    if caller.kind == "anonymous":
        return not repo.private
    if caller.kind != "installation":
        return False
    token = caller.token
    scopes = ("issues", "pull_requests") if is_pull else ("issues",)
    return repo.id in token.repo_ids and any(LEVELS.get(token.permissions.get(s, ""), 0) >= 1 for s in scopes)


def search_issues(ctx: Ctx):
    q = ctx.query.get("q") or ""
    try:
        terms = shlex.split(q)
    except ValueError:
        raise HTTPError(422, "Validation Failed", [{"resource": "Search", "field": "q", "code": "invalid"}])
    repos, kinds, states, labels, authors, where, words = [], set(), set(), [], [], set(), []
    for term in terms:
        key, sep, value = term.partition(":")
        key = key.lower()
        if not sep:
            words.append(term.lower())
        elif key == "repo":
            repos.append(value.lower())
        elif key in ("is", "type", "state") and value.lower() in ("issue", "pr", "open", "closed"):
            (kinds if value.lower() in ("issue", "pr") else states).add(value.lower())
        elif key == "label":
            labels.append(value.lower())
        elif key == "author":
            authors.append(value.lower())
        elif key == "in" and value.lower() in ("title", "body"):
            where.add(value.lower())
        else:
            words.append(term.lower())
    found = []
    for repo in ctx.world.repos.values():
        if repos and repo.full_name.lower() not in repos:
            continue
        for number in sorted(set(repo.issues) | set(repo.pulls)):
            is_pull = number in repo.pulls and number not in repo.issues
            item = _refresh(repo, repo.pulls[number]) if is_pull else repo.issues[number]
            if not _visible(ctx, repo, is_pull):
                continue
            if kinds and ("pr" if is_pull else "issue") not in kinds:
                continue
            if states and item.state not in states:
                continue
            if any(lab not in {n.lower() for n in item.labels} for lab in labels):
                continue
            if authors and item.user_login.lower() not in authors:
                continue
            text = " ".join(t for t in ((item.title if not where or "title" in where else ""),
                                        (item.body or "" if not where or "body" in where else ""))).lower()
            if any(w not in text for w in words):
                continue
            found.append((repo, number, item))
    sort = ctx.query.get("sort")
    key = {"updated": lambda f: f[2].updated_at, "comments": lambda f: _comment_count(f[0], f[1])}.get(
        sort, lambda f: f[2].created_at)
    found.sort(key=lambda f: (key(f), f[1]), reverse=ctx.query.get("order", "desc") == "desc")
    page, links = paginate(ctx, found)
    return 200, {"total_count": len(found), "incomplete_results": False, "search_type": "lexical",
                 "items": [{**issue_json(repo, number), "score": 1.0} for repo, number, _ in page]}, links
