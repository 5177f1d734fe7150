"""Publish one verified fix as one pull request, through the Git data API.

Idempotent per finding fingerprint: the branch name comes from bot.provenance.branch_name, an
open PR on it is reused only if the App opened it, and a branch is only ever rewritten when every
commit on it is one iacbot recorded making for that finding (Renovate's rule: never touch a branch
someone else pushed to). Ownership is never read from message text (bot.github.ownership).

Every call retries transient GitHub failures (bot.github.client); repeated POSTs converge: a
branch or PR that a lost answer already created is found and used, never duplicated.

Given a ``signer`` (bot.attest.signer.Signer: the service always gives one), the fix commit carries
the ``Iacbot-Statement`` trailer and the PR is created with the signed envelope naming that commit
already in its body; a re-run signs the body afresh, and rebuilds the commit only when its trailer
names another statement (docs/provenance.md). Without one (library callers, the tests of the
flow itself) nothing is signed.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

import requests
from github import Github, GithubException, InputGitTreeElement
from github.GitCommit import GitCommit
from github.Repository import Repository

from bot import attest
from bot.decision_text import is_reason_label
from bot.github import codeowners, pr_body
from bot.github.auth import Token
from bot.github.branch_steps import (Progress, create_pull, create_ref, in_history, open_pull,
                                     ref_or_none)
from bot.github.client import client
from bot.github.errors import GitHubRetryLater
from bot.github.ownership import Foreign, Ownership
from bot.provenance import branch_name, commit_message
from fixers.engine import Attempt
from policies.facts import FixFacts, fix_facts

log = logging.getLogger(__name__)

CREATED = "created"            # new branch, new PR
EXISTS = "exists"              # an open PR already carries this fix on the current base
UPDATED = "updated"            # the bot's branch was rebuilt on the moved default branch
FOREIGN_BRANCH = "foreign-branch"  # someone else's commits or PR are on the branch: not touched


#: The label that says what policy decided (workers.publish chooses one); a PR carries at most one.
REVIEW_REQUIRED_LABEL = "iacbot:review-required"
AUTOMERGE_LABEL = "iacbot:automerge"
DECISION_LABELS = (REVIEW_REQUIRED_LABEL, AUTOMERGE_LABEL)


class PublishError(Exception):
    """Publishing failed; the message names the repository, the step and what to do. Never carries
    a credential. `retryable` is True for failures that a later run may not meet (5xx, network)."""

    def __init__(self, message: str, status: int | None = None, step: str = "", *, permanent: bool = False):
        super().__init__(message)
        self.status = status
        self.step = step
        self.permanent = permanent  # a refusal by iacbot itself: no later run can succeed

    @property
    def retryable(self) -> bool:
        return not self.permanent and (self.status is None or self.status >= 500)


@dataclass(frozen=True)
class PublishResult:
    status: str
    branch: str
    pr_number: int | None = None
    pr_url: str | None = None
    commit_sha: str | None = None
    base_sha: str | None = None
    reason: str = ""
    reviewers: tuple[str, ...] = ()       # review requested from these logins (new PRs only)
    team_reviewers: tuple[str, ...] = ()  # ... and these team slugs
    review_note: str = ""                 # why no (or not every) review was requested; never fatal
    attestation: dict | None = None       # the envelope in the PR body (to_json) when signed


def publish_fix(github: Github | tuple[str, Token | str], repo_full_name: str, attempt: Attempt,
                new_text: str, verification: str, *, ownership: Ownership, request_reviews: bool = True,
                trigger: Mapping[str, Any] | None = None, repo: Repository | None = None,
                fix: FixFacts | None = None, decision_lines: list[str] | None = None,
                decision_labels: tuple[str, ...] = (), signer=None) -> PublishResult:
    """One fix (the whole new text of attempt.finding.file) -> one PR against the default branch.
    ``ownership``: the App's identity and the ledger of commits iacbot made (each new commit is
    recorded there before a branch points at it). ``repo``: the repository already read through
    ``github`` by the caller (saves a request). ``fix``: the policy facts the fix was decided on,
    written into the PR's provenance block; when not given they are measured here, against the
    file as it is on the default branch's head. ``decision_lines``: the policy decision section of
    the PR body (bot.decision_text); ``decision_labels``: one of DECISION_LABELS and the reason labels
    (bot.decision_text.reason_labels), put on the PR; the decision labels it no longer has are taken
    off, when the decision changed on an open PR.

    ``signer``: a bot.attest.signer.Signer whose statement's only file subject is the new text of
    attempt.finding.file (checked): the commit's trailer and the PR body's attestation block.

    Safe to call again after any failure: a re-run converges on one branch and one PR. Raises
    PublishError, or GitHubRetryLater when GitHub asks to wait longer than a call may block.
    """
    if isinstance(github, tuple):
        github = client(*github)
    if signer is not None and not signer.covers({attempt.finding.file: new_text.encode("utf-8")}):
        raise PublishError("refusing to publish: the statement to sign does not name exactly the fixed file",
                           permanent=True)
    progress = Progress()
    try:
        return _publish(repo or github.get_repo(repo_full_name), repo_full_name, attempt, new_text, verification,
                        progress, request_reviews, ownership, trigger, fix=fix,
                        decision=_Decided(decision_lines, tuple(decision_labels)), signer=signer)
    except GithubException as exc:
        raise PublishError(_explain(exc, repo_full_name, progress.step), exc.status, progress.step) from None
    except requests.RequestException as exc:
        raise PublishError(f"publishing to {repo_full_name} failed while {progress.step}: cannot reach GitHub "
                           f"({type(exc).__name__}); try again later", None, progress.step) from None
    except GitHubRetryLater as exc:
        raise GitHubRetryLater(exc.retry_after, f"publishing to {repo_full_name} paused while {progress.step}: "
                                                f"{exc.message}") from None


def github_message(exc: GithubException) -> str:
    """GitHub's own "message" in a failed answer ("" when it gave none)."""
    return str(exc.data.get("message", "")) if isinstance(exc.data, dict) else ""


def _explain(exc: GithubException, repo: str, step: str) -> str:
    message = github_message(exc)
    hint = {
        401: "the token is invalid, expired or revoked; request a new installation token",
        403: "the installation token lacks a permission (contents:write, pull_requests:write and issues:write "
             "are needed)",
        404: f"{repo} is not visible to this token; is the App installed there and the token scoped to it?",
        422: "GitHub rejected the request",
    }.get(exc.status, "GitHub failed; publishing again later is safe" if (exc.status or 0) >= 500
          else "unexpected GitHub error")
    return f"publishing to {repo} failed while {step}: HTTP {exc.status} {message}: {hint}".replace("  ", " ")


@dataclass(frozen=True)
class _Decided:
    """What policy decided, as the PR shows it (nothing: the PR shows no decision)."""

    lines: list[str] | None = None
    labels: tuple[str, ...] = ()


def _publish(repo: Repository, repo_full_name: str, attempt: Attempt, new_text: str, verification: str,
             progress: Progress, request_reviews: bool, ownership: Ownership,
             trigger: Mapping[str, Any] | None = None, converging: bool = False,
             fix: FixFacts | None = None, decision: _Decided = _Decided(), signer=None) -> PublishResult:
    default = repo.default_branch
    branch = branch_name(attempt)
    if branch == default or branch in ("main", "master"):
        raise PublishError(f"refusing to publish onto the default branch {default!r}", permanent=True)
    progress.at(f"reading the head of {default}")
    head_sha = repo.get_git_ref(f"heads/{default}").object.sha
    head = repo.get_git_commit(head_sha)
    fingerprint = attempt.finding.fingerprint()

    progress.at(f"looking for an open pull request from {branch}")
    pr = open_pull(repo, branch, default)
    progress.at(f"reading branch {branch}")
    ref = ref_or_none(repo, f"heads/{branch}")

    if pr is not None and not ownership.app.authored(pr.user.login, pr.user.type):
        return _foreign(repo_full_name, branch, pr, ref.object.sha if ref else None, head_sha, Foreign.PR_AUTHOR)
    if ref is not None:
        tip = repo.get_git_commit(ref.object.sha)
        parents = [p.sha for p in tip.parents]
        ours = ownership.commits.made(repo_full_name, fingerprint, [tip.sha]) and len(parents) == 1
        # Signed: the tip must name this statement (its trailer), else it is rebuilt below.
        named = signer is None or signer.trailer in attest.trailer_values(tip.message)
        if pr is not None and ours and parents == [head_sha] and named:
            log.info("%s: PR #%s already carries %s on the current base", repo_full_name, pr.number, branch)
            _ensure_labels(repo, pr, attempt, progress, decision.labels)  # an earlier run may have stopped before
            envelope = signer.envelope(tip.sha) if signer is not None else None
            if decision.lines is not None or envelope is not None:  # the decision may have changed since
                text = pr_body.body(attempt, head_sha, verification, trigger, fix, decision.lines,
                                    _block(envelope))
                if (pr.body or "") != text:
                    progress.at(f"updating the decision on pull request #{pr.number}")
                    pr.edit(body=text)
            return PublishResult(EXISTS, branch, pr.number, pr.html_url, tip.sha, head_sha,
                                 "an open pull request already has this fix on the current default branch",
                                 attestation=_json(envelope))
        progress.at(f"checking who made the commits on {branch}")
        # base..tip is exactly {tip} when its one parent is a commit the default branch pointed at.
        if not (ours and in_history(repo, head, parents[0])):
            return _foreign(repo_full_name, branch, pr, tip.sha, head_sha, Foreign.COMMITS)

    commit, old_text = _fix_commit(repo, repo_full_name, head, attempt, new_text, verification, progress, ownership,
                                   signer.trailer if signer is not None else None)
    if commit is None:
        return PublishResult(EXISTS, branch, pr.number if pr else None, pr.html_url if pr else None, None,
                             head_sha, f"{attempt.finding.file} on {default} already has the fixed text")
    fix = fix or fix_facts(attempt, repo_full_name, attempt.finding.file, old_text, new_text)
    title = pr_body.title(attempt)
    # Signed before the PR exists: it is created (or edited) with the envelope already in its body.
    envelope = signer.envelope(commit.sha) if signer is not None else None
    text = pr_body.body(attempt, head_sha, verification, trigger, fix, decision.lines, _block(envelope))
    if ref is not None:
        progress.at(f"moving branch {branch} onto the rebuilt commit")
        ref.edit(commit.sha, force=True)
        status = UPDATED
    else:
        progress.at(f"creating branch {branch}")
        if not create_ref(repo, branch, commit.sha):
            # Someone (another worker on the same finding) made the branch meanwhile: decide again
            # from what is there now, once.
            if converging:
                raise PublishError(f"publishing to {repo_full_name}: branch {branch} keeps changing under "
                                   "iacbot; try again later", 409, progress.step)
            log.info("%s: branch %s appeared meanwhile; deciding again", repo_full_name, branch)
            return _publish(repo, repo_full_name, attempt, new_text, verification, progress, request_reviews,
                            ownership, trigger, converging=True, fix=fix, decision=decision, signer=signer)
        status = CREATED
    reviewers, teams, note = (), (), ""
    if pr is None:
        progress.at(f"creating the pull request from {branch}")
        pr = create_pull(repo, default, branch, title, text, ownership)
        if pr is None:  # someone else opened a PR from iacbot's new branch meanwhile
            return _foreign(repo_full_name, branch, open_pull(repo, branch, default), commit.sha, head_sha,
                            Foreign.PR_AUTHOR)
        progress.at(f"labelling pull request #{pr.number}")
        pr.add_to_labels(*_labels(attempt), *decision.labels)
        status = CREATED
        if request_reviews:
            progress.at(f"requesting reviews on pull request #{pr.number}")
            reviewers, teams, note = _request_reviews(repo, pr, attempt.finding.file, head_sha)
    else:
        progress.at(f"updating pull request #{pr.number}")
        pr.edit(title=title, body=text)
        _ensure_labels(repo, pr, attempt, progress, decision.labels)
    log.info("%s: %s PR #%s on %s", repo_full_name, status, pr.number, branch)
    return PublishResult(status, branch, pr.number, pr.html_url, commit.sha, head_sha,
                         reviewers=reviewers, team_reviewers=teams, review_note=note, attestation=_json(envelope))


def _block(envelope) -> str | None:
    return pr_body.attestation_block(envelope.to_json()) if envelope is not None else None


def _json(envelope) -> dict | None:
    return envelope.to_json() if envelope is not None else None


def _foreign(repo_full_name: str, branch: str, pr, tip_sha: str | None, head_sha: str,
             why: Foreign) -> PublishResult:
    """Leave the branch and its PR alone: no push, no label, no edit."""
    log.warning("%s: %s is not iacbot's (%s); leaving it alone", repo_full_name, branch, why.name)
    return PublishResult(FOREIGN_BRANCH, branch, pr.number if pr else None, pr.html_url if pr else None,
                         tip_sha, head_sha,
                         f"branch {branch}: {why}; iacbot will not touch it. Delete the branch (or close "
                         "the PR) to let iacbot redo the fix.")


def _request_reviews(repo: Repository, pr, path: str, head_sha: str) -> tuple[tuple, tuple, str]:
    """Ask CODEOWNERS of `path` (read from the default branch) to review. Never raises: a failure is
    logged and returned as a note, because the PR itself is already open and correct."""
    try:
        text = _codeowners_text(repo, head_sha)
        if text is None:
            return (), (), "no CODEOWNERS file on the default branch"
        wanted = codeowners.reviewers_for(text, path, repo.owner.login, exclude=[pr.user.login])
        if not wanted:
            return (), (), f"CODEOWNERS names no user or team of {repo.owner.login} for {path}"
        pr.create_review_request(reviewers=list(wanted.users), team_reviewers=list(wanted.teams))
        return wanted.users, wanted.teams, ""
    except (GithubException, GitHubRetryLater, requests.RequestException) as exc:
        detail = (f"HTTP {exc.status} {exc.data.get('message', '') if isinstance(exc.data, dict) else ''}"
                  if isinstance(exc, GithubException) else str(exc) if isinstance(exc, GitHubRetryLater)
                  else type(exc).__name__)
        note = f"could not request reviews on PR #{pr.number}: {detail}".strip()
        log.warning("%s: %s", repo.full_name, note)
        return (), (), note


def _codeowners_text(repo: Repository, ref: str) -> str | None:
    for location in codeowners.LOCATIONS:  # GitHub uses the first one it finds
        try:
            found = repo.get_contents(location, ref=ref)
        except GithubException as exc:
            if exc.status == 404:
                continue
            raise
        if not isinstance(found, list):
            return found.decoded_content.decode("utf-8", "replace")
    return None


def _ensure_labels(repo: Repository, pr, attempt: Attempt, progress: Progress,
                   decision_labels: tuple[str, ...] = ()) -> None:
    """The fix's labels and the decision's are on the PR, and no other decision's label."""
    names = [label.name for label in pr.labels]
    have = {name.lower() for name in names}
    wanted = [*_labels(attempt), *decision_labels]
    stale = {n.lower() for n in names if decision_labels and _is_decision_label(n)} - {w.lower() for w in wanted}
    if stale:
        # PATCH the issue's whole label list: the double and GitHub both take it (no per-label DELETE needed).
        progress.at(f"relabelling pull request #{pr.number}")
        keep = [n for n in names if n.lower() not in stale]
        repo.get_issue(pr.number).edit(labels=keep + [w for w in wanted if w.lower() not in have])
        return
    missing = [name for name in wanted if name.lower() not in have]
    if missing:
        progress.at(f"labelling pull request #{pr.number}")
        pr.add_to_labels(*missing)


def _is_decision_label(name: str) -> bool:
    return name.lower() in {d.lower() for d in DECISION_LABELS} or is_reason_label(name)


def _labels(attempt: Attempt) -> list[str]:
    labels = ["iacbot"]
    if attempt.fixer is not None:
        labels.append(attempt.fixer.info.category.value)
    return labels


def _fix_commit(repo: Repository, repo_full_name: str, head: GitCommit, attempt: Attempt, new_text: str,
                verification: str, progress: Progress, ownership: Ownership,
                statement_digest: str | None = None) -> tuple[GitCommit | None, str]:
    """blob -> tree on the head's tree -> commit whose only parent is the default head, recorded
    as iacbot's before any branch points at it. Blob and tree are content-addressed, so a retried
    POST yields the same object; a retried commit may differ (its date), and only the one whose
    answer arrived is recorded and used. Also the file's text on the head ("" when it is new),
    which the fix's blast radius is measured against; (None, text) when it already is the fix."""
    path = attempt.finding.file
    progress.at(f"uploading the fixed {path}")
    blob = repo.create_git_blob(new_text, "utf-8")
    mode = "100644"
    old_text = ""
    try:
        current = repo.get_contents(path, ref=head.sha)
        if not isinstance(current, list):
            if current.sha == blob.sha:
                return None, new_text
            old_text = _text_of(current)
    except GithubException as exc:
        if exc.status != 404:
            raise
    progress.at("creating the fix tree")
    tree = repo.create_git_tree([InputGitTreeElement(path, mode, "blob", sha=blob.sha)], base_tree=head.tree)
    progress.at("creating the fix commit")
    commit = repo.create_git_commit(commit_message(attempt, verification, statement_digest), tree, [head])
    progress.at("recording the fix commit as iacbot's")
    ownership.commits.record(repo_full_name, attempt.finding.fingerprint(), commit.sha)
    return commit, old_text


def _text_of(content) -> str:
    """A file's text from the contents API. Content it does not inline (files over 1 MB) reads as
    "", so every line of the fix counts as changed: a larger blast radius, never a smaller one."""
    try:
        return (content.decoded_content or b"").decode("utf-8", "replace")
    except (AssertionError, ValueError, TypeError):  # PyGithub asserts the encoding is base64
        return ""
