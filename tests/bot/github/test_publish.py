"""Publishing a fix as a PR, against the GitHub double (fails on any OpenAPI violation)."""
from __future__ import annotations

import logging

import pytest
import requests
from github import Auth, Github

from bot.github import pr_body
from bot.github.auth import AuthError, Token, installation_session, installation_token, revoke
from bot.github.ownership import MemoryLedger, Ownership, app_identity
from bot.github.publish import CREATED, EXISTS, FOREIGN_BRANCH, UPDATED, PublishError, publish_fix
from bot.provenance import branch_name
from tests.bot.github.fixes import FILES, FIXED_TF, MAIN_TF, VERIFICATION, attempt
from tests.github_double import GitHubDouble, new_app_key_pem

APP_ID = 515151
FAST = {"seconds_between_requests": 0, "seconds_between_writes": 0}


@pytest.fixture(scope="module")
def private_key() -> str:
    return new_app_key_pem()


@pytest.fixture
def gh(private_key):
    with GitHubDouble() as double:
        double.create_repo("octo/infra", files=FILES)
        double.create_repo("octo/other", files={"x.tf": "# other\n"})
        double.installation = double.install_app(APP_ID, private_key, repos=["octo/infra", "octo/other"])
        double.ownership = Ownership(app_identity(APP_ID, private_key, double.base_url), MemoryLedger())
        yield double
        assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


def token_for(gh, private_key, repo="infra", permissions=None) -> Token:
    return installation_token(APP_ID, private_key, gh.installation.id, repo, permissions, gh.base_url)


def as_user(gh, token: Token):
    return Github(base_url=gh.base_url, auth=Auth.Token(token.value), **FAST).get_repo("octo/infra")


def publish(gh, token, a=None):
    client = Github(base_url=gh.base_url, auth=Auth.Token(token.value), **FAST)
    return publish_fix(client, "octo/infra", a or attempt(), FIXED_TF, VERIFICATION, ownership=gh.ownership)


def move_main(repo, text="# infra, moved\n"):
    head = repo.get_git_commit(repo.get_git_ref("heads/main").object.sha)
    from github import InputGitTreeElement
    tree = repo.create_git_tree([InputGitTreeElement("README.md", "100644", "blob",
                                                     sha=repo.create_git_blob(text, "utf-8").sha)], head.tree)
    commit = repo.create_git_commit("human: readme", tree, [head])
    repo.get_git_ref("heads/main").edit(commit.sha)
    return commit.sha


# -- pr_body (pure) -----------------------------------------------------------------------------
def test_pr_body_has_sections_and_provenance_round_trip():
    a = attempt()
    text = pr_body.body(a, "a" * 40, VERIFICATION + " <!-- tricky --> `x`")
    for part in ("CKV_AWS_20", "aws_s3_bucket.logs", "terraform/main.tf", "declared literally",
                 "tf.s3-acl-private", "encryption", "low", "safe-default", 'acl = "private"', "CKV_AWS_20 PASSED"):
        assert part in text
    data = pr_body.read_provenance(text)
    assert data == pr_body.provenance(a, "a" * 40, VERIFICATION + " <!-- tricky --> `x`")
    assert data["fingerprint"] == a.finding.fingerprint() and data["fixer"] == "tf.s3-acl-private"
    assert text.rstrip().endswith("-->") and text.count("iacbot:provenance") == 1
    # Shown as written (an invisible word joiner breaks the comment marks), never as HTML.
    assert "```text\n" + VERIFICATION + " <!-- tricky --> `x`\n```" in text.replace("\u2060", "")
    assert "<!-- tricky" not in text
    assert pr_body.read_provenance("no block") is None and pr_body.read_provenance(None) is None
    assert pr_body.read_provenance("<!-- iacbot:provenance {broken -->") is None
    assert "CKV_AWS_20" in pr_body.title(a)


# -- auth ---------------------------------------------------------------------------------------
def test_token_never_shows_its_value(gh, private_key, caplog):
    caplog.set_level(logging.DEBUG)
    token = token_for(gh, private_key)
    assert token.value.startswith("ghs_")
    assert token.value not in repr(token) and token.value not in str(token) and "redacted" in repr(token)
    assert token.value not in f"{[token]}"
    assert token.permissions == {"contents": "write", "pull_requests": "write", "issues": "write", "metadata": "read"}
    assert token.value not in caplog.text
    revoke(token)


def test_token_request_refused_for_uninstalled_repo_is_clear(gh, private_key):
    with pytest.raises(AuthError) as err:
        token_for(gh, private_key, repo="elsewhere")
    assert err.value.status == 422 and "elsewhere" in str(err.value)


def test_session_revokes_token_even_on_error(gh, private_key):
    with pytest.raises(RuntimeError):
        with installation_session(APP_ID, private_key, gh.installation.id, "octo/infra",
                                  base_url=gh.base_url) as token:
            raise RuntimeError("boom")
    r = requests.get(f"{gh.base_url}/repos/octo/infra", headers={"Authorization": f"token {token.value}"})
    assert r.status_code == 401


# -- publishing ---------------------------------------------------------------------------------
def test_fix_becomes_one_labelled_pr_with_the_right_diff_and_revoked_token(gh, private_key):
    reader = token_for(gh, private_key, permissions={"contents": "read", "pull_requests": "read"})
    with installation_session(APP_ID, private_key, gh.installation.id, "octo/infra",
                              base_url=gh.base_url) as token:
        result = publish_fix((gh.base_url, token), "octo/infra", attempt(), FIXED_TF, VERIFICATION,
                                ownership=gh.ownership)
    assert result.status == CREATED and result.branch == branch_name(attempt())
    repo = as_user(gh, reader)
    main_sha = repo.get_git_ref("heads/main").object.sha
    pr = repo.get_pull(result.pr_number)
    assert pr.head.ref == result.branch and pr.base.ref == "main" and pr.head.sha == result.commit_sha
    assert repo.get_contents("terraform/main.tf", ref=pr.head.sha).decoded_content.decode() == FIXED_TF
    assert repo.get_contents("terraform/main.tf", ref="main").decoded_content.decode() == MAIN_TF
    head_tree = {e.path: e.sha for e in repo.get_git_tree(pr.head.sha, recursive=True).tree}
    base_tree = {e.path: e.sha for e in repo.get_git_tree(main_sha, recursive=True).tree}
    assert {p for p in head_tree if head_tree[p] != base_tree.get(p)} == {"terraform", "terraform/main.tf"}
    commit = repo.get_git_commit(pr.head.sha)
    assert [p.sha for p in commit.parents] == [main_sha]
    assert f"Iacbot-Finding: {attempt().finding.fingerprint()}" in commit.message
    prov = pr_body.read_provenance(pr.body)
    assert prov["fingerprint"] == attempt().finding.fingerprint() and prov["base_sha"] == main_sha
    assert prov["verification"] == VERIFICATION and prov["file"] == "terraform/main.tf"
    assert sorted(l.name for l in pr.labels) == ["encryption", "iacbot"]
    # The publishing token is gone.
    r = requests.get(f"{gh.base_url}/repos/octo/infra", headers={"Authorization": f"token {token.value}"})
    assert r.status_code == 401
    with pytest.raises(PublishError) as err:
        publish_fix((gh.base_url, token), "octo/infra", attempt(), FIXED_TF, VERIFICATION,
                                ownership=gh.ownership)
    assert err.value.status == 401 and token.value not in str(err.value)


def test_publishing_twice_gives_exists_and_one_pr(gh, private_key):
    token = token_for(gh, private_key)
    first = publish(gh, token)
    second = publish(gh, token)
    assert (first.status, second.status) == (CREATED, EXISTS)
    assert second.pr_number == first.pr_number and second.commit_sha == first.commit_sha
    assert len(list(as_user(gh, token).get_pulls(state="all"))) == 1


def test_moved_default_branch_rebuilds_the_bot_branch(gh, private_key):
    token = token_for(gh, private_key)
    first = publish(gh, token)
    repo = as_user(gh, token)
    new_main = move_main(repo)
    again = publish(gh, token)
    assert again.status == UPDATED and again.pr_number == first.pr_number and again.base_sha == new_main
    pr = repo.get_pull(first.pr_number)
    commit = repo.get_git_commit(pr.head.sha)
    assert [p.sha for p in commit.parents] == [new_main]
    assert repo.get_contents("README.md", ref=pr.head.sha).decoded_content.decode() == "# infra, moved\n"
    assert repo.get_contents("terraform/main.tf", ref=pr.head.sha).decoded_content.decode() == FIXED_TF
    assert pr_body.read_provenance(pr.body)["base_sha"] == new_main
    assert len(list(repo.get_pulls(state="all"))) == 1
    assert publish(gh, token).status == EXISTS


def test_branch_with_a_foreign_commit_is_never_pushed_to(gh, private_key):
    token = token_for(gh, private_key)
    first = publish(gh, token)
    repo = as_user(gh, token)
    tip = repo.get_git_commit(first.commit_sha)
    human = repo.create_git_commit("human tweak", tip.tree, [tip])
    repo.get_git_ref(f"heads/{first.branch}").edit(human.sha)
    for _ in range(2):  # on the same base, then after main moved
        result = publish(gh, token)
        assert result.status == FOREIGN_BRANCH and "iacbot did not make" in result.reason
        assert repo.get_git_ref(f"heads/{first.branch}").object.sha == human.sha
        move_main(repo, "# moved again\n")
    assert len(list(repo.get_pulls(state="all"))) == 1


def test_token_for_another_repository_cannot_publish(gh, private_key):
    token = token_for(gh, private_key, repo="other")
    with pytest.raises(PublishError) as err:
        publish(gh, token)
    assert err.value.status in (403, 404) and "octo/infra" in str(err.value)
    assert token.value not in str(err.value) and token.value not in repr(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_read_only_token_gets_a_clear_403(gh, private_key):
    token = token_for(gh, private_key, permissions={"contents": "read", "pull_requests": "write"})
    with pytest.raises(PublishError) as err:
        publish(gh, token)
    assert err.value.status == 403 and "contents:write" in str(err.value)
    assert token.value not in str(err.value)
