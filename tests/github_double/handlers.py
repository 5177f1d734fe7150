"""Endpoint behaviour: one function per operation, working on the World under its lock.

Each handler gets a Ctx and returns (status, json_body[, extra_headers]) or raises HTTPError.
Messages copy GitHub's where known, because bots match on them (e.g. "Reference already exists").
"""
from __future__ import annotations

import base64
import dataclasses
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from . import merging, render
from .auth import Caller, HTTPError, issue_token, require_app
from .gitobjects import BLOB_MODES, SUBMODULE_MODE, TREE_MODE, Commit, Signature
from .state import CheckRun, PullRequest, Repo, Review, World, next_id

SHA_LEN = 40


@dataclass
class Ctx:
    world: World
    caller: Caller
    params: dict[str, str]
    query: dict[str, str]
    body: object
    repo: Repo | None = None
    path: str = ""


# -- pagination ---------------------------------------------------------------------------
DEFAULT_PER_PAGE, MAX_PER_PAGE = 30, 100


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def paginate(ctx: Ctx, items: list) -> tuple[list, dict[str, str]]:
    """One page of `items` and GitHub's Link header (prev, next, last, first; only those that apply).

    GitHub's links point at /repositories/{id}/...; the description has no such paths, so the
    double links the /repos/{owner}/{repo}/... form it was called with (GitHub serves both).
    """
    per_page = min(max(_int(ctx.query.get("per_page"), DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
    page = max(_int(ctx.query.get("page"), 1), 1)
    last = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page: page * per_page]

    def link(n: int, rel: str) -> str:
        query = {**ctx.query, "per_page": str(per_page), "page": str(n)}
        return f'<{render.API}{ctx.path}?{urlencode(query)}>; rel="{rel}"'

    rels = []
    if page > 1:
        rels.append(link(min(page - 1, last), "prev"))
    if page < last:
        rels += [link(page + 1, "next"), link(last, "last")]
    if page > 1:
        rels.append(link(1, "first"))
    return chunk, ({"Link": ", ".join(rels)} if rels else {})


def _validation(message: str, /, **error) -> HTTPError:
    return HTTPError(422, message, [error] if error else None)


def _actor_login(ctx: Ctx) -> str | None:
    """The login an installation token acts as: its App's bot user ("<slug>[bot]")."""
    if ctx.caller.kind != "installation":
        return None
    inst = ctx.world.installations[ctx.caller.token.installation_id]
    return f"{ctx.world.apps[inst.app_id].slug}[bot]"


#: GitHub's limit on a pull request's body, in characters.
BODY_LIMIT = 65_536


def _check_body(body: object) -> None:
    if isinstance(body, str) and len(body) > BODY_LIMIT:
        raise _validation("Validation Failed", resource="PullRequest", code="custom", field="body",
                          message=f"body is too long (maximum is {BODY_LIMIT} characters)")


# -- apps ---------------------------------------------------------------------------------
def get_authenticated_app(ctx: Ctx):
    app = require_app(ctx.caller)
    perms = next((dict(i.permissions) for i in ctx.world.installations.values() if i.app_id == app.id), {})
    return 200, render.integration(app.id, app.slug, perms)


def create_installation_token(ctx: Ctx):
    app = require_app(ctx.caller)
    inst = ctx.world.installations.get(int(ctx.params["installation_id"]))
    if inst is None or inst.app_id != app.id:
        raise HTTPError(404, "Not Found")
    token = issue_token(ctx.world, inst, ctx.body or {})
    body = {"token": token.value, "expires_at": render.iso(token.expires_at),
            "permissions": token.permissions,
            "repository_selection": "selected"}
    if set(token.repo_ids) != set(inst.repo_ids) or (ctx.body or {}).get("repositories") is not None \
            or (ctx.body or {}).get("repository_ids") is not None:
        body["repositories"] = [render.repository(r) for r in ctx.world.repos.values() if r.id in token.repo_ids]
    return 201, body


def revoke_installation_token(ctx: Ctx):
    if ctx.caller.kind != "installation":
        raise HTTPError(401, "Bad credentials")
    ctx.caller.token.revoked = True
    return 204, None


# -- repository and contents -------------------------------------------------------------
def get_repo(ctx: Ctx):
    return 200, render.repository(ctx.repo)


def resolve_commitish(repo: Repo, ref: str | None) -> str | None:
    """A branch, tag, full ref or commit SHA -> commit SHA, as GitHub's ?ref= accepts."""
    ref = ref or repo.default_branch
    for candidate in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}"):
        if candidate in repo.refs:
            return repo.refs[candidate]
    if len(ref) == SHA_LEN and repo.objects.kind(ref) == "commit":
        return ref.lower()
    return None


def get_content(ctx: Ctx):
    repo, path = ctx.repo, ctx.params["path"].strip("/")
    ref = ctx.query.get("ref") or repo.default_branch
    sha = resolve_commitish(repo, ref)
    if sha is None:
        raise HTTPError(404, f"No commit found for the ref {ref}")
    entry = repo.objects.lookup(repo.objects.commit(sha).tree, path)
    if entry is None:
        raise HTTPError(404, "Not Found")
    if entry.mode == TREE_MODE:
        items = []
        for child_path, e in repo.objects.walk(entry.sha, prefix=f"{path}/" if path else "", recursive=False):
            kind = {"tree": "dir", "commit": "submodule"}.get(e.kind, "file")
            size = len(repo.objects.get(e.sha, "blob") or b"") if kind == "file" else 0
            items.append(render.content_dir_entry(repo, child_path, kind, e.sha, size, ref))
        return 200, items
    if entry.mode not in BLOB_MODES or entry.mode == "120000":
        raise HTTPError(404, "Not Found")  # symlinks and submodules: not in this slice
    return 200, render.content_file(repo, path, entry.sha, repo.objects.get(entry.sha, "blob"), ref)


# -- git data: blobs, trees, commits -----------------------------------------------------
def create_blob(ctx: Ctx):
    body = ctx.body or {}
    encoding = body.get("encoding", "utf-8")
    if encoding == "base64":
        try:
            data = base64.b64decode(body["content"], validate=False)
        except ValueError:
            raise _validation("Invalid request.\n\ncontent is not valid Base64.")
    elif encoding in ("utf-8", "utf8"):
        data = body["content"].encode()
    else:
        raise _validation("encoding must be one of utf-8 or base64")
    sha = ctx.repo.objects.put_blob(data)
    return 201, render.short_blob(ctx.repo, sha), {"Location": render.short_blob(ctx.repo, sha)["url"]}


def get_blob(ctx: Ctx):
    sha = ctx.params["file_sha"].lower()
    data = ctx.repo.objects.get(sha, "blob")
    if data is None:
        raise HTTPError(404, "Not Found")
    return 200, render.blob(ctx.repo, sha, data)


WORKFLOWS_DIR = ".github/workflows/"


def _may_write_workflows(ctx: Ctx) -> bool:
    """GitHub lets an App write under .github/workflows/ only with `workflows: write`; without it
    the Git data API answers 404 for a tree that writes there (a person's push is not checked)."""
    if ctx.caller.kind != "installation":
        return True
    return ctx.caller.token.permissions.get("workflows") == "write"


def create_tree(ctx: Ctx):
    repo, body = ctx.repo, ctx.body or {}
    if not _may_write_workflows(ctx) and any(
            str(item.get("path") or "").lstrip("/").startswith(WORKFLOWS_DIR) for item in body.get("tree") or []):
        raise HTTPError(404, "Not Found")
    base = body.get("base_tree")
    if base is not None and repo.objects.kind(base) != "tree":
        raise _validation("Invalid tree info", resource="Tree", field="base_tree", code="invalid")
    changes: dict[str, tuple[str, str] | None] = {}
    for i, item in enumerate(body.get("tree") or []):
        path, mode, kind = item.get("path"), item.get("mode"), item.get("type")
        if not path or mode not in BLOB_MODES | {"040000", SUBMODULE_MODE}:
            raise _validation("Invalid tree info", resource="Tree", field=f"tree.{i}", code="invalid")
        if "content" in item and item.get("content") is not None:
            changes[path] = (mode, repo.objects.put_blob(item["content"].encode()))
            continue
        sha = item.get("sha")
        if sha is None:  # null sha deletes the path (only meaningful with base_tree)
            changes[path] = None
            continue
        expected = {"blob": "blob", "tree": "tree", "commit": "commit"}.get(kind)
        if kind != "commit" and repo.objects.kind(sha) != expected:
            raise _validation(f"tree.sha {sha} is not a valid {kind}", resource="Tree",
                              field=f"tree.{i}.sha", code="invalid")
        changes[path] = ("40000" if mode == "040000" else mode, sha.lower())
    try:
        sha = repo.objects.apply_changes(base, changes)
    except ValueError:  # a name git cannot store (a NUL in it)
        raise _validation("Invalid tree info", resource="Tree", field="tree", code="invalid")
    out = render.tree(repo, sha, recursive=False)
    return 201, out, {"Location": out["url"]}


def get_tree(ctx: Ctx):
    sha = resolve_commitish(ctx.repo, ctx.params["tree_sha"])  # GitHub also takes a branch or commit
    if sha is not None:
        sha = ctx.repo.objects.commit(sha).tree
    else:
        sha = ctx.params["tree_sha"].lower()
    if ctx.repo.objects.kind(sha) != "tree":
        raise HTTPError(404, "Not Found")
    recursive = ctx.query.get("recursive") not in (None, "", "0", "false")
    return 200, render.tree(ctx.repo, sha, recursive, ctx.world.tree_entry_limit)


def _signature(given: dict | None, default_name: str, now: int) -> Signature:
    if not given:
        uid = render.user(default_name)["id"]  # GitHub's noreply address: "<user id>+<login>@users.noreply..."
        return Signature(default_name, f"{uid}+{default_name}@users.noreply.github.com", now)
    ts, tz = now, "+0000"
    if given.get("date"):
        when = datetime.fromisoformat(given["date"].replace("Z", "+00:00"))
        ts = int(when.timestamp())
        offset = int(when.utcoffset().total_seconds() // 60) if when.utcoffset() is not None else 0
        tz = f"{'+' if offset >= 0 else '-'}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
    return Signature(given["name"], given["email"], ts, tz)


def create_commit(ctx: Ctx):
    repo, body = ctx.repo, ctx.body or {}
    if repo.objects.kind(body.get("tree", "")) != "tree":
        raise _validation("Tree SHA does not exist")
    parents = [p.lower() for p in body.get("parents") or []]
    if any(repo.objects.kind(p) != "commit" for p in parents):
        raise _validation("Parent SHA does not exist or is not a commit object")
    now = int(time.time())
    actor = _actor_login(ctx) or "double"  # as GitHub does: the token's bot account when none is given
    author = _signature(body.get("author"), actor, now)
    committer = _signature(body.get("committer"), actor, now) if body.get("committer") else author
    commit = Commit(body["tree"].lower(), tuple(parents), author, committer, body["message"])
    sha = repo.objects.put_commit(commit)
    out = render.git_commit(repo, sha, commit)
    return 201, out, {"Location": out["url"]}


def get_commit(ctx: Ctx):
    sha = ctx.params["commit_sha"].lower()
    commit = ctx.repo.objects.commit(sha)
    if commit is None:
        raise HTTPError(404, "Not Found")
    return 200, render.git_commit(ctx.repo, sha, commit)


# -- refs and branches -------------------------------------------------------------------
def _full_ref(short: str) -> str:
    return short if short.startswith("refs/") else f"refs/{short}"


def get_ref(ctx: Ctx):
    ref = _full_ref(ctx.params["ref"])
    if ref not in ctx.repo.refs:
        raise HTTPError(404, "Not Found")
    return 200, render.git_ref(ctx.repo, ref, ctx.repo.refs[ref])


def list_matching_refs(ctx: Ctx):
    prefix = _full_ref(ctx.params.get("ref", ""))
    page, links = paginate(ctx, [(r, s) for r, s in sorted(ctx.repo.refs.items()) if r.startswith(prefix)])
    return 200, [render.git_ref(ctx.repo, r, s) for r, s in page], links


def list_refs(ctx: Ctx):
    page, links = paginate(ctx, sorted(ctx.repo.refs.items()))
    return 200, [render.git_ref(ctx.repo, r, s) for r, s in page], links


def create_ref(ctx: Ctx):
    repo, body = ctx.repo, ctx.body or {}
    ref, sha = body.get("ref", ""), (body.get("sha") or "").lower()
    if not ref.startswith("refs/") or ref.count("/") < 2:
        raise _validation("Reference name must start with 'refs/' and have at least two slashes.")
    if repo.objects.kind(sha) is None:
        raise _validation("Object does not exist")
    if ref in repo.refs:
        raise _validation("Reference already exists")
    repo.refs[ref] = sha
    out = render.git_ref(repo, ref, sha)
    return 201, out, {"Location": out["url"]}


def update_ref(ctx: Ctx):
    repo, body = ctx.repo, ctx.body or {}
    ref, sha = _full_ref(ctx.params["ref"]), (body.get("sha") or "").lower()
    if ref not in repo.refs:
        raise _validation("Reference does not exist")
    if repo.objects.kind(sha) is None:
        raise _validation("Object does not exist")
    if not body.get("force") and not repo.objects.is_ancestor(repo.refs[ref], sha):
        raise _validation("Update is not a fast forward")
    repo.refs[ref] = sha
    return 200, render.git_ref(repo, ref, sha)


def delete_ref(ctx: Ctx):
    repo, ref = ctx.repo, _full_ref(ctx.params["ref"])
    if ref not in repo.refs:
        raise _validation("Reference does not exist")
    if ref == f"refs/heads/{repo.default_branch}":
        # Untested in this slice: GitHub refuses; the description documents this 422 without a body.
        raise _validation("Cannot delete the default branch")
    del repo.refs[ref]
    return 204, None


def get_branch(ctx: Ctx):
    name = ctx.params["branch"]
    sha = ctx.repo.refs.get(f"refs/heads/{name}")
    if sha is None:
        raise HTTPError(404, "Branch not found")
    return 200, render.branch(ctx.repo, name, sha)


# -- pull requests and labels ------------------------------------------------------------
def _branch_name(repo: Repo, head: str) -> str:
    owner, sep, name = head.partition(":")
    if sep and owner.lower() != repo.owner.lower():
        raise _validation("Validation Failed", resource="PullRequest", field="head", code="invalid")
    return name if sep else head


def create_pull(ctx: Ctx):
    repo, body = ctx.repo, ctx.body or {}
    head, base = _branch_name(repo, body.get("head", "")), body.get("base", "")
    head_sha = repo.refs.get(f"refs/heads/{head}")
    base_sha = repo.refs.get(f"refs/heads/{base}")
    if head_sha is None:
        raise _validation("Validation Failed", resource="PullRequest", field="head", code="invalid")
    if base_sha is None:
        raise _validation("Validation Failed", resource="PullRequest", field="base", code="invalid")
    if not body.get("title"):
        raise _validation("Validation Failed", resource="PullRequest", field="title", code="missing_field")
    _check_body(body.get("body"))
    for pr in repo.pulls.values():
        if pr.state == "open" and pr.head_ref == head and pr.base_ref == base:
            raise _validation("Validation Failed", resource="PullRequest", code="custom",
                              message=f"A pull request already exists for {repo.owner}:{head}.")
    if repo.objects.is_ancestor(head_sha, base_sha):
        raise _validation("Validation Failed", resource="PullRequest", code="custom",
                          message=f"No commits between {base} and {head}")
    number, repo.next_number = repo.next_number, repo.next_number + 1
    login = _actor_login(ctx) or "octocat"
    pr = PullRequest(next_id(), number, body["title"], body.get("body"), head, base, head_sha, base_sha,
                     login, draft=bool(body.get("draft")),
                     maintainer_can_modify=bool(body.get("maintainer_can_modify")))
    repo.pulls[number] = pr
    out = full_pull(repo, pr)
    return 201, out, {"Location": out["url"]}


def _refresh(repo: Repo, pr: PullRequest) -> PullRequest:
    # A PR's head/base SHAs follow its branches while it is open, as on GitHub.
    if pr.state == "open":
        pr.head_sha = repo.refs.get(f"refs/heads/{pr.head_ref}", pr.head_sha)
        pr.base_sha = repo.refs.get(f"refs/heads/{pr.base_ref}", pr.base_sha)
    return pr


def list_pulls(ctx: Ctx):
    repo, q = ctx.repo, ctx.query
    state = q.get("state", "open")
    if state not in ("open", "closed", "all"):
        raise _validation("Validation Failed", resource="PullRequest", field="state", code="invalid")
    pulls = [_refresh(repo, p) for p in repo.pulls.values()]
    if state != "all":
        pulls = [p for p in pulls if p.state == state]
    if q.get("head"):
        # Documented form is "owner:branch"; a bare branch name is matched as this repo's owner.
        owner, sep, name = q["head"].partition(":")
        owner, name = (owner, name) if sep else (repo.owner, owner)
        pulls = [p for p in pulls if owner.lower() == repo.owner.lower() and p.head_ref == name]
    if q.get("base"):
        pulls = [p for p in pulls if p.base_ref == q["base"]]
    key = {"created": lambda p: p.created_at, "updated": lambda p: p.updated_at}.get(q.get("sort", "created"),
                                                                                      lambda p: p.created_at)
    pulls.sort(key=lambda p: (key(p), p.number), reverse=q.get("direction", "desc") == "desc")
    page, links = paginate(ctx, pulls)
    return 200, [render.pull(repo, p, full=False) for p in page], links


def _pull(ctx: Ctx) -> PullRequest:
    pr = ctx.repo.pulls.get(int(ctx.params["pull_number"]))
    if pr is None:
        raise HTTPError(404, "Not Found")
    return _refresh(ctx.repo, pr)


def pull_details(repo: Repo, pr: PullRequest) -> dict:
    """What GitHub computes for a PR's full form: mergeability and the size of its change."""
    m = merging.mergeability(repo, pr)
    if pr.mergeable_override == "unknown" and pr.state == "open":  # GitHub has not computed it yet
        m = merging.Mergeability(None, "unknown", m.refusal)
    base = pr.base_sha  # once closed it no longer follows the branch: for a merged PR, the base it merged onto
    commits = merging.pull_commits(repo.objects, base, pr.head_sha)
    common = repo.objects.merge_base(base, pr.head_sha)
    changes = merging.file_changes(repo.objects, repo.objects.commit(common).tree if common else None,
                                   repo.objects.commit(pr.head_sha).tree)
    return {"mergeable": m.mergeable, "rebaseable": m.mergeable, "mergeable_state": m.state,
            "commits": len(commits), "additions": sum(c.additions for c in changes),
            "deletions": sum(c.deletions for c in changes), "changed_files": len(changes),
            "comments": sum(1 for c in repo.comments.values() if c.issue_number == pr.number)}


def full_pull(repo: Repo, pr: PullRequest) -> dict:
    return render.pull(repo, pr, full=True, details=pull_details(repo, _refresh(repo, pr)))


def get_pull(ctx: Ctx):
    return 200, full_pull(ctx.repo, _pull(ctx))


def update_pull(ctx: Ctx):
    pr, body = _pull(ctx), ctx.body or {}
    _check_body(body.get("body"))
    if "title" in body:
        pr.title = body["title"]
    if "body" in body:
        pr.body = body["body"]
    if "base" in body:
        if f"refs/heads/{body['base']}" not in ctx.repo.refs:
            raise _validation("Validation Failed", resource="PullRequest", field="base", code="invalid")
        pr.base_ref = body["base"]
    if body.get("state") in ("open", "closed") and body["state"] != pr.state:
        if body["state"] == "open" and f"refs/heads/{pr.head_ref}" not in ctx.repo.refs:
            raise _validation("Validation Failed", resource="PullRequest", field="state", code="invalid")
        pr.state = body["state"]
        pr.closed_at = time.time() if pr.state == "closed" else None
        pr.closed_by = (_actor_login(ctx) or "octocat") if pr.state == "closed" else None
    pr.updated_at = time.time()
    return 200, full_pull(ctx.repo, pr)


# -- review requests ---------------------------------------------------------------------
NOT_COLLABORATOR = ("Reviews may only be requested from collaborators. One or more of the users or teams you "
                    "specified is not a collaborator of the {repo} repository.")


def request_reviewers(ctx: Ctx):
    repo, body = ctx.repo, ctx.body or {}
    pr = _pull(ctx)
    users, teams = list(body.get("reviewers") or []), list(body.get("team_reviewers") or [])
    if any(u.lower() == pr.user_login.lower() for u in users):
        raise _validation("Review cannot be requested from pull request author.")
    if any(u.lower() not in repo.collaborators for u in users) or any(t.lower() not in repo.teams for t in teams):
        raise _validation(NOT_COLLABORATOR.format(repo=repo.full_name))
    for login in (repo.collaborators[u.lower()] for u in users):
        if login not in pr.requested_reviewers:
            pr.requested_reviewers.append(login)
    for slug in (repo.teams[t.lower()] for t in teams):
        if slug not in pr.requested_teams:
            pr.requested_teams.append(slug)
    pr.updated_at = time.time()
    return 201, render.pull(repo, pr, full=False)


def list_requested_reviewers(ctx: Ctx):
    return 200, render.review_requests(ctx.repo, _pull(ctx))


# -- code scanning -----------------------------------------------------------------------
def _alert(ctx: Ctx):
    alert = ctx.repo.alerts.get(int(ctx.params["alert_number"]))
    if alert is None:
        raise HTTPError(404, "No alert found for alert number " + ctx.params["alert_number"])
    return alert


def get_code_scanning_alert(ctx: Ctx):
    return 200, render.code_scanning_alert(ctx.repo, _alert(ctx))


def list_code_scanning_instances(ctx: Ctx):
    alert = _alert(ctx)  # the double keeps one instance per alert: its most recent one
    page, links = paginate(ctx, [alert])
    return 200, [render.code_scanning_instance(ctx.repo, a) for a in page], links


# -- installations (App JWT) ---------------------------------------------------------------
def list_installations(ctx: Ctx):
    app = require_app(ctx.caller)
    page, links = paginate(ctx, [i for i in ctx.world.installations.values() if i.app_id == app.id])
    return 200, [render.installation(i, app.slug) for i in page], links


def get_installation(ctx: Ctx):
    app = require_app(ctx.caller)
    inst = ctx.world.installations.get(int(ctx.params["installation_id"]))
    if inst is None or inst.app_id != app.id:  # another App's installation is not yours to see
        raise HTTPError(404, "Not Found")
    return 200, render.installation(inst, app.slug)


def get_repo_installation(ctx: Ctx):
    app = require_app(ctx.caller)
    repo = ctx.world.repo(ctx.params["owner"], ctx.params["repo"])
    for inst in ctx.world.installations.values():
        if repo is not None and inst.app_id == app.id and repo.id in inst.repo_ids:
            return 200, render.installation(inst, app.slug)
    raise HTTPError(404, "Not Found")


# -- pull request reviews ------------------------------------------------------------------
REVIEW_STATES = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED",
                 None: "PENDING"}  # no event: a pending review, to be submitted later
OWN_PULL = {"APPROVE": "Can not approve your own pull request",
            "REQUEST_CHANGES": "Can not request changes on your own pull request"}


def create_review(ctx: Ctx):
    """Inline `comments` are accepted and not kept; GitHub's "one pending review per user" rule is
    not enforced (its error uses object `errors` that the documented 422 schema does not allow)."""
    repo, body = ctx.repo, ctx.body or {}
    pr, login = _pull(ctx), _actor_login(ctx)
    event = body.get("event")
    if event in OWN_PULL and login.lower() == pr.user_login.lower():
        raise HTTPError(422, "Unprocessable Entity", [OWN_PULL[event]])  # GitHub's words
    if event in ("REQUEST_CHANGES", "COMMENT") and not body.get("body"):
        # The description says the body is required here; the wording is the double's own.
        raise HTTPError(422, "Unprocessable Entity", [f"Body is required when using {event}"])
    commit_id = (body.get("commit_id") or pr.head_sha).lower()
    if repo.objects.kind(commit_id) != "commit":
        raise HTTPError(422, "Unprocessable Entity", [f"No commit found for SHA: {commit_id}"])
    review = Review(next_id(), login, REVIEW_STATES[event], body.get("body") or "", commit_id,
                    None if event is None else time.time())
    pr.reviews.append(review)
    pr.updated_at = time.time()
    return 200, render.review(repo, pr, review)


def list_reviews(ctx: Ctx):
    pr, me = _pull(ctx), (_actor_login(ctx) or "").lower()
    # A pending review is visible to its author only.
    visible = [r for r in pr.reviews if r.state != "PENDING" or r.user_login.lower() == me]
    page, links = paginate(ctx, visible)
    return 200, [render.review(ctx.repo, pr, r) for r in page], links


# -- check runs ----------------------------------------------------------------------------
def check_suite_id(repo: Repo, app_id: int, head_sha: str) -> int:
    """GitHub groups an App's check runs on one commit into one check suite."""
    return repo.check_suites.setdefault((app_id, head_sha), next_id())


def render_check_run(world: World, repo: Repo, run: CheckRun) -> dict:
    perms = next((dict(i.permissions) for i in world.installations.values()
                  if i.app_id == run.app_id and repo.id in i.repo_ids), {"checks": "write", "metadata": "read"})
    pulls = [p for p in repo.pulls.values() if p.state == "open" and _refresh(repo, p).head_sha == run.head_sha]
    return render.check_run(repo, run, perms, pulls)


def _timestamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _apply_check_run(run: CheckRun, body: dict) -> None:
    """Apply a create/update body to `run` (a fresh object or a copy: it may be left half-done).
    The 422 wordings are the double's own; the rules are the description's."""
    for key in ("name", "details_url", "external_id"):
        if key in body:
            setattr(run, key, body[key])
    if body.get("started_at"):
        run.started_at = _timestamp(body["started_at"])
    if body.get("conclusion") == "stale":
        raise _validation("Invalid request.\n\nOnly GitHub can set the conclusion stale.")
    if body.get("conclusion"):  # "Providing conclusion will automatically set the status to completed"
        run.status, run.conclusion = "completed", body["conclusion"]
    elif body.get("status"):
        run.status = body["status"]
        if run.status != "completed":
            run.conclusion, run.completed_at = None, None
    if run.conclusion is None and (run.status == "completed" or body.get("completed_at")):
        raise _validation("Invalid request.\n\nconclusion is required with status completed or completed_at.")
    if body.get("completed_at"):
        run.completed_at = _timestamp(body["completed_at"])
    elif run.status == "completed" and run.completed_at is None:
        run.completed_at = time.time()
    output = body.get("output")
    if output is not None:
        run.output = {k: output[k] for k in ("title", "summary", "text") if k in output}
        run.annotations_count += len(output.get("annotations") or [])  # annotations accumulate


def _installation_app(ctx: Ctx):
    # Only an installation token gets past authorize_repo with checks:write: GitHub lets only
    # GitHub Apps write check runs.
    return ctx.world.apps[ctx.world.installations[ctx.caller.token.installation_id].app_id]


def create_check_run(ctx: Ctx):
    repo, body = ctx.repo, ctx.body or {}
    sha = (body.get("head_sha") or "").lower()
    if repo.objects.kind(sha) != "commit":
        raise HTTPError(422, f"No commit found for SHA: {body.get('head_sha')}")
    app = _installation_app(ctx)
    run = CheckRun(next_id(), body["name"], sha, app.id, app.slug, check_suite_id(repo, app.id, sha),
                   started_at=time.time())
    _apply_check_run(run, body)
    repo.check_runs[run.id] = run
    out = render_check_run(ctx.world, repo, run)
    return 201, out, {"Location": out["url"]}


def _check_run(ctx: Ctx) -> CheckRun:
    run = ctx.repo.check_runs.get(int(ctx.params["check_run_id"]))
    if run is None:
        raise HTTPError(404, "Not Found")
    return run


def get_check_run(ctx: Ctx):
    return 200, render_check_run(ctx.world, ctx.repo, _check_run(ctx))


def update_check_run(ctx: Ctx):
    run = _check_run(ctx)
    if run.app_id != _installation_app(ctx).id:
        # An App may update only its own check runs (status and wording not recorded here).
        raise HTTPError(403, "Resource not accessible by integration")
    changed = dataclasses.replace(run, output=dict(run.output))
    _apply_check_run(changed, ctx.body or {})
    ctx.repo.check_runs[run.id] = changed
    return 200, render_check_run(ctx.world, ctx.repo, changed)


def filter_runs(ctx: Ctx, runs: list) -> list:
    """check_name, status, app_id and filter (latest by default) as GitHub applies them."""
    q = ctx.query
    if q.get("check_name"):
        runs = [r for r in runs if r.name == q["check_name"]]
    if q.get("status"):
        runs = [r for r in runs if r.status == q["status"]]
    if q.get("app_id"):
        runs = [r for r in runs if str(r.app_id) == q["app_id"]]
    if q.get("filter", "latest") == "latest":  # the most recent run of each name, per App
        runs = list({(r.app_id, r.name): r for r in sorted(runs, key=lambda r: r.id)}.values())
    return runs


def list_check_runs_for_ref(ctx: Ctx):
    repo, ref = ctx.repo, ctx.params["ref"]
    sha = resolve_commitish(repo, ref) or repo.refs.get(f"refs/{ref}")  # also heads/x and tags/x
    if sha is None:
        raise HTTPError(422, f"No commit found for SHA: {ref}")
    runs = filter_runs(ctx, [r for r in repo.check_runs.values() if r.head_sha == sha])
    page, links = paginate(ctx, runs)
    return 200, {"total_count": len(runs), "check_runs": [render_check_run(ctx.world, repo, r) for r in page]}, links
