"""The double's pagination, review requests, code-scanning alerts and human PR actions."""
from __future__ import annotations

import functools
import re

import httpx
import pytest
from github import Auth, Github, GithubException, InputGitTreeElement

from tests.github_double_tests.test_double import scoped_token

APP_ID = 454545
FAST = {"seconds_between_requests": 0, "seconds_between_writes": 0}
# Fixtures private_key and gh (octo/infra and octo/other, this module's APP_ID installed): conftest.py


token = functools.partial(scoped_token, app_id=APP_ID)  # (gh, private_key, repos, permissions)


def repo_for(gh, tok: str, name: str = "octo/infra", **kw):
    return Github(base_url=gh.base_url, auth=Auth.Token(tok), **FAST, **kw).get_repo(name)


def open_prs(repo, count: int) -> list:
    head = repo.get_git_commit(repo.get_branch("main").commit.sha)
    prs = []
    for i in range(count):
        tree = repo.create_git_tree([InputGitTreeElement(f"f{i}.tf", "100644", "blob", content=f"# {i}\n")],
                                    base_tree=head.tree)
        commit = repo.create_git_commit(f"change {i}", tree, [head])
        repo.create_git_ref(f"refs/heads/topic-{i}", commit.sha)
        prs.append(repo.create_pull(base="main", head=f"topic-{i}", title=f"PR {i}"))
    return prs


def links(response: httpx.Response) -> dict[str, int]:
    return {rel: int(page) for page, rel in re.findall(r'<[^>]*[?&]page=(\d+)[^>]*>; rel="(\w+)"',
                                                       response.headers.get("link", ""))}


# -- pagination ----------------------------------------------------------------------------------
def test_lists_are_paginated_with_githubs_link_header(gh, private_key):
    tok = token(gh, private_key)
    repo = repo_for(gh, tok)
    for i in range(5):
        repo.create_git_ref(f"refs/heads/b{i}", repo.get_branch("main").commit.sha)
    auth = {"Authorization": f"token {tok}"}
    url = f"{gh.base_url}/repos/octo/infra/git/matching-refs/heads/"
    first = httpx.get(url, params={"per_page": 2}, headers=auth)
    assert [r["ref"] for r in first.json()] == ["refs/heads/b0", "refs/heads/b1"]
    assert links(first) == {"next": 2, "last": 3}
    assert first.headers["link"].startswith(f"<{gh.base_url}/repos/octo/infra/git/matching-refs/heads/?")
    middle = httpx.get(url, params={"per_page": 2, "page": 2}, headers=auth)
    assert links(middle) == {"prev": 1, "next": 3, "last": 3, "first": 1}
    last = httpx.get(url, params={"per_page": 2, "page": 3}, headers=auth)
    assert [r["ref"] for r in last.json()] == ["refs/heads/b4", "refs/heads/main"] and links(last) == {"prev": 2, "first": 1}
    assert "link" not in httpx.get(url, headers=auth).headers  # 6 refs fit the default 30
    # PyGithub follows the links: everything, in order, one page at a time.
    assert [r.ref for r in repo_for(gh, tok, per_page=2).get_git_refs()] == \
        [f"refs/heads/b{i}" for i in range(5)] + ["refs/heads/main"]
    open_prs(repo, 3)
    assert [p.title for p in repo_for(gh, tok, per_page=1).get_pulls(state="open", direction="asc")] == \
        ["PR 0", "PR 1", "PR 2"]
    r = httpx.get(f"{gh.base_url}/repos/octo/infra/pulls", params={"per_page": 2, "state": "open"}, headers=auth)
    assert len(r.json()) == 2 and links(r) == {"next": 2, "last": 2} and "state=open" in r.headers["link"]


# -- review requests -------------------------------------------------------------------------------
def test_review_requests_are_checked_stored_and_shown(gh, private_key):
    tok = token(gh, private_key)
    repo = repo_for(gh, tok)
    pr = open_prs(repo, 1)[0]
    gh.add_collaborators("octo/infra", "Alice", "bob")
    gh.add_teams("octo/infra", "platform")
    pr.create_review_request(reviewers=["alice"], team_reviewers=["platform"])
    pr.create_review_request(reviewers=["bob", "alice"])
    again = repo.get_pull(pr.number)
    assert [u.login for u in again.requested_reviewers] == ["Alice", "bob"]
    assert [t.slug for t in again.requested_teams] == ["platform"]
    users, teams = again.get_review_requests()
    assert [u.login for u in users] == ["Alice", "bob"] and [t.slug for t in teams] == ["platform"]
    listed = next(iter(repo.get_pulls(state="open")))
    assert [u.login for u in listed.requested_reviewers] == ["Alice", "bob"]
    for reviewers, teams, message in [(["mallory"], [], "not a collaborator"), ([], ["ghosts"], "not a collaborator"),
                                      (["iacbot[bot]"], [], "pull request author")]:
        with pytest.raises(GithubException) as err:
            pr.create_review_request(reviewers=reviewers, team_reviewers=teams)
        assert err.value.status == 422 and message in err.value.data["message"]
    assert [u.login for u in repo.get_pull(pr.number).requested_reviewers] == ["Alice", "bob"]  # unchanged
    reader = repo_for(gh, token(gh, private_key, permissions={"pull_requests": "read"})).get_pull(pr.number)
    with pytest.raises(GithubException) as err:
        reader.create_review_request(reviewers=["alice"])
    assert err.value.status == 403


# -- code scanning ---------------------------------------------------------------------------------
def test_code_scanning_alerts_are_served_to_tokens_that_may_read_them(gh, private_key):
    main = gh.repo("octo/infra").refs["refs/heads/main"]
    number = gh.add_code_scanning_alert("octo/infra", "CKV_AWS_20", "main.tf", 1, 3, message="S3 bucket is public")
    assert number == 1 and gh.add_code_scanning_alert("octo/infra", "CKV_AWS_21", "main.tf", 1) == 2
    other = gh.add_code_scanning_alert("octo/other", "CKV_AWS_20", "main.tf", 1)
    tok = token(gh, private_key, repos=["infra"])
    auth = {"Authorization": f"token {tok}"}
    r = httpx.get(f"{gh.base_url}/repos/octo/infra/code-scanning/alerts/1", headers=auth)
    assert r.status_code == 200
    alert = r.json()
    assert (alert["number"], alert["state"], alert["rule"]["id"], alert["tool"]["name"]) == \
        (1, "open", "CKV_AWS_20", "checkov")
    instance = alert["most_recent_instance"]
    assert instance["location"] == {"path": "main.tf", "start_line": 1, "end_line": 3, "start_column": 1,
                                    "end_column": 1}
    assert (instance["commit_sha"], instance["ref"], instance["message"]["text"]) == \
        (main, "refs/heads/main", "S3 bucket is public")
    assert alert["instances_url"] == f"{gh.base_url}/repos/octo/infra/code-scanning/alerts/1/instances"
    r = httpx.get(alert["instances_url"], headers=auth)
    assert r.status_code == 200 and [i["location"]["path"] for i in r.json()] == ["main.tf"]
    assert httpx.get(f"{gh.base_url}/repos/octo/infra/code-scanning/alerts/9", headers=auth).status_code == 404
    # Scope holds: a token for infra cannot read other's alerts; one without security_events cannot read any.
    assert httpx.get(f"{gh.base_url}/repos/octo/other/code-scanning/alerts/{other}", headers=auth).status_code == 404
    no_security = {"Authorization": f"token {token(gh, private_key, permissions={'contents': 'read'})}"}
    r = httpx.get(f"{gh.base_url}/repos/octo/infra/code-scanning/alerts/1", headers=no_security)
    assert r.status_code == 403 and r.json()["message"] == "Resource not accessible by integration"
    narrow = {"Authorization": f"token {token(gh, private_key, ['other'], {'security_events': 'read'})}"}
    assert httpx.get(f"{gh.base_url}/repos/octo/other/code-scanning/alerts/{other}", headers=narrow).status_code == 200
    with pytest.raises(ValueError):
        gh.add_code_scanning_alert("octo/infra", "X", "main.tf", 1, severity="critical")
    with pytest.raises(ValueError):
        gh.add_code_scanning_alert("octo/infra", "X", "main.tf", 1, ref="refs/heads/nope")


# -- human actions -----------------------------------------------------------------------------------
def test_close_and_merge_pull_requests(gh, private_key):
    tok = token(gh, private_key)
    repo = repo_for(gh, tok)
    declined, merged = open_prs(repo, 2)
    old_main = repo.get_branch("main").commit.sha
    gh.close_pull("octo/infra", declined.number)
    closed = repo.get_pull(declined.number)
    assert (closed.state, closed.merged, closed.merged_at) == ("closed", False, None)
    assert repo.get_branch("main").commit.sha == old_main
    # Main moves on (a human edit) before the second PR is merged: a real three-way merge.
    head = repo.get_git_commit(old_main)
    tree = repo.create_git_tree([InputGitTreeElement("README.md", "100644", "blob", content="# moved\n")], head.tree)
    moved = repo.create_git_commit("human edit", tree, [head])
    repo.get_git_ref("heads/main").edit(moved.sha)
    pr_head = merged.head.sha
    gh.close_pull("octo/infra", merged.number, merged=True)
    done = repo.get_pull(merged.number)
    assert done.state == "closed" and done.merged and done.merged_by.login == "octocat" and done.merged_at
    new_main = repo.get_branch("main").commit.sha
    assert done.merge_commit_sha == new_main
    assert [p.sha for p in repo.get_git_commit(new_main).parents] == [moved.sha, pr_head]
    assert repo.get_contents("README.md", ref="main").decoded_content == b"# moved\n"
    assert repo.get_contents("f1.tf", ref="main").decoded_content == b"# 1\n"
    assert [p.number for p in repo.get_pulls(state="closed")] == [merged.number, declined.number]
    with pytest.raises(ValueError):
        gh.close_pull("octo/infra", merged.number)  # already closed


def test_a_conflicting_merge_is_refused(gh, private_key):
    repo = repo_for(gh, token(gh, private_key))
    pr = open_prs(repo, 1)[0]
    head = repo.get_git_commit(repo.get_branch("main").commit.sha)
    tree = repo.create_git_tree([InputGitTreeElement("f0.tf", "100644", "blob", content="# main's own\n")], head.tree)
    repo.get_git_ref("heads/main").edit(repo.create_git_commit("clash", tree, [head]).sha)
    with pytest.raises(ValueError, match="merge conflict in f0.tf"):
        gh.close_pull("octo/infra", pr.number, merged=True)
