"""HTTP layer: route table, authentication/authorisation, OpenAPI checks, URL rewriting.

One catch-all ASGI endpoint does the routing itself so that every exchange, errors
included, goes through the same validation and rewriting path.
"""
from __future__ import annotations

import asyncio
import json
import re
from typing import Callable
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from . import handlers as h
from . import handlers_checks as hc
from . import handlers_issues as hi
from . import handlers_merge as hm
from . import handlers_people as hp
from . import handlers_search as hs
from . import render
from .auth import HTTPError, authenticate, authorize_repo
from .faults import Faults
from .openapi_check import Validator
from .state import World
from .traffic import Traffic

R = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
# (method, path regex, handler, (permission scope, level) or None when not repository-bound)
ROUTES: list[tuple[str, re.Pattern, Callable, tuple[str, str] | None]] = [
    # DOTALL and \Z: git allows a newline in a file name, and the contents API serves it.
    (m, re.compile(p + r"/?\Z", re.DOTALL), f, perm) for m, p, f, perm in [
        ("POST", r"/app/installations/(?P<installation_id>\d+)/access_tokens", h.create_installation_token, None),
        ("DELETE", r"/installation/token", h.revoke_installation_token, None),
        ("GET", r"/app", h.get_authenticated_app, None),
        ("GET", r"/app/installations", h.list_installations, None),
        ("GET", r"/search/issues", hs.search_issues, None),  # filters by what the caller may read itself
        ("GET", r"/app/installations/(?P<installation_id>\d+)", h.get_installation, None),
        ("GET", R + r"/installation", h.get_repo_installation, None),  # App JWT, not a token: no scope
        ("GET", R, h.get_repo, ("metadata", "read")),
        ("GET", R + r"/contents/?(?P<path>.*)", h.get_content, ("contents", "read")),
        ("POST", R + r"/git/blobs", h.create_blob, ("contents", "write")),
        ("GET", R + r"/git/blobs/(?P<file_sha>[^/]+)", h.get_blob, ("contents", "read")),
        ("POST", R + r"/git/trees", h.create_tree, ("contents", "write")),
        ("GET", R + r"/git/trees/(?P<tree_sha>.+)", h.get_tree, ("contents", "read")),
        ("POST", R + r"/git/commits", h.create_commit, ("contents", "write")),
        ("GET", R + r"/git/commits/(?P<commit_sha>[^/]+)", h.get_commit, ("contents", "read")),
        ("GET", R + r"/git/ref/(?P<ref>.+)", h.get_ref, ("contents", "read")),
        ("GET", R + r"/git/matching-refs/(?P<ref>.*)", h.list_matching_refs, ("contents", "read")),
        ("GET", R + r"/git/refs", h.list_refs, ("contents", "read")),
        ("POST", R + r"/git/refs", h.create_ref, ("contents", "write")),
        ("PATCH", R + r"/git/refs/(?P<ref>.+)", h.update_ref, ("contents", "write")),
        ("DELETE", R + r"/git/refs/(?P<ref>.+)", h.delete_ref, ("contents", "write")),
        ("GET", R + r"/branches", hm.list_branches, ("contents", "read")),
        ("GET", R + r"/rules/branches/(?P<branch>.+)", hm.branch_rules, ("metadata", "read")),
        # Before get_branch: a branch name may hold '/', so the longer paths must match first.
        ("GET", R + r"/branches/(?P<branch>.+)/protection/required_status_checks/contexts",
         hc.get_required_contexts, ("administration", "read")),
        ("GET", R + r"/branches/(?P<branch>.+)/protection/required_status_checks",
         hc.get_required_status_checks, ("administration", "read")),
        ("GET", R + r"/branches/(?P<branch>.+)/protection", hc.get_protection, ("administration", "read")),
        ("PUT", R + r"/branches/(?P<branch>.+)/protection", hc.put_protection, ("administration", "write")),
        ("GET", R + r"/branches/(?P<branch>.+)", h.get_branch, ("contents", "read")),
        ("POST", R + r"/pulls", h.create_pull, ("pull_requests", "write")),
        ("GET", R + r"/pulls", h.list_pulls, ("pull_requests", "read")),
        ("GET", R + r"/pulls/(?P<pull_number>\d+)", h.get_pull, ("pull_requests", "read")),
        ("PATCH", R + r"/pulls/(?P<pull_number>\d+)", h.update_pull, ("pull_requests", "write")),
        ("GET", R + r"/pulls/(?P<pull_number>\d+)/requested_reviewers", h.list_requested_reviewers,
         ("pull_requests", "read")),
        ("POST", R + r"/pulls/(?P<pull_number>\d+)/requested_reviewers", h.request_reviewers,
         ("pull_requests", "write")),
        ("GET", R + r"/pulls/(?P<pull_number>\d+)/reviews", h.list_reviews, ("pull_requests", "read")),
        ("POST", R + r"/pulls/(?P<pull_number>\d+)/reviews", h.create_review, ("pull_requests", "write")),
        ("POST", R + r"/check-runs", h.create_check_run, ("checks", "write")),
        ("GET", R + r"/check-runs/(?P<check_run_id>\d+)", h.get_check_run, ("checks", "read")),
        ("PATCH", R + r"/check-runs/(?P<check_run_id>\d+)", h.update_check_run, ("checks", "write")),
        ("GET", R + r"/commits/(?P<ref>.+)/check-runs", h.list_check_runs_for_ref, ("checks", "read")),
        ("GET", R + r"/commits/(?P<ref>.+)/check-suites", hc.list_suites_for_ref, ("checks", "read")),
        ("GET", R + r"/check-suites/(?P<check_suite_id>\d+)", hc.get_suite, ("checks", "read")),
        ("GET", R + r"/check-suites/(?P<check_suite_id>\d+)/check-runs", hc.list_runs_for_suite, ("checks", "read")),
        ("POST", R + r"/statuses/(?P<sha>[^/]+)", hc.create_status, ("statuses", "write")),
        ("GET", R + r"/statuses/(?P<ref>[^/]+)", hc.list_statuses, ("statuses", "read")),  # the older spelling
        ("GET", R + r"/commits/(?P<ref>.+)/status", hc.combined_status, ("statuses", "read")),
        ("GET", R + r"/commits/(?P<ref>.+)/statuses", hc.list_statuses, ("statuses", "read")),
        ("GET", R + r"/commits/(?P<commit_sha>[^/]+)/pulls", hm.pulls_for_commit, ("pull_requests", "read")),
        ("GET", R + r"/commits/(?P<ref>.+)", hm.get_commit, ("contents", "read")),  # after the longer ones
        # Merging writes the base branch: GitHub asks for contents:write, not pull_requests.
        ("PUT", R + r"/pulls/(?P<pull_number>\d+)/merge", hm.merge_pull, ("contents", "write")),
        ("GET", R + r"/pulls/(?P<pull_number>\d+)/merge", hm.check_merged, ("pull_requests", "read")),
        # Updating the branch writes it: contents:write, as a push would need.
        ("PUT", R + r"/pulls/(?P<pull_number>\d+)/update-branch", hm.update_branch, ("contents", "write")),
        ("GET", R + r"/pulls/(?P<pull_number>\d+)/commits", hm.list_pull_commits, ("pull_requests", "read")),
        ("GET", R + r"/pulls/(?P<pull_number>\d+)/files", hm.list_pull_files, ("pull_requests", "read")),
        ("GET", R + r"/compare/(?P<basehead>.+)", hm.compare, ("contents", "read")),
        ("GET", R + r"/collaborators/(?P<username>[^/]+)/permission", hp.collaborator_permission,
         ("metadata", "read")),
        ("GET", R + r"/code-scanning/alerts/(?P<alert_number>\d+)", h.get_code_scanning_alert,
         ("security_events", "read")),
        ("GET", R + r"/code-scanning/alerts/(?P<alert_number>\d+)/instances", h.list_code_scanning_instances,
         ("security_events", "read")),
        # Issue routes: issues:<level>, or for a PR's number pull_requests:<level> (see _authorize).
        ("POST", R + r"/issues", hi.create_issue, ("issues", "write")),
        ("GET", R + r"/issues", hi.list_issues, ("issues", "read")),
        ("GET", R + r"/issues/comments/(?P<comment_id>\d+)", hi.get_comment, ("issues", "read")),
        ("PATCH", R + r"/issues/comments/(?P<comment_id>\d+)", hi.update_comment, ("issues", "write")),
        ("GET", R + r"/issues/(?P<issue_number>\d+)", hi.get_issue, ("issues", "read")),
        ("PATCH", R + r"/issues/(?P<issue_number>\d+)", hi.update_issue, ("issues", "write")),
        ("GET", R + r"/issues/(?P<issue_number>\d+)/comments", hi.list_comments, ("issues", "read")),
        ("POST", R + r"/issues/(?P<issue_number>\d+)/comments", hi.create_comment, ("issues", "write")),
        ("POST", R + r"/issues/(?P<issue_number>\d+)/labels", hi.add_labels, ("issues", "write")),
        ("GET", R + r"/issues/(?P<issue_number>\d+)/labels", hi.list_labels, ("issues", "read")),
        ("PUT", R + r"/issues/(?P<issue_number>\d+)/labels", hi.set_labels, ("issues", "write")),
        ("DELETE", R + r"/issues/(?P<issue_number>\d+)/labels/(?P<name>[^/]+)", hi.remove_label, ("issues", "write")),
    ]
]

JSON_CT = "application/json; charset=utf-8"


def build_app(world: World, validator: Validator, base_url: Callable[[], str], faults: Faults,
              traffic: Traffic | None = None) -> Callable:
    traffic = traffic or Traffic()

    async def endpoint(request: Request) -> Response:
        gathering = traffic.begin(request.method, request.scope["path"])
        if gathering is not None:
            await gathering.wait()
        return await handle(request)

    async def handle(request: Request) -> Response:
        raw = await request.body()
        # The decoded path as sent: request.url re-parses it, and urlsplit drops newlines and tabs,
        # which git allows in a file name.
        path = request.scope["path"]
        query = list(request.query_params.multi_items())
        req_headers = {k.lower(): v for k, v in request.headers.items()}
        prepared, invalid = validator.check_request(request.method, path, query, req_headers, raw)
        fault = faults.take(request.method, path)
        if fault is not None and fault.delay > 0:
            await asyncio.sleep(fault.delay)  # not time.sleep: other requests keep being served
        if fault is None or fault.status == 0 or fault.after_handling:
            try:
                status, body, headers = _serve(world, request.method, path, dict(query), raw, req_headers, invalid)
            except _Crash as crash:
                validator.violations.append(str(crash))
                return Response(json.dumps(render.error(500, "Server Error")), status_code=500,
                                headers={"content-type": JSON_CT})
        if fault is not None and fault.status != 0:
            # Injected answers are validated like any other (openapi_check KNOWN DIFFERENCE 4 covers
            # the error statuses GitHub sends on any operation but the description leaves out).
            status, body, headers = fault.answer()
        data = b"" if body is None else json.dumps(body).encode()
        headers.setdefault("content-type", JSON_CT)
        if status != 204:
            validator.check_response(prepared, status, {k.lower(): v for k, v in headers.items()}, data)
        # PyGithub insists that URLs it is given live on its own base URL, and follows them.
        base = base_url()
        data = data.replace(render.API.encode(), base.encode())
        headers = {k: v.replace(render.API, base) for k, v in headers.items()}
        if status == 204:
            headers.pop("content-type", None)
            return Response(status_code=204, headers=headers)
        return Response(data, status_code=status, headers=headers)

    async def app(scope, receive, send) -> None:
        # A bare ASGI app, not a Starlette route: a route's pattern does not match a newline, and
        # git allows one in a file name.
        if scope["type"] == "http":
            response = await endpoint(Request(scope, receive))
            await response(scope, receive, send)

    return app


def _serve(world: World, method: str, path: str, query: dict, raw: bytes, req_headers: dict,
           invalid: list[str]) -> tuple[int, object, dict]:
    try:
        with world.lock:
            for m, pattern, handler, perm in ROUTES:
                match = pattern.match(path)
                if m != method or not match:
                    continue
                params = {k: unquote(v) for k, v in match.groupdict().items()}
                caller = authenticate(world, req_headers.get("authorization"))
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    raise HTTPError(400, "Problems parsing JSON")
                ctx = h.Ctx(world, caller, params, query, body, path=path)
                if perm is not None:
                    ctx.repo = _authorize(caller, world.repo(params["owner"], params["repo"]), perm, params)
                if invalid:  # GitHub rejects bodies/parameters its schema rejects
                    raise HTTPError(422, "Invalid request.\n\n" + invalid[0].splitlines()[0])
                result = handler(ctx)
                status, payload = result[0], result[1]
                return status, payload, dict(result[2]) if len(result) > 2 else {}
            raise HTTPError(404, "Not Found")
    except HTTPError as err:
        return err.status, render.error(err.status, err.message, err.errors), {}
    except Exception as exc:  # a bug in the double: answer like GitHub's 500, and fail the test
        import traceback
        validator_note = f"{method} {path}: double crashed: {exc!r}\n{traceback.format_exc()}"
        raise _Crash(validator_note) from exc


def _authorize(caller, repo, perm: tuple[str, str], params: dict):
    """authorize_repo, with GitHub's one alternative: a pull request's number on an issues route
    is also open to a token with pull_requests at that level (a PR is an issue)."""
    try:
        return authorize_repo(caller, repo, *perm)
    except HTTPError as refused:
        number = params.get("issue_number")
        if refused.status != 403 or perm[0] != "issues" or number is None or int(number) not in repo.pulls:
            raise
        return authorize_repo(caller, repo, "pull_requests", perm[1])


class _Crash(Exception):
    pass
