"""One typed settings object for the service, read from ``IACBOT_*`` environment variables.

Refuses insecure values instead of defaulting them: the webhook secret is required and must
be at least 16 characters. Secrets (the webhook secret, a password inside the Redis URL)
never appear in ``repr()``; log :meth:`CommonSettings.redis_url_redacted` instead.
"""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.service.durability import BrokerDurability

MIN_SECRET_LENGTH = 16
#: GitHub caps webhook payloads at 25 MB; the largest push it sends (2,048 commits) measured
#: 4.6 MiB with 50 files listed per commit, so 8 MiB is the default and 25 MiB the most needed.
WEBHOOK_MAX_BODY_BYTES = 8 * 1024 * 1024
#: Default cap for one findings document: far more than the entries a submission may carry
#: (findings_doc.MAX_SUBMISSION_FINDINGS) take as SARIF or checkov JSON.
FINDINGS_MAX_BODY_BYTES = 8 * 1024 * 1024
#: Default spool caps: room for a long outage's webhooks, not for filling the disk.
SPOOL_MAX_BYTES = 1024 * 1024 * 1024
SPOOL_MAX_ENTRIES = 20_000


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


class Settings(CommonSettings):
    """The web app's settings: everything common plus the webhook secret, body caps and tenants."""

    webhook_secret: SecretStr
    max_body_bytes: int = Field(default=WEBHOOK_MAX_BODY_BYTES, gt=0)
    #: The findings API's tenants (JSON or YAML; bot.service.tenants). Unset: every request is 401.
    tenants_file: str | None = None
    findings_max_body_bytes: int = Field(default=FINDINGS_MAX_BODY_BYTES, gt=0)
    #: How the receiver knows the broker survives a restart (bot.service.durability).
    broker_durability: BrokerDurability = BrokerDurability.CHECK
    #: Where deliveries the broker cannot take wait (bot.service.spool); unset: they get 503.
    spool_dir: str | None = None
    spool_max_bytes: int = Field(default=SPOOL_MAX_BYTES, gt=0)
    spool_max_entries: int = Field(default=SPOOL_MAX_ENTRIES, gt=0)
    #: Bodies over 64 KiB being received at once, per receiver process; more get 503 + Retry-After.
    #: Memory for bodies stays under about this x 2 x the larger cap.
    max_large_bodies: int = Field(default=4, gt=0)
    #: A body must arrive whole within this many seconds (else 408). GitHub waits 10 s for an answer.
    body_timeout_seconds: float = Field(default=10.0, gt=0)
    #: A request's head (request line and headers) must arrive within this many seconds of the
    #: connection opening or of its first byte (else 408 and closed; bot.service.uvicorn_http).
    header_timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("webhook_secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if not raw.strip():
            raise ValueError("IACBOT_WEBHOOK_SECRET is empty: set the GitHub App's webhook secret")
        if len(raw) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"IACBOT_WEBHOOK_SECRET is shorter than {MIN_SECRET_LENGTH} characters: "
                "generate one with `python -c 'import secrets; print(secrets.token_hex(32))'`"
            )
        return value
