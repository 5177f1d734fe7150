"""Retrying transient GitHub failures: the pure rules, then both transports against the double."""
from __future__ import annotations

import logging
import socket

import pytest
import requests
from github import GithubException

from bot.github import http
from bot.github.auth import installation_token
from bot.github.client import client
from bot.github.errors import GitHubRetryLater
from bot.github.retry import PRIMARY, SECONDARY, SERVER_ERROR, RetryPolicy, classify, needs_message, next_wait
from tests.github_double import GitHubDouble, new_app_key_pem
from tests.github_double.faults import SECONDARY_MESSAGE

APP_ID = 616161
FAST = {"seconds_between_requests": 0, "seconds_between_writes": 0}


class Sleeps(list):
    """An injectable sleep that records instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def policy(sleeps: Sleeps, **kw) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps, clock=lambda: 1_000_000.0, **kw)


# -- the pure rules -----------------------------------------------------------------------------
def test_classify_follows_githubs_documented_order():
    p = policy(Sleeps())
    assert classify(502, {}, None, 1, p) == (t := classify(502, {}, None, 1, p)) and t.kind == SERVER_ERROR
    assert [classify(500, {}, None, n, p).wait for n in (1, 2, 3, 4, 5, 6)] == [0.5, 1, 2, 4, 8, 8]
    assert classify(503, {"Retry-After": "7"}, None, 1, p).wait == 7
    # retry-after first; then remaining 0 -> until the reset (+1 s); then a secondary limit's minute.
    assert classify(403, {"retry-after": "3"}, None, 1, p) == classify(429, {"Retry-After": "3"}, None, 1, p)
    assert classify(403, {"retry-after": "3"}, None, 1, p).kind == SECONDARY
    exhausted = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(1_000_000 + 20)}
    assert classify(403, exhausted, None, 1, p).kind == PRIMARY and classify(403, exhausted, None, 1, p).wait == 21
    assert classify(429, exhausted, None, 1, p).wait == 21
    assert classify(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "5"}, None, 1, p).wait == 1  # past
    assert classify(403, {}, SECONDARY_MESSAGE, 1, p).wait == 60 == classify(429, {}, None, 1, p).wait
    assert classify(403, {}, "API rate limit exceeded for installation ID 1.", 1, p).kind == PRIMARY
    # Retry-After may also be an HTTP date.
    assert classify(429, {"retry-after": "Mon, 12 Jan 1970 13:46:50 GMT"}, None, 1, p).wait == 10
    # Not transient: a refusal, a validation error, a missing thing.
    assert classify(403, {}, "Resource not accessible by integration", 1, p) is None
    assert classify(422, {"retry-after": "1"}, None, 1, p) is None and classify(404, {}, None, 1, p) is None
    assert needs_message(403, {}) and not needs_message(403, {"Retry-After": "1"})
    assert not needs_message(403, {"X-RateLimit-Remaining": "0"}) and not needs_message(502, {})


def test_next_wait_bounds_the_time_one_call_may_wait():
    p = policy(Sleeps(), max_attempts=3, max_wait=30)
    server = classify(502, {}, None, 1, p)
    assert next_wait(server, 1, 0, "GET /x", p) == 0.5
    assert next_wait(server, 3, 0, "GET /x", p) is None  # attempts used up: report the 502
    secondary = classify(403, {}, SECONDARY_MESSAGE, 1, p)
    with pytest.raises(GitHubRetryLater) as err:  # 60 s > 30 s: do not block the worker
        next_wait(secondary, 1, 0, "POST /repos/o/r/git/refs", p)
    assert err.value.retry_after == 60 and err.value.countdown == 60
    assert "POST /repos/o/r/git/refs" in str(err.value) and "secondary rate limit" in str(err.value)
    short = classify(429, {"retry-after": "20"}, None, 1, p)
    assert next_wait(short, 1, 0, "GET /x", p) == 20
    with pytest.raises(GitHubRetryLater):  # 20 already waited + 20 > 30
        next_wait(short, 2, 20, "GET /x", p)
    with pytest.raises(GitHubRetryLater) as err:  # a rate limit outlasting the attempts: retry later, not fail
        next_wait(classify(429, {"retry-after": "1"}, None, 1, p), 3, 2, "GET /x", p)
    assert err.value.countdown == 1
    assert RetryPolicy().max_wait == 30 and RetryPolicy().secondary_wait == 60


# -- the double -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def private_key() -> str:
    return new_app_key_pem()


@pytest.fixture(scope="module")
def double(private_key):
    with GitHubDouble() as gh:
        gh.create_repo("octo/infra", files={"a.tf": "# a\n"})
        gh.installation = gh.install_app(APP_ID, private_key, repos=["octo/infra"])
        yield gh


@pytest.fixture
def gh(double):
    yield double
    double.clear_faults()
    double.faults.served.clear()
    assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


def token(gh, private_key, sleeps=None):
    return installation_token(APP_ID, private_key, gh.installation.id, "infra", None, gh.base_url,
                              policy=policy(sleeps if sleeps is not None else Sleeps()))


# -- requests transport (bot.github.http) ---------------------------------------------------------
def test_token_request_survives_a_502_and_a_secondary_rate_limit(gh, private_key):
    sleeps = Sleeps()
    gh.inject_fault("POST", r"/access_tokens$", 502)
    gh.inject_secondary_rate_limit("POST", r"/access_tokens$", retry_after=1)
    t = token(gh, private_key, sleeps)
    assert t.value.startswith("ghs_")
    assert [s for _, _, s in gh.faults_served] == [502, 403] and sleeps == [0.5, 1]


def test_http_request_gives_back_the_last_5xx_and_retries_connection_errors(gh, private_key):
    sleeps = Sleeps()
    t = token(gh, private_key)
    gh.inject_fault("GET", r"/repos/octo/infra$", 500, times=99)
    r = http.request("GET", f"{gh.base_url}/repos/octo/infra", policy=policy(sleeps, max_attempts=3),
                     headers={"Authorization": f"token {t.value}"})
    assert r.status_code == 500 and r.json()["message"] == "Server Error" and sleeps == [0.5, 1]
    gh.clear_faults()
    # A port nobody listens on: every attempt fails to connect; the last error is raised.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    sleeps.clear()
    with pytest.raises(requests.ConnectionError):
        http.request("GET", dead, policy=policy(sleeps, max_attempts=3))
    assert sleeps == [0.5, 1]


def test_http_request_turns_a_long_wait_into_retry_later_without_the_token(gh, private_key, caplog):
    caplog.set_level(logging.DEBUG)
    t = token(gh, private_key)
    gh.inject_secondary_rate_limit("GET", r"/repos/octo/infra$", retry_after=None)  # GitHub says: a minute
    sleeps = Sleeps()
    with pytest.raises(GitHubRetryLater) as err:
        http.request("GET", f"{gh.base_url}/repos/octo/infra", policy=policy(sleeps),
                     headers={"Authorization": f"token {t.value}"})
    assert err.value.retry_after == 60 and sleeps == []
    assert t.value not in str(err.value) and t.value not in caplog.text
    # Primary limit used up, reset in 2 s: waited in-process, then the call goes through.
    gh.inject_rate_limit_exhausted("GET", r"/repos/octo/infra$", reset_in=2, status=429)
    real = RetryPolicy(sleep=sleeps)
    r = http.request("GET", f"{gh.base_url}/repos/octo/infra", policy=real, headers={"Authorization": f"token {t.value}"})
    assert r.status_code == 200 and len(sleeps) == 1 and 1 <= sleeps[0] <= 3.5


def test_a_plain_403_is_not_retried(gh, private_key):
    t = installation_token(APP_ID, private_key, gh.installation.id, "infra", {"contents": "read"}, gh.base_url)
    sleeps = Sleeps()
    r = http.request("POST", f"{gh.base_url}/repos/octo/infra/git/blobs", policy=policy(sleeps),
                     headers={"Authorization": f"token {t.value}"}, json={"content": "x"})
    assert r.status_code == 403 and sleeps == []


# -- PyGithub transport (bot.github.client) -------------------------------------------------------
def test_pygithub_client_retries_every_transient_kind(gh, private_key):
    sleeps = Sleeps()
    g = client(gh.base_url, token(gh, private_key), policy=policy(sleeps), **FAST)
    gh.inject_fault("GET", r"/repos/octo/infra$", 502)
    gh.inject_fault("GET", r"/repos/octo/infra$", 503, headers={"Retry-After": "2"})
    gh.inject_secondary_rate_limit("GET", r"/repos/octo/infra$", retry_after=1, status=429)
    gh.inject_secondary_rate_limit("GET", r"/repos/octo/infra$", retry_after=None, status=403)  # the minute: 60 s
    with pytest.raises(GitHubRetryLater) as err:
        g.get_repo("octo/infra")
    assert sleeps == [0.5, 2, 1] and err.value.retry_after == 60
    assert g.get_repo("octo/infra").name == "infra"  # the limit is over: the next call goes through
    # POSTs are retried too (publish_fix converges on repeats).
    gh.inject_fault("POST", r"/git/blobs$", 500)
    assert g.get_repo("octo/infra").create_git_blob("x", "utf-8").sha


def test_pygithub_client_reports_a_persistent_500_and_a_plain_403(gh, private_key):
    sleeps = Sleeps()
    g = client(gh.base_url, token(gh, private_key), policy=policy(sleeps, max_attempts=3), **FAST)
    gh.inject_fault("GET", r"/repos/octo/infra$", 500, times=3)
    with pytest.raises(GithubException) as err:
        g.get_repo("octo/infra")
    assert err.value.status == 500 and sleeps == [0.5, 1]
    read_only = installation_token(APP_ID, private_key, gh.installation.id, "infra", {"contents": "read"},
                                   gh.base_url)
    repo = client(gh.base_url, read_only, policy=policy(sleeps), **FAST).get_repo("octo/infra")
    with pytest.raises(GithubException) as err:
        repo.create_git_blob("x", "utf-8")
    assert err.value.status == 403 and err.value.data["message"] == "Resource not accessible by integration"
    assert sleeps == [0.5, 1]
