"""Where the policies come from: the security team's central policy, and a repository's own
``.github/iacbot.yml``, read for one decision.

* Central: ``IACBOT_POLICY_FILE`` (a file on the service's disk), or ``IACBOT_POLICY_REPOSITORY``
  (+ ``IACBOT_POLICY_REPOSITORY_PATH``), read through the API at the head of THAT repository's
  default branch. The App reads it with a read-only token of the same installation as the
  repository under decision (``installation_id``): install the App on the policy repository too,
  in the same organisation. Neither set: the central policy is missing (nothing auto-merges;
  no issue is opened, since that is the shipped default). Set but absent, unreadable or invalid:
  a problem, which fails closed and is reported in the repository's "Action required" issue.
* Repository: ``.github/iacbot.yml`` at the head of ``repository``'s DEFAULT branch (never a
  pull request's head, never iacbot's fix branch, which a person may push to). Absent: none.

A bad file never raises: every problem is in the PolicySet (``FILE:LINE:COL: message``), so the
decision fails closed and says why. GitHub failing now (5xx, 429, no connection, a rate limit)
raises (bot.github.repo_files.FileUnavailable, GitHubRetryLater): the task retries later.
"""
from __future__ import annotations

import logging
import os

from github import Github, GithubException
from github.Repository import Repository

from bot.github import repo_files
from bot.github.auth import AuthError, installation_session
from bot.github.client import client
from bot.github.repo_files import FileUnavailable
from policies.declines import DEFAULT_EXPIRY_DAYS
from policies.load import MAX_BYTES, load_policy, load_repo_policy
from policies.model import Policy, PolicyError, PolicyProblem, PolicySet

log = logging.getLogger(__name__)

REPO_POLICY_PATH = ".github/iacbot.yml"
#: A policy is a page of YAML; anything near this is not one (and parsing it would cost).
MAX_POLICY_BYTES = MAX_BYTES  # the loader's own bound: one figure for CLI, service and loader
#: What reading the central policy repository needs, and nothing more.
POLICY_READ_PERMISSIONS = {"contents": "read"}


def load_policies(cfg, gh: Github, repository: str, default_branch: str, *, installation_id: int | None = None,
                  repo: Repository | None = None) -> PolicySet:
    """The policies for a decision about ``repository`` now. ``installation_id``: the installation
    whose read-only token reads a central policy repository other than ``repository`` (without it,
    ``gh``'s own token must see that repository). ``repo``: ``repository`` already read through ``gh``."""
    central, central_problems = _central(cfg, gh, repository, installation_id)
    own, own_problems = _repository_policy(gh, repo or _get_repo(gh, repository), default_branch)
    return PolicySet(central, own, tuple(central_problems), tuple(own_problems))


def decline_expiry_days(policies: PolicySet) -> int:
    """How long a person's decline holds: the central policy's ``declines.expire_after_days``, or
    the default when there is no usable central policy."""
    usable = policies.central is not None and not policies.central_problems
    return policies.central.decline_expiry_days if usable else DEFAULT_EXPIRY_DAYS


# -- central ----------------------------------------------------------------------------------

def _central(cfg, gh: Github, repository: str, installation_id: int | None):
    if cfg.policy_file:
        return _central_file(cfg.policy_file)
    if cfg.policy_repository:
        return _central_repository(cfg, gh, repository, installation_id)
    return None, []


def _central_file(path: str):
    # Only the file's name is shown: the issue it appears in is read by the repository's people,
    # who have no business with the service's disk layout.
    shown = os.path.basename(path) or "central policy"
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_POLICY_BYTES + 1)
    except FileNotFoundError:
        return None, [PolicyProblem(shown, 1, 1, "the central policy file (IACBOT_POLICY_FILE) does not exist on "
                                                 "the service; nothing merges automatically until it does")]
    except OSError as exc:
        return None, [PolicyProblem(shown, 1, 1, f"the central policy file cannot be read ({type(exc).__name__}); "
                                                 "nothing merges automatically until it can")]
    if len(data) > MAX_POLICY_BYTES:
        return None, [_too_large(shown)]
    return _parse(load_policy, data, shown)


def _central_repository(cfg, gh: Github, repository: str, installation_id: int | None):
    where = cfg.policy_repository.strip()
    shown = f"{where}/{cfg.policy_repository_path}"
    if where.lower() == repository.strip().lower() or installation_id is None:
        return _read_central(gh, where, cfg.policy_repository_path, shown)
    try:
        with installation_session(cfg.github_app_id, cfg.app_private_key(), installation_id, where,
                                  POLICY_READ_PERMISSIONS, cfg.github_api_url) as token:
            reader = client(cfg.github_api_url, token, per_page=100)
            return _read_central(reader, where, cfg.policy_repository_path, shown)
    except AuthError as exc:
        if exc.status is None or exc.status == 429 or exc.status >= 500:
            raise FileUnavailable(f"getting a token to read the central policy in {where}: {exc}", exc.status) \
                from None
        return None, [PolicyProblem(shown, 1, 1, f"iacbot cannot read the central policy repository {where}: "
                                                 "install the App on it, in the same installation as this "
                                                 "repository, with contents read access")]


def _read_central(gh: Github, where: str, path: str, shown: str):
    try:
        source = gh.get_repo(where)
        branch = source.default_branch
        sha = repo_files.head_sha(source, branch)
    except GithubException as exc:
        if exc.status is None or exc.status == 429 or exc.status >= 500:
            raise FileUnavailable(f"reading the central policy repository {where}: HTTP {exc.status}",
                                  exc.status) from None
        return None, [PolicyProblem(shown, 1, 1, f"the central policy repository {where} is not visible to iacbot "
                                                 f"(HTTP {exc.status}): install the App on it, in the same "
                                                 "installation as this repository")]
    found = repo_files.read_at(source, path, sha, MAX_POLICY_BYTES)
    if found.status == repo_files.FOUND:
        return _parse(load_policy, found.data, shown)
    return None, [_unreadable(found, shown, f"{where}'s default branch {branch}")]


# -- the repository's own ---------------------------------------------------------------------

def _repository_policy(gh: Github, repo: Repository, default_branch: str):
    try:
        sha = repo_files.head_sha(repo, default_branch)
    except GithubException as exc:
        if exc.status in (404, 409):  # an empty repository, or no such branch: no policy either
            return None, []
        raise FileUnavailable(f"reading the head of {repo.full_name}'s {default_branch}: HTTP {exc.status}",
                              exc.status) from None
    found = repo_files.read_at(repo, REPO_POLICY_PATH, sha, MAX_POLICY_BYTES)
    if found.status == repo_files.MISSING:
        return None, []
    if found.status == repo_files.FOUND:
        return _parse(load_repo_policy, found.data, REPO_POLICY_PATH)
    return None, [_unreadable(found, REPO_POLICY_PATH, f"the default branch {default_branch}")]


# -- shared -----------------------------------------------------------------------------------

def _get_repo(gh: Github, repository: str) -> Repository:
    try:
        return gh.get_repo(repository)
    except GithubException as exc:
        raise FileUnavailable(f"reading {repository}: HTTP {exc.status}", exc.status) from None


def _parse(loader, data: bytes, shown: str) -> tuple[Policy | None, list[PolicyProblem]]:
    try:
        return loader(data, shown), []
    except PolicyError as exc:
        return None, list(exc.problems) or [PolicyProblem(shown, 1, 1, "the policy is invalid")]
    except (RecursionError, MemoryError, ValueError, TypeError) as exc:
        # A hostile file that the loader failed on in a way it did not name: still a bad file.
        log.warning("policy %s: the loader failed with %s", shown, type(exc).__name__)
        return None, [PolicyProblem(shown, 1, 1, f"the policy cannot be read ({type(exc).__name__})")]


def _too_large(shown: str) -> PolicyProblem:
    return PolicyProblem(shown, 1, 1, f"the policy is larger than {MAX_POLICY_BYTES // 1024} KiB; iacbot does not "
                                      "read it")


def _unreadable(found: repo_files.RepoFile, shown: str, where: str) -> PolicyProblem:
    if found.status == repo_files.TOO_LARGE:
        return _too_large(shown)
    if found.status == repo_files.NOT_A_FILE:
        return PolicyProblem(shown, 1, 1, f"on {where} this is not a regular file (a directory, a symbolic link "
                                          "or a submodule); iacbot reads only a file")
    if found.status == repo_files.NOT_VISIBLE:
        return PolicyProblem(shown, 1, 1, f"iacbot may not read this file on {where} ({found.detail}); give the "
                                          "App contents read access")
    return PolicyProblem(shown, 1, 1, f"the central policy is not on {where}; add it there (or fix "
                                      "IACBOT_POLICY_REPOSITORY_PATH)")
