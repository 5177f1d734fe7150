"""Check every exchange the double serves against GitHub's own REST description.

The double must not drift from GitHub: a handler that returns a body GitHub would not, or a
client that sends a request GitHub would reject, should fail the test that did it. Violations
are collected (not raised inside the server thread, where they would become a 500) and a
pytest fixture asserts the list is empty.

Known, documented differences between the description and real GitHub/PyGithub are handled
in ALLOWLIST-style code below, each with the reason; nothing else is loosened.
"""
from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass
from urllib.parse import quote

from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_schema_validator import OAS30Validator
from werkzeug.datastructures import Headers, ImmutableMultiDict

from tests.paths import GITHUB

SPEC_PATH = GITHUB / "openapi-subset.json"
SPEC_HOST = "https://api.github.com"  # the description's `servers`; requests are matched as if sent there

# Path parameters that may hold '/' (refs like heads/feature/x, file paths). openapi-core
# cannot match a '/' inside a {param}, so the tail is percent-encoded before matching.
_SLASHY_TAILS = [
    re.compile(r"^(/repos/[^/]+/[^/]+/contents/)(.+)\Z", re.DOTALL),  # git allows a newline in a name
    re.compile(r"^(/repos/[^/]+/[^/]+/git/(?:ref|refs|matching-refs)/)(.+)$"),
    re.compile(r"^(/repos/[^/]+/[^/]+/branches/)(.+?)(/protection(?:/required_status_checks(?:/contexts)?)?)?$"),
    re.compile(r"^(/repos/[^/]+/[^/]+/commits/)(.+)(/check-runs|/check-suites|/status|/statuses|/pulls)$"),
    re.compile(r"^(/repos/[^/]+/[^/]+/compare/)(.+)$"),
    re.compile(r"^(/repos/[^/]+/[^/]+/rules/branches/)(.+)$"),
    re.compile(r"^(/repos/[^/]+/[^/]+/commits/)(.+)$"),  # a bare commits/{ref}, tried after the above  # base...head, each may be a branch with '/'
]


def encode_slashy_path(path: str) -> str:
    for pattern in _SLASHY_TAILS:
        m = pattern.match(path)
        if m:
            suffix = m.group(3) if pattern.groups == 3 and m.group(3) else ""
            return m.group(1) + quote(m.group(2), safe="") + suffix
    return path


def _patch_nullable_enums(node, where="#", patched=None):
    """KNOWN DIFFERENCE 1: the description marks some enums `nullable: true` but leaves `null`
    out of the enum, so GitHub's real `null` values fail. Add `None` to exactly those enums
    (and report where, so a test can notice if the description changes)."""
    patched = [] if patched is None else patched
    if isinstance(node, dict):
        if node.get("nullable") is True and isinstance(node.get("enum"), list) and None not in node["enum"]:
            node["enum"].append(None)
            patched.append(where)
        for k, v in node.items():
            _patch_nullable_enums(v, f"{where}/{k}", patched)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _patch_nullable_enums(v, f"{where}/{i}", patched)
    return patched


def _patch_nullable_composites(node, where="#", patched=None):
    """KNOWN DIFFERENCE 5: `nullable: true` next to `oneOf`/`anyOf` without `type` (e.g. a
    commit's `author`, null when the e-mail maps to no account). OAS 3.0.3 says `nullable`
    without `type` has no effect, so the validator rejects the `null` GitHub really sends.
    Add an explicit null alternative to exactly those places."""
    patched = [] if patched is None else patched
    if isinstance(node, dict):
        for key in ("oneOf", "anyOf"):
            if node.get("nullable") is True and "type" not in node and isinstance(node.get(key), list):
                node[key].append({"enum": [None]})
                patched.append(where)
        for k, v in node.items():
            _patch_nullable_composites(v, f"{where}/{k}", patched)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _patch_nullable_composites(v, f"{where}/{i}", patched)
    return patched


def _patch_overlapping_error_oneofs(spec: dict) -> list[str]:
    """KNOWN DIFFERENCE 6: two error responses are `oneOf: [validation-error (or basic-error),
    repository-rule-violation-error]`. The second has no required field and allows anything
    else, so every error body matches both and `oneOf` can never pass. Make them `anyOf`."""
    patched = []
    for path, method, status in [("/repos/{owner}/{repo}/git/blobs", "post", "422"),
                                 ("/repos/{owner}/{repo}/contents/{path}", "put", "409")]:
        schema = spec["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
        schema["anyOf"] = schema.pop("oneOf")
        patched.append(f"#/paths/{path}/{method}/responses/{status}")
    return patched


def _patch_simple_pull_label_description(spec: dict) -> list[str]:
    """KNOWN DIFFERENCE 7: a label's description is null until someone writes one (labels that
    adding them to an issue creates have none). `label` and `pull-request` say so (`nullable`);
    `pull-request-simple`, used by the pulls listing, forgot it. Align it with the other two."""
    where = "#/components/schemas/pull-request-simple/properties/labels/items/properties/description"
    spec["components"]["schemas"]["pull-request-simple"]["properties"]["labels"]["items"]["properties"]["description"]["nullable"] = True
    return [where]


def _patch_read_only_path_parameters(spec: dict) -> list[str]:
    """KNOWN DIFFERENCE 8: the `alert_number` path parameter reuses the `alert-number` schema,
    which is `readOnly` (it is meant for response bodies), and a validator rejects any readOnly
    value sent in a request. Give exactly such parameters the schema without the flag."""
    patched = []
    for name, param in spec["components"]["parameters"].items():
        ref = param.get("schema", {}).get("$ref", "")
        target = spec["components"]["schemas"].get(ref.rsplit("/", 1)[-1]) if ref else None
        if target is not None and target.get("readOnly"):
            param["schema"] = {k: v for k, v in target.items() if k != "readOnly"}
            patched.append(f"#/components/parameters/{name}/schema")
    return patched


def _patch_installation_list_account(spec: dict) -> list[str]:
    """KNOWN DIFFERENCE 9: in the installations listing, an installation's `account` is
    `allOf: [simple-user, enterprise]`, so it would have to be a user and an enterprise at once
    (the description's own example, a plain user, fails it). The `installation` component, used by
    the single-installation operations, says `anyOf`: use that here too."""
    where = "#/paths/~1app~1installations/get/responses/200/content/application~1json/schema/items/properties/account"
    items = spec["paths"]["/app/installations"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    account = items["items"]["properties"]["account"]
    account["anyOf"] = account.pop("allOf")
    return [where]


def _patch_contents_discriminator(spec: dict) -> list[str]:
    """KNOWN DIFFERENCE 10: GET contents answers a directory with a JSON array, a file with an
    object; the description says `oneOf` the four with a `discriminator` on `type`, which an array
    does not have, so a validator rejects every real directory listing. Drop the discriminator:
    `oneOf` alone tells the four apart (each requires fields or a `type` the others do not)."""
    where = "#/paths/~1repos~1{owner}~1{repo}~1contents~1{path}/get/responses/200/content/application~1json/schema"
    schema = spec["paths"]["/repos/{owner}/{repo}/contents/{path}"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    schema.pop("discriminator")
    return [where]


@functools.lru_cache(maxsize=1)
def load_spec() -> tuple[dict, OpenAPI, tuple[str, ...]]:
    """Parsing and resolving the description takes a while: once per test session.
    Returns (patched description, validator built from it, patched locations)."""
    spec = json.loads(SPEC_PATH.read_text())
    patched = _patch_nullable_enums(spec) + _patch_nullable_composites(spec) + _patch_overlapping_error_oneofs(spec)
    patched += _patch_simple_pull_label_description(spec) + _patch_read_only_path_parameters(spec)
    patched += _patch_installation_list_account(spec) + _patch_contents_discriminator(spec)
    return spec, OpenAPI.from_dict(copy.deepcopy(spec)), tuple(patched)


def schema_errors(instance, ref: str) -> list[str]:
    """Validate `instance` against one component of the (patched) description."""
    spec, _, _ = load_spec()
    validator = OAS30Validator({"$ref": ref, "components": spec["components"]})
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


@dataclass
class _Request:
    method: str
    path: str
    query: ImmutableMultiDict
    headers: Headers
    body: bytes | None
    content_type: str
    host_url: str = SPEC_HOST

    def __post_init__(self) -> None:
        # A real attribute, not a property: openapi-core writes the matched path params into it.
        self.parameters = RequestParameters(query=self.query, header=self.headers, cookie={})


@dataclass
class _Response:
    status_code: int
    headers: Headers
    data: bytes | None
    content_type: str


class Validator:
    """Collects violations; the server calls check_request before and check_response after
    each handler."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self.exchanges = 0

    def check_request(self, method: str, path: str, query: list[tuple[str, str]], headers: dict,
                      body: bytes) -> tuple[_Request, list[str]]:
        """Return the prepared request and its violations (the caller answers 422 if any)."""
        self.exchanges += 1
        method = method.lower()
        req = _Request(method, encode_slashy_path(path), ImmutableMultiDict(query),
                       Headers(list(headers.items())), body or None,
                       (headers.get("content-type") or "application/json").split(";")[0])
        req.original_path = path  # type: ignore[attr-defined]
        # KNOWN DIFFERENCE 12: PyGithub's Commit.get_statuses() calls GET /repos/{o}/{r}/statuses/{sha},
        # the older spelling GitHub still serves for "list commit statuses for a reference"; the
        # description has only GET .../commits/{ref}/statuses. Match it as that operation.
        legacy = re.fullmatch(r"(/repos/[^/]+/[^/]+)/statuses/([^/]+)", path)
        if method == "get" and legacy:
            req.path = f"{legacy.group(1)}/commits/{legacy.group(2)}/statuses"
        if _is_git_refs_listing(method, path):
            return req, []  # KNOWN DIFFERENCE 2 (see check_response): nothing to match against

        errors = []
        # KNOWN DIFFERENCE 3: PyGithub's add_to_labels() and set_labels() send a bare JSON array of
        # names, which GitHub accepts (its docs say so) but the description's oneOf has only the
        # object form. Check the array ourselves, then validate it wrapped the documented way.
        if method in ("post", "put") and re.fullmatch(r"/repos/[^/]+/[^/]+/issues/\d+/labels", path):
            try:
                parsed = json.loads(body or b"null")
            except ValueError:
                parsed = None
            if isinstance(parsed, list):
                if not parsed or not all(isinstance(x, str) and x for x in parsed):
                    errors.append("bare labels array must hold non-empty strings")
                req.body = json.dumps({"labels": parsed}).encode()
        # KNOWN DIFFERENCE 11: PyGithub's Branch.edit_protection() sends `null` for every optional
        # boolean setting it was not given (required_linear_history, allow_force_pushes, ...) and,
        # with `checks`, no `contexts` (deprecated for `checks`). GitHub accepts both (PyGithub's
        # replays of GitHub record it); the description says boolean and required. Validate the
        # body with those nulls left out and an empty `contexts` beside `checks`, nothing else.
        if method == "put" and re.fullmatch(r"/repos/[^/]+/[^/]+/branches/.+/protection", path, re.DOTALL):
            req.body = _protection_body_as_documented(body)
        _, openapi, _ = load_spec()
        try:
            openapi.validate_request(req)
        except Exception as exc:  # openapi-core raises one exception class per kind of failure
            errors.append(_explain(exc))
        req.body = body or None
        where = f"{method.upper()} {path} [request]"
        self.violations.extend(f"{where}: {e}" for e in errors)
        return req, errors

    def check_response(self, req: _Request, status: int, headers: dict, body: bytes) -> None:
        path = req.original_path  # type: ignore[attr-defined]
        where = f"{req.method.upper()} {path} -> {status} [response]"
        resp = _Response(status, Headers(list(headers.items())), body or None,
                         (headers.get("content-type") or "").split(";")[0])
        errors: list[str] = []
        if _is_git_refs_listing(req.method, path):
            # KNOWN DIFFERENCE 2: PyGithub's get_git_refs() calls GET /repos/{o}/{r}/git/refs,
            # which GitHub serves but the description lacks: check each item is a git-ref.
            if status == 200:
                errors = [e for item in json.loads(body) for e in schema_errors(item, "#/components/schemas/git-ref")]
            else:
                errors = schema_errors(json.loads(body), "#/components/schemas/basic-error")
        else:
            _, openapi, _ = load_spec()
            try:
                openapi.validate_response(req, resp)
            except Exception as exc:
                # KNOWN DIFFERENCE 4: many operations omit error statuses GitHub does send (e.g.
                # 401/403/404 on git/create-ref), and almost all omit 429 and 5xx, which GitHub may
                # send on any operation (rate limits, outages; the double sends those only as
                # injected faults). For such an undocumented error, still insist the body has
                # GitHub's error shape (basic-error, used by every documented error).
                if type(exc).__name__ == "ResponseNotFound" and status >= 400:
                    errors = schema_errors(json.loads(body), "#/components/schemas/basic-error")
                    if not errors and not json.loads(body).get("message"):
                        errors = ["error body without message"]
                else:
                    errors = [_explain(exc)]
        self.violations.extend(f"{where}: {e}" for e in errors)


PROTECTION_OPTIONAL_BOOLEANS = ("required_linear_history", "allow_force_pushes", "allow_deletions",
                                "block_creations", "required_conversation_resolution", "lock_branch",
                                "allow_fork_syncing")


def _protection_body_as_documented(body: bytes | None) -> bytes | None:
    try:
        parsed = json.loads(body or b"null")
    except ValueError:
        return body
    if not isinstance(parsed, dict):
        return body
    for key in PROTECTION_OPTIONAL_BOOLEANS:
        if key in parsed and parsed[key] is None:
            del parsed[key]
    checks = parsed.get("required_status_checks")
    if isinstance(checks, dict) and "checks" in checks and "contexts" not in checks:
        checks["contexts"] = []
    return json.dumps(parsed).encode()


def _is_git_refs_listing(method: str, path: str) -> bool:
    return method == "get" and re.fullmatch(r"/repos/[^/]+/[^/]+/git/refs/?", path) is not None


def _explain(exc: Exception) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    for sub in getattr(exc, "schema_errors", None) or []:
        parts.append(f"  - {'/'.join(map(str, sub.absolute_path))}: {sub.message[:300]}")
    cause = exc.__cause__
    while cause is not None:
        parts.append(f"  caused by {type(cause).__name__}: {str(cause)[:300]}")
        for sub in getattr(cause, "schema_errors", None) or []:
            parts.append(f"  - {'/'.join(map(str, sub.absolute_path))}: {sub.message[:300]}")
        cause = cause.__cause__
    return "\n".join(parts)
