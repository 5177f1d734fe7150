"""Issues (numbers shared with PRs, PRs listed with a `pull_request` key), comments, a person
editing an issue the bot keeps, collaborator permission levels, and the `issues` permission
enforced on every new route (403 inside the token's repositories, 404 outside)."""
from __future__ import annotations

import functools

import httpx
import pytest
from github import GithubException

from tests.github_double_tests.test_double import scoped_token
from tests.github_double_tests.test_merge import auth, bot_pr, bot_repo

APP_ID = 565656
# Fixtures private_key and gh (octo/infra and octo/other, this module's APP_ID installed): conftest.py

token = functools.partial(scoped_token, app_id=APP_ID)

DASHBOARD = """<!-- iacbot:dashboard:start -->
## Waiting for review
- [ ] octo/infra#1 Fix CKV_AWS_20
- [ ] octo/infra#2 Fix CKV_K8S_8
<!-- iacbot:dashboard:end -->"""


def test_issue_round_trip_shares_numbers_with_pulls(gh, private_key):
    tok = token(gh, private_key)
    repo = bot_repo(gh, tok)
    pr = bot_pr(gh, repo)
    issue = repo.create_issue("iacbot dashboard", body=DASHBOARD, labels=["iacbot"])
    assert issue.number == pr.number + 1  # one sequence for both
    assert (issue.user.login, issue.user.type, issue.state, issue.pull_request) == ("iacbot[bot]", "Bot", "open", None)
    assert [lab.name for lab in issue.labels] == ["iacbot"]
    person = gh.open_issue("octo/infra", "Bucket is public", body="see logs", login="alice")
    assert person == issue.number + 1

    # The listing holds PRs too, with a pull_request key, as on GitHub; filters narrow it.
    listed = list(repo.get_issues(state="open"))
    assert sorted(i.number for i in listed) == [pr.number, issue.number, person]
    assert {i.number for i in listed if i.pull_request is not None} == {pr.number}
    assert [i.number for i in repo.get_issues(labels=["iacbot"])] == [issue.number]
    assert [i.number for i in repo.get_issues(creator="alice")] == [person]
    raw = httpx.get(f"{gh.base_url}/repos/octo/infra/issues", params={"per_page": 2}, headers=auth(tok))
    assert len(raw.json()) == 2 and 'rel="next"' in raw.headers["link"]

    # A person ticks a box and writes outside the markers; the bot re-reads and sees both.
    gh.tick_checkbox("octo/infra", issue.number, "CKV_K8S_8")
    gh.edit_issue("octo/infra", issue.number, body=gh.issue("octo/infra", issue.number)["body"] + "\n\nnote: ok by me")
    fresh = repo.get_issue(issue.number)
    assert "- [x] octo/infra#2 Fix CKV_K8S_8" in fresh.body and "- [ ] octo/infra#1" in fresh.body
    assert fresh.body.endswith("note: ok by me")

    # The bot updates it, then closes it as completed; a person reopens it.
    fresh.edit(title="iacbot dashboard (2)", body="new", labels=["iacbot", "dashboard"])
    again = repo.get_issue(issue.number)
    assert (again.title, again.body, sorted(lab.name for lab in again.labels)) == \
        ("iacbot dashboard (2)", "new", ["dashboard", "iacbot"])
    again.edit(state="closed", state_reason="not_planned")
    closed = repo.get_issue(issue.number)
    assert (closed.state, closed.state_reason, closed.closed_by.login) == ("closed", "not_planned", "iacbot[bot]")
    assert closed.closed_at is not None
    assert issue.number not in [i.number for i in repo.get_issues(state="open")]
    assert gh.edit_issue("octo/infra", issue.number, state="open")["state_reason"] == "reopened"

    # A PR's number answers the issues API; its labels and title are the PR's own.
    as_issue = repo.get_issue(pr.number)
    assert as_issue.pull_request is not None and as_issue.title == pr.title
    as_issue.edit(labels=["iacbot:fix"])
    assert [lab.name for lab in repo.get_pull(pr.number).labels] == ["iacbot:fix"]
    with pytest.raises(GithubException) as err:
        repo.get_issue(999)
    assert err.value.status == 404

    # Too long a body is refused as GitHub refuses it.
    r = httpx.post(f"{gh.base_url}/repos/octo/infra/issues", json={"title": "x", "body": "a" * 65_537},
                   headers=auth(tok))
    assert r.status_code == 422


def test_comments_on_issues_and_pulls(gh, private_key):
    tok = token(gh, private_key)
    repo = bot_repo(gh, tok)
    number = gh.open_issue("octo/infra", "Action required: iacbot policy", login="alice")
    issue = repo.get_issue(number)
    mine = issue.create_comment("policy.yml:3:5: unknown key")
    gh.comment("octo/infra", number, "fixed it?", login="alice")
    comments = list(issue.get_comments())
    assert [(c.user.login, c.body) for c in comments] == \
        [("iacbot[bot]", "policy.yml:3:5: unknown key"), ("alice", "fixed it?")]
    mine.edit("policy.yml:3:5: unknown key `rulez`")
    assert repo.get_issue(number).get_comment(mine.id).body.endswith("`rulez`")
    assert repo.get_issue(number).comments == 2
    pr = bot_pr(gh, repo, "fix-comment")
    pr.as_issue().create_comment("on a PR")
    assert [c.body for c in pr.get_issue_comments()] == ["on a PR"]


def test_collaborator_permission_levels(gh, private_key):
    repo = bot_repo(gh, token(gh, private_key))
    gh.add_collaborators("octo/infra", "alice", permission="admin")
    gh.add_collaborators("octo/infra", "bob")  # write unless told otherwise
    gh.add_collaborators("octo/infra", "carol", permission="maintain")
    gh.add_collaborators("octo/infra", "dave", permission="triage")
    gh.add_collaborators("octo/infra", "erin", permission="read")
    seen = {login: repo.get_collaborator_permission(login) for login in ("alice", "bob", "carol", "dave", "erin", "zed")}
    assert seen == {"alice": "admin", "bob": "write", "carol": "write", "dave": "read", "erin": "read", "zed": "none"}
    assert repo.get_collaborator_role_name("carol") == "maintain"
    assert repo.get_collaborator_role_name("octo") == "admin"  # the owner
    gh.set_permission("octo/infra", "bob", "read")
    assert repo.get_collaborator_permission("bob") == "read"
    gh.set_permission("octo/infra", "bob", None)
    assert repo.get_collaborator_permission("bob") == "none"
    with pytest.raises(ValueError):
        gh.add_collaborators("octo/infra", "x", permission="owner")


def test_issue_routes_enforce_the_token_scope(gh, private_key):
    repo = bot_repo(gh, token(gh, private_key))
    pr = bot_pr(gh, repo, "fix-scope")
    number = gh.open_issue("octo/infra", "a person's issue")
    prs_only = token(gh, private_key, permissions={"pull_requests": "write", "contents": "read"})
    issues_read = token(gh, private_key, permissions={"issues": "read"})
    elsewhere = token(gh, private_key, repos=["other"])
    base = f"{gh.base_url}/repos/octo/infra"

    def status(method: str, path: str, tok: str, **kw) -> int:
        return httpx.request(method, base + path, headers=auth(tok), **kw).status_code

    # No issues permission: 403 on issues, but a PR's number keeps working with pull_requests:write.
    assert status("POST", "/issues", prs_only, json={"title": "t"}) == 403
    assert status("GET", "/issues", prs_only) == 403
    assert status("GET", f"/issues/{number}", prs_only) == 403
    assert status("PATCH", f"/issues/{number}", prs_only, json={"body": "x"}) == 403
    assert status("POST", f"/issues/{number}/comments", prs_only, json={"body": "x"}) == 403
    assert status("POST", f"/issues/{number}/labels", prs_only, json={"labels": ["a"]}) == 403
    assert status("POST", f"/issues/{pr.number}/labels", prs_only, json={"labels": ["a"]}) == 200
    assert status("PATCH", f"/issues/{pr.number}", prs_only, json={"title": "renamed"}) == 200
    # issues:read reads but does not write.
    assert status("GET", f"/issues/{number}", issues_read) == 200
    assert status("GET", f"/issues/{number}/comments", issues_read) == 200
    assert status("PATCH", f"/issues/{number}", issues_read, json={"body": "x"}) == 403
    assert status("POST", "/issues", issues_read, json={"title": "t"}) == 403
    # Outside the token's repositories everything is 404, as GitHub hides what you cannot see.
    for method, path, kw in [("GET", "/issues", {}), ("POST", "/issues", {"json": {"title": "t"}}),
                             ("GET", f"/issues/{number}", {}), ("GET", "/collaborators/alice/permission", {}),
                             ("PUT", f"/pulls/{pr.number}/merge", {"json": {}}),
                             ("GET", f"/pulls/{pr.number}/commits", {}), ("GET", f"/pulls/{pr.number}/files", {}),
                             ("GET", "/commits/main/status", {}), ("GET", "/commits/main/check-suites", {}),
                             ("GET", "/branches/main/protection", {})]:
        assert status(method, path, elsewhere, **kw) == 404, (method, path)
    # Without checks permission the suites are hidden: 403.
    assert status("GET", "/commits/main/check-suites", issues_read) == 403


def test_labels_are_listed_replaced_and_removed(gh, private_key):
    repo = bot_repo(gh, token(gh, private_key))
    issue = repo.get_issue(gh.open_issue("octo/infra", "labels", labels=["a", "b"]))
    assert [lab.name for lab in issue.get_labels()] == ["a", "b"]
    issue.set_labels("c", "d")
    assert [lab.name for lab in repo.get_issue(issue.number).labels] == ["c", "d"]
    issue.remove_from_labels("c")
    assert [lab.name for lab in repo.get_issue(issue.number).labels] == ["d"]
    with pytest.raises(GithubException) as err:
        issue.remove_from_labels("zzz")
    assert err.value.status == 404
    pr = bot_pr(gh, repo, "fix-labels")
    pr.add_to_labels("iacbot:blocked")
    pr.remove_from_labels("iacbot:blocked")
    assert repo.get_pull(pr.number).labels == []
