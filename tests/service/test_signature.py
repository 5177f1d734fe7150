import hashlib
import hmac

import pytest

from bot.service import signature
from bot.service.signature import sign, verify_signature

SECRET = b"It's a Secret to Everybody"
BODY = b"Hello, World!"
# GitHub's documented example: https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries
GITHUB_EXAMPLE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_sign_matches_githubs_documented_example():
    assert sign(SECRET, BODY) == GITHUB_EXAMPLE


def test_right_signature():
    assert verify_signature(SECRET, BODY, GITHUB_EXAMPLE)
    assert verify_signature(SECRET, BODY, GITHUB_EXAMPLE.upper().replace("SHA256=", "sha256="))


@pytest.mark.parametrize("header", [
    sign(b"another secret of enough length", BODY),  # wrong secret
    sign(SECRET, BODY + b" "),  # other body
    GITHUB_EXAMPLE[:-1] + "0",  # one digit off
])
def test_wrong_signature(header):
    assert not verify_signature(SECRET, BODY, header)


@pytest.mark.parametrize("header", [None, ""])
def test_missing_header(header):
    assert not verify_signature(SECRET, BODY, header)


@pytest.mark.parametrize("header", [
    "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",  # no prefix
    "sha1=" + hmac.new(SECRET, BODY, hashlib.sha1).hexdigest(),  # the legacy header's algorithm
    "sha256=",
    "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",  # not hex
    GITHUB_EXAMPLE + "00",  # too long
    "sha256=" + "é" * 64,  # not ASCII
    " " + GITHUB_EXAMPLE,
])
def test_malformed_header(header):
    assert not verify_signature(SECRET, BODY, header)


def test_empty_secret_never_verifies():
    assert not verify_signature(b"", BODY, sign(b"", BODY))


def test_comparison_is_constant_time(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(signature.hmac, "compare_digest", spy)
    assert verify_signature(SECRET, BODY, GITHUB_EXAMPLE)
    assert not verify_signature(SECRET, BODY, sign(SECRET, b"other"))
    assert len(calls) == 2
