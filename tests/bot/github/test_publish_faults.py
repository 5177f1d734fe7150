"""publish_fix under GitHub failures: every call of the flow is hit by a 502, a secondary rate
limit or a lost answer, and a run still ends with exactly one branch and one PR with the right
content. Plus reviewers requested from CODEOWNERS. One double for the module, one repo per test."""
from __future__ import annotations

import itertools
import logging

import pytest

from bot.github.auth import installation_token
from bot.github.client import client
from bot.github.errors import GitHubRetryLater
from bot.github.ownership import AppIdentity, MemoryLedger, Ownership
from bot.github.publish import CREATED, EXISTS, PublishError, publish_fix
from bot.github.retry import RetryPolicy
from bot.provenance import branch_name
from tests.bot.github.fixes import FILES, FIXED_TF, VERIFICATION, attempt
from tests.github_double import GitHubDouble, new_app_key_pem

APP_ID = 717171
FAST = {"seconds_between_requests": 0, "seconds_between_writes": 0}
CODEOWNERS = "* @carol\n*.tf @alice @octo/platform @other-org/sec dev@example.com\n"
_names = itertools.count(1)

# Every request of a first publish with CODEOWNERS, in order: (method, path regex, what).
FLOW = [
    ("GET", r"/repos/octo/[^/]+$", "repository"),
    ("GET", r"/git/ref/heads/main$", "default branch head"),
    ("GET", r"/git/commits/[0-9a-f]{40}$", "head commit"),
    ("GET", r"/pulls$", "open PR lookup"),
    ("GET", r"/git/ref/heads/iacbot/", "bot branch lookup (404)"),
    ("POST", r"/git/blobs$", "blob"),
    ("GET", r"/contents/terraform/main\.tf$", "current file"),
    ("POST", r"/git/trees$", "tree"),
    ("POST", r"/git/commits$", "commit"),
    ("POST", r"/git/refs$", "branch"),
    ("POST", r"/pulls$", "pull request"),
    ("POST", r"/issues/\d+/labels$", "labels"),
    ("GET", r"/contents/\.github/CODEOWNERS$", "CODEOWNERS"),
    ("POST", r"/requested_reviewers$", "review request"),
]
WRITES = [f for f in FLOW if f[0] == "POST"]


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
    """A fresh repository (with CODEOWNERS, collaborators and teams) and a publishing token."""
    name = f"octo/infra-{next(_names)}"
    double.create_repo(name, files={**FILES, ".github/CODEOWNERS": CODEOWNERS})
    double.add_collaborators(name, "alice", "carol")
    double.add_teams(name, "platform")
    inst = double.install_app(APP_ID, private_key, repos=[name])
    double.name = name
    double.token = installation_token(APP_ID, private_key, inst.id, name, None, double.base_url)
    double.ownership = Ownership(AppIdentity("iacbot"), MemoryLedger())
    double.faults.served.clear()
    yield double
    double.clear_faults()
    assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


def publish(gh, sleeps=None, **policy):
    g = client(gh.base_url, gh.token, policy=RetryPolicy(sleep=sleeps if sleeps is not None else Sleeps(),
                                                         **policy), **FAST)
    return publish_fix(g, gh.name, attempt(), FIXED_TF, VERIFICATION, ownership=gh.ownership)


def assert_one_good_pr(gh, result):
    """Exactly one PR and one bot branch, holding exactly the fix, labelled, as the result says."""
    repo = gh.repo(gh.name)
    with gh.world.lock:
        assert len(repo.pulls) == 1, [p.title for p in repo.pulls.values()]
        pr = next(iter(repo.pulls.values()))
        branches = [r for r in repo.refs if r.startswith("refs/heads/iacbot/")]
        assert branches == [f"refs/heads/{branch_name(attempt())}"] == [f"refs/heads/{pr.head_ref}"]
        head = repo.refs[branches[0]]
        tip = repo.objects.commit(head)
        assert tip.parents == (repo.refs["refs/heads/main"],)
        fixed = repo.objects.lookup(tip.tree, "terraform/main.tf")
        assert repo.objects.get(fixed.sha, "blob").decode() == FIXED_TF
        main_files = repo.objects.flatten(repo.objects.commit(tip.parents[0]).tree)
        changed = {p for p, v in repo.objects.flatten(tip.tree).items() if main_files.get(p) != v}
        assert changed == {"terraform/main.tf"}
        assert pr.state == "open" and pr.head_sha == head and pr.number == result.pr_number
        assert sorted(pr.labels) == ["encryption", "iacbot"]
        return pr


@pytest.mark.parametrize("method, path, what", FLOW, ids=[f[2] for f in FLOW])
@pytest.mark.parametrize("fault", ["502", "secondary-rate-limit"])
def test_one_transient_failure_anywhere_still_gives_one_pr(gh, method, path, what, fault):
    if fault == "502":
        gh.inject_fault(method, path, 502)
    else:
        gh.inject_secondary_rate_limit(method, path, retry_after=1)
    sleeps = Sleeps()
    result = publish(gh, sleeps)
    assert result.status == CREATED
    pr = assert_one_good_pr(gh, result)
    assert [(m, s) for m, _, s in gh.faults_served] == [(method, 502 if fault == "502" else 403)]
    assert sleeps == ([0.5] if fault == "502" else [1])
    assert (result.reviewers, result.team_reviewers, result.review_note) == (("alice",), ("platform",), "")
    assert (pr.requested_reviewers, pr.requested_teams) == (["alice"], ["platform"])


@pytest.mark.parametrize("method, path, what", WRITES, ids=[f[2] for f in WRITES])
def test_a_write_whose_answer_is_lost_converges(gh, method, path, what):
    """GitHub made the change but the answer never arrived: the retried POST must not duplicate it."""
    gh.inject_fault(method, path, 502, after_handling=True)
    result = publish(gh)
    assert result.status == CREATED and len(gh.faults_served) == 1
    pr = assert_one_good_pr(gh, result)
    assert pr.requested_reviewers == ["alice"] and result.reviewers == ("alice",)
    assert publish(gh).status == EXISTS


@pytest.mark.parametrize("method, path, step, rerun", [
    ("POST", r"/git/refs$", "creating branch iacbot/", CREATED),
    ("POST", r"/pulls$", "creating the pull request", CREATED),
    # The PR was opened before labelling failed: the re-run finds it and adds the labels.
    ("POST", r"/issues/\d+/labels$", "labelling pull request #1", EXISTS),
    ("GET", r"/git/commits/[0-9a-f]{40}$", "reading the head of main", CREATED),
])
def test_a_persistent_500_is_a_clear_error_and_a_rerun_converges(gh, method, path, step, rerun, caplog):
    caplog.set_level(logging.DEBUG)
    gh.inject_fault(method, path, 500, times=100)
    sleeps = Sleeps()
    with pytest.raises(PublishError) as err:
        publish(gh, sleeps, max_attempts=3)
    message = str(err.value)
    assert gh.name in message and step in message and "HTTP 500" in message, message
    assert err.value.status == 500 and err.value.retryable and sleeps == [0.5, 1]
    assert gh.token.value not in message + repr(err.value) + caplog.text
    gh.clear_faults()
    result = publish(gh)
    assert result.status == rerun
    assert_one_good_pr(gh, result)
    assert publish(gh).status == EXISTS


def test_a_long_rate_limit_pauses_the_job_and_a_rerun_converges(gh, caplog):
    caplog.set_level(logging.DEBUG)
    gh.inject_secondary_rate_limit("POST", r"/pulls$", retry_after=None)  # no retry-after: wait a minute
    sleeps = Sleeps()
    with pytest.raises(GitHubRetryLater) as err:
        publish(gh, sleeps)
    assert err.value.retry_after == 60 and err.value.countdown == 60 and sleeps == []
    assert gh.name in str(err.value) and "creating the pull request" in str(err.value)
    assert gh.token.value not in str(err.value) + caplog.text
    assert gh.repo(gh.name).pulls == {}
    result = publish(gh)
    assert result.status == CREATED
    assert_one_good_pr(gh, result)


# -- reviewers --------------------------------------------------------------------------------------
def test_reviewers_come_from_the_first_codeowners_location(gh):
    gh.repo(gh.name)  # .github/CODEOWNERS names alice, a team of this org, one of another, an e-mail
    result = publish(gh)
    assert (result.reviewers, result.team_reviewers) == (("alice",), ("platform",))
    # Shown on the PR as GitHub shows it.
    r = client(gh.base_url, gh.token, **FAST).get_repo(gh.name).get_pull(result.pr_number)
    assert [u.login for u in r.requested_reviewers] == ["alice"]
    assert [t.slug for t in r.requested_teams] == ["platform"]
    assert publish(gh).status == EXISTS


def test_a_refused_review_request_never_fails_the_publish(gh, caplog):
    gh.inject_fault("POST", r"/requested_reviewers$", 422, times=1,
                    body={"message": "Reviews may only be requested from collaborators.",
                          "documentation_url": "https://docs.github.com/rest"})
    result = publish(gh)
    assert result.status == CREATED and result.reviewers == ()
    assert "HTTP 422" in result.review_note and "collaborators" in result.review_note
    assert "could not request reviews" in caplog.text
    assert_one_good_pr(gh, result)


def test_a_review_request_still_failing_after_retries_is_only_noted(gh):
    gh.inject_fault("POST", r"/requested_reviewers$", 500, times=100)
    result = publish(gh, max_attempts=2)
    assert result.status == CREATED and "HTTP 500" in result.review_note
    gh.clear_faults()
    gh.inject_secondary_rate_limit("POST", r"/requested_reviewers$", retry_after=None)
    gh.close_pull(gh.name, result.pr_number)
    gh.world.repo(*gh.name.split("/")).refs.pop(f"refs/heads/{result.branch}")
    again = publish(gh)
    assert again.status == CREATED and "secondary rate limit" in again.review_note


def test_without_codeowners_or_owners_no_review_is_requested(gh, private_key):
    name = f"octo/plain-{next(_names)}"
    gh.create_repo(name, files={**FILES, "CODEOWNERS": "*.md @carol\n"})
    gh.add_collaborators(name, "carol")
    inst = gh.install_app(APP_ID, private_key, repos=[name])
    token = installation_token(APP_ID, private_key, inst.id, name, None, gh.base_url)
    result = publish_fix(client(gh.base_url, token, **FAST), name, attempt(), FIXED_TF, VERIFICATION,
                         ownership=gh.ownership)
    assert result.status == CREATED and result.reviewers == () and "names no user or team" in result.review_note
    name2 = f"octo/plain-{next(_names)}"
    gh.create_repo(name2, files=FILES)
    inst = gh.install_app(APP_ID, private_key, repos=[name2])
    token = installation_token(APP_ID, private_key, inst.id, name2, None, gh.base_url)
    result = publish_fix(client(gh.base_url, token, **FAST), name2, attempt(), FIXED_TF, VERIFICATION,
                         ownership=gh.ownership)
    assert result.review_note == "no CODEOWNERS file on the default branch"
    assert not any(p.endswith("/requested_reviewers") for _, p, _ in gh.faults_served)
