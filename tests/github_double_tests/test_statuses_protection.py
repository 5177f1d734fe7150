"""Commit statuses and their combined state, check suites per SHA and App, check-run filters,
a SECOND App that posts a check of the right name, and branch protection whose required checks
the merge endpoint honours (405 until they are green on the head)."""
from __future__ import annotations

import functools

import httpx
import pytest
from github import GithubException

from tests.github_double import new_app_key_pem
from tests.github_double_tests.test_double import scoped_token
from tests.github_double_tests.test_merge import auth, bot_pr, bot_repo

APP_ID = 494949
CI_APP_ID, CI_SLUG = 515151, "github-actions"
OTHER_APP_ID, OTHER_SLUG = 525252, "copycat-ci"
CI_PERMISSIONS = {"metadata": "read", "contents": "read", "checks": "write", "statuses": "write"}
# Fixtures private_key and gh (octo/infra and octo/other, this module's APP_ID installed): conftest.py

token = functools.partial(scoped_token, app_id=APP_ID)


def second_app(gh, app_id: int = CI_APP_ID, slug: str = CI_SLUG) -> str:
    """Install another App on octo/infra and return one of its installation tokens."""
    inst = gh.install_app(app_id, new_app_key_pem(), repos=["octo/infra"], permissions=CI_PERMISSIONS, slug=slug)
    return gh.installation_token(inst)


def post_run(gh, tok: str, sha: str, name: str, conclusion: str | None = "success") -> dict:
    body = {"name": name, "head_sha": sha, "status": "completed" if conclusion else "in_progress"}
    if conclusion:
        body["conclusion"] = conclusion
    r = httpx.post(f"{gh.base_url}/repos/octo/infra/check-runs", json=body, headers=auth(tok))
    assert r.status_code == 201, r.text
    return r.json()


# -- statuses ------------------------------------------------------------------------------------
def test_statuses_and_the_combined_state(gh, private_key):
    ci = second_app(gh)
    repo = bot_repo(gh, token(gh, private_key))
    sha = repo.get_branch("main").commit.sha
    commit = repo.get_commit(sha)
    assert commit.get_combined_status().state == "pending"  # nothing reported yet: pending
    assert commit.get_combined_status().total_count == 0

    ci_repo = bot_repo(gh, ci)
    ci_commit = ci_repo.get_commit(sha)
    made = ci_commit.create_status("pending", description="running")  # context defaults to "default"
    assert (made.state, made.context, made.creator.login, made.creator.type) == \
        ("pending", "default", f"{CI_SLUG}[bot]", "Bot")
    ci_commit.create_status("success", context="lint")
    assert commit.get_combined_status().state == "pending"
    ci_commit.create_status("success", context="default")
    combined = commit.get_combined_status()
    assert (combined.state, combined.total_count, combined.sha) == ("success", 2, sha)
    assert sorted((s.context, s.state) for s in combined.statuses) == [("default", "success"), ("lint", "success")]
    gh.add_status("octo/infra", sha, "failure", context="LINT", login="jenkins")  # contexts are case-insensitive
    combined = commit.get_combined_status()
    assert (combined.state, combined.total_count) == ("failure", 2)
    assert [s.state for s in commit.get_statuses()] == ["failure", "success", "success", "pending"]  # newest first
    gh.add_status("octo/infra", "main", "error", context="deploy")
    assert commit.get_combined_status().state == "failure"

    # Validation and scope: a bad state is 422, an unknown SHA 422, the bot's token (statuses:read) 403.
    r = httpx.post(f"{gh.base_url}/repos/octo/infra/statuses/{sha}", json={"state": "green"}, headers=auth(ci))
    assert r.status_code == 422
    gh.violations.clear()  # that request broke the description on purpose
    r = httpx.post(f"{gh.base_url}/repos/octo/infra/statuses/{'0' * 40}", json={"state": "success"},
                   headers=auth(ci))
    assert r.status_code == 422
    with pytest.raises(GithubException) as err:
        commit.create_status("success")
    assert err.value.status == 403
    no_statuses = token(gh, private_key, permissions={"contents": "read"})
    r = httpx.get(f"{gh.base_url}/repos/octo/infra/commits/{sha}/status", headers=auth(no_statuses))
    assert r.status_code == 403


# -- check suites and runs -----------------------------------------------------------------------
def test_check_suites_per_sha_and_app_and_run_filters(gh, private_key):
    ci, copycat = second_app(gh), second_app(gh, OTHER_APP_ID, OTHER_SLUG)
    repo = bot_repo(gh, token(gh, private_key))
    sha = repo.get_branch("main").commit.sha
    first = post_run(gh, ci, sha, "test", "failure")
    post_run(gh, ci, sha, "test", "success")  # a re-run: the latest counts
    post_run(gh, ci, sha, "lint", None)
    post_run(gh, copycat, sha, "test", "success")  # the right name from the wrong App
    commit = repo.get_commit(sha)

    suites = list(commit.get_check_suites())
    assert sorted((s.app.slug, s.status, s.conclusion, s.latest_check_runs_count) for s in suites) == \
        [(OTHER_SLUG, "completed", "success", 1), (CI_SLUG, "in_progress", None, 2)]
    assert [s.app.id for s in commit.get_check_suites(app_id=CI_APP_ID)] == [CI_APP_ID]
    ci_suite = repo.get_check_suite(first["check_suite"]["id"])
    assert (ci_suite.head_sha, ci_suite.head_branch, ci_suite.app.slug) == (sha, "main", CI_SLUG)
    assert sorted(r.name for r in ci_suite.get_check_runs()) == ["lint", "test"]
    r = httpx.get(f"{gh.base_url}/repos/octo/infra/check-suites/{ci_suite.id}/check-runs",
                  params={"filter": "all"}, headers=auth(ci))
    assert r.json()["total_count"] == 3

    latest = list(commit.get_check_runs(check_name="test"))
    assert sorted((r.app.slug, r.conclusion) for r in latest) == [(OTHER_SLUG, "success"), (CI_SLUG, "success")]
    assert len(list(commit.get_check_runs(check_name="test", filter="all"))) == 3
    r = httpx.get(f"{gh.base_url}/repos/octo/infra/commits/{sha}/check-runs",  # PyGithub lacks app_id here
                  params={"check_name": "test", "app_id": str(CI_APP_ID)}, headers=auth(ci))
    assert [run["app"]["id"] for run in r.json()["check_runs"]] == [CI_APP_ID]
    assert [r.name for r in commit.get_check_runs(status="in_progress")] == ["lint"]
    # Once the lint run completes, the suite concludes with the worst conclusion of its latest runs.
    post_run(gh, ci, sha, "lint", "neutral")
    assert repo.get_check_suite(ci_suite.id).conclusion == "neutral"
    r = httpx.get(f"{gh.base_url}/repos/octo/infra/check-suites/999", headers=auth(ci))
    assert r.status_code == 404


# -- branch protection ---------------------------------------------------------------------------
def test_protection_through_the_api_and_required_checks_block_the_merge(gh, private_key):
    ci, copycat = second_app(gh), second_app(gh, OTHER_APP_ID, OTHER_SLUG)
    admin = token(gh, private_key)  # the installation has no administration permission...
    r = httpx.get(f"{gh.base_url}/repos/octo/infra/branches/main/protection", headers=auth(admin))
    assert r.status_code == 403
    inst = gh.install_app(535353, new_app_key_pem(), repos=["octo/infra"], slug="settings-bot",
                          permissions={"metadata": "read", "administration": "write", "contents": "read"})
    settings = bot_repo(gh, gh.installation_token(inst))
    main = settings.get_branch("main")
    assert main.protected is False
    with pytest.raises(GithubException) as err:
        main.get_protection()
    assert err.value.status == 404 and err.value.data["message"] == "Branch not protected"
    main.edit_protection(strict=False, checks=[("test", CI_APP_ID)])
    protection = settings.get_branch("main").get_protection()
    assert protection.required_status_checks.contexts == ["test"]
    required = settings.get_branch("main").get_required_status_checks()
    assert (required.contexts, required.strict) == (["test"], False)
    raw = httpx.get(f"{gh.base_url}/repos/octo/infra/branches/main/protection/required_status_checks",
                    headers=auth(gh.installation_token(inst))).json()
    assert raw["checks"] == [{"context": "test", "app_id": CI_APP_ID}] and raw["strict"] is False
    contexts = httpx.get(f"{gh.base_url}/repos/octo/infra/branches/main/protection/required_status_checks/contexts",
                         headers=auth(gh.installation_token(inst))).json()
    assert contexts == ["test"]
    assert settings.get_branch("main").protected is True

    repo = bot_repo(gh, token(gh, private_key))
    pr = bot_pr(gh, repo, "fix-protected")
    head = pr.head.sha
    state = lambda: repo.get_pull(pr.number).mergeable_state  # noqa: E731
    assert state() == "blocked"
    with pytest.raises(GithubException) as err:
        pr.merge(sha=head)
    assert (err.value.status, err.value.data["message"]) == (405, 'Required status check "test" is expected.')

    post_run(gh, copycat, head, "test", "success")  # right name, wrong App: still blocked
    assert state() == "blocked"
    old = repo.get_branch("main").commit.sha
    post_run(gh, ci, old, "test", "success")  # green on another commit: still blocked
    post_run(gh, ci, head, "test", "failure")
    with pytest.raises(GithubException) as err:
        pr.merge(sha=head)
    assert (err.value.status, err.value.data["message"]) == (405, 'Required status check "test" is failing.')
    post_run(gh, ci, head, "test", "success")
    assert state() == "clean"
    assert pr.merge(sha=head).merged is True


def test_protection_helper_statuses_and_any_app(gh, private_key):
    repo = bot_repo(gh, token(gh, private_key))
    gh.protect_branch("octo/infra", "main", checks=[("ci/build", None)], strict=True)
    pr = bot_pr(gh, repo, "fix-status")
    head = pr.head.sha
    gh.add_status("octo/infra", head, "pending", context="ci/build", login="jenkins")
    assert repo.get_pull(pr.number).mergeable_state == "blocked"
    gh.add_status("octo/infra", head, "success", context="CI/Build", login="jenkins")  # any source, any case
    assert repo.get_pull(pr.number).mergeable_state == "clean"
    # Strict: the base moved, so the head is behind and the merge is refused until it is updated.
    gh.push_commit("octo/infra", {"other.tf": "# o\n"}, login="alice")
    pull = repo.get_pull(pr.number)
    assert pull.mergeable_state == "behind"
    with pytest.raises(GithubException) as err:
        pr.merge(sha=head)
    assert err.value.status == 405
    gh.unprotect_branch("octo/infra", "main")
    gh.add_status("octo/infra", head, "failure", context="optional")
    assert repo.get_pull(pr.number).mergeable_state == "unstable"  # a failing check nobody requires
    assert pr.merge(sha=head).merged is True

    # An omitted app_id pins the check to the App that most recently provided it, as GitHub does.
    ci = second_app(gh)
    post_run(gh, ci, repo.get_branch("main").commit.sha, "e2e", "success")
    gh.protect_branch("octo/infra", "main", checks=[("e2e", None)])
    inst = gh.install_app(545454, new_app_key_pem(), repos=["octo/infra"], slug="settings-bot",
                          permissions={"metadata": "read", "administration": "write"})
    r = httpx.put(f"{gh.base_url}/repos/octo/infra/branches/main/protection", headers=auth(gh.installation_token(inst)),
                  json={"required_status_checks": {"strict": False, "contexts": [], "checks": [{"context": "e2e"}]},
                        "enforce_admins": None, "required_pull_request_reviews": None, "restrictions": None})
    assert r.status_code == 200, r.text
    assert r.json()["required_status_checks"]["checks"] == [{"context": "e2e", "app_id": CI_APP_ID}]


def test_required_reviews_block_until_a_writer_approves_the_head(gh, private_key):
    repo = bot_repo(gh, token(gh, private_key))
    gh.add_collaborators("octo/infra", "alice")
    gh.add_collaborators("octo/infra", "rita", permission="read")
    gh.protect_branch("octo/infra", "main", required_approvals=1, dismiss_stale_reviews=True)
    pr = bot_pr(gh, repo, "fix-review")
    with pytest.raises(GithubException) as err:
        pr.merge(sha=pr.head.sha)
    assert err.value.data["message"] == "At least 1 approving review is required by reviewers with write access."
    gh.add_review("octo/infra", pr.number, "rita")  # read access: does not count
    assert repo.get_pull(pr.number).mergeable_state == "blocked"
    gh.add_review("octo/infra", pr.number, "alice")
    assert repo.get_pull(pr.number).mergeable_state == "clean"
    _, moved = gh.push_commit("octo/infra", {"late.tf": "# late\n"}, branch="fix-review", login="mallory")
    assert repo.get_pull(pr.number).mergeable_state == "blocked"  # the approval was of an older head
    gh.add_review("octo/infra", pr.number, "alice", "CHANGES_REQUESTED", "no")
    gh.add_review("octo/infra", pr.number, "alice")
    assert pr.merge(sha=moved).merged is True


def test_update_branch_merges_the_base_into_the_head(gh, private_key):
    tok = token(gh, private_key)
    repo = bot_repo(gh, tok)
    gh.protect_branch("octo/infra", "main", strict=True)
    pr = bot_pr(gh, repo, "fix-behind")
    old_head = pr.head.sha
    gh.push_commit("octo/infra", {"other.tf": "# o\n"}, login="alice")
    assert repo.get_pull(pr.number).mergeable_state == "behind"
    r = httpx.put(f"{gh.base_url}/repos/octo/infra/pulls/{pr.number}/update-branch",
                  json={"expected_head_sha": "0" * 40}, headers=auth(tok))
    assert r.status_code == 422
    assert pr.update_branch(expected_head_sha=old_head) is True  # PyGithub: 202
    fresh = repo.get_pull(pr.number)
    assert fresh.head.sha != old_head and fresh.mergeable_state == "clean"
    assert [p.sha for p in repo.get_git_commit(fresh.head.sha).parents] == [old_head, repo.get_branch("main").commit.sha]
    with pytest.raises(GithubException) as err:
        pr.merge(sha=old_head)  # the decision was about the old head
    assert err.value.status == 409
    r = httpx.put(f"{gh.base_url}/repos/octo/infra/pulls/{pr.number}/update-branch", json={}, headers=auth(tok))
    assert r.status_code == 422  # nothing new on the base


def test_known_differences_11_and_12_loosen_nothing_else(gh, private_key):
    """PyGithub's nulls in a protection body and its legacy statuses path are let through; a
    wrong type in the same fields, or a missing required key, is still refused."""
    inst = gh.install_app(555555, new_app_key_pem(), repos=["octo/infra"], slug="settings-bot",
                          permissions={"metadata": "read", "administration": "write", "statuses": "read"})
    tok = gh.installation_token(inst)
    url = f"{gh.base_url}/repos/octo/infra/branches/main/protection"
    base = {"required_status_checks": None, "enforce_admins": None, "required_pull_request_reviews": None,
            "restrictions": None}
    assert httpx.put(url, json={**base, "allow_force_pushes": None}, headers=auth(tok)).status_code == 200
    assert httpx.put(url, json={**base, "allow_force_pushes": "yes"}, headers=auth(tok)).status_code == 422
    assert httpx.put(url, json={"enforce_admins": None}, headers=auth(tok)).status_code == 422
    assert httpx.put(url, json={**base, "required_status_checks": {"checks": [{"context": "t"}]}},
                     headers=auth(tok)).status_code == 422  # strict is still required
    assert len(gh.violations) == 3
    gh.violations.clear()
    sha = gh.repo("octo/infra").refs["refs/heads/main"]
    r = httpx.get(f"{gh.base_url}/repos/octo/infra/statuses/{sha}", headers=auth(tok))
    assert (r.status_code, r.json()) == (200, [])
