"""jobs.kinds: one typed definition per job kind. What the receiver builds round-trips through the
message the workers read; messages stored before the kinds were typed stay readable; a hostile
message (wrong types, huge lists, control characters) is refused with the field named."""
from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

import jobs
from bot.service.events import Ignored, job_for, route
from fixers.iac_files import MAX_PUSH_FILES
from jobs.fields import JobFieldError
from jobs.kinds import MAX_PULL_REQUEST_NUMBERS, MAX_REPOSITORY_IDS
from tests.service.conftest import example
from workers.celery_app import INGEST_QUEUE, INGEST_TASK, JOB_TASKS

SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"


def test_one_registry_of_kinds_and_every_kind_goes_to_ingest():
    assert set(jobs.KINDS) == {"scan_push", "code_scanning_alert", "installation_changed", "pull_request_closed",
                               "checks_completed", "findings_submitted"}
    assert all(cls.KIND == kind for kind, cls in jobs.KINDS.items())
    assert JOB_TASKS == {kind: (INGEST_TASK, INGEST_QUEUE) for kind in jobs.KINDS}


# -- what was sent before the kinds were typed (tests of that time, stored jobs) -----------------

STORED = [
    {"kind": "scan_push", "installation_id": 1, "repository": "Codertocat/Hello-World", "repository_id": 186853002,
     "ref": "refs/heads/master", "before": "0" * 40, "head_sha": SHA, "changed_files": [], "files_complete": True},
    {"kind": "scan_push", "installation_id": 1, "repository": "o/r", "repository_id": 5, "ref": "refs/heads/main",
     "before": None, "head_sha": SHA, "files_complete": False, "delivery_id": "d:part2", "part_of": "d", "part": 2,
     "part_files": ["a/main.tf", "a/vars.tf"]},  # a continuation (workers.job_parts) has no changed_files
    {"kind": "code_scanning_alert", "action": "created", "installation_id": 1, "repository": "o/r",
     "repository_id": 9, "alert_number": 3, "rule_id": "CKV_AWS_20", "tool": "checkov", "ref": "refs/heads/main",
     "commit_oid": SHA, "fetch_alert": True, "delivery_id": "abc"},
    {"kind": "installation_changed", "event": "installation", "action": "created", "installation_id": 957387,
     "account": "octocat", "repository_selection": "selected", "repository_ids": [1, 2],
     "refetch_repositories": False},
    {"kind": "installation_changed", "event": "installation_repositories", "action": "removed",
     "installation_id": 2, "account": None, "repository_selection": "all", "repository_ids_added": [],
     "repository_ids_removed": [7], "refetch_repositories": False},
    {"kind": "pull_request_closed", "installation_id": 7, "repository": "octo/apps", "repository_id": None,
     "number": 3, "merged": False, "head_ref": "iacbot/ckv-k8s-16-0123456789abcdef", "head_sha": "a" * 40,
     "base_ref": "main", "iacbot_branch": True, "sender": "alice", "sender_type": "User"},
    {"kind": "checks_completed", "event": "check_suite", "installation_id": 42, "repository": "o/r",
     "repository_id": 1, "check_id": 118578147, "head_sha": SHA, "head_branch": "changes", "conclusion": "success",
     "app_id": 29310, "pull_request_numbers": [2]},
    {"kind": "findings_submitted", "submission_id": "s-1", "tenant": "acme", "installation_id": 3,
     "repository": "acme/infra", "commit_sha": None, "delivery_id": "s-1"},
]


@pytest.mark.parametrize("message", STORED, ids=[m["kind"] for m in STORED])
def test_a_stored_message_is_read_and_written_back_with_the_same_fields(message):
    job = jobs.from_message(copy.deepcopy(message))
    assert isinstance(job, jobs.KINDS[message["kind"]]) and job.kind == message["kind"]
    written = job.to_message()
    assert {k: written[k] for k in message} == message              # every field it had, unchanged
    assert set(written) - set(message) <= {"sender", "sender_type", "closed_at", "changed_files", "tenant"}
    assert jobs.from_message(json.loads(json.dumps(written))) == job   # through Celery's JSON


def test_a_field_no_kind_defines_is_left_out_not_refused():
    job = jobs.from_message({**STORED[0], "event": "push", "from_a_newer_receiver": [1, 2]})
    assert "event" not in job.to_message() and job == jobs.from_message(STORED[0])


# -- the webhooks of checks and statuses ---------------------------------------------------------

def _with_installation(payload: dict) -> dict:
    return {**payload, "installation": payload.get("installation") or {"id": 42}}


@pytest.mark.parametrize("event, name", [
    ("check_suite", "completed.payload.json"), ("check_suite", "completed.1.payload.json"),
    ("check_suite", "completed.with-organization.payload.json"),
    ("check_run", "completed.payload.json"), ("check_run", "completed.1.payload.json"),
    ("check_run", "completed.with-organization.payload.json"),
    ("status", "payload.json"), ("status", "with-installation.payload.json"),
    ("status", "with-author-committer-null.payload.json"),
])
def test_finished_checks_and_statuses_become_checks_completed_jobs_that_round_trip(event, name):
    payload = _with_installation(example(event, name))
    job = job_for(event, payload)
    assert isinstance(job, jobs.ChecksCompleted), job
    message = route(event, payload)
    assert message == job.to_message() and jobs.from_message(json.loads(json.dumps(message))) == job
    assert message["kind"] == "checks_completed" and message["event"] == event
    assert message["repository"] == payload["repository"]["full_name"]
    assert message["installation_id"] == payload["installation"]["id"]
    if event == "status":
        assert message["head_sha"] == payload["sha"] and message["pull_request_numbers"] == []
        assert message["context"] == payload["context"] and message["conclusion"] == payload["state"]
        assert message["check_id"] == payload["id"]
    else:
        obj = payload[event]
        assert message["head_sha"] == obj["head_sha"] and "context" not in message
        assert message["pull_request_numbers"] == [p["number"] for p in obj["pull_requests"]]


@pytest.mark.parametrize("state, routed", [("success", True), ("failure", True), ("error", True),
                                           ("pending", False), ("weird", False), (None, False)])
def test_only_a_finished_status_is_a_job(state, routed):
    payload = _with_installation(example("status", "payload.json"))
    payload["state"] = state
    result = route("status", payload)
    assert (not isinstance(result, Ignored)) is routed
    if not routed:
        assert "has not finished" in result.reason


@pytest.mark.parametrize("change, field", [
    (lambda p: p.update(sha="not-a-sha"), "head_sha"),
    (lambda p: p.update(context="ci\ntrusted: yes"), "context"),   # a forged log line
    (lambda p: p.update(id="1"), "check_id"),
    (lambda p: p["installation"].update(id=True), "installation_id"),
])
def test_a_status_with_a_value_the_job_refuses_is_ignored_with_the_field_named(change, field):
    payload = copy.deepcopy(_with_installation(example("status", "with-installation.payload.json")))
    change(payload)
    result = route("status", payload)
    assert isinstance(result, Ignored) and f"field {field!r}" in result.reason


def test_a_checks_payload_with_many_pull_requests_is_a_small_job():
    payload = _with_installation(example("check_suite", "completed.payload.json"))
    pull = payload["check_suite"]["pull_requests"][0]
    payload["check_suite"]["pull_requests"] = [{**pull, "number": n} for n in range(10_000)]
    message = route("check_suite", payload)
    assert message["pull_request_numbers"] == list(range(MAX_PULL_REQUEST_NUMBERS))


# -- hostile messages ----------------------------------------------------------------------------

CHECKS = STORED[6]
PUSH = STORED[0]
HUGE = 1_000_000


@pytest.mark.parametrize("message, field", [
    ({**CHECKS, "installation_id": "42"}, "installation_id"),
    ({**CHECKS, "installation_id": True}, "installation_id"),          # a bool is not an id
    ({**CHECKS, "installation_id": -1}, "installation_id"),
    ({**CHECKS, "installation_id": 2**64}, "installation_id"),
    ({**CHECKS, "installation_id": 4.0}, "installation_id"),
    ({**CHECKS, "repository": ["o/r"]}, "repository"),
    ({**CHECKS, "repository": "o/r/../x"}, "repository"),
    ({**CHECKS, "repository": "o" * 5000 + "/r"}, "repository"),
    ({**CHECKS, "head_sha": None}, "head_sha"),
    ({**CHECKS, "head_sha": "a" * 41}, "head_sha"),
    ({**CHECKS, "event": "workflow_run"}, "event"),
    ({**CHECKS, "pull_request_numbers": list(range(HUGE))}, "pull_request_numbers"),
    ({**CHECKS, "pull_request_numbers": "2"}, "pull_request_numbers"),
    ({**CHECKS, "pull_request_numbers": [2, "3"]}, "pull_request_numbers"),
    ({**CHECKS, "pull_request_numbers": [{"number": 2}]}, "pull_request_numbers"),
    ({**CHECKS, "conclusion": "x" * 100_000}, "conclusion"),
    ({**CHECKS, "head_branch": "main\r\nFAKE LOG LINE"}, "head_branch"),
    ({**CHECKS, "head_branch": "main\u2028FAKE LOG LINE"}, "head_branch"),
    ({**STORED[5], "sender": "alice\u202egnp.exe"}, "sender"),                 # a bidi override
    ({**STORED[5], "sender": "ali\u200bce"}, "sender"),                        # zero-width space
    ({**CHECKS, "delivery_id": ""}, "delivery_id"),
    ({k: v for k, v in CHECKS.items() if k != "head_sha"}, "head_sha"),
    ({**PUSH, "changed_files": ["m.tf"] * (MAX_PUSH_FILES + 1)}, "changed_files"),
    ({**PUSH, "changed_files": ["x" * 2000]}, "changed_files"),
    ({**PUSH, "changed_files": [None]}, "changed_files"),
    ({**PUSH, "files_complete": "yes"}, "files_complete"),
    ({**PUSH, "part_files": ["a.tf"] * HUGE}, "part_files"),
    ({**STORED[3], "repository_ids": list(range(MAX_REPOSITORY_IDS + 1))}, "repository_ids"),
    ({**STORED[5], "merged": 1}, "merged"),
    ({**STORED[5], "number": None}, "number"),
    ({**STORED[5], "sender": {"login": "alice"}}, "sender"),
    ({**STORED[7], "submission_id": 17}, "submission_id"),
    ({**STORED[7], "submission_id": "s\x00"}, "submission_id"),
    ({**PUSH, **{f"extra{i}": i for i in range(100)}}, "kind"),         # too many fields to be a job
    ({**PUSH, "kind": "drop_database"}, "kind"),
    ({**PUSH, "kind": ["scan_push"]}, "kind"),
])
def test_a_hostile_message_is_refused_with_the_field_named(message, field):
    with pytest.raises(JobFieldError) as refused:
        jobs.from_message(message)
    assert refused.value.field == field and f"field {field!r}" in str(refused.value)
    assert isinstance(refused.value, ValueError)
    assert len(str(refused.value)) < 300                # never the hostile value itself


@pytest.mark.parametrize("message", [None, [], "scan_push", 17, b"{}"])
def test_a_message_that_is_not_an_object_is_refused(message):
    with pytest.raises(JobFieldError, match="kind"):
        jobs.from_message(message)


def test_a_message_of_another_kind_is_not_read_as_this_one():
    with pytest.raises(JobFieldError, match="kind"):
        jobs.PullRequestClosed.from_message(PUSH)


def test_the_receiver_cannot_build_what_a_worker_would_refuse():
    with pytest.raises(JobFieldError) as refused:
        jobs.ChecksCompleted(event="status", installation_id=1, repository="o/r", head_sha=SHA,
                             pull_request_numbers=list(range(51)))
    assert refused.value.field == "pull_request_numbers"
    job = jobs.ChecksCompleted(event="status", installation_id=1, repository="o/r", head_sha=SHA)
    with pytest.raises(JobFieldError):
        job.but(head_sha="HEAD")
    assert job.but(delivery_id="d-1").to_message()["delivery_id"] == "d-1"


# -- any value in any field: refused by name, or read and written back unchanged ---------------

_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
                     lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner,
                                                                                  max_size=5), max_leaves=20)


@given(st.sampled_from(STORED), st.data())
def test_any_value_in_any_field_is_refused_by_name_or_round_trips(message, data):
    field = data.draw(st.sampled_from(sorted(set(message) - {"kind"})), label="field")
    value = data.draw(_JSON, label="value")
    hostile = {**message, field: value}
    try:
        job = jobs.from_message(hostile)
    except JobFieldError as refused:
        assert refused.field == field
        return
    again = jobs.from_message(json.loads(json.dumps(job.to_message())))
    assert again == job and again.to_message().get(field) == value  # None: an optional extra left out
