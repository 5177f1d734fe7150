"""PyGithub clients that retry transient failures by the shared rules (bot.github.retry).

PyGithub 2.10 takes any urllib3 ``Retry`` (``Github(retry=...)``). Its own ``GithubRetry``
does not fit: 429 without retry-after is not retried, its waits use ``time.sleep`` (tests
could not skip them) and nothing bounds the total a call may wait. ``PyGithubRetry`` below
keeps urllib3's mechanics and takes every decision from bot.github.retry.
"""
from __future__ import annotations

import json
import logging

from github import Auth, Github
from github.Requester import Requester
from urllib3.util.retry import Retry

from bot.github.auth import Token
from bot.github.retry import DEFAULT_POLICY, RetryPolicy, classify, connection_error, needs_message, next_wait

log = logging.getLogger(__name__)

# 403 is listed so that urllib3 hands it to increment(), which tells a rate limit from a refusal.
_STATUSES = frozenset({403, 429, *range(500, 600)})


class PyGithubRetry(Retry):
    """urllib3 Retry for PyGithub: every method retried (publish_fix converges on repeated
    POSTs), waits from RetryPolicy, GitHubRetryLater beyond the per-call budget."""

    def __init__(self, policy: RetryPolicy = DEFAULT_POLICY, waited: float = 0.0, planned: float = 0.0, **kw):
        kw.setdefault("total", policy.max_attempts - 1)
        kw.setdefault("allowed_methods", None)
        kw.setdefault("status_forcelist", _STATUSES)
        kw.setdefault("raise_on_status", False)  # the last 5xx reaches PyGithub, which raises a clear error
        super().__init__(**kw)
        self.policy, self.waited, self.planned = policy, waited, planned

    def new(self, **kw) -> "PyGithubRetry":
        kw.setdefault("policy", self.policy)
        kw.setdefault("waited", self.waited)
        return super().new(**kw)

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        attempt = len(self.history) + 1
        where = f"{method} {(url or '').split('?')[0]}"
        if error is not None:
            transient, outcome = connection_error(attempt, self.policy), type(error).__name__
        elif response is not None:
            headers = dict(response.headers)
            message, data = None, None
            if needs_message(response.status, headers):
                data = _json(response.data)
                message = data.get("message") if isinstance(data, dict) else None
            transient = classify(response.status, headers, message, attempt, self.policy)
            if transient is None:  # a plain 403 (body already read): raise what PyGithub would have
                raise Requester.createException(response.status, {k.lower(): v for k, v in headers.items()}, data)
            outcome = f"HTTP {response.status}"
        else:
            return super().increment(method, url, response, error, _pool, _stacktrace)
        try:
            wait = next_wait(transient, attempt, self.waited, where, self.policy)
        except Exception:
            if response is not None:
                response.drain_conn()
            raise
        new = super().increment(method, url, response, error, _pool, _stacktrace)  # MaxRetryError when used up
        log.warning("GitHub %s: %s (%s); attempt %d of %d, retrying in %.1f s",
                    where, outcome, transient.kind, attempt, self.policy.max_attempts, wait or 0.0)
        new.planned = wait or 0.0
        new.waited = self.waited + new.planned
        return new

    def sleep(self, response=None) -> None:
        if self.planned > 0:
            self.policy.sleep(self.planned)


def _json(raw: bytes | None):
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return {"data": (raw or b"").decode("utf-8", "replace")[:200]}


def client(base_url: str, token: Token | str, *, policy: RetryPolicy | None = None, **kwargs) -> Github:
    """A PyGithub client on `base_url` with the installation token and the shared retry rules.
    Extra keyword arguments go to Github(...) (e.g. seconds_between_writes)."""
    value = token.value if isinstance(token, Token) else token
    kwargs.setdefault("retry", PyGithubRetry(policy or DEFAULT_POLICY))
    return Github(base_url=base_url, auth=Auth.Token(value), **kwargs)
