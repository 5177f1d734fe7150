"""open_revert and open_revert_issue against the GitHub double (fails on any OpenAPI violation):
the revert is built through the Git data API, restores the fix's files and lines exactly, keeps
other people's edits, refuses what it would have to guess, and converges on one branch and one PR
after a crash or a lost answer. One double for the module, one repository per test."""
from __future__ import annotations

import itertools
import logging

import pytest

from bot.github import issues
from bot.github.auth import installation_token
from bot.github.client import client
from bot.github.ownership import AppIdentity, MemoryLedger, Ownership
from bot.github.publish import PublishError
from bot.github.retry import RetryPolicy
from bot.github.revert import (ALREADY_REVERTED, CLOSED, CREATED, EXISTS, FOREIGN, MAX_FILE_BYTES, MAX_FILES,
                               NOT_CLEAN, RevertFile, git_blob_sha, issue_kind, ledger_key, open_revert,
                               problem_lines,
                               open_revert_issue)
from jobs.branches import revert_branch_name
from tests.github_double import GitHubDouble, new_app_key_pem

APP_ID = 727272
FAST = {"seconds_between_requests": 0, "seconds_between_writes": 0}
ORIGINAL = 41  # the number of the fix's (merged) PR the tests revert
BRANCH = revert_branch_name(ORIGINAL)
_names = itertools.count(1)

BEFORE = (b'resource "aws_s3_bucket" "logs" {\n  bucket = "logs"\n}\n\n'
          b'resource "aws_s3_bucket" "data" {\n  bucket = "data"\n  tags   = {}\n}\n')
AFTER = BEFORE.replace(b'  bucket = "logs"\n', b'  bucket = "logs"\n  acl    = "private"\n')
CREATED_TF = b'# added by the fix\nvariable "kms" {}\n'
PATH, NEW_PATH = "terraform/main.tf", "terraform/kms.tf"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="module")
def private_key() -> str:
    return new_app_key_pem()


@pytest.fixture(scope="module")
def double():
    with GitHubDouble() as gh:
        yield gh


@pytest.fixture
def gh(double, private_key):
    """A fresh repository whose main already has the fix merged (AFTER, and a file it created)."""
    name = f"octo/revert-{next(_names)}"
    double.create_repo(name, files={"README.md": "# infra\n", PATH: BEFORE})
    double.push_commit(name, {PATH: AFTER, NEW_PATH: CREATED_TF}, "iacbot: fix (#41)\n", login="carol")
    double.add_collaborators(name, "alice", "carol")
    double.add_teams(name, "platform")
    inst = double.install_app(APP_ID, private_key, repos=[name])
    double.name = name
    double.token = installation_token(APP_ID, private_key, inst.id, name, None, double.base_url)
    double.ownership = Ownership(AppIdentity("iacbot"), MemoryLedger())
    double.faults.served.clear()
    double.reset_traffic()
    yield double
    double.clear_faults()
    assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


FILES = (RevertFile(PATH, BEFORE, AFTER), RevertFile(NEW_PATH, None, CREATED_TF))


def body(commit_sha: str, base_sha: str) -> str:
    return f"Reverts #{ORIGINAL}.\n\ncommit {commit_sha} on {base_sha}\n"


def revert(gh, files=FILES, sleeps=None, message=f"Revert #{ORIGINAL}\n", **policy):
    g = client(gh.base_url, gh.token, policy=RetryPolicy(sleep=sleeps if sleeps is not None else Sleeps(), **policy),
               **FAST)
    return open_revert(g, gh.name, original_pr=ORIGINAL, files=files, title=f"Revert #{ORIGINAL}", body=body,
                       commit_message=message, ownership=gh.ownership, reviewers=["alice", "carol"],
                       team_reviewers=["platform"], labels=["iacbot", "iacbot:revert"])


def main_files(gh) -> dict[str, bytes]:
    repo = gh.repo(gh.name)
    with gh.world.lock:
        tree = repo.objects.commit(repo.refs["refs/heads/main"]).tree
        return {p: repo.objects.get(e.sha, "blob") for p, e in repo.objects.walk(tree) if e.kind == "blob"}


def assert_one_revert_pr(gh, result, expected: dict[str, bytes | None]):
    """Exactly one PR and one revert branch: one commit on main's head changing exactly `expected`
    (None: deleted), as the result says."""
    repo = gh.repo(gh.name)
    with gh.world.lock:
        assert len(repo.pulls) == 1, [p.title for p in repo.pulls.values()]
        pr = next(iter(repo.pulls.values()))
        branches = [r for r in repo.refs if r.startswith("refs/heads/iacbot/")]
        assert branches == [f"refs/heads/{BRANCH}"] and pr.head_ref == BRANCH and pr.base_ref == "main"
        tip_sha = repo.refs[branches[0]]
        tip = repo.objects.commit(tip_sha)
        main = repo.refs["refs/heads/main"]
        assert tip.parents == (main,) and tip_sha == result.commit_sha and result.base_sha == main
        old = repo.objects.flatten(repo.objects.commit(main).tree)
        new = repo.objects.flatten(tip.tree)
        changed = {p for p in old.keys() | new.keys() if old.get(p) != new.get(p)}
        assert changed == set(expected)
        for path, data in expected.items():
            if data is None:
                assert path not in new
            else:
                assert repo.objects.get(new[path][1], "blob") == data
        assert pr.state == "open" and pr.head_sha == tip_sha and pr.number == result.pr_number
        assert pr.body == body(tip_sha, main) and pr.user_login == "iacbot[bot]"
        assert sorted(pr.labels) == ["iacbot", "iacbot:revert"]
        assert gh.ownership.commits.made(gh.name, ledger_key(ORIGINAL), [tip_sha])
        return pr


def test_a_clean_revert_restores_the_file_byte_for_byte_deletes_the_created_one_and_asks_the_reviewers(gh):
    result = revert(gh)
    assert result.status == CREATED and result.branch == BRANCH and result.problems == ()
    pr = assert_one_revert_pr(gh, result, {PATH: BEFORE, NEW_PATH: None})
    assert (pr.requested_reviewers, pr.requested_teams) == (["alice", "carol"], ["platform"])
    assert (result.reviewers, result.team_reviewers, result.review_note) == (("alice", "carol"), ("platform",), "")
    # The commit is the App's (the double authors what an installation token creates as its bot).
    repo = gh.repo(gh.name)
    with gh.world.lock:
        assert repo.objects.commit(result.commit_sha).author.name == "iacbot[bot]"
    # Again: the open PR carries it, nothing is written, nobody is asked twice.
    gh.reset_traffic()
    again = revert(gh)
    assert (again.status, again.pr_number, again.commit_sha) == (EXISTS, result.pr_number, result.commit_sha)
    assert again.reviewers == () and gh.requests_matching("POST", ".") == []
    assert_one_revert_pr(gh, again, {PATH: BEFORE, NEW_PATH: None})


def test_an_edit_elsewhere_in_the_file_is_kept_and_only_the_fix_lines_are_reverted(gh):
    edited = AFTER.replace(b'bucket = "data"', b'bucket = "data-2"')
    gh.push_commit(gh.name, {PATH: edited, "README.md": "# infra, edited\n"}, login="alice")
    result = revert(gh)
    assert result.status == CREATED
    assert_one_revert_pr(gh, result, {PATH: BEFORE.replace(b'bucket = "data"', b'bucket = "data-2"'),
                                      NEW_PATH: None})


def test_the_fix_lines_changed_since_is_not_clean_naming_the_file_and_hunk_with_no_branch_or_pr(gh):
    gh.push_commit(gh.name, {PATH: AFTER.replace(b'"private"', b'"log-delivery-write"')}, login="alice")
    result = revert(gh)
    assert result.status == NOT_CLEAN and result.pr_number is None and result.commit_sha is None
    assert len(result.problems) == 1 and result.problems[0].startswith(f"{PATH}: line 3 ")
    assert "changed since" in result.problems[0]
    repo = gh.repo(gh.name)
    with gh.world.lock:
        assert repo.pulls == {} and not [r for r in repo.refs if r.startswith("refs/heads/iacbot/")]
    assert gh.requests_matching("POST", ".") == []


def test_a_touching_edit_or_an_edited_created_file_is_not_clean_and_every_problem_is_named(gh):
    gh.push_commit(gh.name, {PATH: AFTER.replace(b'  bucket = "logs"\n', b'  bucket = "logs-1"\n'),
                             NEW_PATH: CREATED_TF + b'variable "more" {}\n'}, login="alice")
    result = revert(gh)
    assert result.status == NOT_CLEAN
    assert [p.split(":")[0] for p in result.problems] == [PATH, NEW_PATH]
    assert "next to the fix's change" in result.problems[0] and "created it" in result.problems[1]


def test_a_file_deleted_or_made_a_symlink_since_is_not_clean(gh):
    gh.push_commit(gh.name, {PATH: None, NEW_PATH: ("120000", b"elsewhere.tf")}, login="alice")
    result = revert(gh)
    assert result.status == NOT_CLEAN
    assert "deleted on main since the fix" in result.problems[0]
    assert "no longer a regular file" in result.problems[1] and "120000" in result.problems[1]


def test_already_reverted_is_nothing_to_do(gh):
    gh.push_commit(gh.name, {PATH: BEFORE, NEW_PATH: None}, login="alice")
    gh.reset_traffic()
    result = revert(gh)
    assert result.status == ALREADY_REVERTED and result.pr_number is None
    assert gh.requests_matching("POST", ".") == [] and gh.requests_matching("GET", "/git/blobs/") == []
    # Half reverted by hand: the rest is reverted.
    gh.push_commit(gh.name, {NEW_PATH: CREATED_TF}, login="alice")
    result = revert(gh)
    assert result.status == CREATED
    assert_one_revert_pr(gh, result, {NEW_PATH: None})


@pytest.mark.parametrize("method, path, step", [
    ("POST", r"/pulls$", "creating the pull request"),       # the crash between the ref and the PR
    ("POST", r"/git/refs$", "creating branch iacbot/revert/41"),
    ("POST", r"/issues/\d+/labels$", "labelling pull request #"),
    ("POST", r"/git/commits$", "creating the revert commit"),
])
def test_a_run_killed_at_a_step_is_a_clear_error_and_the_rerun_converges_on_one_pr(gh, method, path, step,
                                                                                   caplog):
    caplog.set_level(logging.DEBUG)
    gh.inject_fault(method, path, 500, times=100)
    with pytest.raises(PublishError) as err:
        revert(gh, max_attempts=2)
    message = str(err.value)
    assert step in message and gh.name in message and f"PR #{ORIGINAL}" in message and "HTTP 500" in message
    assert err.value.retryable and gh.token.value not in message + caplog.text
    gh.clear_faults()
    first_commits = gh.requests_matching("POST", r"/git/commits$")
    result = revert(gh)
    assert result.status in (CREATED, EXISTS)
    pr = assert_one_revert_pr(gh, result, {PATH: BEFORE, NEW_PATH: None})
    assert pr.requested_reviewers == ["alice", "carol"]
    if method == "POST" and path == r"/pulls$":  # the branch's commit was reused, not rebuilt
        assert gh.requests_matching("POST", r"/git/commits$") == first_commits
    assert revert(gh).status == EXISTS


@pytest.mark.parametrize("path", [r"/git/blobs$", r"/git/trees$", r"/git/commits$", r"/git/refs$", r"/pulls$",
                                  r"/issues/\d+/labels$", r"/requested_reviewers$"])
def test_a_write_whose_answer_is_lost_converges_on_one_branch_and_one_pr(gh, path):
    gh.inject_fault("POST", path, 502, after_handling=True)
    result = revert(gh)
    assert result.status == CREATED and len(gh.faults_served) == 1
    pr = assert_one_revert_pr(gh, result, {PATH: BEFORE, NEW_PATH: None})
    assert pr.requested_reviewers == ["alice", "carol"]
    assert revert(gh).status == EXISTS


def test_the_default_branch_moving_after_a_crash_rebuilds_the_revert_on_the_new_head(gh):
    gh.inject_fault("POST", r"/pulls$", 500, times=100)
    with pytest.raises(PublishError):
        revert(gh, max_attempts=1)
    gh.clear_faults()
    gh.push_commit(gh.name, {"README.md": "# moved\n"}, login="alice")
    result = revert(gh)
    assert result.status == CREATED
    assert_one_revert_pr(gh, result, {PATH: BEFORE, NEW_PATH: None})


def test_a_foreign_commit_on_the_revert_branch_is_never_touched(gh):
    result = revert(gh)
    _, foreign = gh.push_commit(gh.name, {"README.md": "# mine\n"}, branch=BRANCH, login="mallory")
    gh.reset_traffic()
    again = revert(gh)
    assert again.status == FOREIGN and again.pr_number == result.pr_number and again.commit_sha == foreign
    assert "not make" in again.reason or "did not" in again.reason
    assert gh.requests_matching("POST", ".") == [] and gh.requests_matching("PATCH", ".") == []
    with gh.world.lock:
        assert gh.repo(gh.name).refs[f"refs/heads/{BRANCH}"] == foreign


def test_a_branch_someone_else_made_at_the_revert_name_is_never_touched(gh):
    _, theirs = gh.push_commit(gh.name, {"README.md": "# theirs\n"}, branch=BRANCH, login="mallory")
    result = revert(gh)
    assert result.status == FOREIGN and result.pr_number is None
    number = gh.open_pull(gh.name, BRANCH, "main", "mallory's", login="mallory")
    result = revert(gh)
    assert result.status == FOREIGN and result.pr_number == number
    repo = gh.repo(gh.name)
    with gh.world.lock:
        assert repo.refs[f"refs/heads/{BRANCH}"] == theirs and repo.pulls[number].labels == []
        assert len(repo.pulls) == 1


def test_a_revert_pr_a_person_closed_is_not_opened_again(gh):
    result = revert(gh)
    gh.close_pull(gh.name, result.pr_number, login="alice")
    again = revert(gh)
    assert again.status == CLOSED and again.pr_number == result.pr_number
    with gh.world.lock:
        assert len(gh.repo(gh.name).pulls) == 1


def test_a_merged_revert_reads_as_already_reverted(gh):
    result = revert(gh)
    gh.close_pull(gh.name, result.pr_number, merged=True, login="alice")
    assert main_files(gh)[PATH] == BEFORE and NEW_PATH not in main_files(gh)
    assert revert(gh).status == ALREADY_REVERTED


def test_sizes_and_counts_are_refused_by_name_before_any_request(gh):
    gh.reset_traffic()
    big = RevertFile("terraform/big.tf", b"x" * (MAX_FILE_BYTES + 1), b"y\n")
    result = revert(gh, files=(big,))
    assert result.status == NOT_CLEAN and "terraform/big.tf" in result.problems[0] and "limit" in result.problems[0]
    many = tuple(RevertFile(f"f{i}.tf", None, b"x\n") for i in range(MAX_FILES + 1))
    result = revert(gh, files=many)
    assert result.status == NOT_CLEAN and f"{MAX_FILES + 1} files" in result.problems[0]
    odd = (RevertFile("../escape.tf", None, b"x\n"), RevertFile(PATH, BEFORE, AFTER), RevertFile(PATH, BEFORE, AFTER))
    result = revert(gh, files=odd)
    assert result.status == NOT_CLEAN and "'../escape.tf'" in result.problems[0] and "named twice" in result.problems[1]
    assert revert(gh, files=()).status == NOT_CLEAN
    result = revert(gh, files=(RevertFile(PATH, "text", AFTER),))
    assert result.status == NOT_CLEAN and "must be bytes" in result.problems[0]
    assert gh.requests == []


def test_a_file_grown_past_the_limit_since_is_not_clean_without_downloading_it(gh):
    gh.push_commit(gh.name, {PATH: AFTER + b"#" * MAX_FILE_BYTES}, login="alice")
    result = revert(gh)
    assert result.status == NOT_CLEAN and "bytes on main now" in result.problems[0]
    assert gh.requests_matching("GET", "/git/blobs/") == []


def test_git_blob_sha_is_git_s():
    assert git_blob_sha(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert git_blob_sha(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


# -- the fallback issue -------------------------------------------------------------------------
def issue(gh, **kw):
    g = client(gh.base_url, gh.token, policy=RetryPolicy(sleep=Sleeps()), **FAST)
    return open_revert_issue(g, gh.name, original_pr=ORIGINAL, title=f"Revert #{ORIGINAL} by hand",
                             body="The fix's lines changed since; revert these hunks by hand.",
                             app=AppIdentity("iacbot"), **kw)


def test_the_revert_issue_is_opened_once_and_found_again_by_marker_and_author(gh):
    # A person's issue carrying the marker is not iacbot's, so it is neither reused nor touched.
    theirs = gh.open_issue(gh.name, "fake", body=issues.marker(issue_kind(ORIGINAL)), login="mallory")
    number = issue(gh)
    assert number != theirs and issue(gh) == number
    mine = gh.issue(gh.name, number)
    assert mine["user"]["login"] == "iacbot[bot]" and issues.marker(issue_kind(ORIGINAL)) in mine["body"]
    assert gh.issue(gh.name, theirs)["state"] == "open"
    assert [i["number"] for i in gh.issues(gh.name, "open")] == sorted([theirs, number])


def test_a_lost_answer_on_opening_the_issue_converges_on_one_open_issue(gh):
    gh.inject_fault("POST", r"/issues$", 502, after_handling=True)
    number = issue(gh)
    open_ones = [i for i in gh.issues(gh.name, "open")]
    assert [i["number"] for i in open_ones] == [number]
    closed = [i for i in gh.issues(gh.name, "closed")]
    assert len(closed) == 1 and closed[0]["state_reason"] == "duplicate"
    assert issue(gh) == number


def test_a_refused_review_request_is_noted_and_a_rerun_asks_only_who_was_not_asked(gh):
    gh.inject_fault("POST", r"/requested_reviewers$", 422, times=1,
                    body={"message": "Reviews may only be requested from collaborators.",
                          "documentation_url": "https://docs.github.com/rest"})
    result = revert(gh)
    assert result.status == CREATED and result.reviewers == ()
    assert "HTTP 422" in result.review_note and "collaborators" in result.review_note
    gh.add_review(gh.name, result.pr_number, "carol", "COMMENTED")  # carol is reviewing already
    again = revert(gh)
    assert again.status == EXISTS and (again.reviewers, again.team_reviewers) == (("alice",), ("platform",))
    with gh.world.lock:
        pr = gh.repo(gh.name).pulls[result.pr_number]
        assert (pr.requested_reviewers, pr.requested_teams) == (["alice"], ["platform"])


def test_the_file_mode_on_the_head_is_kept_and_a_top_level_file_is_found(gh):
    gh.push_commit(gh.name, {"run.sh": ("100755", b"#!/bin/sh\necho fixed\n")}, login="alice")
    files = (RevertFile("run.sh", b"#!/bin/sh\necho old\n", b"#!/bin/sh\necho fixed\n"),)
    result = revert(gh, files=files)
    assert result.status == CREATED
    assert_one_revert_pr(gh, result, {"run.sh": b"#!/bin/sh\necho old\n"})
    repo = gh.repo(gh.name)
    with gh.world.lock:
        assert repo.objects.lookup(repo.objects.commit(result.commit_sha).tree, "run.sh").mode == "100755"


def test_many_blocked_hunks_are_counted_not_all_named_and_problems_quote_paths_as_code(gh):
    before = b"".join(b"line %d\n" % i for i in range(100))
    after = before.replace(b"0\n", b"0 fixed\n")  # lines 1, 11, 21, ... changed: 10 hunks
    current = after.replace(b"fixed", b"changed again")
    path = "k8s/@octo/team <!-- #1.yaml"
    gh.push_commit(gh.name, {path: current}, login="alice")
    result = revert(gh, files=(RevertFile(path, before, after),))
    assert result.status == NOT_CLEAN and len(result.details) == 10 and len(result.problems) == 10
    assert all(d.path == path for d in result.details)
    many = after.replace(b"5\n", b"5 fixed\n")  # 20 hunks now
    gh.push_commit(gh.name, {path: many.replace(b"fixed", b"changed again")}, login="alice")
    result = revert(gh, files=(RevertFile(path, before, many),))
    assert len(result.details) == 11 and result.details[-1].detail.startswith("and 10 more")
    lines = problem_lines(result.details)
    assert len(lines) == 11 and all(line.startswith("- `") for line in lines)
    assert "<!--" not in "".join(lines) and "@octo" not in "".join(lines)


def test_a_body_over_github_s_limit_is_refused_before_any_branch(gh):
    g = client(gh.base_url, gh.token, policy=RetryPolicy(sleep=Sleeps()), **FAST)
    with pytest.raises(PublishError) as err:
        open_revert(g, gh.name, original_pr=ORIGINAL, files=FILES, title="t", body=lambda c, b: "x" * 70_000,
                    commit_message="m\n", ownership=gh.ownership)
    assert err.value.permanent and not err.value.retryable and "body" in str(err.value)
    with gh.world.lock:
        assert not [r for r in gh.repo(gh.name).refs if r.startswith("refs/heads/iacbot/")]


@pytest.mark.parametrize("path, same_commit", [(r"/git/refs$", True), (r"/git/refs$", False), (r"/pulls$", True)])
def test_two_runs_at_once_converge_on_one_branch_and_one_pr(gh, path, same_commit, caplog):
    """Two workers on the same revert (a redelivery while the first still runs), held together at
    the branch or the PR creation so that both POST it: one PR, one branch, both say so. With
    different commits (made in another second, say) the loser finds the winner's branch and uses it."""
    import concurrent.futures
    caplog.set_level(logging.INFO)
    gathering = gh.gather("POST", path, 2, timeout=10)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda i: revert(gh, message="Revert\n" if same_commit else f"Revert {i}\n"),
                                range(2)))
    assert gathering.met and gathering.arrived == 2
    assert {r.status for r in results} <= {CREATED, EXISTS} and results[0].pr_number == results[1].pr_number
    assert results[0].commit_sha == results[1].commit_sha
    assert_one_revert_pr(gh, results[0], {PATH: BEFORE, NEW_PATH: None})
    if not same_commit:  # (the same message may still give two commits, a second apart: not asserted)
        assert "appeared meanwhile" in caplog.text
