"""The double's pull request reviews, check runs and App installations, with GitHub's refusals."""
from __future__ import annotations

import functools

import httpx
import pytest
from github import Auth, GithubException, GithubIntegration, InputGitTreeElement

from tests.github_double import new_app_key_pem
from tests.github_double_tests.conftest import TWO_REPO_FILES
from tests.github_double_tests.test_double import app_jwt, scoped_token
from tests.github_double_tests.test_double_more import links, open_prs, repo_for

APP_ID = 464646
OTHER_APP_ID = 474747
FAST = {"seconds_between_requests": 0, "seconds_between_writes": 0}
# Fixtures private_key and gh (octo/infra and octo/other, this module's APP_ID installed): conftest.py


token = functools.partial(scoped_token, app_id=APP_ID)  # (gh, private_key, repos, permissions)


def auth(tok: str) -> dict:
    return {"Authorization": f"token {tok}", "Accept": "application/vnd.github+json"}


# -- reviews -------------------------------------------------------------------------------------
def test_reviews_by_humans_and_the_bot(gh, private_key):
    tok = token(gh, private_key)
    repo = repo_for(gh, tok)
    pr = open_prs(repo, 1)[0]
    head = pr.head.sha
    gh.add_collaborators("octo/infra", "alice")
    first = gh.add_review("octo/infra", pr.number, "alice")
    second = gh.add_review("octo/infra", pr.number, "bob", "CHANGES_REQUESTED", "tighten the ACL")
    gh.add_review("octo/infra", pr.number, "carol", "PENDING")  # carol's draft: nobody else sees it
    reviews = list(pr.get_reviews())
    assert [(r.id, r.user.login, r.state, r.body, r.commit_id) for r in reviews] == \
        [(first, "alice", "APPROVED", "", head), (second, "bob", "CHANGES_REQUESTED", "tighten the ACL", head)]
    assert reviews[0].submitted_at is not None
    raw = httpx.get(f"{gh.base_url}/repos/octo/infra/pulls/{pr.number}/reviews", headers=auth(tok)).json()
    assert [(r["author_association"], r["user"]["type"]) for r in raw] == [("COLLABORATOR", "User"), ("NONE", "User")]

    # The bot is the PR's author: GitHub refuses its approval and its request for changes.
    for event, message in [("APPROVE", "Can not approve your own pull request"),
                           ("REQUEST_CHANGES", "Can not request changes on your own pull request")]:
        with pytest.raises(GithubException) as err:
            pr.create_review(body="ok", event=event)
        assert err.value.status == 422 and err.value.data["errors"] == [message]
    with pytest.raises(GithubException) as err:
        pr.create_review(event="COMMENT")  # a comment review needs a body
    assert err.value.status == 422
    comment = pr.create_review(body="Fixes CKV_AWS_20", event="COMMENT")
    assert (comment.state, comment.user.login, comment.commit_id) == ("COMMENTED", "iacbot[bot]", head)
    draft = pr.create_review(body="draft")  # no event: pending, seen by its author only
    assert draft.state == "PENDING" and draft.submitted_at is None
    assert [r.id for r in pr.get_reviews()] == [first, second, comment.id, draft.id]

    # Paginated like every list; a push moves the head, and later reviews are of the new head.
    r = httpx.get(f"{gh.base_url}/repos/octo/infra/pulls/{pr.number}/reviews", params={"per_page": 3},
                  headers=auth(tok))
    assert [x["id"] for x in r.json()] == [first, second, comment.id] and links(r) == {"next": 2, "last": 2}
    commit = repo.get_git_commit(head)
    tree = repo.create_git_tree([InputGitTreeElement("g.tf", "100644", "blob", content="# g\n")], commit.tree)
    pushed = repo.create_git_commit("more", tree, [commit]).sha
    repo.get_git_ref("heads/topic-0").edit(pushed)
    late = gh.add_review("octo/infra", pr.number, "alice")
    assert [r.commit_id for r in pr.get_reviews() if r.id in (first, late)] == [head, pushed]

    with pytest.raises(ValueError):
        gh.add_review("octo/infra", pr.number, "iacbot[bot]")  # seeding keeps GitHub's rule too
    with pytest.raises(ValueError):
        gh.add_review("octo/infra", pr.number, "alice", state="LGTM")
    with pytest.raises(ValueError):
        gh.add_review("octo/infra", 99, "alice")


def test_reviews_need_pull_requests_permission_on_that_repository(gh, private_key):
    pr = open_prs(repo_for(gh, token(gh, private_key)), 1)[0]
    gh.add_review("octo/infra", pr.number, "alice")
    url = f"{gh.base_url}/repos/octo/infra/pulls/{pr.number}/reviews"
    reader = token(gh, private_key, permissions={"pull_requests": "read"})
    assert [r["state"] for r in httpx.get(url, headers=auth(reader)).json()] == ["APPROVED"]
    r = httpx.post(url, json={"event": "COMMENT", "body": "hi"}, headers=auth(reader))
    assert r.status_code == 403 and r.json()["message"] == "Resource not accessible by integration"
    no_pulls = token(gh, private_key, permissions={"contents": "write"})
    assert httpx.get(url, headers=auth(no_pulls)).status_code == 403
    elsewhere = token(gh, private_key, repos=["other"])
    assert httpx.get(url, headers=auth(elsewhere)).status_code == 404
    assert httpx.post(url, json={"event": "COMMENT", "body": "hi"}, headers=auth(elsewhere)).status_code == 404
    assert httpx.get(f"{gh.base_url}/repos/octo/infra/pulls/99/reviews", headers=auth(reader)).status_code == 404
    # An event outside the description's enum is refused (and recorded as the client's violation).
    writer = token(gh, private_key)
    assert gh.violations == []
    assert httpx.post(url, json={"event": "LGTM"}, headers=auth(writer)).status_code == 422
    assert len(gh.violations) == 1 and "[request]" in gh.violations[0]
    gh.violations.clear()
    assert len(httpx.get(url, headers=auth(writer)).json()) == 1


# -- check runs ----------------------------------------------------------------------------------
def test_check_runs_created_updated_and_listed_for_a_ref(gh, private_key):
    tok = token(gh, private_key)
    repo = repo_for(gh, tok)
    pr = open_prs(repo, 1)[0]
    sha = pr.head.sha
    run = repo.create_check_run("iacbot/validate", sha, status="in_progress",
                                output={"title": "Validating", "summary": "terraform validate"})
    assert (run.status, run.conclusion, run.completed_at, run.app.slug) == ("in_progress", None, None, "iacbot")
    assert run.started_at is not None and [p.number for p in run.pull_requests] == [pr.number]
    run.edit(conclusion="success", output={"title": "Valid", "summary": "all good", "annotations": [
        {"path": "f0.tf", "start_line": 1, "end_line": 1, "annotation_level": "notice", "message": "ok"}]})
    again = repo.get_check_run(run.id)
    assert (again.status, again.conclusion, again.output.title, again.output.annotations_count) == \
        ("completed", "success", "Valid", 1)
    assert again.completed_at is not None and again.check_suite.id == run.check_suite.id

    failed = gh.add_check_run("octo/infra", sha, "ci/test", conclusion="failure")
    rerun = gh.add_check_run("octo/infra", sha, "ci/test")
    queued = gh.add_check_run("octo/infra", "topic-0", "ci/lint", status="queued")
    url = f"{gh.base_url}/repos/octo/infra/commits/{{}}/check-runs"

    def listed(ref: str, **params) -> list[tuple]:
        r = httpx.get(url.format(ref), params=params, headers=auth(tok))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total_count"] == len(body["check_runs"]) or "per_page" in params
        return [(c["id"], c["name"], c["status"], c["conclusion"], c["app"]["slug"]) for c in body["check_runs"]]

    latest = [(run.id, "iacbot/validate", "completed", "success", "iacbot"),
              (rerun, "ci/test", "completed", "success", "ci"), (queued, "ci/lint", "queued", None, "ci")]
    assert listed(sha) == latest  # filter=latest: the rerun hides the failed first run
    assert listed("topic-0") == listed("heads/topic-0") == latest
    assert [c[0] for c in listed(sha, filter="all")] == [run.id, failed, rerun, queued]
    assert [c[0] for c in listed(sha, check_name="ci/test", filter="all")] == [failed, rerun]
    assert [c[0] for c in listed(sha, status="queued")] == [queued]
    assert [c[0] for c in listed(sha, app_id=str(APP_ID))] == [run.id]
    page = httpx.get(url.format(sha), params={"per_page": 2, "page": 2}, headers=auth(tok))
    assert page.json()["total_count"] == 3 and [c["id"] for c in page.json()["check_runs"]] == [queued]
    assert links(page) == {"prev": 1, "first": 1}
    main = repo.get_branch("main").commit.sha
    assert listed("main") == []
    repo.create_git_ref("refs/tags/v1", sha)
    assert listed("tags/v1") == listed("v1") == latest
    assert main != sha and gh.add_check_run("octo/infra", "main", "ci/test", status="in_progress") > 0
    assert listed("main")[0][2:4] == ("in_progress", None)


def test_check_runs_are_refused_like_on_github(gh, private_key):
    tok = token(gh, private_key)
    repo = repo_for(gh, tok)
    sha = repo.get_branch("main").commit.sha
    base = f"{gh.base_url}/repos/octo/infra/check-runs"
    body = {"name": "iacbot/validate", "head_sha": sha}

    def post(json: dict, headers: dict) -> httpx.Response:
        return httpx.post(base, json=json, headers=headers)

    # Only a GitHub App's installation token may create check runs, and only with checks:write.
    # (The App's JWT reaches no repository: a private one is hidden from it.)
    jwt_headers = {"Authorization": f"Bearer {app_jwt(private_key, APP_ID)}"}
    assert post(body, jwt_headers).status_code == 404
    reader = token(gh, private_key, permissions={"checks": "read"})
    assert post(body, auth(reader)).status_code == 403
    no_checks = token(gh, private_key, permissions={"contents": "write", "pull_requests": "write"})
    assert post(body, auth(no_checks)).status_code == 403
    ci = gh.add_check_run("octo/infra", sha, "ci/test")
    assert httpx.get(f"{base}/{ci}", headers=auth(no_checks)).status_code == 403
    assert httpx.get(f"{base}/{ci}", headers=auth(reader)).json()["app"]["slug"] == "ci"
    elsewhere = token(gh, private_key, repos=["other"])
    assert httpx.get(f"{base}/{ci}", headers=auth(elsewhere)).status_code == 404
    assert post(body, auth(elsewhere)).status_code == 404
    assert httpx.get(f"{gh.base_url}/repos/octo/other/check-runs/{ci}", headers=auth(tok)).status_code == 404
    assert httpx.get(f"{base}/99", headers=auth(tok)).status_code == 404
    # Another App's check run is not the bot's to change.
    r = httpx.patch(f"{base}/{ci}", json={"conclusion": "failure"}, headers=auth(tok))
    assert r.status_code == 403
    assert httpx.get(f"{base}/{ci}", headers=auth(tok)).json()["conclusion"] == "success"
    # Bodies GitHub rejects: by its rules, then by the description's schema (the client's violation).
    for bad in [{**body, "head_sha": "0" * 40}, {**body, "status": "completed"}, {**body, "conclusion": "stale"},
                {**body, "completed_at": "2024-01-01T00:00:00Z"}]:
        assert post(bad, auth(tok)).status_code == 422, bad
    assert gh.violations == []
    for bad in [{"name": "x"}, {**body, "status": "done"}]:
        assert post(bad, auth(tok)).status_code == 422, bad
    assert len(gh.violations) == 2 and all("[request]" in v for v in gh.violations)
    gh.violations.clear()
    own = post(body, auth(tok)).json()
    assert (own["status"], own["conclusion"]) == ("queued", None)
    assert httpx.patch(f"{base}/{own['id']}", json={"status": "completed"}, headers=auth(tok)).status_code == 422
    assert len(gh.violations) == 1  # the description's anyOf: status completed needs a conclusion
    gh.violations.clear()
    assert httpx.get(f"{base}/{own['id']}", headers=auth(tok)).json()["status"] == "queued"  # unchanged
    r = httpx.get(f"{gh.base_url}/repos/octo/infra/commits/nope/check-runs", headers=auth(tok))
    assert r.status_code == 422
    with pytest.raises(ValueError):
        gh.add_check_run("octo/infra", "nope", "ci/test")
    with pytest.raises(ValueError):
        gh.add_check_run("octo/infra", sha, "ci/test", conclusion=None)


# -- installations -------------------------------------------------------------------------------
def test_app_installations_are_seen_through_the_app_jwt(gh, private_key):
    other_key = new_app_key_pem()
    gh.create_repo("lone/repo", files=TWO_REPO_FILES)
    theirs = gh.install_app(OTHER_APP_ID, other_key, repos=["lone/repo"], slug="other-app")
    integration = GithubIntegration(auth=Auth.AppAuth(APP_ID, private_key), base_url=gh.base_url, **FAST)
    mine = gh.installation
    assert [i.id for i in integration.get_installations()] == [mine.id]
    got = integration.get_app_installation(mine.id)
    assert (got.id, got.app_id, got.target_type) == (mine.id, APP_ID, "Organization")
    assert got.permissions["checks"] == "write"
    assert integration.get_repo_installation("octo", "other").id == mine.id
    raw = httpx.get(f"{gh.base_url}/repos/octo/infra/installation",
                    headers={"Authorization": f"Bearer {app_jwt(private_key, APP_ID)}"}).json()
    assert (raw["app_slug"], raw["account"]["login"], raw["repository_selection"]) == ("iacbot", "octo", "selected")
    # Another App's installation, a repository this App is not installed on, and one that does not exist: 404.
    for call in [lambda: integration.get_app_installation(theirs.id),
                 lambda: integration.get_repo_installation("lone", "repo"),
                 lambda: integration.get_repo_installation("octo", "nothing")]:
        with pytest.raises(GithubException) as err:
            call()
        assert err.value.status == 404
    other = GithubIntegration(auth=Auth.AppAuth(OTHER_APP_ID, other_key), base_url=gh.base_url, **FAST)
    assert [i.app_slug for i in other.get_installations()] == ["other-app"]
    assert other.get_repo_installation("lone", "repo").id == theirs.id
    # These need the App's JWT: an installation token is refused.
    tok = token(gh, private_key)
    for path in ["/app/installations", f"/app/installations/{mine.id}", "/repos/octo/infra/installation"]:
        assert httpx.get(gh.base_url + path, headers=auth(tok)).status_code == 401, path
