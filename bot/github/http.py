"""Plain `requests` calls to GitHub with the shared retry rules (bot.github.retry).

For code that does not go through PyGithub: token create/revoke (bot.github.auth), file fetches.
``request(...)`` returns the final response, whatever its status (the caller judges it); it
re-raises the last connection error once attempts are used up, and raises GitHubRetryLater
when GitHub asks for a longer wait than the call's budget.
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

import requests

from bot.github.retry import DEFAULT_POLICY, RetryPolicy, classify, connection_error, needs_message, next_wait

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30
GITHUB_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


def response_message(response: requests.Response) -> str | None:
    """GitHub's error "message" from a JSON answer; None when the body is not a JSON object."""
    try:
        data = response.json()
    except ValueError:
        return None
    return str(data.get("message", "")) if isinstance(data, dict) else None


def request(method: str, url: str, *, policy: RetryPolicy | None = None, session: requests.Session | None = None,
            **kwargs) -> requests.Response:
    """`requests.request(method, url, **kwargs)` retried on transient GitHub failures.

    The URL is logged by path only, and headers never: they carry the credential.
    """
    policy = policy or DEFAULT_POLICY
    kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
    send = session.request if session is not None else requests.request
    where = f"{method.upper()} {urlsplit(url).path}"
    waited, attempt = 0.0, 0
    while True:
        attempt += 1
        try:
            response = send(method, url, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            transient, outcome, last_error = connection_error(attempt, policy), type(exc).__name__, exc
        else:
            message = response_message(response) if needs_message(response.status_code, response.headers) else None
            transient = classify(response.status_code, response.headers, message, attempt, policy)
            if transient is None:
                return response
            outcome, last_error = f"HTTP {response.status_code}", None
        wait = next_wait(transient, attempt, waited, where, policy)
        if wait is None:  # attempts used up on a 5xx or connection error: report the last one
            if last_error is not None:
                raise last_error
            return response
        log.warning("GitHub %s: %s (%s); attempt %d of %d, retrying in %.1f s",
                    where, outcome, transient.kind, attempt, policy.max_attempts, wait)
        policy.sleep(wait)
        waited += wait
