"""Routing over the real webhook payloads (octokit/webhooks examples in shared/)."""
import copy
import json
import re

import pytest

from bot.service.events import HANDLED_EVENTS, MAX_PUSH_FILES, Ignored, changed_iac_files, route
from jobs import from_message
from tests.paths import GITHUB
from tests.service.conftest import all_examples, example

EXAMPLES = all_examples()
ALLOWED_VALUE = (str, int, bool, type(None))


def _small(value, depth=0):
    """Job values are ids and short strings, or short lists of them: never payload objects."""
    if isinstance(value, list):
        return depth == 0 and len(value) <= 500 and all(_small(v, 1) for v in value)
    return isinstance(value, ALLOWED_VALUE) and (not isinstance(value, str) or len(value) <= 300)


def test_examples_are_there():
    # The count follows shared/github/README.md ("111 real webhook payloads"), not a number pinned here.
    stated = re.search(r"\| (\d+) real webhook payloads", (GITHUB / "README.md").read_text())
    assert stated and len(EXAMPLES) == int(stated.group(1))
    assert {event for event, _ in EXAMPLES} >= HANDLED_EVENTS


@pytest.mark.parametrize("event,path", EXAMPLES, ids=[f"{e}/{p.name}" for e, p in EXAMPLES])
def test_every_real_payload_routes(event, path):
    payload = json.loads(path.read_text())
    result = route(event, payload)
    if isinstance(result, Ignored):
        assert result.reason
        return
    assert event in HANDLED_EVENTS
    assert result["kind"] in {"scan_push", "code_scanning_alert", "installation_changed",
                              "pull_request_closed", "checks_completed"}
    assert from_message(result).to_message() == result  # what the workers read back is what was sent
    assert isinstance(result["installation_id"], int)
    assert all(_small(v) for v in result.values()), result
    assert len(json.dumps(result)) < 2000
    json.dumps(result)  # JSON-able for Celery's json serializer


def test_routing_summary_over_all_examples():
    """Which real examples produce a job: pins the mapping as a whole."""
    jobs = {}
    for event, path in EXAMPLES:
        result = route(event, json.loads(path.read_text()))
        if not isinstance(result, Ignored):
            jobs[f"{event}/{path.name}"] = result["kind"]
    assert jobs == {
        "push/with-new-branch.payload.json": "scan_push",
        "push/with-no-username-committer.payload.json": "scan_push",
        "code_scanning_alert/created.payload.json": "code_scanning_alert",
        "code_scanning_alert/reopened.with-organization.payload.json": "code_scanning_alert",
        "installation/created.payload.json": "installation_changed",
        "installation/created.with-requester.payload.json": "installation_changed",
        "installation/deleted.payload.json": "installation_changed",
        "installation/new_permissions_accepted.payload.json": "installation_changed",
        "installation/suspend.payload.json": "installation_changed",
        "installation/unsuspend.payload.json": "installation_changed",
        "installation_repositories/added.payload.json": "installation_changed",
        "installation_repositories/removed.payload.json": "installation_changed",
        "pull_request/closed.payload.json": "pull_request_closed",
        "pull_request/closed.with-organization.payload.json": "pull_request_closed",
        "status/with-installation.payload.json": "checks_completed",  # the only status example with one
    }


# --- push ---------------------------------------------------------------------------------

def test_push_to_default_branch():
    job = route("push", example("push", "with-new-branch.payload.json"))
    assert job == {
        "kind": "scan_push",
        "installation_id": 1,
        "repository": "Codertocat/Hello-World",
        "repository_id": 186853002,
        "ref": "refs/heads/master",
        "before": "0000000000000000000000000000000000000000",
        "head_sha": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        "changed_files": [],  # the push only added README.md
        "files_complete": True,
    }


def test_push_collects_iac_files_across_commits():
    payload = example("push", "with-new-branch.payload.json")
    first = payload["commits"][0]
    payload["commits"] = [
        {**first, "added": ["main.tf", "README.md", "k8s/deploy.yaml"],
         "modified": ["prod.tfvars"], "removed": []},
        {**first, "added": ["chart/values.YML"], "modified": ["main.tf", "docs/x.md"],
         "removed": ["k8s/deploy.yaml", "old.tf"]},
    ]
    job = route("push", payload)
    assert job["changed_files"] == ["chart/values.YML", "main.tf", "prod.tfvars"]


def test_changed_iac_files_readded_after_removal():
    commits = [{"removed": ["a.tf"]}, {"added": ["a.tf"]}, {"modified": ["b.yml"], "removed": []}]
    assert changed_iac_files(commits) == ["a.tf", "b.yml"]


def test_forced_push_marks_files_incomplete():
    payload = example("push", "with-new-branch.payload.json")
    payload["forced"] = True
    assert route("push", payload)["files_complete"] is False


def test_push_listing_a_million_files_is_a_small_incomplete_job():
    """1M added .tf paths became a 19.9 MB broker message: the job now carries MAX_PUSH_FILES paths
    (the first by path) and says the list is incomplete, so the fetch compares trees for the rest."""
    payload = example("push", "with-new-branch.payload.json")
    paths = [f"modules/m{i:07d}/main.tf" for i in range(1_000_000)]
    payload["commits"] = [{**payload["commits"][0], "added": paths, "modified": [], "removed": []}]
    job = route("push", payload)
    assert job["changed_files"] == paths[:MAX_PUSH_FILES] and job["files_complete"] is False
    assert len(json.dumps(job)) < 20_000


def test_push_at_the_cap_stays_complete():
    payload = example("push", "with-new-branch.payload.json")
    paths = [f"m{i:04d}.tf" for i in range(MAX_PUSH_FILES)]
    payload["commits"] = [{**payload["commits"][0], "added": paths, "modified": [], "removed": []}]
    job = route("push", payload)
    assert job["changed_files"] == paths and job["files_complete"] is True


def test_one_cap_for_receiver_and_fetch():
    from workers import job_parts
    assert job_parts.MAX_JOB_FILES is MAX_PUSH_FILES


@pytest.mark.parametrize("full_name", ["acme-labs/..", "acme/.", "../x", "acme/a/b", "-acme/x"])
def test_repository_that_github_could_not_have_is_ignored(full_name):
    payload = example("push", "with-new-branch.payload.json")
    payload["repository"]["full_name"] = full_name
    result = route("push", payload)
    assert isinstance(result, Ignored) and "owner/name" in result.reason


def test_tag_push_is_ignored():
    result = route("push", example("push", "payload.json"))
    assert isinstance(result, Ignored) and "tag" in result.reason


def test_branch_deletion_is_ignored():
    payload = example("push", "with-installation.payload.json")
    payload["ref"] = "refs/heads/feature"
    result = route("push", payload)
    assert isinstance(result, Ignored) and "deleted" in result.reason


def test_push_to_other_branch_is_ignored():
    payload = example("push", "with-new-branch.payload.json")
    payload["ref"] = "refs/heads/feature"
    result = route("push", payload)
    assert isinstance(result, Ignored) and "not the default branch" in result.reason


# --- code scanning ------------------------------------------------------------------------

def test_code_scanning_created_without_instance_asks_to_fetch():
    job = route("code_scanning_alert", example("code_scanning_alert", "created.payload.json"))
    assert job["kind"] == "code_scanning_alert"
    assert job["alert_number"] == 10
    assert job["installation_id"] == 14662836
    assert job["repository"] == "Codertocat/Hello-World"
    assert job["fetch_alert"] is True
    assert job["ref"] == "refs/heads/code-feature"


def test_code_scanning_with_instance_needs_no_fetch():
    payload = example("code_scanning_alert", "fixed.payload.json")
    payload["action"] = "appeared_in_branch"
    job = route("code_scanning_alert", payload)
    assert job["fetch_alert"] is False and job["action"] == "appeared_in_branch"


@pytest.mark.parametrize("name", ["fixed.payload.json", "closed-by-user.payload.json"])
def test_code_scanning_other_actions_ignored(name):
    assert isinstance(route("code_scanning_alert", example("code_scanning_alert", name)), Ignored)


def test_delivery_without_installation_is_ignored():
    result = route("code_scanning_alert", example("code_scanning_alert", "reopened.payload.json"))
    assert isinstance(result, Ignored) and "installation" in result.reason


# --- installation -------------------------------------------------------------------------

def test_installation_created():
    job = route("installation", example("installation", "created.payload.json"))
    assert job["kind"] == "installation_changed"
    assert job["installation_id"] == 957387
    assert job["action"] == "created"
    assert job["repository_ids"] == [186853002]
    assert job["refetch_repositories"] is False


def test_installation_repositories_removed():
    job = route("installation_repositories",
                example("installation_repositories", "removed.payload.json"))
    assert job["kind"] == "installation_changed"
    assert job["installation_id"] == 2
    assert job["repository_ids_added"] == [] and len(job["repository_ids_removed"]) == 1


def test_huge_installation_asks_worker_to_list_repositories():
    payload = example("installation", "created.payload.json")
    repo = payload["repositories"][0]
    payload["repositories"] = [{**repo, "id": i} for i in range(1000)]
    job = route("installation", payload)
    assert job["repository_ids"] == [] and job["refetch_repositories"] is True


# --- pull requests ------------------------------------------------------------------------

def test_pull_request_closed_unmerged_not_ours():
    job = route("pull_request", example("pull_request", "closed.payload.json"))
    assert job["kind"] == "pull_request_closed"
    assert job["number"] == 2 and job["merged"] is False and job["iacbot_branch"] is False
    assert (job["sender"], job["sender_type"]) == ("Codertocat", "User")  # who closed it


def test_pull_request_merged_iacbot_branch():
    payload = example("pull_request", "closed.payload.json")
    payload["pull_request"]["merged"] = True
    payload["pull_request"]["head"]["ref"] = "iacbot/s3-encryption-1a2b"
    job = route("pull_request", payload)
    assert job["merged"] is True and job["iacbot_branch"] is True
    assert job["head_ref"] == "iacbot/s3-encryption-1a2b"


def test_iacbot_branch_in_a_fork_is_not_ours():
    payload = example("pull_request", "closed.payload.json")
    payload["pull_request"]["head"]["ref"] = "iacbot/x"
    payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"
    assert route("pull_request", payload)["iacbot_branch"] is False


def test_pull_request_opened_ignored():
    assert isinstance(route("pull_request", example("pull_request", "opened.payload.json")), Ignored)


# --- checks -------------------------------------------------------------------------------

@pytest.mark.parametrize("event", ["check_suite", "check_run"])
def test_checks_completed(event):
    payload = example(event, "completed.payload.json")
    assert isinstance(route(event, payload), Ignored)  # the examples carry no installation
    payload["installation"] = {"id": 42}
    job = route(event, payload)
    assert job["kind"] == "checks_completed" and job["event"] == event
    assert job["installation_id"] == 42
    assert job["head_sha"] == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    assert job["conclusion"] == "success"
    assert job["pull_request_numbers"] == [2]
    assert job["head_branch"] == "changes"


@pytest.mark.parametrize("event", ["check_suite", "check_run"])
def test_checks_not_completed_ignored(event):
    payload = example(event, "rerequested.payload.json")
    payload["installation"] = {"id": 42}
    assert isinstance(route(event, payload), Ignored)


# --- anything else ------------------------------------------------------------------------

@pytest.mark.parametrize("event,payload", [
    ("status", {}), ("workflow_run", {"action": "completed"}), ("ping", {"zen": "x"}),
    ("push", []), ("push", None), ("push", {"ref": "refs/heads/main"}),
    ("code_scanning_alert", {"action": "created"}),
    ("pull_request", {"action": "closed", "pull_request": None}),
    ("check_run", {"action": "completed", "check_run": "x", "installation": {"id": 1}}),
])
def test_unhandled_or_odd_payloads_are_ignored_not_raised(event, payload):
    result = route(event, copy.deepcopy(payload))
    assert isinstance(result, Ignored) and result.reason
