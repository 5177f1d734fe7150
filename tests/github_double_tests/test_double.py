"""The GitHub double, driven the way iacbot drives GitHub: PyGithub plus a few raw calls.

Every test runs with the `gh` fixture, which fails the test if any exchange broke GitHub's
OpenAPI description (the double records violations instead of raising in its server thread).
"""
from __future__ import annotations

import base64
import subprocess
import time

import httpx
import jwt
import pytest
from github import Auth, Github, GithubException, GithubIntegration, InputGitTreeElement

from tests.github_double import GitHubDouble, new_app_key_pem
from tests.github_double.gitobjects import ObjectStore, object_id
from tests.github_double.openapi_check import load_spec

APP_ID = 424242
FILES = {
    "README.md": "# infra\n",
    "terraform/main.tf": 'resource "aws_s3_bucket" "logs" {\n  bucket = "logs"\n}\n',
    "terraform/modules/net/vpc.tf": 'resource "aws_vpc" "main" {\n  cidr_block = "10.0.0.0/16"\n}\n',
    "k8s/deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\n",
}
FAST = {"seconds_between_requests": 0, "seconds_between_writes": 0}


@pytest.fixture(scope="module")
def private_key() -> str:
    return new_app_key_pem()


@pytest.fixture
def gh(private_key):
    with GitHubDouble() as double:
        double.create_repo("octo/infra", files=FILES, default_branch="main")
        double.create_repo("octo/other", files={"x.tf": "# other\n"}, default_branch="main")
        double.installation = double.install_app(APP_ID, private_key, repos=["octo/infra", "octo/other"])
        yield double
        assert double.validator.exchanges > 0
        assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


def app_jwt(private_key: str, app_id: int = APP_ID, exp_in: int = 540) -> str:
    now = int(time.time())
    return jwt.encode({"iat": now - 60, "exp": now + exp_in, "iss": str(app_id)}, private_key, algorithm="RS256")


def scoped_token(gh, private_key, repos: list[str] | None = None, permissions: dict | None = None,
                 app_id: int = APP_ID) -> str:
    """The bot's own call: PyGithub cannot down-scope a token to repositories (DESIGN.md)."""
    body = {}
    if repos is not None:
        body["repositories"] = repos
    if permissions is not None:
        body["permissions"] = permissions
    r = httpx.post(f"{gh.base_url}/app/installations/{gh.installation.id}/access_tokens", json=body,
                   headers={"Authorization": f"Bearer {app_jwt(private_key, app_id)}",
                            "Accept": "application/vnd.github+json"})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def client(gh, token: str) -> Github:
    return Github(base_url=gh.base_url, auth=Auth.Token(token), **FAST)


def git(cwd, *args: str, input: bytes | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=True).stdout.decode().strip()


# -- the bot's path, end to end ----------------------------------------------------------
def test_bot_flow_app_auth_to_labelled_pull_request(gh, private_key, tmp_path):
    integration = GithubIntegration(auth=Auth.AppAuth(APP_ID, private_key), base_url=gh.base_url, **FAST)
    broad = integration.get_access_token(gh.installation.id)  # PyGithub's own token request
    assert len(broad.token) > 40
    token = scoped_token(gh, private_key, repos=["infra"])
    repo = client(gh, token).get_repo("octo/infra")
    assert repo.default_branch == "main" and repo.full_name == "octo/infra"

    content = repo.get_contents("terraform/main.tf", ref="main")
    assert content.decoded_content.decode() == FILES["terraform/main.tf"]
    main = repo.get_git_ref("heads/main")
    base_commit = repo.get_git_commit(main.object.sha)

    fixed = FILES["terraform/main.tf"].replace('"logs"\n}', '"logs"\n  acl    = "private"\n}')
    blob = repo.create_git_blob(fixed, "utf-8")
    tree = repo.create_git_tree(
        [InputGitTreeElement("terraform/main.tf", "100644", "blob", sha=blob.sha)], base_tree=base_commit.tree)
    commit = repo.create_git_commit("fix: make S3 bucket private", tree, [base_commit])
    ref = repo.create_git_ref("refs/heads/iacbot/s3-private", commit.sha)
    assert ref.object.sha == commit.sha

    pr = repo.create_pull(base="main", head="iacbot/s3-private", title="Make logs bucket private", body="Fixes CKV_AWS_20")
    assert pr.number == 1 and pr.head.sha == commit.sha and pr.base.ref == "main"
    found = list(repo.get_pulls(state="open", head="octo:iacbot/s3-private"))
    assert [p.number for p in found] == [pr.number]
    assert list(repo.get_pulls(state="open", head="octo:no-such-branch")) == []
    pr.add_to_labels("iacbot", "security")
    assert sorted(l.name for l in repo.get_pull(pr.number).labels) == ["iacbot", "security"]
    pr.edit(title="Make logs bucket private (CKV_AWS_20)", state="closed")
    assert repo.get_pull(pr.number).state == "closed"
    assert list(repo.get_pulls(state="open")) == []

    # The new tree holds the untouched files plus the fix; main did not move.
    assert repo.get_contents("terraform/main.tf", ref="iacbot/s3-private").decoded_content.decode() == fixed
    assert repo.get_contents("README.md", ref="iacbot/s3-private").sha == repo.get_contents("README.md").sha
    assert repo.get_branch("main").commit.sha == main.object.sha

    # Real git computes the same ids for the same content.
    assert blob.sha == git(tmp_path, "hash-object", "--stdin", input=fixed.encode())
    git(tmp_path, "init", "-q", ".")
    for path, text in {**FILES, "terraform/main.tf": fixed}.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    git(tmp_path, "add", "-A")
    assert tree.sha == git(tmp_path, "write-tree")
    assert base_commit.tree.sha != tree.sha


# -- git object ids ------------------------------------------------------------------------
def test_object_ids_match_git_cli(tmp_path):
    git(tmp_path, "init", "-q", ".")
    store = ObjectStore()
    data = b"line\n\x00binary\xff"
    assert store.put_blob(data) == git(tmp_path, "hash-object", "--stdin", input=data) == object_id("blob", data)
    # Name ordering: git sorts "a.b" < "a" (as "a/") < "a0"; a tree must follow that.
    files = {"a.b": b"1", "a/x": b"2", "a0": b"3", "z/y/z": b"4"}
    for p, c in files.items():
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / p).write_bytes(c)
    git(tmp_path, "add", "-A")
    tree = git(tmp_path, "write-tree")
    assert store.put_tree_from_files(files) == tree
    env_commit = git(tmp_path, "-c", "user.name=A", "-c", "user.email=a@x", "commit-tree", tree, "-m", "msg")
    raw = git(tmp_path, "cat-file", "commit", env_commit)
    assert object_id("commit", raw.encode() + b"\n") == env_commit  # cat-file drops the final newline
    from tests.github_double.gitobjects import Commit
    assert store.put_commit(Commit.decode(raw.encode() + b"\n")) == env_commit


def test_git_data_api_round_trip(gh, private_key, tmp_path):
    repo = client(gh, scoped_token(gh, private_key)).get_repo("octo/infra")
    b64 = repo.create_git_blob(base64.b64encode(b"\x00\x01bin").decode(), "base64")
    assert base64.b64decode(repo.get_git_blob(b64.sha).content) == b"\x00\x01bin"
    head = repo.get_git_commit(repo.get_branch("main").commit.sha)
    # Deleting a path (sha=None) and adding inline content, on top of base_tree.
    tree = repo.create_git_tree([
        InputGitTreeElement("k8s/deploy.yaml", "100644", "blob", sha=None),
        InputGitTreeElement("bin/tool", "100755", "blob", content="#!/bin/sh\n"),
    ], base_tree=head.tree)
    paths = {e.path: e for e in repo.get_git_tree(tree.sha, recursive=True).tree}
    assert "k8s/deploy.yaml" not in paths and "k8s" not in paths  # empty directories vanish
    assert paths["bin/tool"].mode == "100755" and paths["terraform/modules/net/vpc.tf"].type == "blob"
    assert paths["terraform"].mode == "040000"

    git(tmp_path, "init", "-q", ".")
    files = {p: t for p, t in FILES.items() if p != "k8s/deploy.yaml"}
    for p, t in {**files, "bin/tool": "#!/bin/sh\n"}.items():
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / p).write_text(t)
    (tmp_path / "bin/tool").chmod(0o755)
    git(tmp_path, "add", "-A")
    assert tree.sha == git(tmp_path, "write-tree")


def test_commit_sha_is_git_sha_with_given_dates(gh, private_key, tmp_path):
    token = scoped_token(gh, private_key, repos=["infra"])
    r = httpx.post(f"{gh.base_url}/repos/octo/infra/git/commits", headers={"Authorization": f"token {token}"},
                   json={"message": "m\n", "tree": gh.repo("octo/infra").objects.commit(
                       gh.repo("octo/infra").refs["refs/heads/main"]).tree,
                         "author": {"name": "A", "email": "a@x", "date": "2024-05-01T10:00:00+02:00"}})
    assert r.status_code == 201, r.text
    git(tmp_path, "init", "-q", ".")
    for p, t in FILES.items():
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / p).write_text(t)
    git(tmp_path, "add", "-A")
    env = {"GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@x", "GIT_AUTHOR_DATE": "2024-05-01T10:00:00+02:00",
           "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@x", "GIT_COMMITTER_DATE": "2024-05-01T10:00:00+02:00",
           "PATH": "/usr/bin:/bin"}
    sha = subprocess.run(["git", "commit-tree", git(tmp_path, "write-tree")], cwd=tmp_path, input=b"m\n",
                         env=env, capture_output=True, check=True).stdout.decode().strip()
    assert r.json()["sha"] == sha


# -- refs ----------------------------------------------------------------------------------
def test_non_fast_forward_needs_force(gh, private_key):
    repo = client(gh, scoped_token(gh, private_key)).get_repo("octo/infra")
    head = repo.get_git_commit(repo.get_branch("main").commit.sha)
    side = repo.create_git_commit("side", head.tree, [])  # unrelated history
    ref = repo.get_git_ref("heads/main")
    with pytest.raises(GithubException) as err:
        ref.edit(side.sha)
    assert err.value.status == 422 and err.value.data["message"] == "Update is not a fast forward"
    assert repo.get_git_ref("heads/main").object.sha == head.sha
    ref.edit(side.sha, force=True)
    assert repo.get_git_ref("heads/main").object.sha == side.sha
    child = repo.create_git_commit("child", head.tree, [side])
    ref.edit(child.sha)  # a fast-forward needs no force
    assert repo.get_branch("main").commit.sha == child.sha


def test_ref_lifecycle_and_errors(gh, private_key):
    repo = client(gh, scoped_token(gh, private_key)).get_repo("octo/infra")
    sha = repo.get_branch("main").commit.sha
    repo.create_git_ref("refs/heads/feature/a/b", sha)  # slashes inside {ref}
    assert repo.get_git_ref("heads/feature/a/b").object.sha == sha
    assert [r.ref for r in repo.get_git_refs()] == ["refs/heads/feature/a/b", "refs/heads/main"]
    assert repo.get_branch("feature/a/b").name == "feature/a/b"
    with pytest.raises(GithubException) as err:
        repo.create_git_ref("refs/heads/feature/a/b", sha)
    assert err.value.status == 422 and err.value.data["message"] == "Reference already exists"
    with pytest.raises(GithubException) as err:
        repo.create_git_ref("refs/heads/x", "0" * 40)
    assert err.value.status == 422
    repo.get_git_ref("heads/feature/a/b").delete()
    with pytest.raises(GithubException) as err:
        repo.get_git_ref("heads/feature/a/b")
    assert err.value.status == 404 and err.value.data["message"] == "Not Found"
    assert "documentation_url" in err.value.data
    with pytest.raises(GithubException) as err:
        repo.get_branch("feature/a/b")
    assert err.value.status == 404


# -- auth ----------------------------------------------------------------------------------
def test_token_scoped_to_one_repo_cannot_touch_another(gh, private_key):
    token = scoped_token(gh, private_key, repos=["infra"])
    g = client(gh, token)
    assert g.get_repo("octo/infra").name == "infra"
    with pytest.raises(GithubException) as err:
        g.get_repo("octo/other")
    assert err.value.status == 404
    headers = {"Authorization": f"token {token}"}
    r = httpx.post(f"{gh.base_url}/repos/octo/other/git/refs", headers=headers,
                   json={"ref": "refs/heads/evil", "sha": gh.repo("octo/other").refs["refs/heads/main"]})
    assert r.status_code in (403, 404) and "evil" not in str(gh.repo("octo/other").refs)
    assert set(r.json()) >= {"message", "documentation_url"}


def test_read_only_token_cannot_write(gh, private_key):
    token = scoped_token(gh, private_key, repos=["infra"], permissions={"contents": "read"})
    repo = client(gh, token).get_repo("octo/infra")
    sha = repo.get_branch("main").commit.sha  # reading is fine
    for attempt in (lambda: repo.create_git_ref("refs/heads/x", sha),
                    lambda: repo.create_git_blob("x", "utf-8"),
                    lambda: repo.create_pull(base="main", head="main", title="t")):
        with pytest.raises(GithubException) as err:
            attempt()
        assert err.value.status == 403
        assert err.value.data["message"] == "Resource not accessible by integration"
    assert list(gh.repo("octo/infra").refs) == ["refs/heads/main"]


def test_revoked_token_is_refused(gh, private_key):
    token = scoped_token(gh, private_key)
    g = client(gh, token)
    assert g.get_repo("octo/infra").id
    r = httpx.delete(f"{gh.base_url}/installation/token", headers={"Authorization": f"token {token}"})
    assert r.status_code == 204
    with pytest.raises(GithubException) as err:
        g.get_repo("octo/infra")
    assert err.value.status == 401 and err.value.data["message"] == "Bad credentials"


def test_token_request_rules(gh, private_key):
    url = f"{gh.base_url}/app/installations/{gh.installation.id}/access_tokens"
    good = {"Authorization": f"Bearer {app_jwt(private_key)}"}
    # More than the installation was granted, or a repository it does not cover: 422.
    assert httpx.post(url, headers=good, json={"permissions": {"administration": "write"}}).status_code == 422
    gh.create_repo("octo/not-installed", files={"a": "b"})
    assert httpx.post(url, headers=good, json={"repositories": ["not-installed"]}).status_code == 422
    # A JWT signed by another key, an expired one, or none at all: 401.
    other = new_app_key_pem()
    for headers in ({"Authorization": f"Bearer {app_jwt(other)}"},
                    {"Authorization": f"Bearer {app_jwt(private_key, exp_in=-600)}"}, {}):
        assert httpx.post(url, headers=headers, json={}).status_code == 401
    # An installation token is not an App JWT.
    token = scoped_token(gh, private_key)
    assert httpx.post(url, headers={"Authorization": f"token {token}"}, json={}).status_code == 401
    # The scoped token reports its repositories and permissions.
    r = httpx.post(url, headers=good, json={"repository_ids": [gh.repo("octo/other").id],
                                            "permissions": {"contents": "read"}})
    assert r.status_code == 201
    assert [x["full_name"] for x in r.json()["repositories"]] == ["octo/other"]
    assert r.json()["permissions"] == {"contents": "read", "metadata": "read"}


def test_anonymous_cannot_see_private_repo(gh):
    with pytest.raises(GithubException) as err:
        Github(base_url=gh.base_url, **FAST).get_repo("octo/infra")
    assert err.value.status == 404


# -- pull requests -------------------------------------------------------------------------
def test_pull_request_rules(gh, private_key):
    repo = client(gh, scoped_token(gh, private_key)).get_repo("octo/infra")
    head = repo.get_git_commit(repo.get_branch("main").commit.sha)
    repo.create_git_ref("refs/heads/same", head.sha)
    with pytest.raises(GithubException) as err:  # nothing to merge yet
        repo.create_pull(base="main", head="same", title="t")
    assert err.value.status == 422 and "No commits between" in str(err.value.data)
    c = repo.create_git_commit("c", head.tree, [head])
    repo.create_git_ref("refs/heads/topic", c.sha)
    pr = repo.create_pull(base="main", head="octo:topic", title="t", body="b")
    with pytest.raises(GithubException) as err:
        repo.create_pull(base="main", head="topic", title="again")
    assert err.value.status == 422 and "already exists" in str(err.value.data)
    pr.edit(body="new body")
    assert repo.get_pull(pr.number).body == "new body"
    # The PR follows its branch.
    c2 = repo.create_git_commit("c2", head.tree, [c])
    repo.get_git_ref("heads/topic").edit(c2.sha)
    assert repo.get_pull(pr.number).head.sha == c2.sha
    with pytest.raises(GithubException) as err:
        repo.get_pull(999)
    assert err.value.status == 404


def test_who_acts_is_who_github_would_say(gh, private_key):
    """What an installation token makes is the App's bot account's; what a person makes is theirs."""
    repo = client(gh, scoped_token(gh, private_key)).get_repo("octo/infra")
    head = repo.get_git_commit(repo.get_branch("main").commit.sha)
    c = repo.create_git_commit("c", head.tree, [head])
    assert (c.author.name, c.committer.name) == ("iacbot[bot]", "iacbot[bot]")
    repo.create_git_ref("refs/heads/bot", c.sha)
    pr = repo.create_pull(base="main", head="bot", title="t", body="b")
    assert (pr.user.login, pr.user.type) == ("iacbot[bot]", "Bot")
    _, sha = gh.push_commit("octo/infra", {"x.txt": "x\n"}, "human change", branch="human", login="alice")
    number = gh.open_pull("octo/infra", "human", "main", "mine", login="alice")
    human = repo.get_pull(number)
    assert (human.user.login, human.user.type, human.head.sha) == ("alice", "User", sha)
    assert repo.get_git_commit(sha).author.name == "alice"
    app = httpx.get(f"{gh.base_url}/app", headers={"Authorization": f"Bearer {app_jwt(private_key)}"})
    assert app.status_code == 200 and (app.json()["id"], app.json()["slug"]) == (APP_ID, "iacbot")
    with pytest.raises(GithubException) as err:  # GitHub's body limit
        pr.edit(body="x" * 65_537)
    assert err.value.status == 422 and "body is too long (maximum is 65536 characters)" in str(err.value.data)
    pr.edit(body="x" * 65_536)


# -- the validator itself -----------------------------------------------------------------
def test_validator_catches_a_wrong_response(gh, private_key):
    """A handler that drifts from GitHub's shape must be reported (then cleared here)."""
    from tests.github_double import render
    original = render.git_ref
    render.git_ref = lambda repo, ref, sha: {k: v for k, v in original(repo, ref, sha).items() if k != "node_id"}
    try:
        token = scoped_token(gh, private_key)
        httpx.get(f"{gh.base_url}/repos/octo/infra/git/ref/heads/main", headers={"Authorization": f"token {token}"})
    finally:
        render.git_ref = original
    assert any("node_id" in v for v in gh.violations), gh.violations
    gh.violations.clear()


def test_validator_rejects_a_bad_request_with_422(gh, private_key):
    token = scoped_token(gh, private_key)
    r = httpx.post(f"{gh.base_url}/repos/octo/infra/git/blobs", headers={"Authorization": f"token {token}"},
                   json={"encoding": "utf-8"})  # `content` is required
    assert r.status_code == 422
    assert len(gh.violations) == 1 and "[request]" in gh.violations[0]
    gh.violations.clear()


def test_known_spec_differences_are_the_measured_ones():
    """A change in the description must be looked at, not absorbed: each kind of patch is counted
    on its own, as measured on the 95-operation cut of shared/github/openapi-subset.json."""
    import json

    from tests.github_double import openapi_check as check

    spec = json.loads(check.SPEC_PATH.read_text())
    # Nullable enums that omit null (12 on the older 74-operation cut, shared/github/README.md): check
    # runs and suites, code scanning, and since the issues operations came in, the state_reason.
    enums = check._patch_nullable_enums(spec)
    assert len(enums) == 14
    assert "#/components/schemas/issue/properties/state_reason" in enums
    # `nullable` next to oneOf/anyOf without `type` (OAS 3.0.3 makes it a no-op): commit.author and
    # committer, the installation's account, a ruleset's conditions, and the issues operations'
    # milestone, title, type and field values.
    composites = check._patch_nullable_composites(spec)
    assert len(composites) == 9
    assert "#/components/schemas/commit/properties/author" in composites
    _, _, patched = load_spec()
    # Then 2 error responses whose oneOf alternatives always overlap; the one schema of three that
    # forgot a label's description may be null; the one path parameter whose schema is readOnly
    # (code scanning's alert_number); the installations listing whose account must be a user and
    # an enterprise at once (allOf where the installation schema says anyOf); the contents answer's
    # discriminator, which a directory listing (an array) cannot satisfy.
    assert len(patched) == len(enums) + len(composites) + 2 + 1 + 1 + 1 + 1
    assert "#/components/parameters/alert-number/schema" in patched
    assert any(p.startswith("#/paths/~1app~1installations/") for p in patched)


def test_urls_point_at_the_double(gh, private_key):
    token = scoped_token(gh, private_key)
    r = httpx.get(f"{gh.base_url}/repos/octo/infra", headers={"Authorization": f"token {token}"})
    assert "api.github.com" not in r.text and r.json()["url"] == f"{gh.base_url}/repos/octo/infra"
