"""The tenants file and request authentication (pure: headers, body and the time in)."""
import hashlib
import json

import pytest

from bot.service import tenants as tenants_module
from bot.service.tenants import (
    MAX_SKEW_SECONDS,
    SignedRequest,
    TenantsFileError,
    Unauthorized,
    canonical_query,
    claim_from_headers,
    load_tenants,
    sign_request,
    signed_message,
)

TOKEN = "tok-acme-0123456789abcdef"
HMAC_SECRET = "hmac-secret-of-acme-0123456789"
NOW = 1_800_000_000


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def write(tmp_path, data, name="tenants.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if name.endswith(".json") else data)
    return path


def acme(**over):
    return {"id": "acme", "installation_id": 42, "repositories": ["acme/infra", "acme-labs/*"],
            "token_sha256": sha(TOKEN), "hmac_secret_env": "ACME_HMAC", **over}


ENV = {"ACME_HMAC": HMAC_SECRET}


def test_yaml_file_with_secret_file(tmp_path):
    (tmp_path / "secret").write_text(HMAC_SECRET + "\n")
    path = write(tmp_path, f"""
tenants:
  - id: ci
    installation_id: 7
    repositories: [Octo/*]
    hmac_secret_file: secret
  - id: cloud
    installation_id: 8
    repositories: ["octo/app"]
    token_sha256: {sha(TOKEN)}
""", "tenants.yaml")
    tenants = load_tenants(path, environ={})
    ci, cloud = tenants.tenants
    assert ci.hmac_secret == HMAC_SECRET.encode() and ci.token_sha256 is None
    assert ci.allows("octo/anything") and ci.allows("OCTO/X") and not ci.allows("other/x")
    assert cloud.allows("Octo/App") and not cloud.allows("octo/app2")
    assert HMAC_SECRET not in repr(ci) and sha(TOKEN) not in repr(cloud)


@pytest.mark.parametrize("entry,field", [
    ({"token": TOKEN}, "tenants[0].token: secrets are never written"),
    ({"hmac_secret": HMAC_SECRET}, "tenants[0].hmac_secret: secrets are never written"),
    ({"token_sha256": "abc"}, "tenants[0].token_sha256: expected 64 hexadecimal digits"),
    ({"id": "no spaces"}, "tenants[0].id:"),
    ({"installation_id": "42"}, "tenants[0].installation_id:"),
    ({"repositories": []}, "tenants[0].repositories: required"),
    ({"repositories": ["acme"]}, "tenants[0].repositories[0]: expected owner/name"),
    ({"repositories": ["acme/infra", "acme-labs/.."]}, "tenants[0].repositories[1]: expected owner/name"),
    ({"repositories": ["-acme/*"]}, "tenants[0].repositories[0]: expected owner/name"),
    ({"repositories": ["acme/infra\n"]}, "tenants[0].repositories[0]: expected owner/name"),
    ({"hmac_secret_env": "MISSING"}, "tenants[0].hmac_secret_env: environment variable MISSING is not set"),
    ({"hmac_secret_env": "SHORT"}, "tenants[0].hmac_secret_env: the secret in environment variable SHORT is shorter"),
    ({"hmac_secret_env": None, "hmac_secret_file": "nope"}, "tenants[0].hmac_secret_file: cannot read"),
    ({"colour": "blue"}, "tenants[0].colour: unknown field"),
    ({"hmac_secret_file": "s"}, "tenants[0].hmac_secret_file: set hmac_secret_env or hmac_secret_file, not both"),
    ({"token_sha256": None, "hmac_secret_env": None}, "tenants[0]: no credential"),
])
def test_bad_entry_names_file_and_field(tmp_path, entry, field):
    tenant = {k: v for k, v in acme(**entry).items() if v is not None}
    path = write(tmp_path, {"tenants": [tenant]})
    with pytest.raises(TenantsFileError) as err:
        load_tenants(path, environ={**ENV, "SHORT": "x" * 8})
    assert str(err.value).startswith(f"{path}: ") and field in str(err.value)
    assert TOKEN not in str(err.value) and HMAC_SECRET not in str(err.value)


def test_duplicates_and_shape(tmp_path):
    with pytest.raises(TenantsFileError, match=r"tenants\[1\]\.id: 'acme' is also tenants\[0\]"):
        load_tenants(write(tmp_path, {"tenants": [acme(), acme(token_sha256=sha("other-token-123"))]}), ENV)
    with pytest.raises(TenantsFileError, match=r"tenants\[1\]\.token_sha256: the same token"):
        load_tenants(write(tmp_path, {"tenants": [acme(), acme(id="b")]}), ENV)
    with pytest.raises(TenantsFileError, match="tenants: expected a top-level mapping"):
        load_tenants(write(tmp_path, [acme()]), ENV)
    with pytest.raises(TenantsFileError, match="not valid JSON at line 1"):
        load_tenants(write(tmp_path, "{", "t.json2").rename(tmp_path / "bad.json"), ENV)
    with pytest.raises(TenantsFileError, match="not valid YAML at line "):
        load_tenants(write(tmp_path, "tenants:\n  - id: [x\n", "t.yml"), ENV)
    with pytest.raises(TenantsFileError, match="cannot read the tenants file"):
        load_tenants(tmp_path / "absent.json", ENV)


@pytest.fixture
def tenants(tmp_path):
    return load_tenants(write(tmp_path, {"tenants": [acme(), {"id": "other", "installation_id": 9,
                                                              "repositories": ["o/r"],
                                                              "token_sha256": sha("other-token-123")}]}), ENV)


REQUEST = SignedRequest("POST", "/v1/findings", (("repository", "acme/infra"),))


def signed(body, secret=HMAC_SECRET, ts=NOW, tenant="acme", request=REQUEST):
    return {"x-iacbot-tenant": tenant, "x-iacbot-timestamp": str(ts),
            "x-iacbot-signature-256": sign_request(secret.encode(), ts, request, body)}


def authenticate(tenants, headers, body, now, request=REQUEST):
    return tenants_module.authenticate(tenants, headers, request, body, now)


def test_bearer_and_signature(tenants):
    assert authenticate(tenants, {"authorization": f"Bearer {TOKEN}"}, b"", NOW).id == "acme"
    assert authenticate(tenants, {"authorization": "bearer other-token-123"}, b"", NOW).id == "other"
    assert authenticate(tenants, signed(b"{}"), b"{}", NOW).id == "acme"
    # the skew limit, both ways
    assert authenticate(tenants, signed(b"{}", ts=NOW - MAX_SKEW_SECONDS), b"{}", NOW).id == "acme"
    assert authenticate(tenants, signed(b"{}", ts=NOW + MAX_SKEW_SECONDS), b"{}", NOW).id == "acme"


@pytest.mark.parametrize("headers,body,detail", [
    ({}, b"{}", "missing credentials"),
    ({"authorization": "Bearer wrong-token"}, b"{}", "unknown tenant or invalid credential"),
    ({"authorization": f"Basic {TOKEN}"}, b"{}", "expected 'Bearer <token>'"),
    (signed(b"{}"), b"{} ", "unknown tenant or invalid credential"),  # body changed after signing
    (signed(b"{}", secret="another-secret-0123456789"), b"{}", "unknown tenant or invalid credential"),
    (signed(b"{}", tenant="nobody"), b"{}", "unknown tenant or invalid credential"),
    (signed(b"{}", tenant="other"), b"{}", "unknown tenant or invalid credential"),  # no HMAC secret
    (signed(b"{}", ts=NOW - MAX_SKEW_SECONDS - 1), b"{}", "more than 300 s"),  # a replay, later
    (signed(b"{}", ts=NOW + MAX_SKEW_SECONDS + 1), b"{}", "more than 300 s"),
    ({**signed(b"{}"), "x-iacbot-timestamp": "1.5e9"}, b"{}", "whole seconds"),
    ({**signed(b"{}"), "authorization": f"Bearer {TOKEN}"}, b"{}", "use one authentication method"),
])
def test_unauthorized(tenants, headers, body, detail):
    with pytest.raises(Unauthorized) as err:
        authenticate(tenants, headers, body, NOW)
    assert detail in err.value.detail and TOKEN not in err.value.detail


@pytest.mark.parametrize("other", [
    SignedRequest("POST", "/v1/findings", (("repository", "acme/other"),)),  # another repository
    SignedRequest("POST", "/v1/findings", (("repository", "acme/infra"), ("commit_sha", "a" * 40))),
    SignedRequest("POST", "/v1/findings", (("repository", "acme/infra"), ("format", "sarif"))),
    SignedRequest("POST", "/v1/findings", (("repository", "acme/infra"),), idempotency_key="k1"),
    SignedRequest("PUT", "/v1/findings", (("repository", "acme/infra"),)),
    SignedRequest("POST", "/v2/findings", (("repository", "acme/infra"),)),
])
def test_signature_covers_method_path_query_and_key(tenants, other):
    """A request captured for one repository (or commit, format, key) cannot be replayed for another."""
    headers = signed(b"{}")
    assert authenticate(tenants, headers, b"{}", NOW).id == "acme"
    with pytest.raises(Unauthorized, match="invalid credential"):
        authenticate(tenants, headers, b"{}", NOW, request=other)


def test_signed_message_recipe():
    """The exact bytes the README tells clients to sign (printf + cat), query sorted by name."""
    request = SignedRequest("post", "/v1/findings", (("repository", "acme/infra"), ("commit_sha", "ab" * 20)),
                            "nightly-1")
    assert canonical_query(request.query) == f"commit_sha={'ab' * 20}&repository=acme/infra"
    assert signed_message(1700000000, request, b'{"runs": []}') == (
        b"1700000000\nPOST\n/v1/findings\ncommit_sha=" + b"ab" * 20 + b"&repository=acme/infra\nnightly-1\n"
        b'{"runs": []}')
    # no key: the line is there, empty
    assert signed_message(1, SignedRequest("POST", "/p", ()), b"x") == b"1\nPOST\n/p\n\n\nx"


def test_retired_body_only_signature_refused_by_name(tenants):
    from bot.service.signature import sign
    headers = {"x-iacbot-tenant": "acme", "x-iacbot-timestamp": str(NOW),
               "x-iacbot-signature-256": sign(HMAC_SECRET.encode(), f"{NOW}.".encode() + b"{}")}
    with pytest.raises(Unauthorized, match="retired signature"):
        authenticate(tenants, headers, b"{}", NOW)


def test_headers_checked_before_the_body(tenants):
    """Form, skew and the tenant's existence are judged from headers alone; the body is not needed."""
    claim = claim_from_headers(tenants, signed(b"anything"), NOW)
    assert claim.tenant.id == "acme" and claim.signature is not None
    assert claim_from_headers(tenants, {"authorization": f"Bearer {TOKEN}"}, NOW).signature is None
    for bad, detail in [({**signed(b""), "x-iacbot-signature-256": "sha256=xyz"}, "sha256=<64 hex"),
                        (signed(b"", tenant="nobody"), "unknown tenant")]:
        with pytest.raises(Unauthorized, match=detail):
            claim_from_headers(tenants, bad, NOW)


def test_readme_signing_recipe_gives_the_servers_signature(tmp_path):
    """The README's openssl recipe, run as written, signs exactly what the server verifies."""
    import re
    import shutil
    import subprocess

    from tests.paths import REPO
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to check the README's recipe")
    readme = (REPO / "README.md").read_text()
    recipe = re.search(r"^SIG=\$\(.*?\n.*?\)$", readme, re.M | re.S).group(0)
    (tmp_path / "results.sarif").write_bytes(b'{"runs": []}\n')
    query = f"commit_sha={'ab' * 20}&repository=acme/infra"
    for key in ("", "nightly-7"):
        out = subprocess.run(["bash", "-c", recipe + '\nprintf %s "$SIG"'], cwd=tmp_path, check=True,
                             capture_output=True, text=True,
                             env={"PATH": "/usr/bin:/bin", "TS": str(NOW), "QUERY": query, "KEY": key,
                                  "SECRET": HMAC_SECRET}).stdout
        request = SignedRequest("POST", "/v1/findings", (("repository", "acme/infra"), ("commit_sha", "ab" * 20)),
                                key)
        assert "sha256=" + out == sign_request(HMAC_SECRET.encode(), NOW, request, b'{"runs": []}\n')
