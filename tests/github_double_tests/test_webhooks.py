"""Webhook deliveries built from GitHub's recorded payloads: signed like GitHub, valid against
GitHub's official webhook description, and routed by the receiver's own event rules."""
from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from bot.service.events import Ignored, route
from bot.service.signature import verify_signature
from tests.github_double import GitHubDouble, new_app_key_pem
from tests.github_double.gitobjects import Commit, Signature
from tests.paths import GITHUB
from tests.github_double.webhooks import code_scanning_delivery, pull_request_closed_delivery, push_delivery

SECRET = "a webhook secret of some length"
OFFICIAL = json.loads((GITHUB / "official-webhooks-subset.json").read_text())
FILES = {"README.md": "# infra\n", "terraform/main.tf": "# old\n", "k8s/app.yaml": "kind: Pod\n"}


def official_errors(schema: str, body: bytes) -> list[str]:
    validator = Draft202012Validator({"$ref": f"#/components/schemas/{schema}", "components": OFFICIAL["components"]})
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(json.loads(body))]


@pytest.fixture(scope="module")
def gh():
    with GitHubDouble() as double:
        double.create_repo("octo/infra", files=FILES)
        double.installation = double.install_app(4711, new_app_key_pem(), repos=["octo/infra"])
        yield double


def check_envelope(headers: dict, body: bytes, event: str) -> dict:
    assert headers["X-GitHub-Event"] == event and headers["Content-Type"] == "application/json"
    assert len(headers["X-GitHub-Delivery"]) == 36
    assert verify_signature(SECRET.encode(), body, headers["X-Hub-Signature-256"])
    assert not verify_signature(b"another secret entirely", body, headers["X-Hub-Signature-256"])
    return json.loads(body)


def commit_on_main(gh, changes: dict[str, str | None]) -> str:
    """A human's push to main: changes the paths (None removes) on top of the head."""
    repo = gh.repo("octo/infra")
    with gh.world.lock:
        head = repo.refs["refs/heads/main"]
        tree = repo.objects.apply_changes(repo.objects.commit(head).tree, {
            p: None if text is None else ("100644", repo.objects.put_blob(text.encode())) for p, text in changes.items()})
        who = Signature("Dev", "dev@example.com", 1_700_000_100)
        sha = repo.objects.put_commit(Commit(tree, (head,), who, who, "edit infra\n"))
        repo.refs["refs/heads/main"] = sha
        return sha


def test_push_delivery(gh):
    sha = commit_on_main(gh, {"terraform/main.tf": "# new\n", "terraform/extra.tf": "# x\n", "k8s/app.yaml": None})
    headers, body = push_delivery(gh, "octo/infra", ["terraform/main.tf", "terraform/extra.tf", "k8s/app.yaml",
                                                     "README.md"], SECRET)
    payload = check_envelope(headers, body, "push")
    assert official_errors("webhook-push", body) == []
    assert payload["after"] == sha and payload["ref"] == "refs/heads/main"
    assert payload["repository"]["full_name"] == "octo/infra" and payload["repository"]["id"] == gh.repo("octo/infra").id
    head = payload["head_commit"]
    assert (head["added"], head["modified"], head["removed"]) == (["terraform/extra.tf"], ["terraform/main.tf",
                                                                  "README.md"], ["k8s/app.yaml"])
    job = route("push", payload)
    assert not isinstance(job, Ignored), job
    assert job["head_sha"] == sha and job["installation_id"] == gh.installation.id
    assert job["changed_files"] == ["terraform/extra.tf", "terraform/main.tf"] and job["repository"] == "octo/infra"
    assert push_delivery(gh, "octo/infra", [], SECRET)[0]["X-GitHub-Delivery"] != headers["X-GitHub-Delivery"]
    assert "Codertocat" not in json.dumps(payload["repository"])


@pytest.mark.parametrize("with_instance", [True, False])
def test_code_scanning_delivery(gh, with_instance):
    number = gh.add_code_scanning_alert("octo/infra", "CKV_AWS_20", "terraform/main.tf", 1, 2, message="public")
    headers, body = code_scanning_delivery(gh, "octo/infra", number, SECRET, with_instance=with_instance)
    payload = check_envelope(headers, body, "code_scanning_alert")
    assert official_errors("webhook-code-scanning-alert-created", body) == []
    alert = payload["alert"]
    assert alert["number"] == number and alert["rule"]["id"] == "CKV_AWS_20" and alert["tool"]["name"] == "checkov"
    assert payload["commit_oid"] == gh.repo("octo/infra").alerts[number].commit_sha
    if with_instance:
        assert alert["most_recent_instance"]["location"]["path"] == "terraform/main.tf"
    else:
        assert alert["most_recent_instance"] is None
    job = route("code_scanning_alert", payload)
    assert (job["alert_number"], job["rule_id"], job["fetch_alert"]) == (number, "CKV_AWS_20", not with_instance)
    _, reopened = code_scanning_delivery(gh, "octo/infra", number, SECRET, action="reopened")
    assert json.loads(reopened)["action"] == "reopened"


@pytest.mark.parametrize("merged", [False, True])
def test_pull_request_closed_delivery(gh, merged):
    repo = gh.repo("octo/infra")
    base = repo.refs["refs/heads/main"]
    with gh.world.lock:
        branch = f"iacbot/fix-{int(merged)}"
        c = repo.objects.commit(base)
        repo.refs[f"refs/heads/{branch}"] = repo.objects.put_commit(
            Commit(repo.objects.apply_changes(c.tree, {"terraform/main.tf": ("100644", repo.objects.put_blob(
                f"# fixed {merged}\n".encode()))}), (base,), c.author, c.committer, "fix\n"))
        from tests.github_double.state import PullRequest, next_id
        number, repo.next_number = repo.next_number, repo.next_number + 1
        repo.pulls[number] = PullRequest(next_id(), number, "iacbot: fix", "body", branch, "main",
                                         repo.refs[f"refs/heads/{branch}"], base, "iacbot[bot]")
    gh.close_pull("octo/infra", number, merged=merged)
    headers, body = pull_request_closed_delivery(gh, "octo/infra", number, SECRET)
    payload = check_envelope(headers, body, "pull_request")
    assert official_errors("webhook-pull-request-closed", body) == []
    pr = payload["pull_request"]
    assert (pr["number"], pr["state"], pr["merged"], pr["head"]["ref"]) == (number, "closed", merged, branch)
    assert (pr["merge_commit_sha"] == repo.refs["refs/heads/main"]) is merged
    job = route("pull_request", payload)
    assert (job["number"], job["merged"], job["iacbot_branch"], job["head_ref"]) == (number, merged, True, branch)
