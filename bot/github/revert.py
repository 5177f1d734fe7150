"""Revert one merged fix as a pull request, through the Git data API (REST has no revert).

``open_revert`` restores exactly the fix's files and lines on the default branch's head, file by
file (the head's blob is compared by its git SHA, downloaded only when it differs from both sides):

* the file is as the fix left it: ``before`` comes back byte for byte (a file the fix created is
  deleted);
* it is already ``before`` (or gone, for a file the fix created): nothing to do for it;
* it changed since: the fix's hunks are undone line by line when each is still there, intact and
  unambiguous, keeping everyone else's edits (bot.line_undo); otherwise the revert is NOT_CLEAN,
  every such file and hunk named, and nothing is written.

Then blobs -> a tree on the head's tree -> one commit whose only parent is the head, recorded in
the ownership ledger (under ``ledger_key(original_pr)``) before any ref points at it -> the branch
``jobs.branches.revert_branch_name(original_pr)`` -> one PR against the default branch, labelled,
with reviews requested. Idempotent and crash-safe as bot.github.publish is: a re-run finds the
branch and PR an earlier run (or a POST whose answer was lost) made, and converges on one of each;
a branch with a commit iacbot did not make, or a PR the App did not open, is never touched.

``open_revert_issue`` is the fallback when the revert is NOT_CLEAN: one open issue per original
PR, found again by its hidden marker and the App as its author (never by text alone).
"""
from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from itertools import islice
from typing import Callable, Sequence

import requests
from github import Github, GithubException, InputGitTreeElement
from github.GitCommit import GitCommit
from github.Repository import Repository

from bot.github import issues
from bot.github.errors import GitHubRetryLater
from bot.github.branch_steps import Progress, create_pull, create_ref, git_blob_sha, in_history, ref_or_none
from bot.github.ownership import AppIdentity, Foreign, Ownership
from bot.github.publish import PublishError, github_message
from bot.line_undo import undo
from bot.quoting import md_code, md_text
from jobs.branches import revert_branch_name

log = logging.getLogger(__name__)

CREATED = "CREATED"                    # new branch, new PR
EXISTS = "EXISTS"                      # an open revert PR of iacbot's already carries it
NOT_CLEAN = "NOT_CLEAN"                # the files changed since in ways a revert would have to guess at
ALREADY_REVERTED = "ALREADY_REVERTED"  # the default branch already has every file as before the fix
FOREIGN = "FOREIGN"                    # the revert branch or its PR is not iacbot's: not touched
CLOSED = "CLOSED"                      # iacbot's revert PR was closed unmerged by someone: not opened again

#: Bounds, checked before anything is paid for (GitHub's contents API stops inlining at 1 MB).
MAX_FILES = 50
MAX_FILE_BYTES = 1 << 20
#: How many PRs from the revert branch are looked at (one is the norm; more means someone opened them).
MAX_PULLS_SCANNED = 100
#: Hunks named per file in NOT_CLEAN's problems (the rest are counted).
MAX_HUNKS_NAMED = 10
TITLE_LIMIT = 256
_REGULAR_MODES = ("100644", "100755")


@dataclass(frozen=True)
class RevertFile:
    path: str
    before: bytes | None   # the file before the fix (None: the fix created it -> the revert deletes it)
    after: bytes           # the file as the fix left it


@dataclass(frozen=True)
class Problem:
    """Why one file (``path``; "" for the revert as a whole) cannot be reverted cleanly."""

    path: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}: {self.detail}" if self.path else self.detail


@dataclass(frozen=True)
class RevertResult:
    status: str
    branch: str | None = None
    pr_number: int | None = None
    pr_url: str | None = None
    commit_sha: str | None = None
    base_sha: str | None = None
    problems: tuple[str, ...] = ()        # NOT_CLEAN: per file and hunk, what changed and why it blocks
    reason: str = ""                      # one line for people and logs (FOREIGN, CLOSED, EXISTS...)
    reviewers: tuple[str, ...] = ()       # review requested from these logins by this run
    team_reviewers: tuple[str, ...] = ()  # ... and these team slugs
    review_note: str = ""                 # why no (or not every) review was requested; never fatal
    details: tuple[Problem, ...] = ()     # the same problems with the path apart (problem_lines quotes them)


def problem_lines(details: Sequence[Problem]) -> list[str]:
    """NOT_CLEAN's problems as markdown list items for an issue or comment: the path (a repository's
    text) as a code span, the rest as quoted text, each bounded."""
    return [f"- {md_code(p.path, 300)}: {md_text(p.detail, 600)}" if p.path else f"- {md_text(p.detail, 600)}"
            for p in details]


def _not_clean(branch: str, head_sha: str | None, details: Sequence[Problem], reason: str) -> RevertResult:
    return RevertResult(NOT_CLEAN, branch, None, None, None, head_sha, tuple(str(p) for p in details),
                        reason=reason, details=tuple(details))


def ledger_key(original_pr: int) -> str:
    """The key the revert's commits are recorded under in the ownership ledger (where a fix's
    fingerprint goes): one revert per original PR, so it never matches a fix's fingerprint."""
    return f"revert-pr-{int(original_pr)}"


def issue_kind(original_pr: int) -> str:
    """The kind of iacbot's issue (bot.github.issues.marker) that explains a revert it could not make."""
    return f"revert-{int(original_pr)}"


def open_revert(gh: Github, repository: str, *, original_pr: int, files: Sequence[RevertFile], title: str,
                body: Callable[[str, str], str], commit_message: str, ownership: Ownership,
                reviewers: Sequence[str] = (), team_reviewers: Sequence[str] = (), labels: Sequence[str] = (),
                repo: Repository | None = None) -> RevertResult:
    """The revert of the fix merged by PR ``original_pr`` (its ``files``) as one PR against the
    default branch. ``body(commit_sha, base_sha)`` gives the PR's body for the revert commit and the
    head it sits on (the caller signs provenance into it). Safe to call again after any failure.

    Raises PublishError naming the step (``retryable`` for 5xx and network failures), or
    GitHubRetryLater when GitHub asks to wait longer than a call may block."""
    branch = revert_branch_name(original_pr)
    refused = _refused(files)
    if refused:
        return _not_clean(branch, None, refused, "iacbot refuses to revert this as given")
    progress = Progress()
    try:
        return _Reverter(repo or gh.get_repo(repository), repository, original_pr, branch, ownership,
                         progress).run(files, title[:TITLE_LIMIT], body, commit_message, tuple(reviewers),
                                       tuple(team_reviewers), tuple(labels))
    except GithubException as exc:
        raise PublishError(_explain(exc, repository, original_pr, progress.step), exc.status,
                           progress.step) from None
    except requests.RequestException as exc:
        raise PublishError(f"reverting PR #{original_pr} in {repository} failed while {progress.step}: cannot "
                           f"reach GitHub ({type(exc).__name__}); try again later", None, progress.step) from None
    except GitHubRetryLater as exc:
        raise GitHubRetryLater(exc.retry_after, f"reverting PR #{original_pr} in {repository} paused while "
                                                f"{progress.step}: {exc.message}") from None


def _explain(exc: GithubException, repository: str, original_pr: int, step: str) -> str:
    hint = {
        401: "the token is invalid, expired or revoked; request a new installation token",
        403: "the installation token lacks a permission (contents:write and pull_requests:write are needed)",
        404: f"{repository} is not visible to this token; is the App installed there and the token scoped to it?",
        422: "GitHub rejected the request",
    }.get(exc.status, "GitHub failed; reverting again later is safe" if (exc.status or 0) >= 500
          else "unexpected GitHub error")
    return (f"reverting PR #{original_pr} in {repository} failed while {step}: HTTP {exc.status} "
            f"{github_message(exc)}: {hint}").replace("  ", " ")


def _refused(files: Sequence[RevertFile]) -> tuple[Problem, ...]:
    """What iacbot will not revert at all, by name (before a single request is made)."""
    if not files:
        return (Problem("", "the fix names no file to revert"),)
    if len(files) > MAX_FILES:
        return (Problem("", f"the fix touched {len(files)} files, more than the {MAX_FILES} a revert may restore"),)
    problems, seen = [], set()
    for f in files:
        path = f.path if isinstance(f.path, str) else ""
        parts = path.split("/")
        if not path or "\0" in path or any(p in ("", ".", "..") for p in parts) or path.startswith(".git/"):
            problems.append(Problem(repr(path), "not a file path iacbot writes"))
        elif path in seen:
            problems.append(Problem(path, "named twice"))
        seen.add(path)
        if not isinstance(f.after, bytes) or not isinstance(f.before, (bytes, type(None))):
            problems.append(Problem(path, "the file's contents before and after the fix must be bytes"))
            continue
        for side, data in (("before", f.before), ("after", f.after)):
            if data is not None and len(data) > MAX_FILE_BYTES:
                problems.append(Problem(path, f"the file {side} the fix is {len(data)} bytes, over the "
                                              f"{MAX_FILE_BYTES}-byte limit"))
        if f.before is not None and f.before == f.after:
            problems.append(Problem(path, "the fix did not change it"))
    return tuple(problems)


@dataclass(frozen=True)
class _Change:
    path: str
    mode: str
    data: bytes | None  # None: delete the path


@dataclass(frozen=True)
class _Plan:
    changes: tuple[_Change, ...] = ()
    problems: tuple[Problem, ...] = ()


class _Reverter:
    """One run of open_revert on one repository (the state a run reads as it goes)."""

    def __init__(self, repo: Repository, repository: str, original_pr: int, branch: str, ownership: Ownership,
                 progress: Progress) -> None:
        self.repo, self.repository, self.original_pr, self.branch = repo, repository, original_pr, branch
        self.ownership, self.progress = ownership, progress
        self.key = ledger_key(original_pr)

    def run(self, files: Sequence[RevertFile], title: str, body: Callable[[str, str], str], message: str,
            reviewers: tuple[str, ...], teams: tuple[str, ...], labels: tuple[str, ...],
            converging: bool = False) -> RevertResult:
        repo, branch, at = self.repo, self.branch, self.progress.at
        default = repo.default_branch
        if branch == default:
            raise PublishError(f"refusing to revert onto the default branch {default!r}", permanent=True)
        at(f"reading the head of {default}")
        head_sha = repo.get_git_ref(f"heads/{default}").object.sha
        head = repo.get_git_commit(head_sha)
        at(f"looking for pull requests from {branch}")
        open_pr, closed_pr = self._pulls(default)
        at(f"reading branch {branch}")
        ref = ref_or_none(repo, f"heads/{branch}")
        if open_pr is not None and not self._authored(open_pr):
            return self._foreign(open_pr, ref.object.sha if ref else None, head_sha, Foreign.PR_AUTHOR)
        tip: GitCommit | None = None
        if ref is not None:
            at(f"checking who made the commits on {branch}")
            tip = repo.get_git_commit(ref.object.sha)
            parents = [p.sha for p in tip.parents]
            # base..tip is exactly {tip} when its one parent is a commit the default branch pointed at.
            if not (len(parents) == 1 and self.ownership.commits.made(self.repository, self.key, [tip.sha])
                    and in_history(repo, head, parents[0])):
                return self._foreign(open_pr, tip.sha, head_sha, Foreign.COMMITS)
            if open_pr is not None:
                return self._existing(open_pr, tip.sha, head_sha, reviewers, teams, labels)
        if open_pr is None and closed_pr is not None:
            log.info("%s: iacbot's revert PR #%s of #%s was closed unmerged; not opening another",
                     self.repository, closed_pr.number, self.original_pr)
            return RevertResult(CLOSED, branch, closed_pr.number, closed_pr.html_url, None, head_sha,
                                reason=f"iacbot's revert PR #{closed_pr.number} was closed without merging; "
                                       "reopen it, or delete the branch to let iacbot revert again")

        plan = self._plan(head, files, default)
        if plan.problems:
            return _not_clean(branch, head_sha, plan.problems,
                              f"the fix's files changed on {default} since; the revert would be a guess")
        if not plan.changes:
            return RevertResult(ALREADY_REVERTED, branch, None, None, None, head_sha,
                                reason=f"{default} already has every file as it was before the fix")

        commit_sha = self._commit(head, plan, message, tip)
        text = body(commit_sha, head_sha)
        if issues.units(text) > issues.BODY_LIMIT:
            raise PublishError(f"reverting PR #{self.original_pr} in {self.repository}: the pull request body "
                               f"is over {issues.BODY_LIMIT} characters; shorten it", permanent=True,
                               step="writing the pull request body")
        if ref is not None:
            if ref.object.sha != commit_sha:
                at(f"moving branch {branch} onto the rebuilt revert")
                ref.edit(commit_sha, force=True)
        else:
            at(f"creating branch {branch}")
            if not create_ref(repo, branch, commit_sha):
                if converging:
                    raise PublishError(f"reverting PR #{self.original_pr} in {self.repository}: branch {branch} "
                                       "keeps changing under iacbot; try again later", 409, self.progress.step)
                log.info("%s: branch %s appeared meanwhile; deciding again", self.repository, branch)
                return self.run(files, title, body, message, reviewers, teams, labels, converging=True)
        at(f"creating the pull request from {branch}")
        pr = create_pull(repo, default, branch, title, text, self.ownership)
        if pr is None:  # someone else opened a PR from iacbot's branch meanwhile
            return self._foreign(self._pulls(default)[0], commit_sha, head_sha, Foreign.PR_AUTHOR)
        if labels:
            at(f"labelling pull request #{pr.number}")
            pr.add_to_labels(*labels)
        asked, asked_teams, note = self._request_reviews(pr, reviewers, teams, fresh=True)
        log.info("%s: opened revert PR #%s of #%s on %s", self.repository, pr.number, self.original_pr, branch)
        return RevertResult(CREATED, branch, pr.number, pr.html_url, commit_sha, head_sha,
                            reason=f"reverts PR #{self.original_pr}", reviewers=asked, team_reviewers=asked_teams,
                            review_note=note)

    # -- facts ----------------------------------------------------------------------------------
    def _authored(self, pr) -> bool:
        return self.ownership.app.authored(pr.user.login if pr.user else None, pr.user.type if pr.user else None)

    def _pulls(self, default: str):
        """iacbot's branch's open PR (anyone's), and a PR of the App's closed unmerged (if any)."""
        listing = self.repo.get_pulls(state="all", head=f"{self.repo.owner.login}:{self.branch}", base=default)
        open_pr = closed = None
        for pr in islice(listing, MAX_PULLS_SCANNED):
            if pr.state == "open":
                open_pr = open_pr or pr
            elif closed is None and pr.merged_at is None and self._authored(pr):
                closed = pr
        return open_pr, closed

    def _plan(self, head: GitCommit, files: Sequence[RevertFile], default: str) -> _Plan:
        changes, problems = [], []
        listings: dict[str, dict] = {}
        for f in files:
            self.progress.at(f"reading {f.path} on {default}")
            entry = self._entry(head.tree.sha, f.path, listings)
            if isinstance(entry, str):
                problems.append(Problem(f.path, entry))
                continue
            if entry is None:
                if f.before is not None:
                    problems.append(Problem(f.path, f"deleted on {default} since the fix; restoring it would "
                                                    "undo that deletion"))
                continue  # the file the fix created is gone already
            if entry.type != "blob" or entry.mode not in _REGULAR_MODES:
                problems.append(Problem(f.path, f"no longer a regular file on {default} (mode {entry.mode})"))
                continue
            if entry.sha == git_blob_sha(f.after):
                changes.append(_Change(f.path, entry.mode, f.before))
                continue
            if f.before is not None and entry.sha == git_blob_sha(f.before):
                continue  # already as before the fix
            if f.before is None:
                problems.append(Problem(f.path, "the fix created it and it was edited since; deleting it "
                                                "would lose those edits"))
                continue
            if (entry.size or 0) > MAX_FILE_BYTES:
                problems.append(Problem(f.path, f"{entry.size} bytes on {default} now, over the "
                                                f"{MAX_FILE_BYTES}-byte limit for a line-by-line revert"))
                continue
            self.progress.at(f"downloading {f.path} from {default}")
            current = base64.b64decode(self.repo.get_git_blob(entry.sha).content or "")
            result = undo(f.before, f.after, current)
            if result.clean:
                if result.text != current:
                    changes.append(_Change(f.path, entry.mode, result.text))
            else:
                named = result.blocked[:MAX_HUNKS_NAMED]
                problems += [Problem(f.path, str(blocked)) for blocked in named]
                if len(result.blocked) > len(named):
                    problems.append(Problem(f.path, f"and {len(result.blocked) - len(named)} more of the fix's "
                                                    "changes, for the same reasons"))
        return _Plan(tuple(changes), tuple(problems))

    def _entry(self, root: str, path: str, listings: dict[str, dict]):
        """The tree entry at ``path`` in tree ``root`` (None: no such path; str: why it cannot be read)."""
        tree_sha, parts = root, path.split("/")
        for i, name in enumerate(parts):
            if tree_sha not in listings:
                tree = self.repo.get_git_tree(tree_sha)
                if tree.raw_data.get("truncated"):
                    return f"GitHub cut the listing of {'/'.join(parts[:i]) or 'the top directory'} short"
                listings[tree_sha] = {e.path: e for e in tree.tree}
            entry = listings[tree_sha].get(name)
            if entry is None or i == len(parts) - 1:
                return entry
            if entry.type != "tree":
                return None
            tree_sha = entry.sha
        return None

    # -- writes ---------------------------------------------------------------------------------
    def _commit(self, head: GitCommit, plan: _Plan, message: str, tip: GitCommit | None) -> str:
        """blobs -> tree on the head's tree -> commit on the head, recorded as iacbot's before any
        ref names it. Blobs and the tree are content-addressed, so a retried POST gives the same
        object; an earlier run's commit with this very tree on this head is reused."""
        elements = []
        for change in plan.changes:
            if change.data is None:
                elements.append(InputGitTreeElement(change.path, change.mode, "blob", sha=None))
                continue
            self.progress.at(f"uploading the restored {change.path}")
            blob = self.repo.create_git_blob(base64.b64encode(change.data).decode("ascii"), "base64")
            if blob.sha != git_blob_sha(change.data):
                raise PublishError(f"GitHub stored {change.path} as blob {blob.sha}, not the bytes sent",
                                   step=self.progress.step)
            elements.append(InputGitTreeElement(change.path, change.mode, "blob", sha=blob.sha))
        self.progress.at("creating the revert tree")
        tree = self.repo.create_git_tree(elements, base_tree=head.tree)
        if tip is not None and [p.sha for p in tip.parents] == [head.sha] and tip.tree.sha == tree.sha:
            return tip.sha
        self.progress.at("creating the revert commit")
        commit = self.repo.create_git_commit(message, tree, [head])
        self.progress.at("recording the revert commit as iacbot's")
        self.ownership.commits.record(self.repository, self.key, commit.sha)
        return commit.sha

    def _existing(self, pr, tip_sha: str, head_sha: str, reviewers: tuple[str, ...], teams: tuple[str, ...],
                  labels: tuple[str, ...]) -> RevertResult:
        """The open PR already carries the revert: finish what an interrupted run may have left
        (labels, review requests), nothing else."""
        have = {label.name.lower() for label in pr.labels}
        missing = [name for name in labels if name.lower() not in have]
        if missing:
            self.progress.at(f"labelling pull request #{pr.number}")
            pr.add_to_labels(*missing)
        asked, asked_teams, note = self._request_reviews(pr, reviewers, teams, fresh=False)
        log.info("%s: revert PR #%s of #%s already open", self.repository, pr.number, self.original_pr)
        return RevertResult(EXISTS, self.branch, pr.number, pr.html_url, tip_sha, head_sha,
                            reason=f"iacbot's revert PR #{pr.number} is already open",
                            reviewers=asked, team_reviewers=asked_teams, review_note=note)

    def _request_reviews(self, pr, reviewers: tuple[str, ...], teams: tuple[str, ...],
                         fresh: bool) -> tuple[tuple[str, ...], tuple[str, ...], str]:
        """Ask the original PR's reviewers to review the revert. On a PR an earlier run opened,
        only those not yet asked and not yet reviewing (a re-request would notify them again).
        Never raises: the PR is open and correct without them."""
        author = (pr.user.login if pr.user else "").lower()
        users = _unique(r for r in reviewers if r.lower() != author)
        slugs = _unique(teams)
        if not users and not slugs:
            return (), (), ""
        try:
            if not fresh:
                self.progress.at(f"reading the review requests on pull request #{pr.number}")
                asked_users, asked_teams = pr.get_review_requests()
                done = {u.login.lower() for u in asked_users}
                done |= {r.user.login.lower() for r in islice(pr.get_reviews(), MAX_PULLS_SCANNED) if r.user}
                users = tuple(u for u in users if u.lower() not in done)
                slugs = tuple(t for t in slugs if t.lower() not in {s.slug.lower() for s in asked_teams})
                if not users and not slugs:
                    return (), (), ""
            self.progress.at(f"requesting reviews on pull request #{pr.number}")
            pr.create_review_request(reviewers=list(users), team_reviewers=list(slugs))
            return users, slugs, ""
        except (GithubException, GitHubRetryLater, requests.RequestException) as exc:
            detail = (f"HTTP {exc.status} {github_message(exc)}" if isinstance(exc, GithubException)
                      else str(exc) if isinstance(exc, GitHubRetryLater) else type(exc).__name__)
            note = f"could not request reviews on PR #{pr.number}: {detail}".strip()
            log.warning("%s: %s", self.repository, note)
            return (), (), note

    def _foreign(self, pr, tip_sha: str | None, head_sha: str, why: Foreign) -> RevertResult:
        """Leave the branch and its PR alone: no push, no label, no edit."""
        log.warning("%s: %s is not iacbot's (%s); leaving it alone", self.repository, self.branch, why.name)
        return RevertResult(FOREIGN, self.branch, pr.number if pr else None, pr.html_url if pr else None, tip_sha,
                            head_sha, reason=f"branch {self.branch}: {why}; iacbot will not touch it. Delete the "
                                             "branch (or close the PR) to let iacbot revert the fix.")


def _unique(names) -> tuple[str, ...]:
    seen, out = set(), []
    for name in names:
        if isinstance(name, str) and name and name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return tuple(out)


# -- the fallback issue ------------------------------------------------------------------------
def open_revert_issue(gh: Github, repository: str, *, original_pr: int, title: str, body: str, app: AppIdentity,
                      repo: Repository | None = None) -> int:
    """iacbot's one open issue explaining a revert of PR ``original_pr`` it could not make: found
    by its hidden marker with the App as its author, else created. A retried POST whose first
    answer was lost may create a second one: the newer ones are closed as duplicates, so a re-run
    converges on the oldest. Returns its number. Raises PublishError naming the step."""
    kind = issue_kind(original_pr)
    mark = issues.marker(kind)
    text = body if mark in body else f"{body.rstrip()}\n\n{mark}\n"
    if issues.units(text) > issues.BODY_LIMIT:
        raise PublishError(f"the revert issue's body is over {issues.BODY_LIMIT} characters", permanent=True,
                           step="writing the issue body")
    step = "looking for iacbot's revert issue"
    try:
        repo = repo or gh.get_repo(repository)
        found = _our_open_issues(repo, app, kind)
        if not found:
            # Once more without GitHub's creator filter: should it not match the App's bot account,
            # the issue would otherwise be opened again on every run (as bot.github.issues.ensure does).
            found = _our_open_issues(repo, app, kind, by_creator=False)
        if not found:
            step = f"opening an issue about reverting PR #{original_pr}"
            created = repo.create_issue(title=title[:issues.TITLE_LIMIT], body=text)
            log.info("%s: opened issue #%s about reverting #%s", repository, created.number, original_pr)
            step = "looking for duplicates of the revert issue"
            found = _our_open_issues(repo, app, kind) or [created]
        keep, *duplicates = found
        for extra in duplicates:
            step = f"closing issue #{extra.number}, a duplicate of #{keep.number}"
            extra.edit(state="closed", state_reason="duplicate")
        return keep.number
    except GithubException as exc:
        raise PublishError(_explain(exc, repository, original_pr, step), exc.status, step) from None
    except requests.RequestException as exc:
        raise PublishError(f"reverting PR #{original_pr} in {repository} failed while {step}: cannot reach GitHub "
                           f"({type(exc).__name__}); try again later", None, step) from None


def _our_open_issues(repo: Repository, app: AppIdentity, kind: str, by_creator: bool = True) -> list:
    """iacbot's open issues of ``kind``, oldest first (the author checked here whether or not
    GitHub's creator filter was asked to narrow the listing)."""
    narrowed = {"creator": app.bot_login} if by_creator else {}
    listing = repo.get_issues(state="open", sort="created", direction="asc", **narrowed)
    return [i for i in islice(listing, issues.MAX_SCANNED) if issues.is_ours(i, app, kind)]
