"""In-memory world of the double: repositories, apps, installations, tokens, pull requests.

Plain data only; HTTP concerns live in app.py, authorisation rules in auth.py.
"""
from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field

from .gitobjects import Commit, ObjectStore, Signature

# Ids start high and differ per kind so a test that mixes them up (repo id vs installation id)
# fails instead of passing by coincidence.
_ids = itertools.count(1_000_001)


def next_id() -> int:
    return next(_ids)


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None


@dataclass
class Review:
    id: int
    user_login: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED or PENDING
    body: str
    commit_id: str
    submitted_at: float | None = field(default_factory=time.time)  # None while PENDING


@dataclass
class PullRequest:
    id: int
    number: int
    title: str
    body: str | None
    head_ref: str  # branch name in the same repository
    base_ref: str
    head_sha: str
    base_sha: str
    user_login: str
    state: str = "open"
    draft: bool = False
    maintainer_can_modify: bool = False
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    closed_at: float | None = None
    labels: list[str] = field(default_factory=list)
    requested_reviewers: list[str] = field(default_factory=list)  # logins
    requested_teams: list[str] = field(default_factory=list)  # team slugs
    merged_at: float | None = None
    merge_commit_sha: str | None = None
    merged_by: str | None = None
    reviews: list[Review] = field(default_factory=list)  # chronological
    #: What a test says GitHub computed (set_mergeable): False, or "unknown" (not computed yet:
    #: `mergeable: null`, while a merge still decides on the real state); None: the double computes it.
    mergeable_override: bool | str | None = None
    closed_by: str | None = None  # login of who closed or merged it


@dataclass
class Issue:
    """An issue that is not a pull request (PRs answer the issues API from their PullRequest)."""
    id: int
    number: int
    title: str
    body: str | None
    user_login: str
    state: str = "open"
    state_reason: str | None = None
    labels: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    closed_at: float | None = None
    closed_by: str | None = None


@dataclass
class IssueComment:
    id: int
    issue_number: int  # an issue's or a pull request's
    user_login: str
    body: str
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)


@dataclass
class CommitStatus:
    id: int
    sha: str
    state: str  # error | failure | pending | success
    context: str
    description: str | None
    target_url: str | None
    creator_login: str
    app_id: int | None  # the App whose token created it; None for a person
    created_at: float = field(default_factory=time.time)


@dataclass
class CodeScanningAlert:
    number: int
    rule_id: str
    tool: str
    path: str
    start_line: int
    end_line: int
    message: str
    severity: str
    commit_sha: str
    ref: str
    state: str = "open"
    created_at: float = field(default_factory=time.time)


@dataclass
class CheckRun:
    id: int
    name: str
    head_sha: str
    app_id: int
    app_slug: str
    suite_id: int
    status: str = "queued"
    conclusion: str | None = None
    started_at: float | None = None
    completed_at: float | None = None
    details_url: str | None = None
    external_id: str | None = None
    output: dict = field(default_factory=dict)  # title, summary, text (each may be absent)
    annotations_count: int = 0


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    default_branch: str
    private: bool = True
    objects: ObjectStore = field(default_factory=ObjectStore)
    refs: dict[str, str] = field(default_factory=dict)  # "refs/heads/main" -> commit sha
    pulls: dict[int, PullRequest] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)  # by lower-case name
    next_number: int = 1  # issues and pulls share numbers, as on GitHub
    collaborators: dict[str, str] = field(default_factory=dict)  # lower-case login -> login
    teams: dict[str, str] = field(default_factory=dict)  # lower-case slug -> slug (teams with access)
    alerts: dict[int, CodeScanningAlert] = field(default_factory=dict)  # code scanning, own numbering
    check_runs: dict[int, CheckRun] = field(default_factory=dict)  # by id (ids are global, as on GitHub)
    check_suites: dict[tuple[int, str], int] = field(default_factory=dict)  # (app id, head sha) -> suite id
    issues: dict[int, Issue] = field(default_factory=dict)  # by number (shared with pulls)
    comments: dict[int, IssueComment] = field(default_factory=dict)  # by id, on issues and PRs
    statuses: list[CommitStatus] = field(default_factory=list)  # chronological
    protection: dict[str, dict] = field(default_factory=dict)  # branch name -> normalised settings
    roles: dict[str, str] = field(default_factory=dict)  # lower-case login -> admin|maintain|write|triage|read
    created_at: float = field(default_factory=time.time)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class App:
    id: int
    slug: str
    public_key_pem: bytes


@dataclass
class Installation:
    id: int
    app_id: int
    account: str
    repo_ids: list[int]
    permissions: dict[str, str]
    created_at: float = field(default_factory=time.time)


@dataclass
class Token:
    value: str
    installation_id: int
    repo_ids: list[int]
    permissions: dict[str, str]
    expires_at: float
    revoked: bool = False


class World:
    """Everything the double knows. One lock: the server thread and the test thread share it."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.repos: dict[str, Repo] = {}  # by lower-case "owner/name": GitHub is case-insensitive
        self.apps: dict[int, App] = {}
        self.installations: dict[int, Installation] = {}
        self.tokens: dict[str, Token] = {}
        #: e-mail (lower case) -> login of the account GitHub links a commit to (push_commit adds them).
        self.emails: dict[str, str] = {}
        #: GitHub's most entries in one tree listing; more and it answers "truncated" (tests lower it).
        self.tree_entry_limit = 100_000

    def repo(self, owner: str, name: str) -> Repo | None:
        return self.repos.get(f"{owner}/{name}".lower())

    def create_repo(
        self, full_name: str, files: dict[str, str | bytes], default_branch: str = "main",
        private: bool = True, timestamp: int = 1_700_000_000,
    ) -> Repo:
        owner, name = full_name.split("/")
        with self.lock:
            repo = Repo(next_id(), owner, name, default_branch, private)
            tree = repo.objects.put_tree_from_files(
                {p: c.encode() if isinstance(c, str) else c for p, c in files.items()}
            )
            who = Signature("iacbot-double", "double@example.invalid", timestamp)
            root = repo.objects.put_commit(Commit(tree, (), who, who, "Initial commit\n"))
            repo.refs[f"refs/heads/{default_branch}"] = root
            self.repos[full_name.lower()] = repo
            return repo
