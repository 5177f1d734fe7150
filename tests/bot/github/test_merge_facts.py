"""bot.github.merge_facts and bot.github.merge against the GitHub double (real HTTP, every exchange
checked against GitHub's OpenAPI): what iacbot sees of a PR right before merging it, and the
merge call pinned to a head SHA."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.github import merge_facts
from bot.github.auth import installation_token
from bot.github.client import client
from bot.github.merge import HEAD_MOVED, MERGED, NOT_MERGEABLE, REFUSED, merge_pinned, single_attempt_client
from bot.github.ownership import AppIdentity, MemoryLedger, Ownership
from bot.github.publish import PublishError, publish_fix
from policies.facts import ChangedFile, CheckFacts, CommitFacts
from tests.github_double import GitHubDouble, new_app_key_pem
from tests.workers.merge_harness import APP_ID, INSTALL_PERMISSIONS, PATHS, REPO_NAME, k8s20_fix, repo_files

APP = AppIdentity("iacbot")
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def key() -> str:
    return new_app_key_pem()


@pytest.fixture
def gh(key):
    with GitHubDouble() as double:
        double.create_repo(REPO_NAME, files=repo_files())
        double.installation = double.install_app(APP_ID, key, repos=[REPO_NAME], permissions=INSTALL_PERMISSIONS)
        token = installation_token(APP_ID, key, double.installation.id, REPO_NAME,
                                   {"contents": "write", "pull_requests": "write", "checks": "read",
                                    "statuses": "read"}, double.base_url)
        # per_page 10: every listing below crosses pages.
        double.client = client(double.base_url, token, seconds_between_requests=0, seconds_between_writes=0,
                               per_page=10)
        double.token = token
        yield double
        assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


@pytest.fixture
def ledger() -> MemoryLedger:
    return MemoryLedger()


@pytest.fixture
def pr(gh, ledger):
    """iacbot's PR for the CKV_K8S_20 fix of envs/dev/web.yaml: (number, head sha, fingerprint, branch, fix lines)."""
    path = PATHS[0]
    source = repo_files()[path]
    attempt, new_text = k8s20_fix(path, source)
    result = publish_fix(gh.client, REPO_NAME, attempt, new_text, "verified", ownership=Ownership(APP, ledger),
                         request_reviews=False)
    return result.pr_number, result.commit_sha, attempt.finding.fingerprint(), result.branch, path


def gather(gh, ledger, pr, **kw):
    number, head, fingerprint, _, _ = pr
    repo = gh.client.get_repo(REPO_NAME)
    return merge_facts.gather(repo, number, app=APP, ledger=ledger, repository=REPO_NAME, fingerprint=fingerprint,
                              decided_head_sha=head, now=NOW, **kw)


def test_iacbots_own_pr_is_seen_as_iacbots(gh, ledger, pr):
    number, head, _, _, path = pr
    facts, state = gather(gh, ledger, pr, merges_last_hour=2, repo_kill_switch=True)
    assert facts.pr_open and facts.pr_by_iacbot and facts.mergeable is True
    assert (facts.base_ref, facts.head_sha, facts.decided_head_sha) == ("main", head, head)
    assert facts.commits == (CommitFacts(head, True, True, True),)
    assert [f.path for f in facts.files] == [path] and facts.files[0].changed_lines >= 1
    assert facts.checks == () and facts.merges_last_hour == 2 and facts.repo_kill_switch
    assert state.state == "open" and not state.merged and state.number == number


def test_a_persons_commit_on_the_bots_branch_is_not_iacbots(gh, ledger, pr):
    _, head, _, branch, _ = pr
    _, theirs = gh.push_commit(REPO_NAME, {"envs/dev/web.yaml": "kind: Pod\n", "README.md": "hi\n"}, "tweak\n",
                               branch=branch, login="mallory")
    facts, _ = gather(gh, ledger, pr)
    assert facts.head_sha == theirs and facts.decided_head_sha == head
    assert facts.commits == (CommitFacts(head, True, True, True), CommitFacts(theirs, False, False, False))
    assert {f.path for f in facts.files} == {"envs/dev/web.yaml", "README.md"}


def test_a_commit_authored_as_iacbot_and_committed_by_a_person_is_told_apart(gh, ledger, pr):
    _, head, _, branch, _ = pr
    bot = (gh.bot_login(), gh.bot_email())
    _, forged = gh.push_commit(REPO_NAME, {"envs/dev/web.yaml": "kind: Pod\n"}, "x\n", branch=branch, login="mallory",
                               author=bot)
    _, both = gh.push_commit(REPO_NAME, {"envs/dev/web.yaml": "kind: Pod # 2\n"}, "y\n", branch=branch,
                             login="mallory", author=bot, committer=bot)
    facts, _ = gather(gh, ledger, pr)
    by_sha = {c.sha: c for c in facts.commits}
    assert by_sha[forged] == CommitFacts(forged, False, True, False)
    # Both forged to the bot's address: the API links them to the bot, but iacbot never recorded it.
    assert by_sha[both] == CommitFacts(both, False, True, True)


def test_checks_are_read_on_the_head_only_with_the_app_that_posted_each(gh, ledger, pr):
    _, head, _, branch, _ = pr
    gh.add_check_run(REPO_NAME, head, "test", conclusion="success", app_slug="ci")
    gh.add_check_run(REPO_NAME, head, "test", conclusion="success", app_slug="impostor")
    gh.add_check_run(REPO_NAME, head, "lint", status="in_progress", conclusion=None, app_slug="ci")
    gh.add_status(REPO_NAME, head, "pending", "deploy")
    gh.add_status(REPO_NAME, head, "pending", "test")
    gh.add_status(REPO_NAME, head, "success", "test")            # the latest per context wins
    gh.add_status(REPO_NAME, head, "error", "security")
    gh.add_status(REPO_NAME, "main", "success", "elsewhere")     # another commit: never asked for
    gh.add_check_run(REPO_NAME, "main", "test", conclusion="success", app_slug="ci")
    facts, _ = gather(gh, ledger, pr)
    runs = {(c.name, c.app_slug, c.status, c.conclusion) for c in facts.checks if c.kind == "check_run"}
    assert runs == {("test", "ci", "completed", "success"), ("test", "impostor", "completed", "success"),
                    ("lint", "ci", "in_progress", None)}
    statuses = {c.name: c for c in facts.checks if c.kind == "status"}
    assert statuses == {"deploy": CheckFacts("deploy", head, "in_progress", None, None, "status"),
                        "test": CheckFacts("test", head, "completed", "success", None, "status"),
                        "security": CheckFacts("security", head, "completed", "error", None, "status")}
    assert all(c.head_sha == head for c in facts.checks)
    assert not gh.requests_matching("GET", r"/commits/main/")


def test_every_page_is_read(gh, ledger, pr):
    _, _, _, branch, _ = pr
    for i in range(11):
        _, head = gh.push_commit(REPO_NAME, {f"extra/{i}.txt": "x\n"}, f"c{i}\n", branch=branch, login="mallory")
    for i in range(23):
        gh.add_check_run(REPO_NAME, head, f"run-{i}", app_slug="ci")
    for i in range(105):  # more contexts than one page of the combined status holds
        gh.add_status(REPO_NAME, head, "success", f"ctx-{i}")
    facts, _ = gather(gh, ledger, pr)
    assert facts.head_sha == head
    assert len([c for c in facts.checks if c.kind == "check_run"]) == 23
    assert len([c for c in facts.checks if c.kind == "status"]) == 105
    assert len(facts.commits) == 12 and len(facts.files) == 12
    assert len(gh.requests_matching("GET", rf"/commits/{head}/check-runs$")) == 3


def test_what_is_beyond_the_bounds_fails_closed(gh, ledger, pr, monkeypatch):
    _, _, _, branch, _ = pr
    monkeypatch.setattr(merge_facts, "MAX_COMMITS", 3)
    monkeypatch.setattr(merge_facts, "MAX_FILES", 3)
    monkeypatch.setattr(merge_facts, "MAX_CHECKS", 5)
    for i in range(4):
        _, head = gh.push_commit(REPO_NAME, {f"extra/{i}.txt": "x\n"}, f"c{i}\n", branch=branch, login="mallory")
    gh.add_check_run(REPO_NAME, head, "test", app_slug="ci")
    for i in range(5):  # GitHub lists the latest run per name and App: five more names
        gh.add_check_run(REPO_NAME, head, f"noise-{i}", app_slug="noisy")
    facts, _ = gather(gh, ledger, pr)
    assert len(facts.commits) == 4 and facts.commits[-1] == CommitFacts(merge_facts.COMMITS_BEYOND, False, False, False)
    assert len(facts.files) == 4 and facts.files[-1] == ChangedFile(merge_facts.FILES_BEYOND, 0)
    assert [c for c in facts.checks if c.kind == "check_run"] == []  # too many to read: every one is missing


def test_a_rename_counts_its_old_path(gh, ledger, pr):
    _, _, _, branch, _ = pr
    gh.push_commit(REPO_NAME, {".github/CODEOWNERS": "* @a\n"}, "add\n")  # on main, before the PR's branch moves
    gh.push_commit(REPO_NAME, {"envs/dev/api.yaml": None, "envs/dev/api2.yaml": repo_files()["envs/dev/api.yaml"]},
                   "rename\n", branch=branch, login="mallory")
    facts, _ = gather(gh, ledger, pr)
    paths = {f.path for f in facts.files}
    assert "envs/dev/api2.yaml" in paths and "envs/dev/api.yaml" in paths


# -- the pinned merge ------------------------------------------------------------------------

def merger(gh):
    return single_attempt_client(gh.base_url, gh.token, lazy=True).get_repo(REPO_NAME)


def test_merge_pinned_merges_the_head_it_names(gh, ledger, pr):
    number, head, _, _, _ = pr
    result = merge_pinned(merger(gh), number, head)
    assert result.outcome == MERGED and result.merged and result.merge_sha and result.http_status == 200
    pull = gh.repo(REPO_NAME).pulls[number]
    assert pull.merged_at and gh.repo(REPO_NAME).refs["refs/heads/main"] == result.merge_sha
    _, state = gather(gh, ledger, pr)
    assert state.merged and state.merged_by_iacbot and state.merge_commit_sha == result.merge_sha


def test_merge_pinned_to_a_head_that_moved_is_a_409_and_merges_nothing(gh, pr):
    number, head, _, branch, _ = pr
    gh.push_commit(REPO_NAME, {"envs/dev/web.yaml": "kind: Pod\n"}, "tweak\n", branch=branch, login="mallory")
    result = merge_pinned(merger(gh), number, head)
    assert (result.outcome, result.http_status, result.decide_again) == (HEAD_MOVED, 409, True)
    assert gh.repo(REPO_NAME).pulls[number].merged_at is None


def test_merge_pinned_on_a_pr_that_cannot_merge_is_a_405(gh, pr):
    number, head, _, _, _ = pr
    gh.set_mergeable(REPO_NAME, number, False)
    result = merge_pinned(merger(gh), number, head)
    assert (result.outcome, result.http_status) == (NOT_MERGEABLE, 405)
    assert gh.repo(REPO_NAME).pulls[number].merged_at is None


def test_merge_pinned_on_a_closed_pr_is_refused(gh, pr):
    number, head, _, _, _ = pr
    gh.close_pull(REPO_NAME, number)
    result = merge_pinned(merger(gh), number, head)
    assert (result.outcome, result.http_status) == (REFUSED, 422)


def test_a_5xx_on_the_merge_call_raises_retryable_after_one_attempt(gh, pr):
    number, head, _, _, _ = pr
    gh.inject_fault("PUT", rf"/pulls/{number}/merge$", 502, times=3)
    with pytest.raises(PublishError) as caught:
        merge_pinned(merger(gh), number, head)
    assert caught.value.retryable and caught.value.status == 502
    assert len(gh.requests_matching("PUT", rf"/pulls/{number}/merge$")) == 1  # never repeated in-process
    assert gh.repo(REPO_NAME).pulls[number].merged_at is None


def test_the_stored_facts_are_bounded_whatever_the_pr_holds(gh, ledger, pr):
    _, head, _, _, _ = pr
    for i in range(120):
        gh.add_status(REPO_NAME, head, "success", f"ctx-{i}")
    facts, _ = gather(gh, ledger, pr)
    stored = merge_facts.facts_to_json(facts)
    assert len(stored["checks"]) == merge_facts.STORED_ITEMS and stored["checks_total"] == 120
    assert stored["commits_total"] == 1 and stored["now"] == NOW.isoformat()
