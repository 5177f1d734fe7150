"""workers.policy_source against the GitHub double: the central policy from a file or from a
policy repository at ITS default branch (through a read-only token of the same installation),
the repository's .github/iacbot.yml at the DEFAULT branch's head only, every bad file a problem
with its line, and GitHub failing now an exception (the task retries)."""
from __future__ import annotations

import hashlib

import pytest
from github import Auth, Github

from bot.github.auth import PUBLISH_PERMISSIONS, installation_token
from bot.github.repo_files import FileUnavailable
from bot.settings import CommonSettings
from tests.github_double import GitHubDouble, new_app_key_pem
from workers import policy_source
from workers.policy_source import REPO_POLICY_PATH, load_policies

APP_ID = 616161
REPO = "octo/apps"
POLICIES = "octo/security-policy"
CENTRAL = "version: 1\nrules:\n  - name: all-reviewed\n    match: {}\n    action: pull_request\n"
BAD_ACTION = "version: 1\nrules:\n  - name: x\n    match: {}\n    action: merge-now\n"
REPO_OWN = "version: 1\nrules:\n  - name: tighten\n    match: {}\n    action: pull_request\n"


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    path = tmp_path_factory.mktemp("key") / "app.pem"
    path.write_text(new_app_key_pem())
    return path


@pytest.fixture
def gh(key):
    with GitHubDouble() as double:
        double.create_repo(REPO, files={"README.md": "# apps\n"})
        double.create_repo(POLICIES, files={"iacbot-policy.yml": CENTRAL}, default_branch="trunk")
        double.create_repo("octo/not-installed", files={"iacbot-policy.yml": CENTRAL})
        double.installation = double.install_app(APP_ID, key.read_text(), repos=[REPO, POLICIES])
        yield double
        assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


def client_for(gh, key) -> Github:
    token = installation_token(APP_ID, key.read_text(), gh.installation.id, REPO, PUBLISH_PERMISSIONS, gh.base_url)
    return Github(base_url=gh.base_url, auth=Auth.Token(token.value), seconds_between_requests=0,
                  seconds_between_writes=0)


def cfg(gh, key, **over) -> CommonSettings:
    return CommonSettings(github_app_id=APP_ID, github_app_private_key_file=str(key), github_api_url=gh.base_url,
                          **over)


def load(gh, key, **over):
    return load_policies(cfg(gh, key, **over), client_for(gh, key), REPO, "main", installation_id=gh.installation.id)


def test_nothing_configured_and_no_repository_file_is_a_missing_policy(gh, key):
    found = load(gh, key)
    assert found.central is None and found.repo is None
    assert found.central_problems == () and found.repo_problems == ()


def test_a_central_file_is_read_with_its_digest(gh, key, tmp_path):
    path = tmp_path / "central.yml"
    path.write_bytes(CENTRAL.encode())
    found = load(gh, key, policy_file=str(path))
    assert found.central is not None and found.central_problems == ()
    assert found.central.digest == hashlib.sha256(CENTRAL.encode()).hexdigest()
    assert [r.name for r in found.central.rules] == ["all-reviewed"]


def test_a_bad_central_file_is_a_problem_with_its_line_and_only_its_name(gh, key, tmp_path):
    path = tmp_path / "deep" / "central.yml"
    path.parent.mkdir()
    path.write_text(BAD_ACTION)
    found = load(gh, key, policy_file=str(path))
    assert found.central is None
    assert [p.text() for p in found.central_problems] == [
        "central.yml:5:13: rules[0].action: 'merge-now' is not one of: automerge, pull_request, recommend, ignore"]
    assert str(tmp_path) not in found.central_problems[0].text()  # the service's disk is not shown


def test_a_configured_central_file_that_is_gone_or_huge_fails_closed_with_a_problem(gh, key, tmp_path):
    gone = load(gh, key, policy_file=str(tmp_path / "nope.yml"))
    assert gone.central is None and "does not exist" in gone.central_problems[0].message
    huge = tmp_path / "huge.yml"
    huge.write_bytes(b"#" * (policy_source.MAX_POLICY_BYTES + 1))
    big = load(gh, key, policy_file=str(huge))
    assert big.central is None and "larger than" in big.central_problems[0].text()


def test_the_central_policy_repository_is_read_at_its_own_default_branch(gh, key):
    gh.push_commit(POLICIES, {"iacbot-policy.yml": BAD_ACTION}, branch="proposal")  # not its default branch
    found = load(gh, key, policy_repository=POLICIES)
    assert found.central is not None and found.central_problems == ()
    assert found.central.digest == hashlib.sha256(CENTRAL.encode()).hexdigest()
    gh.push_commit(POLICIES, {"iacbot-policy.yml": BAD_ACTION})  # now on trunk, its default
    bad = load(gh, key, policy_repository=POLICIES)
    assert bad.central is None
    assert [p.where() for p in bad.central_problems] == [f"{POLICIES}/iacbot-policy.yml:5:13"]


def test_a_policy_repository_the_installation_cannot_read_is_a_problem_saying_what_to_do(gh, key):
    found = load(gh, key, policy_repository="octo/not-installed")
    assert found.central is None
    assert "install the App on it" in found.central_problems[0].message
    missing = load(gh, key, policy_repository=POLICIES, policy_repository_path="elsewhere.yml")
    assert missing.central is None and "not on" in missing.central_problems[0].message


def test_the_repository_policy_is_read_from_the_default_branch_only(gh, key):
    # A pull request's branch (or iacbot's fix branch) with a policy is never read.
    gh.push_commit(REPO, {REPO_POLICY_PATH: BAD_ACTION}, branch="iacbot/some-fix")
    assert load(gh, key).repo is None
    gh.push_commit(REPO, {REPO_POLICY_PATH: REPO_OWN})
    found = load(gh, key)
    assert found.repo is not None and found.repo_problems == ()
    assert found.repo.digest == hashlib.sha256(REPO_OWN.encode()).hexdigest()


def test_a_bad_repository_policy_is_a_problem_naming_the_file_and_line(gh, key):
    gh.push_commit(REPO, {REPO_POLICY_PATH: "version: 1\nautomerge: {max_per_hour: 3}\nrules: []\n"})
    found = load(gh, key)
    assert found.repo is None
    assert [p.where() for p in found.repo_problems] == [".github/iacbot.yml:2:13"]
    gh.push_commit(REPO, {REPO_POLICY_PATH: b"\xff\xfe not yaml \x00"})
    assert load(gh, key).repo_problems  # never raises for a bad file
    gh.push_commit(REPO, {REPO_POLICY_PATH: None, ".github/iacbot.yml/x": "a directory now"})
    odd = load(gh, key)
    assert odd.repo is None and "not a regular file" in odd.repo_problems[0].message


def test_github_failing_now_raises_so_the_task_retries(gh, key):
    gh.inject_fault("GET", r"/contents/", 502, times=1000)
    with pytest.raises(FileUnavailable) as raised:
        load(gh, key)
    assert raised.value.retryable
