"""Merging pinned to a SHA (409 when the head moved, 405 when the PR cannot merge), the three merge
methods writing real commits, and what a PR contains: its commits with linked accounts, its files,
a comparison. Every exchange is validated against the OpenAPI description (the gh fixture)."""
from __future__ import annotations

import functools
import subprocess

import httpx
import pytest
from github import GithubException

from bot.github.client import client as bot_client
from tests.github_double_tests.test_double import scoped_token

APP_ID = 484848
# Fixtures private_key and gh (octo/infra and octo/other, this module's APP_ID installed): conftest.py

token = functools.partial(scoped_token, app_id=APP_ID)  # (gh, private_key, repos, permissions)


def auth(tok: str) -> dict:
    return {"Authorization": f"token {tok}", "Accept": "application/vnd.github+json"}


def bot_repo(gh, tok: str, name: str = "octo/infra"):
    """The repository through the client the bot itself builds (retries, its defaults)."""
    return bot_client(gh.base_url, tok, seconds_between_requests=0, seconds_between_writes=0).get_repo(name)


def bot_pr(gh, repo, branch: str = "fix-1", files: dict | None = None, title: str = "Fix CKV_AWS_20"):
    """The bot's own PR: commits made with its token through the Git data API."""
    from github import InputGitTreeElement
    base = repo.get_git_commit(repo.get_branch("main").commit.sha)
    elements = [InputGitTreeElement(p, "100644", "blob", content=c) for p, c in (files or {"main.tf": "# fixed\n"}).items()]
    tree = repo.create_git_tree(elements, base_tree=base.tree)
    commit = repo.create_git_commit("fix: close the bucket", tree, [base])
    repo.create_git_ref(f"refs/heads/{branch}", commit.sha)
    return repo.create_pull(base="main", head=branch, title=title, body="iacbot fix")


# -- the pinned merge ----------------------------------------------------------------------------
def test_merge_pinned_to_the_head_sha(gh, private_key):
    tok = token(gh, private_key)
    repo = bot_repo(gh, tok)
    pr = bot_pr(gh, repo)
    head = pr.head.sha
    assert (pr.mergeable, pr.mergeable_state, pr.merged) == (True, "clean", False)
    assert pr.is_merged() is False  # GET .../merge: 404

    # A person pushes to the branch after the decision: the pinned merge is refused with 409.
    _, moved = gh.push_commit("octo/infra", {"extra.tf": "# mine\n"}, branch="fix-1", login="mallory")
    with pytest.raises(GithubException) as err:
        pr.merge(sha=head, merge_method="squash")
    assert err.value.status == 409
    assert err.value.data["message"] == "Head branch was modified. Review and try the merge again."
    assert gh.repo("octo/infra").refs["refs/heads/main"] == repo.get_branch("main").commit.sha  # nothing moved
    assert repo.get_pull(pr.number).merged is False

    # Pinned to the new head it merges: a real merge commit on main, the PR recorded as merged by the bot.
    before = repo.get_branch("main").commit.sha
    result = pr.merge(sha=moved, merge_method="merge")
    assert (result.merged, result.message) == (True, "Pull Request successfully merged")
    main = repo.get_branch("main").commit.sha
    assert result.sha == main
    merged = repo.get_pull(pr.number)
    assert (merged.merged, merged.state, merged.merge_commit_sha) == (True, "closed", main)
    assert (merged.merged_by.login, merged.merged_by.type) == ("iacbot[bot]", "Bot")
    assert merged.is_merged() is True
    commit = repo.get_git_commit(main)
    assert [p.sha for p in commit.parents] == [before, moved]
    assert commit.message.startswith(f"Merge pull request #{pr.number} from octo/fix-1")
    assert commit.committer.email == "noreply@github.com"
    assert repo.get_contents("extra.tf", ref="main").decoded_content == b"# mine\n"

    # A closed PR cannot be merged again: 422.
    r = httpx.put(f"{gh.base_url}/repos/octo/infra/pulls/{pr.number}/merge", json={"sha": moved}, headers=auth(tok))
    assert r.status_code == 422


def test_squash_and_rebase_write_real_commits(gh, private_key, tmp_path):
    tok = token(gh, private_key)
    repo = bot_repo(gh, tok)
    squashed = bot_pr(gh, repo, "fix-s", {"a.tf": "# a\n"}, title="Fix A")
    gh.push_commit("octo/infra", {"a2.tf": "# a2\n"}, branch="fix-s", login="iacbot-dev")
    base = repo.get_branch("main").commit.sha
    out = squashed.merge(merge_method="squash", sha=repo.get_pull(squashed.number).head.sha)
    commit = repo.get_git_commit(out.sha)
    assert [p.sha for p in commit.parents] == [base]  # one commit, on top of the base
    assert commit.message.startswith(f"Fix A (#{squashed.number})\n\n* fix: close the bucket")
    assert {"a.tf", "a2.tf"} <= {e.path for e in repo.get_git_tree(out.sha).tree}

    rebased = bot_pr(gh, repo, "fix-r", {"b.tf": "# b\n"}, title="Fix B")
    original = repo.get_pull(rebased.number).head.sha
    base = repo.get_branch("main").commit.sha
    out = rebased.merge(merge_method="rebase")
    commit = repo.get_git_commit(out.sha)
    assert commit.sha != original and commit.message == "fix: close the bucket"
    assert commit.author.name == "iacbot[bot]" and commit.committer.name == "GitHub"
    assert [p.sha for p in commit.parents] == [base]  # replayed onto the base, not a merge
    assert repo.get_contents("b.tf", ref="main").decoded_content == b"# b\n"

    # The SHAs are git's own: git fsck agrees with the objects a clone-by-hand reproduces.
    objects = gh.repo("octo/infra").objects
    payload = objects.get(out.sha, "commit")
    proc = subprocess.run(["git", "hash-object", "-t", "commit", "--stdin"], input=payload, capture_output=True,
                          check=True, cwd=tmp_path)
    assert proc.stdout.decode().strip() == out.sha


def test_not_mergeable_is_405(gh, private_key):
    tok = token(gh, private_key)
    repo = bot_repo(gh, tok)
    pr = bot_pr(gh, repo, "fix-c", {"main.tf": "# bot\n"})
    # A test says GitHub found it unmergeable: 405 and mergeable_state dirty.
    gh.set_mergeable("octo/infra", pr.number, False)
    again = repo.get_pull(pr.number)
    assert (again.mergeable, again.mergeable_state) == (False, "dirty")
    with pytest.raises(GithubException) as err:
        pr.merge(sha=again.head.sha)
    assert err.value.status == 405 and err.value.data["message"] == "Pull Request is not mergeable"
    gh.set_mergeable("octo/infra", pr.number, None)
    assert repo.get_pull(pr.number).mergeable is True

    # A real conflict: main changed the same file.
    gh.push_commit("octo/infra", {"main.tf": "# someone else\n"}, login="alice")
    conflicted = repo.get_pull(pr.number)
    assert (conflicted.mergeable, conflicted.mergeable_state) == (False, "dirty")
    with pytest.raises(GithubException) as err:
        pr.merge(sha=conflicted.head.sha)
    assert err.value.status == 405
    assert repo.get_pull(pr.number).state == "open"


def test_merge_needs_contents_write(gh, private_key):
    pr = bot_pr(gh, bot_repo(gh, token(gh, private_key)), "fix-p")
    reader = token(gh, private_key, permissions={"pull_requests": "write", "contents": "read"})
    r = httpx.put(f"{gh.base_url}/repos/octo/infra/pulls/{pr.number}/merge", json={}, headers=auth(reader))
    assert r.status_code == 403 and r.json()["message"] == "Resource not accessible by integration"
    other = token(gh, private_key, repos=["other"])
    r = httpx.put(f"{gh.base_url}/repos/octo/infra/pulls/{pr.number}/merge", json={}, headers=auth(other))
    assert r.status_code == 404
    r = httpx.get(f"{gh.base_url}/repos/octo/infra/pulls/{pr.number}/merge", headers=auth(reader))
    assert r.status_code == 404  # not merged


# -- what a PR contains --------------------------------------------------------------------------
def test_pull_commits_name_the_accounts_github_links(gh, private_key):
    tok = token(gh, private_key)
    repo = bot_repo(gh, tok)
    pr = bot_pr(gh, repo, "fix-a")
    # Authored by the bot (its noreply address), committed by a person: what "rebased by hand" looks like.
    gh.push_commit("octo/infra", {"x.tf": "# x\n"}, branch="fix-a", login="mallory",
                   author=("iacbot[bot]", gh.bot_email()), committer=("Mallory", "mallory@example.com"))
    gh.push_commit("octo/infra", {"y.tf": "# y\n"}, branch="fix-a", login="eve",
                   author=("Eve", "eve@elsewhere.invalid"), committer=("Eve", "eve@elsewhere.invalid"))
    commits = list(repo.get_pull(pr.number).get_commits())
    assert [(c.author.login if c.author else None, c.committer.login if c.committer else None) for c in commits] == \
        [("iacbot[bot]", "iacbot[bot]"), ("iacbot[bot]", "mallory"), (None, None)]
    assert commits[0].author.type == "Bot" and commits[1].committer.type == "User"
    assert commits[1].commit.author.email == gh.bot_email()
    assert commits[1].commit.committer.name == "Mallory"
    raw = httpx.get(f"{gh.base_url}/repos/octo/infra/pulls/{pr.number}/commits", params={"per_page": 2},
                    headers=auth(tok))
    assert len(raw.json()) == 2 and 'rel="next"' in raw.headers["link"]
    assert repo.get_pull(pr.number).commits == 3

    files = list(repo.get_pull(pr.number).get_files())
    assert [(f.filename, f.status, f.additions, f.deletions, f.changes) for f in files] == \
        [("main.tf", "modified", 1, 1, 2), ("x.tf", "added", 1, 0, 1), ("y.tf", "added", 1, 0, 1)]
    assert files[0].sha == gh.repo("octo/infra").objects.lookup(
        gh.repo("octo/infra").objects.commit(commits[-1].sha).tree, "main.tf").sha
    assert "+# fixed" in files[0].patch
    page = httpx.get(f"{gh.base_url}/repos/octo/infra/pulls/{pr.number}/files", params={"per_page": 1, "page": 3},
                     headers=auth(tok))
    assert [f["filename"] for f in page.json()] == ["y.tf"]

    cmp = repo.compare("main", "fix-a")
    assert (cmp.status, cmp.ahead_by, cmp.behind_by, cmp.total_commits) == ("ahead", 3, 0, 3)
    assert [f.filename for f in cmp.files] == ["main.tf", "x.tf", "y.tf"]
    gh.push_commit("octo/infra", {"z.tf": "# z\n"}, login="alice")
    assert repo.compare("main", "fix-a").status == "diverged"
    assert repo.compare("fix-a", "fix-a").status == "identical"

    one = repo.get_commit(commits[1].sha)  # GET commits/{ref}
    assert one.author.login == "iacbot[bot]" and one.committer.login == "mallory"
    assert [f.filename for f in one.files] == ["x.tf"]


def test_mergeable_unknown_branches_rules_and_pulls_of_a_commit(gh, private_key):
    tok = token(gh, private_key)
    repo = bot_repo(gh, tok)
    pr = bot_pr(gh, repo, "fix-u")
    gh.set_mergeable("octo/infra", pr.number, "unknown")  # right after a push: not computed yet
    shown = repo.get_pull(pr.number)
    assert (shown.mergeable, shown.mergeable_state) == (None, "unknown")
    with pytest.raises(ValueError):
        gh.set_mergeable("octo/infra", pr.number, "maybe")
    assert [p.number for p in repo.get_commit(shown.head.sha).get_pulls()] == [pr.number]
    assert sorted(b.name for b in repo.get_branches()) == ["fix-u", "main"]
    r = httpx.get(f"{gh.base_url}/repos/octo/infra/rules/branches/main", headers=auth(tok))
    assert (r.status_code, r.json()) == (200, [])
    assert pr.merge(sha=shown.head.sha, merge_method="squash").merged is True  # decided on the real state
    merged = repo.get_pull(pr.number)
    assert [p.number for p in repo.get_commit(merged.merge_commit_sha).get_pulls()] == [pr.number]

    # A PR closed by the bot through the API records who closed it.
    other = bot_pr(gh, repo, "fix-v")
    other.edit(state="closed")
    assert gh.repo("octo/infra").pulls[other.number].closed_by == "iacbot[bot]"
    assert repo.get_issue(other.number).closed_by.login == "iacbot[bot]"


def test_a_moved_file_is_one_renamed_entry_naming_both_paths(gh, private_key):
    tok = token(gh, private_key)
    repo = bot_repo(gh, tok)
    pr = bot_pr(gh, repo, "fix-mv", {"envs/dev/a.tf": "# same\n"})
    gh.push_commit("octo/infra", {"envs/dev/a.tf": None, "envs/prod/a.tf": "# same\n"}, branch="fix-mv",
                   login="mallory")
    files = [(f.filename, f.status, f.previous_filename, f.changes) for f in repo.get_pull(pr.number).get_files()]
    assert files == [("envs/prod/a.tf", "added", None, 1)]
    # Against main, where a.tf does not exist, it is an addition; a move of an existing file is a rename.
    gh.push_commit("octo/infra", {"README.md": None, "docs/README.md": "# infra\n"}, branch="fix-mv",
                   login="mallory")
    files = [(f.filename, f.status, f.previous_filename, f.changes) for f in repo.get_pull(pr.number).get_files()]
    assert ("docs/README.md", "renamed", "README.md", 0) in files
    assert all(f[0] != "README.md" for f in files)


def test_an_app_without_workflows_permission_cannot_write_a_workflow(gh, private_key):
    """GitHub answers 404 for a tree that writes under .github/workflows/ unless the App has
    workflows: write (its documented refusal to let Apps change CI without that permission)."""
    from github import InputGitTreeElement
    repo = bot_repo(gh, token(gh, private_key))
    base = repo.get_git_commit(repo.get_branch("main").commit.sha)
    with pytest.raises(GithubException) as err:
        repo.create_git_tree([InputGitTreeElement(".github/workflows/ci.yml", "100644", "blob", content="on: push\n")],
                             base_tree=base.tree)
    assert err.value.status == 404
    ok = repo.create_git_tree([InputGitTreeElement(".github/CODEOWNERS", "100644", "blob", content="* @a\n")],
                              base_tree=base.tree)
    assert ok.sha
    inst = gh.install_app(575757, private_key, repos=["octo/infra"], slug="ci-editor",
                          permissions={"metadata": "read", "contents": "write", "workflows": "write"})
    editor = bot_repo(gh, gh.installation_token(inst))
    assert editor.create_git_tree([InputGitTreeElement(".github/workflows/ci.yml", "100644", "blob",
                                                       content="on: push\n")], base_tree=base.tree).sha
