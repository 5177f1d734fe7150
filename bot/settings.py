"""The settings every process of the service shares (receiver, main workers), from ``IACBOT_*``.

A secret (a password inside the Redis URL, the App's private key) never appears in ``repr()``;
log :meth:`CommonSettings.redis_url_redacted` instead. The receiver's own settings (webhook
secret, body caps, tenants) are in bot.service.settings; workers import only this module.
"""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    """What both the web app and the Celery worker need (the worker has no webhook secret)."""

    # hide_input_in_errors: a rejected secret must not be echoed in the startup error.
    model_config = SettingsConfigDict(env_prefix="IACBOT_", extra="ignore",
                                      hide_input_in_errors=True)

    # repr=False: a Redis URL may carry a password.
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", repr=False)
    #: How long a delivery id is remembered; GitHub's manual redelivery window is 3 days.
    delivery_ttl_seconds: int = Field(default=3 * 24 * 3600, gt=0)
    #: How long ingested job records and their idempotency markers are kept.
    job_record_ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    #: GitHub REST API root (GitHub Enterprise: https://HOST/api/v3).
    github_api_url: str = "https://api.github.com"
    #: The GitHub App's id and private key (PEM text, or a file holding it); workers need them.
    github_app_id: int | None = None
    github_app_private_key: SecretStr | None = Field(default=None, repr=False)
    github_app_private_key_file: str | None = None
    #: Pause between write requests to GitHub (its secondary rate limits ask for about 1 s).
    github_write_interval_seconds: float = Field(default=1.0, ge=0)
    #: Broker visibility timeout: a task a dead worker took is handed to another after this long.
    #: Running tasks renew it; retry countdowns (held unacked by a worker) are capped at 90% of it.
    #: Why 300 s: docs/architecture.md ("Faults"). The scan worker has the same default.
    visibility_timeout_seconds: int = Field(default=300, gt=0)
    #: At most this many of iacbot's pull requests open per repository; more fixes wait their turn
    #: (workers.pr_cap). 0: no cap.
    max_open_prs_per_repo: int = Field(default=10, ge=0)
    #: The security team's central policy (policies/): a YAML file on the service's disk ...
    policy_file: str | None = None
    #: ... or a repository ("owner/name") the App reads it from, at that repository's default branch.
    policy_repository: str | None = None
    #: The policy's path inside policy_repository.
    policy_repository_path: str = "iacbot-policy.yml"
    #: The global kill switch: when true nothing is merged automatically (an operator can also flip
    #: it at run time in Redis, workers.switches).
    automerge_kill_switch: bool = False
    #: How often iacbot's open pull requests are swept for check and status events it missed.
    sweep_interval_seconds: int = Field(default=600, gt=0)
    #: The Ed25519 private key (PKCS8 PEM file, `iacbot provenance keygen`) that signs every
    #: change's provenance and the audit log's checkpoints. Unset: iacbot opens no pull request
    #: (an unsigned change is one a reviewer cannot check), and says so.
    signing_key_file: str | None = None

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("IACBOT_REDIS_URL must be a redis://, rediss:// or unix:// URL")
        return value

    def app_private_key(self) -> str:
        """The App's private key PEM; ValueError naming the settings when neither is set."""
        if self.github_app_private_key is not None:
            return self.github_app_private_key.get_secret_value()
        if self.github_app_private_key_file:
            with open(self.github_app_private_key_file, encoding="utf-8") as handle:
                return handle.read()
        raise ValueError("set IACBOT_GITHUB_APP_PRIVATE_KEY or IACBOT_GITHUB_APP_PRIVATE_KEY_FILE")

    @property
    def redis_url_redacted(self) -> str:
        parts = urlsplit(self.redis_url)
        if parts.password is None:
            return self.redis_url
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = parts.username or ""
        return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
