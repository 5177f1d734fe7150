"""One typed definition per job kind, shared by the receiver (bot/service: events.py, the findings
API), which builds them, and the workers, which read them. Pure.

A job is a small description (ids and short values, never a payload) that travels through
Celery as JSON: :meth:`Job.to_message` gives that JSON with the field names jobs have always had,
so jobs already stored (the per-repository job streams, a queue at upgrade time) stay readable;
:meth:`Job.from_message` reads one back and refuses, naming the field, anything of the wrong type
or size (:class:`jobs.fields.JobFieldError`, a ValueError). Building a job checks the same way,
so the receiver cannot send what a worker would refuse.

Unknown fields in a message are left out (a newer sender's extras do not stop an older worker);
every known field is checked.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from fixers.iac_files import MAX_PUSH_FILES
from jobs.fields import (
    JobFieldError,
    Spec,
    Refused,
    flag,
    integer,
    items,
    one_of,
    optional,
    repository,
    sha,
    spec,
    text,
)

#: Above this many repository ids an installation job asks the worker to list them itself.
MAX_REPOSITORY_IDS = 500
#: The pull requests a checks job names at most (GitHub lists those of the head in the payload).
MAX_PULL_REQUEST_NUMBERS = 50
#: A message with more fields than this is not a job (each kind has fewer than 20).
MAX_MESSAGE_FIELDS = 64
#: A continuation job (workers.job_parts) reads at most as many files as a push job lists.
MAX_PART_FILES = MAX_PUSH_FILES

_ID = text(200, empty_ok=False)         # a delivery id, submission id, tenant id, part_of
_NAME = text(255)        # a login, an App's or tool's name, a check's context
_REF = text(1024)        # a git ref or branch name
_PATH = text(1024)       # a repository path (workers.repo_paths judges it further)


def _field(check, default: Any = dataclasses.MISSING, *, omit_none: bool = False):
    if default is dataclasses.MISSING:
        return field(metadata=spec(check, omit_none=omit_none))
    return field(default=default, metadata=spec(check, omit_none=omit_none))


@dataclass(frozen=True, kw_only=True)
class Job:
    """What every job has: its kind (a class constant) and, once the chain gave it one, its id."""

    KIND: ClassVar[str] = ""

    delivery_id: str | None = _field(optional(_ID), None, omit_none=True)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            check: Spec = f.metadata["spec"]
            try:
                object.__setattr__(self, f.name, check.check(f.name, getattr(self, f.name)))
            except Refused as refused:
                raise JobFieldError(self.KIND, f.name, str(refused)) from None

    @property
    def kind(self) -> str:
        return self.KIND

    def to_message(self) -> dict[str, Any]:
        """The JSON sent through Celery (lists, not tuples)."""
        message: dict[str, Any] = {"kind": self.KIND}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.metadata["spec"].omit_none:
                continue
            message[f.name] = list(value) if isinstance(value, tuple) else value
        return message

    @classmethod
    def from_message(cls, message: Any) -> "Job":
        """The job in ``message``; JobFieldError (a ValueError) naming the field that is wrong."""
        if not isinstance(message, dict):
            raise JobFieldError(cls.KIND or "a", "kind", f"cannot be read from a {type(message).__name__}")
        if message.get("kind") != cls.KIND:
            raise JobFieldError(cls.KIND, "kind", f"is not {cls.KIND!r}")
        if len(message) > MAX_MESSAGE_FIELDS:
            raise JobFieldError(cls.KIND, "kind", f"comes with {len(message)} fields, more than {MAX_MESSAGE_FIELDS}")
        values = {}
        for f in dataclasses.fields(cls):
            if f.name in message:
                values[f.name] = message[f.name]
            elif f.default is dataclasses.MISSING:
                raise JobFieldError(cls.KIND, f.name, "is missing")
        return cls(**values)

    def but(self, **changes: Any) -> "Job":
        """A copy with ``changes`` (checked like any job)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, kw_only=True)
class RepositoryJob(Job):
    installation_id: int = _field(integer)
    repository: str = _field(repository)
    repository_id: int | None = _field(optional(integer), None)


@dataclass(frozen=True, kw_only=True)
class ScanPush(RepositoryJob):
    """A push to the default branch: scan the IaC files it changed."""

    KIND: ClassVar[str] = "scan_push"

    ref: str | None = _field(optional(_REF), None)
    before: str | None = _field(optional(sha), None)
    head_sha: str = _field(sha)
    # At most MAX_PUSH_FILES paths, so the message stays small whatever the push listed.
    changed_files: tuple[str, ...] = _field(items(_PATH, MAX_PUSH_FILES), ())
    # False when the list may not tell every changed file: the worker then compares trees.
    files_complete: bool = _field(flag, False)
    # A continuation (workers.job_parts): exactly these files, as part `part` of job `part_of`.
    part_of: str | None = _field(optional(_ID), None, omit_none=True)
    part: int | None = _field(optional(integer), None, omit_none=True)
    part_files: tuple[str, ...] | None = _field(optional(items(_PATH, MAX_PART_FILES)), None, omit_none=True)


@dataclass(frozen=True, kw_only=True)
class CodeScanningAlert(RepositoryJob):
    """A code-scanning alert was created or reopened: fix its one finding."""

    KIND: ClassVar[str] = "code_scanning_alert"

    action: str = _field(_NAME)
    alert_number: int = _field(integer)
    rule_id: str | None = _field(optional(_NAME), None)
    tool: str | None = _field(optional(_NAME), None)
    ref: str | None = _field(optional(_REF), None)
    commit_oid: str | None = _field(optional(sha), None)
    # No location in the payload: the worker must GET the alert (and its instances).
    fetch_alert: bool = _field(flag, True)


@dataclass(frozen=True, kw_only=True)
class InstallationChanged(Job):
    """The App was installed, removed, suspended, or its repositories changed: recorded only."""

    KIND: ClassVar[str] = "installation_changed"

    event: str | None = _field(optional(one_of("installation", "installation_repositories")), None)
    action: str | None = _field(optional(_NAME), None)
    installation_id: int = _field(integer)
    account: str | None = _field(optional(_NAME), None)
    repository_selection: str | None = _field(optional(_NAME), None)
    repository_ids: tuple[int, ...] | None = _field(optional(items(integer, MAX_REPOSITORY_IDS)), None,
                                                    omit_none=True)
    repository_ids_added: tuple[int, ...] | None = _field(optional(items(integer, MAX_REPOSITORY_IDS)), None,
                                                          omit_none=True)
    repository_ids_removed: tuple[int, ...] | None = _field(optional(items(integer, MAX_REPOSITORY_IDS)), None,
                                                            omit_none=True)
    # The payload listed more than MAX_REPOSITORY_IDS: the worker lists them itself.
    refetch_repositories: bool = _field(flag, False)


@dataclass(frozen=True, kw_only=True)
class PullRequestClosed(RepositoryJob):
    """A pull request was closed (merged or not): if it is iacbot's, record what a person decided."""

    KIND: ClassVar[str] = "pull_request_closed"

    number: int = _field(integer)
    merged: bool = _field(flag, False)
    head_ref: str | None = _field(optional(_REF), None)
    head_sha: str | None = _field(optional(sha), None)
    base_ref: str | None = _field(optional(_REF), None)
    # The head branch is named like iacbot's AND is in the repository itself (a fork's is not ours).
    iacbot_branch: bool = _field(flag, False)
    # Who closed it (the signed webhook's sender): a bot's close is not a person declining the fix.
    sender: str | None = _field(optional(_NAME), None)
    sender_type: str | None = _field(optional(_NAME), None)
    # When, as GitHub gives it (ISO 8601): the start of a risk acceptance.
    closed_at: str | None = _field(optional(_NAME), None)


CHECK_EVENTS = ("check_suite", "check_run", "status", "sweep")  # sweep: iacbot's own periodic look (workers.sweep)


@dataclass(frozen=True, kw_only=True)
class ChecksCompleted(RepositoryJob):
    """A check suite, a check run or a commit status finished on ``head_sha``: a trigger to decide
    about merging iacbot's PR(s) on that head again. Only a trigger: what the checks say is read
    again through the API (workers.automerge), never taken from this job."""

    KIND: ClassVar[str] = "checks_completed"

    event: str = _field(one_of(*CHECK_EVENTS))
    check_id: int | None = _field(optional(integer), None)
    head_sha: str = _field(sha)
    head_branch: str | None = _field(optional(_REF), None)
    conclusion: str | None = _field(optional(_NAME), None)   # a status event's state
    app_id: int | None = _field(optional(integer), None)
    pull_request_numbers: tuple[int, ...] = _field(items(integer, MAX_PULL_REQUEST_NUMBERS), ())
    context: str | None = _field(optional(_NAME), None, omit_none=True)  # a status event's context


#: Where the findings API stores a submission and the fetch reads it back (workers.store lists it).
SUBMISSION_PREFIX = "iacbot:submission:"


@dataclass(frozen=True, kw_only=True)
class FindingsSubmitted(RepositoryJob):
    """A tenant's findings (POST /v1/findings), stored under ``submission_key``: fix them."""

    KIND: ClassVar[str] = "findings_submitted"

    repository_id: int | None = _field(optional(integer), None, omit_none=True)  # a tenant does not send it
    submission_id: str = _field(_ID)
    tenant: str | None = _field(optional(_ID), None)
    commit_sha: str | None = _field(optional(sha), None)   # None: the default branch's head
    part_of: str | None = _field(optional(_ID), None, omit_none=True)
    part: int | None = _field(optional(integer), None, omit_none=True)
    part_files: tuple[str, ...] | None = _field(optional(items(_PATH, MAX_PART_FILES)), None, omit_none=True)

    @property
    def submission_key(self) -> str:
        return SUBMISSION_PREFIX + self.submission_id


#: Every job kind, by its name: the one registry (workers.celery_app.JOB_TASKS is made from it).
KINDS: dict[str, type[Job]] = {cls.KIND: cls for cls in (
    ScanPush, CodeScanningAlert, InstallationChanged, PullRequestClosed, ChecksCompleted, FindingsSubmitted)}


def from_message(message: Any) -> Job:
    """The job of whichever kind ``message`` says; JobFieldError (a ValueError) naming the field."""
    if not isinstance(message, dict):
        raise JobFieldError("a", "kind", f"cannot be read from a {type(message).__name__}")
    kind = message.get("kind")
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise JobFieldError("a", "kind", f"must be one of {sorted(KINDS)}")
    return cls.from_message(message)
