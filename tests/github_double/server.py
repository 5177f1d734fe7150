"""GitHubDouble: the World served over real HTTP by uvicorn in a background thread."""
from __future__ import annotations

import re
import socket
import threading
import time
import zlib

import uvicorn
from cryptography.hazmat.primitives import serialization

from . import faults as f
from . import handlers as h
from . import handlers_checks as hc
from . import handlers_issues as hi
from . import handlers_merge as hm
from . import people, protection
from .auth import issue_token
from .app import build_app
from .gitobjects import Commit, Signature
from .openapi_check import Validator, load_spec
from .state import App, CheckRun, CodeScanningAlert, Installation, Issue, PullRequest, Repo, Review, World, next_id
from .traffic import Gathering, Traffic

DEFAULT_PERMISSIONS = {"metadata": "read", "contents": "write", "pull_requests": "write",
                       "issues": "write", "checks": "write", "statuses": "read", "security_events": "read"}
SEVERITIES = ("none", "note", "warning", "error")
REVIEW_STATES = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING")
CHECK_STATUSES = ("queued", "in_progress", "completed")
# Not "stale": only GitHub sets it, and the check-run schema leaves it out.
CONCLUSIONS = ("action_required", "cancelled", "failure", "neutral", "success", "skipped", "timed_out")


class GitHubDouble:
    """`with GitHubDouble() as gh: gh.create_repo(...); Github(base_url=gh.base_url, ...)`.

    Seeding goes through Python methods, not HTTP, so tests set up state GitHub itself would
    have (existing repos, installed apps) without needing endpoints the bot never calls.
    """

    def __init__(self) -> None:
        load_spec()  # pay the parsing cost before the clock of the first request starts
        self.world = World()
        self.validator = Validator()
        self.faults = f.Faults()
        self.traffic = Traffic()
        self.base_url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- seeding ----------------------------------------------------------------------------
    def create_repo(self, full_name: str, files: dict[str, str | bytes], default_branch: str = "main",
                    private: bool = True) -> Repo:
        return self.world.create_repo(full_name, files, default_branch, private)

    def push_commit(self, full_name: str, changes: dict[str, str | bytes | tuple[str, bytes] | None],
                    message: str = "A push\n", branch: str | None = None, login: str = "octocat",
                    parent: str | None = None, *, author: tuple[str, str] | None = None,
                    committer: tuple[str, str] | None = None) -> tuple[str, str]:
        """A person ``login`` with push access pushes one commit to ``branch`` (the default branch
        unless given; created if missing, force-moved if ``parent`` is not its head): each path set to
        its content (or ``(mode, content)``, e.g. ``("120000", b"target")`` for a symbolic link), or
        removed for None, on top of ``parent`` (default: the branch's head, else the default
        branch's). Any name git can store is allowed, as on GitHub. Author and committer are
        ``login`` unless ``author`` / ``committer`` give another (name, email): e.g. author
        ``("iacbot[bot]", gh.bot_email())`` and a person as committer stages "authored by the bot,
        committed by someone else". ``login``'s e-mail is linked to its account, as GitHub links a
        verified address. Returns (sha the branch had before or "", sha after)."""
        with self.world.lock:
            repo = self._repo(full_name)
            ref = f"refs/heads/{branch or repo.default_branch}"
            before = repo.refs.get(ref, "")
            base = parent or before or repo.refs[f"refs/heads/{repo.default_branch}"]
            objects = repo.objects
            tree_changes = {}
            for path, change in changes.items():
                mode, data = change if isinstance(change, tuple) else ("100644", change)
                tree_changes[path] = None if data is None else (
                    mode, objects.put_blob(data.encode() if isinstance(data, str) else data))
            tree = objects.apply_changes(objects.commit(base).tree, tree_changes)
            email = "octocat@users.noreply.github.com" if login == "octocat" else f"{login}@example.com"
            self.world.emails.setdefault(email.lower(), login)
            now = int(time.time())
            who = Signature(login, email, now)
            by = Signature(*author, now) if author else who
            via = Signature(*committer, now) if committer else who
            repo.refs[ref] = objects.put_commit(Commit(tree, (base,), by, via, message))
            return before, repo.refs[ref]

    def install_app(self, app_id: int, public_key_pem: bytes | str, repos: list[str],
                    permissions: dict[str, str] | None = None, slug: str = "iacbot") -> Installation:
        """Register App `app_id` (verifying JWTs with `public_key_pem`) and install it on `repos`
        (all of one account). Returns the installation; its `.id` is what the bot uses."""
        key = public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem
        if b"PRIVATE KEY" in key:  # accept a private key for convenience; keep only its public half
            key = serialization.load_pem_private_key(key, None).public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        with self.world.lock:
            self.world.apps[app_id] = App(app_id, slug, key)
            targets = [self.world.repo(*r.split("/")) for r in repos]
            if any(t is None for t in targets):
                raise KeyError(f"unknown repository in {repos}")
            accounts = {t.owner.lower() for t in targets}
            if len(accounts) != 1:
                raise ValueError("an installation belongs to exactly one account")
            inst = Installation(next_id(), app_id, targets[0].owner, [t.id for t in targets],
                                dict(permissions or DEFAULT_PERMISSIONS))
            self.world.installations[inst.id] = inst
            return inst

    def installation_token(self, installation: Installation | int, permissions: dict[str, str] | None = None,
                           repos: list[str] | None = None) -> str:
        """A token of `installation` (down-scoped like POST .../access_tokens), without a JWT: how a
        test acts as another App (install_app with its own id and slug first)."""
        with self.world.lock:
            inst = self.world.installations[installation if isinstance(installation, int) else installation.id]
            body = {"permissions": permissions} if permissions is not None else {}
            if repos is not None:
                body["repositories"] = [r.split("/")[-1] for r in repos]
            return issue_token(self.world, inst, body).value

    def bot_login(self, slug: str = "iacbot") -> str:
        return f"{slug}[bot]"

    def bot_email(self, slug: str = "iacbot") -> str:
        """The noreply address GitHub gives App `slug`'s bot account (what its commits carry)."""
        return people.noreply_email(self.bot_login(slug))

    def repo(self, full_name: str) -> Repo:
        return self.world.repo(*full_name.split("/"))

    def _repo(self, full_name: str) -> Repo:
        repo = self.repo(full_name)
        if repo is None:
            raise KeyError(f"unknown repository {full_name}")
        return repo

    def installation_for(self, full_name: str) -> Installation:
        """The (first) installation that covers the repository."""
        repo = self._repo(full_name)
        for inst in self.world.installations.values():
            if repo.id in inst.repo_ids:
                return inst
        raise KeyError(f"no App is installed on {full_name}")

    def add_collaborators(self, full_name: str, *logins: str, permission: str = "write") -> None:
        """Users who may be asked for a review (GitHub answers 422 for anyone else), with a role:
        read, triage, write, maintain or admin (what .../collaborators/{u}/permission reports)."""
        if permission not in people.ROLES:
            raise ValueError(f"permission must be one of {people.ROLES}")
        with self.world.lock:
            repo = self._repo(full_name)
            repo.collaborators.update({login.lower(): login for login in logins})
            repo.roles.update({login.lower(): permission for login in logins})

    def set_permission(self, full_name: str, login: str, permission: str | None) -> None:
        """Change `login`'s role on the repository; None removes the collaborator."""
        if permission is None:
            with self.world.lock:
                repo = self._repo(full_name)
                repo.collaborators.pop(login.lower(), None)
                repo.roles.pop(login.lower(), None)
            return
        self.add_collaborators(full_name, login, permission=permission)

    def add_teams(self, full_name: str, *slugs: str) -> None:
        """Teams of the repository's organisation that have access (and so may be asked for a review)."""
        with self.world.lock:
            self._repo(full_name).teams.update({slug.lower(): slug for slug in slugs})

    def add_code_scanning_alert(self, repo_full_name: str, rule_id: str, path: str, start_line: int,
                                end_line: int | None = None, *, tool: str = "checkov", message: str = "",
                                severity: str = "error", commit_sha: str | None = None,
                                ref: str = "refs/heads/main") -> int:
        """Seed an open code-scanning alert (as an uploaded analysis would); returns its number.
        `commit_sha` defaults to the commit `ref` points at."""
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}")
        with self.world.lock:
            repo = self._repo(repo_full_name)
            sha = commit_sha or repo.refs.get(ref)
            if sha is None or repo.objects.kind(sha) != "commit":
                raise ValueError(f"{repo_full_name}: no commit for {commit_sha or ref}")
            number = max(repo.alerts, default=0) + 1
            repo.alerts[number] = CodeScanningAlert(number, rule_id, tool, path, start_line,
                                                    end_line if end_line is not None else start_line,
                                                    message, severity, sha, ref)
            return number

    def add_review(self, repo_full_name: str, number: int, user_login: str, state: str = "APPROVED",
                   body: str = "") -> int:
        """A human `user_login` reviews PR `number` at its current head commit; returns the review id.
        GitHub's rule holds: the PR's author can neither approve nor request changes (ValueError)."""
        if state not in REVIEW_STATES:
            raise ValueError(f"state must be one of {REVIEW_STATES}")
        with self.world.lock:
            repo = self._repo(repo_full_name)
            pr = repo.pulls.get(number)
            if pr is None:
                raise ValueError(f"{repo_full_name}#{number} is not a pull request")
            if state in ("APPROVED", "CHANGES_REQUESTED") and user_login.lower() == pr.user_login.lower():
                raise ValueError(f"{user_login} authored {repo_full_name}#{number} and cannot review it {state}")
            head = h._refresh(repo, pr).head_sha
            review = Review(next_id(), user_login, state, body, head, None if state == "PENDING" else time.time())
            pr.reviews.append(review)
            return review.id

    def add_check_run(self, repo_full_name: str, head_sha: str, name: str, status: str = "completed",
                      conclusion: str | None = "success", app_slug: str = "ci") -> int:
        """Another App (CI) reports check run `name` on commit `head_sha` (a SHA, or a branch for
        convenience); returns its id. `conclusion` counts only when `status` is "completed", as on
        GitHub. The App is the registered one with that slug, else one the double makes up."""
        if status not in CHECK_STATUSES or (status == "completed" and conclusion not in CONCLUSIONS):
            raise ValueError(f"status must be one of {CHECK_STATUSES}; completed needs a conclusion of {CONCLUSIONS}")
        with self.world.lock:
            repo = self._repo(repo_full_name)
            sha = h.resolve_commitish(repo, head_sha)
            if sha is None:
                raise ValueError(f"{repo_full_name}: no commit for {head_sha}")
            app_id = next((a.id for a in self.world.apps.values() if a.slug == app_slug),
                          zlib.crc32(f"app:{app_slug}".encode()))
            now = time.time()
            done = status == "completed"
            run = CheckRun(next_id(), name, sha, app_id, app_slug, h.check_suite_id(repo, app_id, sha), status,
                           conclusion if done else None, now, now if done else None)
            repo.check_runs[run.id] = run
            return run.id

    def add_status(self, repo_full_name: str, sha: str, state: str, context: str = "default", *,
                   login: str = "ci-user", app_slug: str | None = None, description: str | None = None,
                   target_url: str | None = None) -> int:
        """A commit status on `sha` (or a branch) from person `login`, or from App `app_slug`'s
        token (then the creator is its bot and the status counts as that App's). Returns its id."""
        with self.world.lock:
            repo = self._repo(repo_full_name)
            commit = h.resolve_commitish(repo, sha)
            if commit is None:
                raise ValueError(f"{repo_full_name}: no commit for {sha}")
            app_id = None
            if app_slug is not None:
                app_id = next((a.id for a in self.world.apps.values() if a.slug == app_slug),
                              zlib.crc32(f"app:{app_slug}".encode()))
                login = self.bot_login(app_slug)
            return hc.add_status(self.world, repo, commit, state, context, login, app_id,
                                 description, target_url).id

    def app_id(self, slug: str) -> int:
        """The id of App `slug`: a registered one, else the one add_check_run makes up for it."""
        with self.world.lock:
            return next((a.id for a in self.world.apps.values() if a.slug == slug), zlib.crc32(f"app:{slug}".encode()))

    def protect_branch(self, repo_full_name: str, branch: str, checks: list[tuple[str, int | None]] = (),
                       strict: bool = False, enforce_admins: bool = False) -> None:
        """An admin turns on branch protection with required status checks [(context, app_id)]
        (app_id None: any source), as PUT .../protection with `checks` would."""
        with self.world.lock:
            repo = self._repo(repo_full_name)
            if f"refs/heads/{branch}" not in repo.refs:
                raise ValueError(f"{repo_full_name}: no branch {branch}")
            body = {"required_status_checks": {"strict": strict, "contexts": [], "checks": [
                {"context": c, "app_id": -1 if a is None else a} for c, a in checks]},
                "enforce_admins": enforce_admins, "required_pull_request_reviews": None, "restrictions": None}
            repo.protection[branch] = protection.normalise(repo, body)

    def unprotect_branch(self, repo_full_name: str, branch: str) -> None:
        with self.world.lock:
            self._repo(repo_full_name).protection.pop(branch, None)

    def set_mergeable(self, repo_full_name: str, number: int, mergeable: bool | str | None) -> None:
        """What GitHub's mergeability job found: False makes PR `number` unmergeable (405 on merge,
        `mergeable_state: dirty`); "unknown" shows `mergeable: null` as right after a push, before
        GitHub has computed it (a merge still goes by the real state); None lets the double compute
        it again (conflicts, protection)."""
        if mergeable not in (True, False, None, "unknown"):
            raise ValueError("mergeable must be True, False, None or 'unknown'")
        with self.world.lock:
            hm.set_mergeable_checked(self._repo(repo_full_name), number, mergeable)

    def move_branch(self, repo_full_name: str, branch: str, sha: str) -> str:
        """Force-move `branch` to commit `sha` (or to another branch's head); returns the old head."""
        with self.world.lock:
            repo = self._repo(repo_full_name)
            target = h.resolve_commitish(repo, sha)
            if target is None:
                raise ValueError(f"{repo_full_name}: no commit for {sha}")
            ref = f"refs/heads/{branch}"
            before = repo.refs.get(ref, "")
            repo.refs[ref] = target
            return before

    # -- issues as a person -----------------------------------------------------------------
    def open_issue(self, repo_full_name: str, title: str, body: str | None = None, login: str = "alice",
                   labels: list[str] = ()) -> int:
        """A person opens an issue; returns its number (shared with pull requests)."""
        with self.world.lock:
            return hi.open_issue(self._repo(repo_full_name), title, body, login, list(labels)).number

    def issue(self, repo_full_name: str, number: int) -> dict:
        """The issue (or PR) `number` as GET .../issues/{n} would show it."""
        with self.world.lock:
            repo = self._repo(repo_full_name)
            if number not in repo.issues and number not in repo.pulls:
                raise ValueError(f"{repo_full_name}#{number} does not exist")
            return hi.issue_json(repo, number)

    def issues(self, repo_full_name: str, state: str = "all") -> list[dict]:
        """Every issue that is not a pull request, by number."""
        with self.world.lock:
            repo = self._repo(repo_full_name)
            return [hi.issue_json(repo, n) for n in sorted(repo.issues)
                    if state == "all" or repo.issues[n].state == state]

    def edit_issue(self, repo_full_name: str, number: int, *, body: str | None = None, title: str | None = None,
                   state: str | None = None, login: str = "alice") -> dict:
        """A person edits an issue in the web UI (their text, outside any bot's markers, or a
        closing/reopening). Returns the issue as the API shows it."""
        with self.world.lock:
            repo = self._repo(repo_full_name)
            item = repo.issues.get(number) or repo.pulls.get(number)
            if item is None:
                raise ValueError(f"{repo_full_name}#{number} does not exist")
            now = time.time()
            if body is not None:
                item.body = body
            if title is not None:
                item.title = title
            if state is not None and state != item.state:
                item.state, item.closed_at = state, (now if state == "closed" else None)
                item.closed_by = login if state == "closed" else None
                if isinstance(item, Issue):
                    item.state_reason = "completed" if state == "closed" else "reopened"
            item.updated_at = now
            return hi.issue_json(repo, number)

    def tick_checkbox(self, repo_full_name: str, number: int, item_text: str, login: str = "alice",
                      ticked: bool = True) -> dict:
        """A person ticks (or unticks) the task-list item whose text contains `item_text`, as the
        web UI does: only the "[ ]" of that first matching line changes."""
        with self.world.lock:
            body = self.issue(repo_full_name, number)["body"] or ""
            lines = body.split("\n")
            for i, line in enumerate(lines):
                m = re.match(r"^(\s*[-*+] \[)([ xX])(\] .*)$", line)
                if m and item_text in m.group(3):
                    lines[i] = m.group(1) + ("x" if ticked else " ") + m.group(3)
                    break
            else:
                raise ValueError(f"no task-list item containing {item_text!r} in {repo_full_name}#{number}")
            return self.edit_issue(repo_full_name, number, body="\n".join(lines), login=login)

    def comment(self, repo_full_name: str, number: int, body: str, login: str = "alice") -> int:
        """A person comments on issue or PR `number`; returns the comment id."""
        with self.world.lock:
            repo = self._repo(repo_full_name)
            if number not in repo.issues and number not in repo.pulls:
                raise ValueError(f"{repo_full_name}#{number} does not exist")
            return hi.add_comment(repo, number, body, login).id

    def open_pull(self, repo_full_name: str, head: str, base: str, title: str, body: str = "",
                  login: str = "mallory") -> int:
        """A person `login` opens a pull request from `head` onto `base`; returns its number."""
        with self.world.lock:
            repo = self._repo(repo_full_name)
            head_sha, base_sha = repo.refs[f"refs/heads/{head}"], repo.refs[f"refs/heads/{base}"]
            if any(p.state == "open" and p.head_ref == head and p.base_ref == base for p in repo.pulls.values()):
                raise ValueError(f"a pull request from {head} onto {base} is already open")
            number, repo.next_number = repo.next_number, repo.next_number + 1
            repo.pulls[number] = PullRequest(next_id(), number, title, body, head, base, head_sha, base_sha, login)
            return number

    def close_pull(self, repo_full_name: str, number: int, merged: bool = False, login: str = "octocat") -> PullRequest:
        """A human closes PR `number`, or merges it: then the base branch moves to a merge commit
        (parents: base head, PR head; a file-level three-way merge, ValueError on a conflict)."""
        with self.world.lock:
            repo = self._repo(repo_full_name)
            pr = repo.pulls.get(number)
            if pr is None or pr.state != "open":
                raise ValueError(f"{repo_full_name}#{number} is not an open pull request")
            base_ref, head_ref = f"refs/heads/{pr.base_ref}", f"refs/heads/{pr.head_ref}"
            pr.base_sha, pr.head_sha = repo.refs[base_ref], repo.refs.get(head_ref, pr.head_sha)
            now = time.time()
            if merged:
                objects = repo.objects
                base_commit = objects.merge_base(pr.base_sha, pr.head_sha)
                tree = objects.merge_trees(objects.commit(base_commit).tree if base_commit else None,
                                           objects.commit(pr.base_sha).tree, objects.commit(pr.head_sha).tree)
                who = Signature(login, "octocat@users.noreply.github.com" if login == "octocat"
                                else people.noreply_email(login), int(now))
                message = f"Merge pull request #{number} from {repo.owner}/{pr.head_ref}\n\n{pr.title}\n"
                merge = objects.put_commit(Commit(tree, (pr.base_sha, pr.head_sha), who, who, message))
                repo.refs[base_ref] = merge
                pr.merged_at, pr.merge_commit_sha, pr.merged_by = now, merge, login
            pr.state, pr.closed_at, pr.updated_at, pr.closed_by = "closed", now, now, login
            return pr

    # -- faults -----------------------------------------------------------------------------
    def inject_fault(self, method: str, path_regex: str, status: int, *, headers: dict | None = None,
                     body: dict | None = None, times: int = 1, delay: float = 0.0,
                     after_handling: bool = False) -> None:
        """Answer the next `times` requests with this method whose URL path matches `path_regex`
        (re.search) with `status`, `headers` and `body` (default: GitHub's error body) instead of
        handling them. status 0: handle them normally, only after sleeping `delay` seconds (to
        hold a worker mid-request). after_handling: handle them first (the change happens) and
        still answer with the fault, as when GitHub's answer is lost on the way back."""
        self.faults.add(f.Fault(method.upper(), re.compile(path_regex), status, dict(headers or {}), body,
                                times, delay, after_handling))

    def inject_secondary_rate_limit(self, method: str, path_regex: str, retry_after: int | None = 1,
                                    times: int = 1, *, status: int = 403) -> None:
        """GitHub's secondary rate limit (403, or 429) with its real message; `retry-after` unless None."""
        headers, body = f.secondary_rate_limit(retry_after)
        self.inject_fault(method, path_regex, status, headers=headers, body=body, times=times)

    def inject_rate_limit_exhausted(self, method: str, path_regex: str, reset_in: float = 1, times: int = 1,
                                    *, status: int = 403) -> None:
        """The primary rate limit used up (403, or 429): x-ratelimit-remaining 0 and x-ratelimit-reset
        `reset_in` seconds from now."""
        headers, body = f.rate_limit_exhausted(reset_in)
        self.inject_fault(method, path_regex, status, headers=headers, body=body, times=times)

    def clear_faults(self) -> None:
        """Drop every fault not yet served."""
        self.faults.clear()

    @property
    def faults_served(self) -> list[tuple[str, str, int]]:
        """(method, path, injected status) of every request a fault answered or delayed (status 0)."""
        return list(self.faults.served)

    # -- traffic ----------------------------------------------------------------------------
    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, URL path) of every request since the start or the last reset_traffic()."""
        return list(self.traffic.requests)

    def requests_matching(self, method: str, path_regex: str) -> list[str]:
        """The URL paths of the requests with this method whose path matches (re.search)."""
        pattern = re.compile(path_regex)
        return [path for m, path in self.traffic.requests if m == method.upper() and pattern.search(path)]

    def reset_traffic(self) -> None:
        self.traffic.reset()

    def gather(self, method: str, path_regex: str, count: int, timeout: float = 30) -> Gathering:
        """Hold requests that match until ``count`` of them are in flight together, or ``timeout``
        seconds after the first, then answer them all; the gathering's ``arrived`` says how many
        were held together, ``met`` whether that reached ``count``. A count, not a clock: with a
        count one above what a client may send at once, ``arrived`` is exactly that bound."""
        return self.traffic.gather(method, path_regex, count, timeout)

    def published_text(self, full_name: str) -> str:
        """Everything a reader of `full_name` sees that the bot wrote: PR titles and bodies, and the
        message of every commit reachable from a ref."""
        repo = self.repo(full_name)
        with self.world.lock:
            parts = [f"{p.title}\n{p.body or ''}" for p in repo.pulls.values()]
            seen: set[str] = set()
            todo = list(repo.refs.values())
            while todo:
                sha = todo.pop()
                commit = repo.objects.commit(sha) if sha not in seen else None
                seen.add(sha)
                if commit is not None:
                    parts.append(commit.message)
                    todo.extend(commit.parents)
        return "\n".join(parts)

    def leaked_tokens(self, *texts: str) -> list[str]:
        """The installation tokens this double issued whose value occurs in any of `texts`, described
        by their permissions (never by value, so a failing assertion does not print one either)."""
        with self.world.lock:
            issued = list(self.world.tokens.values())
        return [f"token for installation {t.installation_id} with {t.permissions}"
                for t in issued if any(t.value in text for text in texts)]

    def unrevoked_tokens(self, keep: tuple[str, ...] = ()) -> list[str]:
        """Issued tokens still valid, except the values in `keep` (a test's own reader tokens)."""
        with self.world.lock:
            return [f"token for installation {t.installation_id} with {t.permissions}"
                    for t in self.world.tokens.values() if not t.revoked and t.value not in keep]

    @property
    def violations(self) -> list[str]:
        return self.validator.violations

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> "GitHubDouble":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))  # a free port chosen by the kernel: no races between runs
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        app = build_app(self.world, self.validator, lambda: self.base_url, self.faults, self.traffic)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("GitHub double did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = None

    def __enter__(self) -> "GitHubDouble":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
