"""The guardrails: what no policy can lift. Code, not configuration.

Each function returns every ``Because`` that applies (never just the first), so a person sees
everything that stands between a fix and an automatic merge. They are consulted only when the
policy's rules chose AUTOMERGE (``policies.decide``); any one of them turns it into PULL_REQUEST.
"""
from __future__ import annotations

import posixpath
import re
from datetime import datetime

from fixers.models import Category, Confidence, Risk
from policies.decision import Because
from policies.facts import FixFacts, MergeFacts
from policies.match import path_glob_regex
from policies.model import Policy, RequiredCheck, Rule
from policies.reasons import Reason

_CATEGORY_REASONS = {Category.IDENTITY: Reason.CATEGORY_IDENTITY, Category.NETWORK: Reason.CATEGORY_NETWORK,
                     Category.SECRET: Reason.CATEGORY_SECRET}

#: Files that steer iacbot, GitHub or CI. A pull request touching one never merges on its own
#: (policy-bot#57): whoever can change them could change what "allowed" means. Matched without
#: regard to case (a case-insensitive checkout or tool must not see a different file than git).
PROTECTED_PATHS = (
    ".github/**", "CODEOWNERS", "docs/CODEOWNERS", "**/.iacbot.yml", "**/iacbot.yml", "**/iacbot-policy.yml",
    ".gitlab-ci.yml", "**/Jenkinsfile", ".circleci/**", "azure-pipelines.yml", ".azure-pipelines/**",
    ".buildkite/**", ".travis.yml", "bitbucket-pipelines.yml",
)
_PROTECTED = re.compile("|".join(f"(?:{path_glob_regex(p)})" for p in PROTECTED_PATHS), re.IGNORECASE)


def is_protected(path: str) -> bool:
    normal = posixpath.normpath(path.replace("\\", "/")).lstrip("/")
    return bool(_PROTECTED.fullmatch(normal) or _PROTECTED.fullmatch(path))


def fix_guardrails(fix: FixFacts, rule: Rule | None) -> list[Because]:
    """What the fix is: its category, risk, confidence, impacts, and the files it would change."""
    out: list[Because] = []
    if fix.category is None or fix.risk is None or fix.confidence is None:
        out.append(Because(Reason.NO_FIXER_LABELS, fix.fix_class))
    if fix.category in _CATEGORY_REASONS:
        out.append(Because(_CATEGORY_REASONS[fix.category], fix.category.value))
    if fix.risk is not None and fix.risk is not Risk.LOW:
        out.append(Because(Reason.RISK_NOT_LOW, fix.risk.value))
    if fix.confidence is Confidence.ASSUMED_VALUE:
        out.append(Because(Reason.ASSUMED_VALUE, fix.fix_class))
    named = rule.match.impact if rule is not None and rule.match.impact is not None else frozenset()
    for impact in sorted(fix.impact - named, key=lambda i: i.value):
        out.append(Because(Reason.IMPACT_NOT_NAMED, impact.value))
    for path in fix.paths:
        if is_protected(path):
            out.append(Because(Reason.PROTECTED_PATH, path))
    return out


def time_guardrails(now: datetime, policy: Policy, rules: tuple[Rule | None, ...], global_kill: bool,
                    repo_kill: bool) -> list[Because]:
    """When: the windows of the matching rules (central, and the repository's when it said
    automerge too) and of the policy, and the kill switches."""
    out: list[Because] = []
    windows = [r.match.window for r in rules if r is not None] + [policy.window]
    for window in dict.fromkeys(windows):
        if window is not None and not window.contains(now):
            out.append(Because(Reason.OUTSIDE_WINDOW, window.text()))
    if global_kill:
        out.append(Because(Reason.KILL_SWITCH_GLOBAL))
    if repo_kill:
        out.append(Because(Reason.KILL_SWITCH_REPOSITORY))
    return out


def required_checks(central: Policy, repo: Policy | None) -> tuple[RequiredCheck, ...]:
    """The central policy's required checks, then those the repository adds."""
    extra = repo.required_checks if repo is not None else ()
    return tuple(dict.fromkeys(central.required_checks + extra))


def no_checks_guardrail(checks: tuple[RequiredCheck, ...]) -> list[Because]:
    return [] if checks else [Because(Reason.NO_REQUIRED_CHECKS)]


def merge_guardrails(fix: FixFacts, facts: MergeFacts, policy: Policy) -> list[Because]:
    """What the pull request is right before the merge: its state, its commits and its diff."""
    out: list[Because] = []
    if facts.merges_last_hour >= policy.max_automerges_per_hour:
        out.append(Because(Reason.HOURLY_LIMIT, f"{facts.merges_last_hour} of at most {policy.max_automerges_per_hour}"))
    if facts.merge_in_progress:
        out.append(Because(Reason.MERGE_IN_PROGRESS, facts.base_ref))
    if not facts.pr_open:
        out.append(Because(Reason.PR_NOT_OPEN))
    if not facts.pr_by_iacbot:
        out.append(Because(Reason.PR_NOT_IACBOT))
    if facts.mergeable is not True:     # None: GitHub has not computed it yet, so it is not known to be mergeable
        out.append(Because(Reason.NOT_MERGEABLE, "unknown" if facts.mergeable is None else "false"))
    if facts.decided_base_ref is None or facts.base_ref != facts.decided_base_ref:
        # A retargeted PR would merge the fix into a branch nobody decided about.
        out.append(Because(Reason.BASE_CHANGED, facts.base_ref))
    if facts.decided_head_sha is None or facts.head_sha != facts.decided_head_sha:
        out.append(Because(Reason.HEAD_NOT_IACBOT_COMMIT, facts.head_sha))
    elif facts.head_sha not in {c.sha for c in facts.commits}:
        out.append(Because(Reason.HEAD_NOT_IACBOT_COMMIT, facts.head_sha))
    if not facts.commits:   # "every commit is iacbot's" must not hold because there are none to look at
        out.append(Because(Reason.COMMIT_NOT_RECORDED, "no commits between base and head"))
    for commit in facts.commits:
        if not commit.recorded_by_iacbot:
            out.append(Because(Reason.COMMIT_NOT_RECORDED, commit.sha))
        if not commit.author_is_iacbot:
            out.append(Because(Reason.FOREIGN_AUTHOR, commit.sha))
        if not commit.committer_is_iacbot:
            out.append(Because(Reason.FOREIGN_COMMITTER, commit.sha))
    out.extend(_diff_guardrails(fix, facts))
    return out


def _diff_guardrails(fix: FixFacts, facts: MergeFacts) -> list[Because]:
    out: list[Because] = []
    allowed = set(fix.paths)
    if not facts.files:
        out.append(Because(Reason.DIFF_OUTSIDE_FIX, "the pull request changes no file"))
    for changed in facts.files:
        if changed.path not in allowed:
            out.append(Because(Reason.DIFF_OUTSIDE_FIX, changed.path))
    total = sum(f.changed_lines for f in facts.files)
    if total > fix.changed_lines:
        out.append(Because(Reason.DIFF_OUTSIDE_FIX, f"{total} changed lines, the fix has {fix.changed_lines}"))
    fix_paths = set(fix.paths)
    for changed in facts.files:
        if is_protected(changed.path) and changed.path not in fix_paths:   # a fix path is reported already
            out.append(Because(Reason.PROTECTED_PATH, changed.path))
    return out


def check_guardrails(checks: tuple[RequiredCheck, ...], facts: MergeFacts) -> list[Because]:
    """Every required check must be green on the head commit, from the App it names: missing,
    pending, neutral, skipped, stale or cancelled are not green, and when the check reported more
    than once (a re-run), every report must be a success."""
    out: list[Because] = []
    on_head = [c for c in facts.checks if c.head_sha == facts.head_sha]
    for required in checks:
        named = [c for c in on_head if c.name == required.name]
        reports = named if required.app is None else [c for c in named if c.app_slug == required.app]
        if not reports:
            if named:
                apps = sorted({c.app_slug or "a commit status" for c in named})
                out.append(Because(Reason.CHECK_WRONG_APP, f"{required.name}: {', '.join(apps)}"))
            else:
                out.append(Because(Reason.CHECK_MISSING, required.text()))
            continue
        if any(c.status != "completed" or c.conclusion is None for c in reports):
            out.append(Because(Reason.CHECK_PENDING, required.name))
        done = {c.conclusion for c in reports if c.status == "completed" and c.conclusion is not None}
        for conclusion in sorted(done - {"success"}):
            out.append(Because(Reason.CHECK_NOT_SUCCESSFUL, f"{required.name}: {conclusion}"))
    return out
