"""Commit statuses, check suites, and branch protection with its required status checks."""
from __future__ import annotations

from . import protection, render
from .auth import HTTPError
from .handlers import (Ctx, _actor_login, _refresh, _validation, filter_runs, paginate, render_check_run,
                       resolve_commitish)
from .state import CommitStatus, Repo, World, next_id

STATUS_STATES = ("error", "failure", "pending", "success")
#: GitHub keeps at most 1000 statuses per SHA and context.
MAX_STATUSES_PER_CONTEXT = 1000
# How a suite's conclusion is reached from its runs' conclusions: the first present wins.
SUITE_CONCLUSION_ORDER = ("action_required", "cancelled", "timed_out", "failure", "startup_failure",
                          "stale", "neutral", "success", "skipped")


def _commit_sha(repo: Repo, ref: str) -> str:
    sha = resolve_commitish(repo, ref) or repo.refs.get(f"refs/{ref}")  # also heads/x and tags/x
    if sha is None:
        raise HTTPError(422, f"No commit found for SHA: {ref}")
    return sha


# -- commit statuses -----------------------------------------------------------------------------
def add_status(world: World, repo: Repo, sha: str, state: str, context: str, creator: str,
               app_id: int | None, description: str | None = None, target_url: str | None = None) -> CommitStatus:
    if state not in STATUS_STATES:
        raise _validation("Validation Failed", resource="Status", field="state", code="custom",
                          message=f"state is not included in the list")
    if sum(1 for s in repo.statuses if s.sha == sha and s.context.lower() == context.lower()) \
            >= MAX_STATUSES_PER_CONTEXT:
        raise _validation("Validation Failed", resource="Status", code="custom",
                          message="This SHA and context has reached the maximum number of statuses.")
    status = CommitStatus(next_id(), sha, state, context, description, target_url, creator, app_id)
    repo.statuses.append(status)
    return status


def create_status(ctx: Ctx):
    repo, body = ctx.repo, ctx.body or {}
    sha = ctx.params["sha"].lower()
    if repo.objects.kind(sha) != "commit":
        raise HTTPError(422, f"No commit found for SHA: {ctx.params['sha']}")
    inst = ctx.world.installations[ctx.caller.token.installation_id] if ctx.caller.kind == "installation" else None
    status = add_status(ctx.world, repo, sha, body["state"], body.get("context") or "default",
                        _actor_login(ctx) or "octocat", inst.app_id if inst else None,
                        body.get("description"), body.get("target_url"))
    out = render.status(repo, status)
    return 201, out, {"Location": out["url"]}


def combined_status(ctx: Ctx):
    repo = ctx.repo
    sha = resolve_commitish(repo, ctx.params["ref"]) or repo.refs.get(f"refs/{ctx.params['ref']}")
    if sha is None:
        raise HTTPError(404, "Not Found")
    latest = protection.latest_statuses(repo, sha)
    page, links = paginate(ctx, latest)
    return 200, render.combined_status(repo, sha, protection.combined_state(latest), page, len(latest)), links


def list_statuses(ctx: Ctx):
    repo = ctx.repo
    sha = resolve_commitish(repo, ctx.params["ref"]) or repo.refs.get(f"refs/{ctx.params['ref']}")
    if sha is None:
        return 200, []  # GitHub answers an unknown ref with an empty list here
    newest_first = [s for s in reversed(repo.statuses) if s.sha == sha]
    page, links = paginate(ctx, newest_first)
    return 200, [render.status(repo, s) for s in page], links


# -- check suites --------------------------------------------------------------------------------
def _suite_key(repo: Repo, suite_id: int) -> tuple[int, str] | None:
    return next((key for key, sid in repo.check_suites.items() if sid == suite_id), None)


def _suite_json(world: World, repo: Repo, app_id: int, sha: str, suite_id: int) -> dict:
    runs = [r for r in protection.latest_check_runs(repo, sha) if r.app_id == app_id]
    if not runs:
        status, conclusion = "queued", None
    elif any(r.status != "completed" for r in runs):
        status, conclusion = ("in_progress" if any(r.status == "in_progress" for r in runs) else "queued"), None
    else:
        status = "completed"
        present = {r.conclusion for r in runs}
        conclusion = next(c for c in SUITE_CONCLUSION_ORDER if c in present)
    app = world.apps.get(app_id)
    slug = app.slug if app else next((r.app_slug for r in runs), f"app-{app_id}")
    perms = next((dict(i.permissions) for i in world.installations.values()
                  if i.app_id == app_id and repo.id in i.repo_ids), {"checks": "write", "metadata": "read"})
    branch = next((ref[len("refs/heads/"):] for ref, s in sorted(repo.refs.items())
                   if s == sha and ref.startswith("refs/heads/")), None)
    pulls = [p for p in repo.pulls.values() if p.state == "open" and _refresh(repo, p).head_sha == sha]
    started = [r.started_at for r in runs if r.started_at]
    finished = [r.completed_at or r.started_at for r in runs if (r.completed_at or r.started_at)]
    return render.check_suite(repo, suite_id, render.integration(app_id, slug, perms), sha, repo.objects.commit(sha),
                              branch, status, conclusion, len(runs), min(started, default=None),
                              max(finished, default=None), pulls)


def list_suites_for_ref(ctx: Ctx):
    repo, q = ctx.repo, ctx.query
    sha = _commit_sha(repo, ctx.params["ref"])
    keys = [(app_id, s) for (app_id, s) in repo.check_suites if s == sha]
    if q.get("app_id"):
        keys = [k for k in keys if str(k[0]) == q["app_id"]]
    if q.get("check_name"):
        keys = [k for k in keys if any(r.name == q["check_name"] and r.app_id == k[0]
                                       for r in repo.check_runs.values() if r.head_sha == sha)]
    suites = sorted(((repo.check_suites[k], k) for k in keys))
    page, links = paginate(ctx, suites)
    return 200, {"total_count": len(suites),
                 "check_suites": [_suite_json(ctx.world, repo, k[0], k[1], sid) for sid, k in page]}, links


def _suite(ctx: Ctx) -> tuple[int, tuple[int, str]]:
    suite_id = int(ctx.params["check_suite_id"])
    key = _suite_key(ctx.repo, suite_id)
    if key is None:
        raise HTTPError(404, "Not Found")
    return suite_id, key


def get_suite(ctx: Ctx):
    suite_id, (app_id, sha) = _suite(ctx)
    return 200, _suite_json(ctx.world, ctx.repo, app_id, sha, suite_id)


def list_runs_for_suite(ctx: Ctx):
    suite_id, _ = _suite(ctx)
    runs = filter_runs(ctx, sorted((r for r in ctx.repo.check_runs.values() if r.suite_id == suite_id),
                                   key=lambda r: r.id))
    page, links = paginate(ctx, runs)
    return 200, {"total_count": len(runs),
                 "check_runs": [render_check_run(ctx.world, ctx.repo, r) for r in page]}, links


# -- branch protection ---------------------------------------------------------------------------
def _branch(ctx: Ctx) -> str:
    name = ctx.params["branch"]
    if f"refs/heads/{name}" not in ctx.repo.refs:
        raise HTTPError(404, "Branch not found")
    return name


def _protected(ctx: Ctx) -> tuple[str, dict]:
    name = _branch(ctx)
    settings = ctx.repo.protection.get(name)
    if settings is None:
        raise HTTPError(404, "Branch not protected")
    return name, settings


def get_protection(ctx: Ctx):
    name, settings = _protected(ctx)
    out = render.protection(ctx.repo, name, settings)
    if "required_status_checks" in out:
        level = "everyone" if settings["enforce_admins"] else "non_admins"
        out["required_status_checks"] = {**out["required_status_checks"], "enforcement_level": level}
    return 200, out


def put_protection(ctx: Ctx):
    name = _branch(ctx)
    ctx.repo.protection[name] = protection.normalise(ctx.repo, ctx.body or {})
    return 200, render.protection(ctx.repo, name, ctx.repo.protection[name])


def _required(ctx: Ctx) -> tuple[str, dict]:
    name, settings = _protected(ctx)
    if settings["required_status_checks"] is None:
        raise HTTPError(404, "Required status checks not enabled")
    return name, settings["required_status_checks"]


def get_required_status_checks(ctx: Ctx):
    name, required = _required(ctx)
    return 200, render.status_check_policy(ctx.repo, name, required)


def get_required_contexts(ctx: Ctx):
    _, required = _required(ctx)
    return 200, [c["context"] for c in required["checks"]]
