"""Fault injection in the double: what is answered, how often, and that answers stay GitHub-shaped."""
from __future__ import annotations

import functools
import threading
import time

import httpx
import pytest

from tests.github_double import GitHubDouble, new_app_key_pem
from tests.github_double.faults import SECONDARY_MESSAGE
from tests.github_double_tests.test_double import scoped_token

APP_ID = 434343


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
def gh(double, private_key):
    double.token = token(double, private_key)
    double.faults.served.clear()
    yield double
    double.clear_faults()
    assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


token = functools.partial(scoped_token, app_id=APP_ID)  # (gh, private_key, repos, permissions)


def get(gh, path: str) -> httpx.Response:
    return httpx.get(gh.base_url + path, headers={"Authorization": f"token {gh.token}"})


def test_fault_answers_the_next_matching_requests_then_stops(gh):
    gh.inject_fault("GET", r"/repos/octo/infra$", 502, times=2)
    assert get(gh, "/repos/octo/infra/git/ref/heads/main").status_code == 200  # path does not match
    r = httpx.post(gh.base_url + "/repos/octo/infra/git/blobs", headers={"Authorization": f"token {gh.token}"},
                   json={"content": "x"})
    assert r.status_code == 201  # method does not match
    first, second, third = (get(gh, "/repos/octo/infra") for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (502, 502, 200)
    assert first.json() == {"message": "Server Error", "documentation_url": "https://docs.github.com/rest",
                            "status": "502"}
    assert gh.faults_served == [("GET", "/repos/octo/infra", 502)] * 2
    with pytest.raises(ValueError):
        gh.inject_fault("GET", "x", 500, times=0)


def test_custom_headers_and_body_are_sent_and_still_validated(gh):
    gh.inject_fault("GET", r"/git/ref/", 503, headers={"Retry-After": "0"},
                    body={"message": "Service unavailable", "documentation_url": "https://docs.github.com/rest"})
    r = get(gh, "/repos/octo/infra/git/ref/heads/main")
    assert r.status_code == 503 and r.headers["retry-after"] == "0" and r.json()["message"] == "Service unavailable"
    assert gh.violations == []
    # An injected body GitHub would never send is reported like any handler's mistake.
    gh.inject_fault("GET", r"/repos/octo/infra$", 500, body={"oops": True})
    assert get(gh, "/repos/octo/infra").status_code == 500
    assert len(gh.violations) == 1 and "-> 500 [response]" in gh.violations[0]
    gh.violations.clear()


def test_rate_limit_helpers_send_githubs_real_answers(gh):
    gh.inject_secondary_rate_limit("GET", r"/repos/octo/infra$", retry_after=3)
    gh.inject_secondary_rate_limit("GET", r"/repos/octo/infra$", retry_after=None, status=429)
    gh.inject_rate_limit_exhausted("GET", r"/repos/octo/infra$", reset_in=30)
    secondary, minute, primary = (get(gh, "/repos/octo/infra") for _ in range(3))
    assert secondary.status_code == 403 and secondary.headers["retry-after"] == "3"
    assert secondary.json()["message"] == SECONDARY_MESSAGE
    assert secondary.json()["message"].startswith("You have exceeded a secondary rate limit")
    assert minute.status_code == 429 and "retry-after" not in minute.headers
    assert primary.status_code == 403 and primary.headers["x-ratelimit-remaining"] == "0"
    assert int(primary.headers["x-ratelimit-reset"]) > int(time.time())
    assert primary.json()["message"].startswith("API rate limit exceeded")
    assert [s for _, _, s in gh.faults_served] == [403, 429, 403]


def test_a_lost_answer_still_makes_the_change(gh):
    main = gh.repo("octo/infra").refs["refs/heads/main"]
    gh.inject_fault("POST", r"/git/refs$", 502, after_handling=True)
    r = httpx.post(gh.base_url + "/repos/octo/infra/git/refs", headers={"Authorization": f"token {gh.token}"},
                   json={"ref": "refs/heads/lost", "sha": main})
    assert r.status_code == 502 and gh.repo("octo/infra").refs["refs/heads/lost"] == main
    r = httpx.post(gh.base_url + "/repos/octo/infra/git/refs", headers={"Authorization": f"token {gh.token}"},
                   json={"ref": "refs/heads/lost", "sha": main})
    assert r.status_code == 422 and r.json()["message"] == "Reference already exists"


def test_a_delay_holds_one_request_while_others_are_served(gh):
    """status 0: handled normally, but only after the delay; the server keeps serving others."""
    gh.inject_fault("GET", r"/git/ref/heads/main$", 0, delay=1.0)
    held: dict = {}
    done = threading.Event()

    def slow():
        held["response"] = get(gh, "/repos/octo/infra/git/ref/heads/main")
        done.set()

    worker = threading.Thread(target=slow)
    worker.start()
    while not gh.faults_served:  # wait until the held request has arrived
        time.sleep(0.01)
    assert get(gh, "/repos/octo/infra").status_code == 200
    assert not done.is_set()  # still held while another request was answered
    worker.join(timeout=30)
    assert held["response"].status_code == 200 and held["response"].json()["ref"] == "refs/heads/main"
    assert gh.faults_served == [("GET", "/repos/octo/infra/git/ref/heads/main", 0)]
