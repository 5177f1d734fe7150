"""Deliveries the merge decision listens to, built from GitHub's recorded payloads with the
double's ids, SHAs and names: check_suite, check_run, status, pull_request (opened, synchronize,
closed), issues, issue_comment and merge_group. Each is signed like GitHub and valid against
GitHub's official webhook description."""
from __future__ import annotations

import json

import httpx
import pytest

from bot.service.events import route
from tests.github_double import GitHubDouble, new_app_key_pem
from tests.github_double.webhooks import (check_run_delivery, check_suite_delivery, issue_comment_delivery,
                                          issues_delivery, merge_group_delivery, pull_request_delivery,
                                          status_delivery)
from tests.github_double_tests.test_merge import auth
from tests.github_double_tests.test_webhooks import SECRET, check_envelope, official_errors

FILES = {"README.md": "# infra\n", "main.tf": "# old\n"}


@pytest.fixture
def world():
    with GitHubDouble() as double:
        double.create_repo("octo/infra", files=FILES)
        double.installation = double.install_app(5858, new_app_key_pem(), repos=["octo/infra"])
        ci = double.install_app(5959, new_app_key_pem(), repos=["octo/infra"], slug="github-actions",
                                permissions={"metadata": "read", "checks": "write", "statuses": "write"})
        double.ci_token = double.installation_token(ci)
        double.push_commit("octo/infra", {"main.tf": "# fixed\n"}, branch="iacbot/fix-1", login="iacbot-dev",
                           author=("iacbot[bot]", double.bot_email()), committer=("iacbot[bot]", double.bot_email()))
        double.pr = double.open_pull("octo/infra", "iacbot/fix-1", "main", "Fix CKV_AWS_20", login="iacbot[bot]")
        double.head = double.repo("octo/infra").refs["refs/heads/iacbot/fix-1"]
        yield double
        assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


def test_check_run_and_check_suite_deliveries(world):
    r = httpx.post(f"{world.base_url}/repos/octo/infra/check-runs", headers=auth(world.ci_token),
                   json={"name": "test", "head_sha": world.head, "status": "completed", "conclusion": "success"})
    run = r.json()
    headers, body = check_run_delivery(world, "octo/infra", run["id"], SECRET)
    payload = check_envelope(headers, body, "check_run")
    assert official_errors("webhook-check-run-completed", body) == []
    got = payload["check_run"]
    assert (got["id"], got["name"], got["head_sha"], got["conclusion"], got["app"]["slug"], got["app"]["id"]) == \
        (run["id"], "test", world.head, "success", "github-actions", 5959)
    assert got["check_suite"]["id"] == run["check_suite"]["id"]
    assert [p["number"] for p in got["pull_requests"]] == [world.pr]
    assert payload["installation"]["id"] == world.installation.id
    assert payload["sender"]["login"] == "github-actions[bot]"
    job = route("check_run", payload)  # the receiver's own rules read it as checks completed on that head
    assert (job["kind"], job["head_sha"], job["app_id"], job["pull_request_numbers"]) == \
        ("checks_completed", world.head, 5959, [world.pr])

    headers, body = check_suite_delivery(world, "octo/infra", run["check_suite"]["id"], SECRET)
    payload = check_envelope(headers, body, "check_suite")
    assert official_errors("webhook-check-suite-completed", body) == []
    suite = payload["check_suite"]
    assert (suite["head_sha"], suite["status"], suite["conclusion"], suite["app"]["slug"], suite["head_branch"]) == \
        (world.head, "completed", "success", "github-actions", "iacbot/fix-1")
    assert [p["number"] for p in suite["pull_requests"]] == [world.pr]
    assert "Codertocat" not in body.decode() and "Hello-World" not in body.decode()
    job = route("check_suite", payload)
    assert (job["head_sha"], job["head_branch"], job["conclusion"]) == (world.head, "iacbot/fix-1", "success")
    # Any secret but the configured one fails verification (check_envelope checks both ways).
    with pytest.raises(KeyError):
        check_suite_delivery(world, "octo/infra", 1, SECRET)


def test_status_delivery(world):
    sid = world.add_status("octo/infra", world.head, "success", context="ci/build", app_slug="github-actions")
    headers, body = status_delivery(world, "octo/infra", sid, SECRET)
    payload = check_envelope(headers, body, "status")
    assert official_errors("webhook-status", body) == []
    assert (payload["id"], payload["sha"], payload["state"], payload["context"], payload["name"]) == \
        (sid, world.head, "success", "ci/build", "octo/infra")
    assert [b["name"] for b in payload["branches"]] == ["iacbot/fix-1"]
    assert payload["commit"]["author"]["login"] == "iacbot[bot]"
    assert payload["sender"]["login"] == "github-actions[bot]"


@pytest.mark.parametrize("action", ["opened", "synchronize", "closed"])
def test_pull_request_deliveries(world, action):
    before = world.head
    if action == "synchronize":
        world.push_commit("octo/infra", {"x.tf": "# x\n"}, branch="iacbot/fix-1", login="mallory")
    if action == "closed":
        world.close_pull("octo/infra", world.pr, login="alice")
    headers, body = pull_request_delivery(world, "octo/infra", world.pr, SECRET, action, before=before)
    payload = check_envelope(headers, body, "pull_request")
    assert official_errors(f"webhook-pull-request-{action}", body) == []
    pr = payload["pull_request"]
    assert (payload["action"], payload["number"], pr["head"]["ref"], pr["user"]["login"]) == \
        (action, world.pr, "iacbot/fix-1", "iacbot[bot]")
    assert pr["head"]["sha"] == world.repo("octo/infra").pulls[world.pr].head_sha
    if action == "synchronize":
        assert (payload["before"], payload["after"]) == (before, pr["head"]["sha"]) and before != pr["head"]["sha"]
        assert pr["commits"] == 2
    if action == "closed":
        assert (pr["state"], pr["merged"], payload["sender"]["login"]) == ("closed", False, "alice")


def test_issues_and_issue_comment_deliveries(world):
    number = world.open_issue("octo/infra", "iacbot dashboard", body="- [ ] one", login="iacbot[bot]",
                              labels=["iacbot"])
    headers, body = issues_delivery(world, "octo/infra", number, SECRET)
    payload = check_envelope(headers, body, "issues")
    assert official_errors("webhook-issues-opened", body) == []
    assert (payload["issue"]["number"], payload["issue"]["title"], payload["sender"]["login"]) == \
        (number, "iacbot dashboard", "iacbot[bot]")
    world.tick_checkbox("octo/infra", number, "one", login="alice")
    headers, body = issues_delivery(world, "octo/infra", number, SECRET, "edited", sender="alice",
                                    changes={"body": {"from": "- [ ] one"}})
    payload = check_envelope(headers, body, "issues")
    assert official_errors("webhook-issues-edited", body) == []
    assert payload["issue"]["body"] == "- [x] one" and payload["changes"]["body"]["from"] == "- [ ] one"
    assert payload["sender"]["login"] == "alice"

    comment = world.comment("octo/infra", world.pr, "please wait", login="alice")
    headers, body = issue_comment_delivery(world, "octo/infra", comment, SECRET)
    payload = check_envelope(headers, body, "issue_comment")
    assert official_errors("webhook-issue-comment-created", body) == []
    assert (payload["comment"]["id"], payload["comment"]["body"], payload["issue"]["number"]) == \
        (comment, "please wait", world.pr)
    assert "pull_request" in payload["issue"]  # a comment on a PR says so, as on GitHub


def test_merge_group_delivery(world):
    headers, body = merge_group_delivery(world, "octo/infra", world.pr, SECRET)
    payload = check_envelope(headers, body, "merge_group")
    assert official_errors("webhook-merge-group-checks-requested", body) == []
    group = payload["merge_group"]
    repo = world.repo("octo/infra")
    assert group["base_sha"] == repo.refs["refs/heads/main"] and group["base_ref"] == "refs/heads/main"
    assert repo.refs[group["head_ref"]] == group["head_sha"]
    assert list(repo.objects.commit(group["head_sha"]).parents) == [group["base_sha"], world.head]
    assert json.loads(body)["repository"]["full_name"] == "octo/infra"
