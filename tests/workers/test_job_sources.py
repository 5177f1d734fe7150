"""What a push job reads from GitHub (against the double, with a read-only token): the files the
payload lists, or, when it may not list them all, the IaC files that differ between the trees."""
from __future__ import annotations

import pytest
from github import Auth, Github, InputGitTreeElement

from bot.github.auth import installation_session
from tests.github_double import GitHubDouble, new_app_key_pem
from workers import job_sources
from workers.github_fetch import READ_PERMISSIONS, changed_paths

APP_ID = 474747
REPO = "octo/pushes"
FILES = {"README.md": "# pushes\n", "infra/main.tf": 'resource "aws_s3_bucket" "b" {}\n',
         "k8s/a.yaml": "kind: Pod\n", "k8s/old.yaml": "kind: Pod\n"}


def test_changed_paths_are_added_or_modified_never_removed():
    before = {"a.tf": "1", "b.yaml": "2", "gone.yaml": "3"}
    after = {"a.tf": "1", "b.yaml": "22", "new.yml": "4"}
    assert changed_paths(before, after) == ["b.yaml", "new.yml"]
    assert changed_paths({}, after) == ["a.tf", "b.yaml", "new.yml"]


@pytest.fixture(scope="module")
def key() -> str:
    return new_app_key_pem()


@pytest.fixture(scope="module")
def pushed(key):
    """A repository whose main got one more commit: k8s/a.yaml edited, k8s/b.yaml added, k8s/old.yaml
    removed, README.md edited. Yields (double, sha before, sha after)."""
    with GitHubDouble() as gh:
        gh.create_repo(REPO, files=FILES)
        gh.installation = gh.install_app(APP_ID, key, repos=[REPO])
        with installation_session(APP_ID, key, gh.installation.id, REPO, {"contents": "write"}, gh.base_url) as token:
            repo = Github(base_url=gh.base_url, auth=Auth.Token(token.value), seconds_between_requests=0,
                          seconds_between_writes=0).get_repo(REPO)
            ref = repo.get_git_ref("heads/main")
            before = repo.get_git_commit(ref.object.sha)
            elements = [InputGitTreeElement("k8s/a.yaml", "100644", "blob", content="kind: Pod\nspec: {}\n"),
                        InputGitTreeElement("k8s/b.yaml", "100644", "blob", content="kind: Service\n"),
                        InputGitTreeElement("k8s/old.yaml", "100644", "blob", sha=None),
                        InputGitTreeElement("README.md", "100644", "blob", content="# pushes!\n")]
            tree = repo.create_git_tree(elements, base_tree=before.tree)
            after = repo.create_git_commit("rewrite", tree, [before])
            ref.edit(after.sha, force=True)
        yield gh, before.sha, after.sha
        assert gh.violations == [], gh.violations


def fetched(gh, key, **job):
    job = {"kind": "scan_push", "installation_id": gh.installation.id, "repository": REPO, **job}
    with installation_session(APP_ID, key, gh.installation.id, REPO, READ_PERMISSIONS, gh.base_url) as token:
        return job_sources.fetch(job, job_sources.Plan(READ_PERMISSIONS), token)


def test_a_complete_push_reads_only_the_files_it_lists(pushed, key):
    gh, before, after = pushed
    result = fetched(gh, key, before=before, head_sha=after, changed_files=["k8s/a.yaml"], files_complete=True)
    assert set(result.files) == {"k8s/a.yaml"} and result.findings is None


def test_a_forced_push_compares_the_trees(pushed, key):
    gh, before, after = pushed
    result = fetched(gh, key, before=before, head_sha=after, changed_files=[], files_complete=False)
    assert set(result.files) == {"k8s/a.yaml", "k8s/b.yaml"}  # not the removed file, not README.md
    assert result.files["k8s/b.yaml"] == b"kind: Service\n"


def test_a_new_branch_or_a_vanished_old_head_scans_every_iac_file(pushed, key):
    gh, _, after = pushed
    everything = {"infra/main.tf", "k8s/a.yaml", "k8s/b.yaml"}
    assert set(fetched(gh, key, before="0" * 40, head_sha=after, files_complete=False).files) == everything
    assert set(fetched(gh, key, before="f" * 40, head_sha=after, files_complete=False).files) == everything
