"""Errors shared by every GitHub call the bot makes. None of them ever carries a credential."""
from __future__ import annotations

import math


class GitHubRetryLater(Exception):
    """GitHub asked to wait longer than one call may block a worker (rate limit, long Retry-After).

    The job should be retried later instead of sleeping in-process: in a Celery task,
    ``except GitHubRetryLater as exc: raise self.retry(exc=exc, countdown=exc.countdown)``.
    """

    def __init__(self, retry_after: float, message: str):
        super().__init__(message)
        self.retry_after = max(0.0, float(retry_after))
        self.message = message

    @property
    def countdown(self) -> int:
        """Whole seconds to wait before retrying (at least 1)."""
        return max(1, math.ceil(self.retry_after))
