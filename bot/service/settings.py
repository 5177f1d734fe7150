"""The receiver's typed settings, read from ``IACBOT_*`` environment variables.

Refuses insecure values instead of defaulting them: the webhook secret is required and must
be at least 16 characters. Secrets (the webhook secret, a password inside the Redis URL)
never appear in ``repr()``; log :meth:`CommonSettings.redis_url_redacted` instead.
"""
from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from bot.settings import CommonSettings
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
