"""The double's answers that bot.github.revert relies on and no other test pins down: the pulls
listing with state=all and a head filter, a tree listing's sizes and modes, and an issue closed
as a duplicate. Each exchange is checked against GitHub's OpenAPI description (the gh fixture)."""
from __future__ import annotations

from github import Auth, Github

from bot.github.auth import installation_token

APP_ID = 737373
FAST = {"seconds_between_requests": 0, "seconds_between_writes": 0}


def repo_as_app(gh, private_key):
    token = installation_token(APP_ID, private_key, gh.installation.id, "infra", None, gh.base_url)
    return Github(base_url=gh.base_url, auth=Auth.Token(token.value), **FAST).get_repo("octo/infra")


def test_pulls_with_state_all_and_head_lists_that_branch_open_closed_and_merged_newest_first(gh, private_key):
    for name in ("iacbot/revert/7", "iacbot/revert/8"):
        gh.push_commit("octo/infra", {"README.md": f"# {name}\n"}, branch=name, login="alice")
    first = gh.open_pull("octo/infra", "iacbot/revert/7", "main", "first", login="alice")
    gh.close_pull("octo/infra", first, login="alice")
    gh.open_pull("octo/infra", "iacbot/revert/8", "main", "other branch", login="alice")
    second = gh.open_pull("octo/infra", "iacbot/revert/7", "main", "second", login="alice")
    gh.close_pull("octo/infra", second, merged=True, login="alice")
    gh.push_commit("octo/infra", {"README.md": "# again\n"}, branch="iacbot/revert/7", login="alice")
    third = gh.open_pull("octo/infra", "iacbot/revert/7", "main", "third", login="alice")
    repo = repo_as_app(gh, private_key)
    pulls = list(repo.get_pulls(state="all", head="octo:iacbot/revert/7", base="main"))
    assert [(p.number, p.state, p.merged_at is not None) for p in pulls] == [
        (third, "open", False), (second, "closed", True), (first, "closed", False)]
    assert [p.number for p in repo.get_pulls(state="open", head="octo:iacbot/revert/7", base="main")] == [third]
    assert list(repo.get_pulls(state="all", head="someone:iacbot/revert/7", base="main")) == []


def test_a_tree_listing_gives_each_entry_its_mode_and_each_blob_its_size(gh, private_key):
    gh.push_commit("octo/infra", {"bin/run": ("100755", b"#!/bin/sh\n"), "bin/link": ("120000", b"run"),
                                  "bin/lib/x.tf": b"# x\n"}, login="alice")
    repo = repo_as_app(gh, private_key)
    top = {e.path: e for e in repo.get_git_tree(repo.get_branch("main").commit.commit.tree.sha).tree}
    assert top["bin"].type == "tree" and top["main.tf"].size == len(b'resource "aws_s3_bucket" "b" {}\n')
    listing = {e.path: (e.mode, e.type, e.size) for e in repo.get_git_tree(top["bin"].sha).tree}
    assert listing == {"run": ("100755", "blob", 10), "link": ("120000", "blob", 3), "lib": ("040000", "tree", None)}


def test_an_issue_closed_as_a_duplicate_says_so(gh, private_key):
    repo = repo_as_app(gh, private_key)
    issue = repo.create_issue(title="twice", body="<!-- iacbot:issue:revert-7 -->")
    issue.edit(state="closed", state_reason="duplicate")
    shown = gh.issue("octo/infra", issue.number)
    assert (shown["state"], shown["state_reason"], shown["user"]["login"]) == ("closed", "duplicate", "iacbot[bot]")
    assert [i.number for i in repo.get_issues(state="open", creator="iacbot[bot]")] == []
