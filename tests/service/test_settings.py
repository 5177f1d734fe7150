import pytest
from pydantic import ValidationError

from bot.service.settings import FINDINGS_MAX_BODY_BYTES, WEBHOOK_MAX_BODY_BYTES, CommonSettings, Settings

GOOD = "0123456789abcdef-long-enough"


def test_reads_prefixed_environment(monkeypatch):
    monkeypatch.setenv("IACBOT_WEBHOOK_SECRET", GOOD)
    monkeypatch.setenv("IACBOT_REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("IACBOT_DELIVERY_TTL_SECONDS", "60")
    s = Settings()
    assert s.webhook_secret.get_secret_value() == GOOD
    assert s.redis_url.endswith("/3")
    assert s.delivery_ttl_seconds == 60
    # Below GitHub's 25 MB: the largest push measured 4.6 MiB (settings.py says how).
    assert s.max_body_bytes == WEBHOOK_MAX_BODY_BYTES == 8 * 1024 * 1024
    assert s.findings_max_body_bytes == FINDINGS_MAX_BODY_BYTES == 8 * 1024 * 1024
    assert s.max_large_bodies == 4 and s.body_timeout_seconds == 10 and s.header_timeout_seconds == 10


def test_defaults(monkeypatch):
    monkeypatch.delenv("IACBOT_REDIS_URL", raising=False)
    assert CommonSettings().redis_url == "redis://127.0.0.1:6379/0"


def test_secret_is_required(monkeypatch):
    monkeypatch.delenv("IACBOT_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize("secret", ["", "   " * 8, "short-secret"])
def test_refuses_empty_or_short_secret(secret):
    with pytest.raises(ValidationError) as err:
        Settings(webhook_secret=secret)
    assert secret.strip() == "" or secret not in str(err.value)


def test_secrets_never_in_repr():
    s = Settings(webhook_secret=GOOD, redis_url="redis://user:hunter2-pass@redis.internal:6379/0")
    for text in (repr(s), str(s), repr(s.model_dump())):
        assert GOOD not in text
    assert "hunter2" not in repr(s) and "hunter2" not in str(s)
    assert s.redis_url_redacted == "redis://user:***@redis.internal:6379/0"


def test_refuses_non_redis_url():
    with pytest.raises(ValidationError):
        Settings(webhook_secret=GOOD, redis_url="http://example.org")


def test_findings_api_settings(monkeypatch):
    monkeypatch.setenv("IACBOT_TENANTS_FILE", "/etc/iacbot/tenants.yaml")
    s = Settings(webhook_secret=GOOD)
    assert s.tenants_file == "/etc/iacbot/tenants.yaml" and s.findings_max_body_bytes == 8 * 1024 * 1024
    with pytest.raises(ValidationError, match="findings_max_body_bytes"):
        Settings(webhook_secret=GOOD, findings_max_body_bytes=0)
