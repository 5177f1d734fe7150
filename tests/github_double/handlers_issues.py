"""Issues and their comments. Issues and pull requests share numbers, as on GitHub: a PR answers
the issues API too (with a `pull_request` key), and its title, body, state and labels are the
PR's own. The `issues` permission covers issues; a PR's number also accepts `pull_requests`
(app.py's authorisation does that)."""
from __future__ import annotations

import time
from datetime import datetime

from . import render
from .auth import HTTPError
from .handlers import BODY_LIMIT, Ctx, _actor_login, _refresh, _validation, paginate
from .state import Issue, IssueComment, Label, PullRequest, Repo, next_id

CLOSE_REASONS = ("completed", "not_planned", "duplicate")


def _comment_count(repo: Repo, number: int) -> int:
    return sum(1 for c in repo.comments.values() if c.issue_number == number)


def issue_json(repo: Repo, number: int) -> dict:
    item = repo.issues.get(number) or repo.pulls.get(number)
    if isinstance(item, PullRequest):
        pr = _refresh(repo, item)
        return render.issue(repo, number, pr.title, pr.body, pr.user_login, pr.state, None, pr.labels,
                            pr.created_at, pr.updated_at, pr.closed_at, pr.closed_by,
                            _comment_count(repo, number), pull=pr)
    return render.issue(repo, number, item.title, item.body, item.user_login, item.state, item.state_reason,
                        item.labels, item.created_at, item.updated_at, item.closed_at, item.closed_by,
                        _comment_count(repo, number))


def _item(ctx: Ctx):
    number = int(ctx.params["issue_number"])
    item = ctx.repo.issues.get(number) or ctx.repo.pulls.get(number)
    if item is None:
        raise HTTPError(404, "Not Found")
    return number, item


def _check_text(body: object, resource: str = "Issue") -> None:
    if isinstance(body, str) and len(body) > BODY_LIMIT:
        raise _validation("Validation Failed", resource=resource, code="custom", field="body",
                          message=f"body is too long (maximum is {BODY_LIMIT} characters)")


def _label_names(repo: Repo, given: list) -> list[str]:
    """Label names as given (strings or {name}), created when unknown, de-duplicated."""
    names: list[str] = []
    for entry in given or []:
        name = entry.get("name") if isinstance(entry, dict) else str(entry)
        if not name:
            continue
        if name.lower() not in repo.labels:  # GitHub creates unknown labels on the fly
            repo.labels[name.lower()] = Label(next_id(), name)
        canonical = repo.labels[name.lower()].name
        if canonical.lower() not in (n.lower() for n in names):
            names.append(canonical)
    return names


def open_issue(repo: Repo, title: str, body: str | None, login: str, labels: list | None = None) -> Issue:
    number, repo.next_number = repo.next_number, repo.next_number + 1
    issue = Issue(next_id(), number, title, body, login, labels=_label_names(repo, labels or []))
    repo.issues[number] = issue
    return issue


def create_issue(ctx: Ctx):
    repo, body = ctx.repo, ctx.body or {}
    if body.get("title") in (None, ""):
        raise _validation("Validation Failed", resource="Issue", field="title", code="missing_field")
    _check_text(body.get("body"))
    issue = open_issue(repo, str(body["title"]), body.get("body"), _actor_login(ctx) or "octocat",
                       body.get("labels"))
    out = issue_json(repo, issue.number)
    return 201, out, {"Location": out["url"]}


def _since(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise _validation("Validation Failed", resource="Issue", field="since", code="invalid")


def list_issues(ctx: Ctx):
    repo, q = ctx.repo, ctx.query
    state = q.get("state", "open")
    numbers = sorted(set(repo.issues) | set(repo.pulls))
    rows = [(n, repo.issues.get(n) or _refresh(repo, repo.pulls[n])) for n in numbers]
    if state != "all":
        rows = [(n, i) for n, i in rows if i.state == state]
    if q.get("labels"):
        wanted = {w.strip().lower() for w in q["labels"].split(",") if w.strip()}
        rows = [(n, i) for n, i in rows if wanted <= {name.lower() for name in i.labels}]
    if q.get("creator"):
        rows = [(n, i) for n, i in rows if i.user_login.lower() == q["creator"].lower()]
    since = _since(q.get("since"))
    if since is not None:
        rows = [(n, i) for n, i in rows if i.updated_at >= since]
    sort = q.get("sort", "created")
    key = {"created": lambda r: r[1].created_at, "updated": lambda r: r[1].updated_at,
           "comments": lambda r: _comment_count(repo, r[0])}.get(sort, lambda r: r[1].created_at)
    rows.sort(key=lambda r: (key(r), r[0]), reverse=q.get("direction", "desc") == "desc")
    page, links = paginate(ctx, rows)
    return 200, [issue_json(repo, n) for n, _ in page], links


def get_issue(ctx: Ctx):
    number, _ = _item(ctx)
    return 200, issue_json(ctx.repo, number)


def update_issue(ctx: Ctx):
    repo, body = ctx.repo, ctx.body or {}
    number, item = _item(ctx)
    _check_text(body.get("body"))
    if "title" in body:
        if body["title"] in (None, ""):
            raise _validation("Validation Failed", resource="Issue", field="title", code="missing_field")
        item.title = str(body["title"])
    if "body" in body:
        item.body = body["body"]
    if "labels" in body:
        item.labels = _label_names(repo, body["labels"] or [])
    now = time.time()
    wanted = body.get("state")
    if wanted in ("open", "closed") and wanted != item.state:
        if isinstance(item, PullRequest):
            if item.merged_at is not None or (wanted == "open" and f"refs/heads/{item.head_ref}" not in repo.refs):
                raise _validation("Validation Failed", resource="Issue", field="state", code="invalid")
        else:
            reason = body.get("state_reason")
            if wanted == "closed":
                item.state_reason = reason if reason in CLOSE_REASONS else "completed"
            else:
                item.state_reason = "reopened"
        item.state = wanted
        item.closed_at = now if wanted == "closed" else None
        item.closed_by = (_actor_login(ctx) or "octocat") if wanted == "closed" else None
    item.updated_at = now
    return 200, issue_json(repo, number)


def add_labels(ctx: Ctx):
    repo, body = ctx.repo, ctx.body
    _, item = _item(ctx)
    names = body if isinstance(body, list) else (body or {}).get("labels") or []
    for name in _label_names(repo, names):
        if name.lower() not in (n.lower() for n in item.labels):
            item.labels.append(name)
    item.updated_at = time.time()
    return 200, [render.label(repo, repo.labels[n.lower()]) for n in item.labels]


# -- comments --------------------------------------------------------------------------------
def add_comment(repo: Repo, number: int, body: str, login: str) -> IssueComment:
    comment = IssueComment(next_id(), number, login, body)
    repo.comments[comment.id] = comment
    return comment


def create_comment(ctx: Ctx):
    repo, body = ctx.repo, ctx.body or {}
    number, item = _item(ctx)
    if not body.get("body"):
        raise _validation("Validation Failed", resource="IssueComment", field="body", code="missing_field")
    _check_text(body["body"], "IssueComment")
    comment = add_comment(repo, number, body["body"], _actor_login(ctx) or "octocat")
    item.updated_at = time.time()
    out = render.issue_comment(repo, comment)
    return 201, out, {"Location": out["url"]}


def list_comments(ctx: Ctx):
    repo = ctx.repo
    number, _ = _item(ctx)
    since = _since(ctx.query.get("since"))
    comments = [c for c in sorted(repo.comments.values(), key=lambda c: c.id) if c.issue_number == number
                and (since is None or c.updated_at >= since)]
    page, links = paginate(ctx, comments)
    return 200, [render.issue_comment(repo, c) for c in page], links


def _comment(ctx: Ctx) -> IssueComment:
    comment = ctx.repo.comments.get(int(ctx.params["comment_id"]))
    if comment is None:
        raise HTTPError(404, "Not Found")
    return comment


def get_comment(ctx: Ctx):
    return 200, render.issue_comment(ctx.repo, _comment(ctx))


def update_comment(ctx: Ctx):
    comment, body = _comment(ctx), ctx.body or {}
    _check_text(body.get("body"), "IssueComment")
    comment.body, comment.updated_at = body["body"], time.time()
    return 200, render.issue_comment(ctx.repo, comment)


def list_labels(ctx: Ctx):
    _, item = _item(ctx)
    page, links = paginate(ctx, list(item.labels))
    return 200, [render.label(ctx.repo, ctx.repo.labels[n.lower()]) for n in page], links


def set_labels(ctx: Ctx):
    """PUT labels: replace the set (a bare array of names, as PyGithub's set_labels sends, or {labels})."""
    _, item = _item(ctx)
    body = ctx.body
    item.labels = _label_names(ctx.repo, body if isinstance(body, list) else (body or {}).get("labels") or [])
    item.updated_at = time.time()
    return 200, [render.label(ctx.repo, ctx.repo.labels[n.lower()]) for n in item.labels]


def remove_label(ctx: Ctx):
    _, item = _item(ctx)
    name = ctx.params["name"].lower()
    if name not in (n.lower() for n in item.labels):
        raise HTTPError(404, "Label does not exist")
    item.labels = [n for n in item.labels if n.lower() != name]
    item.updated_at = time.time()
    return 200, [render.label(ctx.repo, ctx.repo.labels[n.lower()]) for n in item.labels]
