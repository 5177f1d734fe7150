"""workers.policy_issue and bot.github.issues against the GitHub double and the real Redis: one
"Action required" issue per repository, written only when its text changes, closed (completed)
when the policy is valid again, a person's look-alike never touched, and GitHub refusing never
fatal."""
from __future__ import annotations

import pytest
from github import Auth, Github

from bot.github import issues
from bot.github.auth import PUBLISH_PERMISSIONS, installation_token
from bot.github.ownership import AppIdentity
from policies.model import PolicyProblem, PolicySet
from tests.github_double import GitHubDouble, new_app_key_pem
from tests.service.conftest import redis_db  # noqa: F401  (fixture)
from workers import policy_issue

APP_ID = 818181
REPO = "octo/apps"
APP = AppIdentity("iacbot")
BAD = PolicySet(None, None, (), (PolicyProblem(".github/iacbot.yml", 3, 9, "rules: not a list"),))
WORSE = PolicySet(None, None, (PolicyProblem("central.yml", 2, 1, "version: must be 1"),),
                  (PolicyProblem(".github/iacbot.yml", 3, 9, "rules: not a list"),))
VALID = PolicySet(None)


@pytest.fixture
def gh(redis_db, tmp_path):  # noqa: F811
    key = new_app_key_pem()
    with GitHubDouble() as double:
        double.create_repo(REPO, files={"README.md": "# apps\n"})
        inst = double.install_app(APP_ID, key, repos=[REPO])
        token = installation_token(APP_ID, key, inst.id, REPO, PUBLISH_PERMISSIONS, double.base_url)
        double.api = Github(base_url=double.base_url, auth=Auth.Token(token.value), seconds_between_requests=0,
                            seconds_between_writes=0).get_repo(REPO)
        yield double
        assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


def report(gh, r, policies):
    return policy_issue.report(r, gh.api, APP, REPO, policies, "main", None)


def ours(gh) -> list[dict]:
    return [i for i in gh.issues(REPO) if i["user"]["login"] == gh.bot_login()]


def test_one_issue_written_only_when_its_text_changes_then_closed(gh, redis_db):  # noqa: F811
    assert report(gh, redis_db, BAD).action == issues.CREATED
    [issue] = ours(gh)
    assert ".github/iacbot.yml:3:9: rules: not a list" in issue["body"]
    gh.reset_traffic()
    assert report(gh, redis_db, BAD).action == issues.UNCHANGED
    assert gh.requests_matching("PATCH", r"/issues/") == []               # nothing written for nothing
    assert report(gh, redis_db, WORSE).action == issues.UPDATED
    [issue] = ours(gh)
    assert "central.yml:2:1" in issue["body"]
    assert report(gh, redis_db, VALID).action == issues.CLOSED
    [issue] = ours(gh)
    assert issue["state"] == "closed" and issue["state_reason"] == "completed"
    gh.reset_traffic()
    assert report(gh, redis_db, VALID).action == issues.NONE
    assert gh.requests_matching("GET", r"/issues$") == []                  # remembered: no listing
    # broken again: the same issue is reopened, not a new one
    assert report(gh, redis_db, BAD).action == issues.REOPENED
    assert [i["number"] for i in ours(gh)] == [issue["number"]] and ours(gh)[0]["state"] == "open"


def test_a_persons_issue_with_the_marker_is_not_iacbots(gh, redis_db):  # noqa: F811
    body = issues.marker("policy") + "\nnot the bot"
    theirs = gh.open_issue(REPO, "Action required: iacbot policy", body=body, login="mallory")
    assert issues.find(gh.api, APP, "policy", "all") is None
    assert report(gh, redis_db, BAD).action == issues.CREATED
    assert report(gh, redis_db, VALID).action == issues.CLOSED
    person = gh.issue(REPO, theirs)
    assert person["state"] == "open" and person["body"] == body


def test_github_refusing_the_issue_is_logged_not_fatal(gh, redis_db):  # noqa: F811
    gh.inject_fault("POST", r"/issues$", 410, body={"message": "Issues are disabled for this repo"})
    assert report(gh, redis_db, BAD).action == policy_issue.FAILED
    assert ours(gh) == []
    assert report(gh, redis_db, BAD).action == issues.CREATED                # tried again next time
