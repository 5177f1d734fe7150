"""The short PR comment that says why iacbot is not merging one of its PRs on its own.

Noise is the first complaint about bots, so the note is written only when the LASTING reasons
change (workers.automerge remembers the last ones): a check still running or not yet reported, a
busy base branch and a head that moved are the normal wait before a merge, not news. Subjects (a
file, a check's name, a commit) come from the repository and are quoted (bot.quoting.md_code).
"""
from __future__ import annotations

import logging

import requests
from github import GithubException
from github.Repository import Repository

from bot.github.errors import GitHubRetryLater
from bot.quoting import md_code
from policies.decision import Decision
from policies.reasons import EXPLAINED, Reason

log = logging.getLogger(__name__)

MARKER = "<!-- iacbot:merge-note -->"
#: The normal wait before a merge: never a reason to comment.
WAITING = frozenset({Reason.CHECK_PENDING, Reason.CHECK_MISSING, Reason.MERGE_IN_PROGRESS})
#: Reasons whose subject is a count that changes by itself ("3 of at most 5"): compared without it.
COUNTED = frozenset({Reason.HOURLY_LIMIT})
#: Without a blocking reason, what said "not automatically" (a rule, the repository's policy).
_WHY_NOT = frozenset({Reason.RULE_MATCHED, Reason.NO_RULE_MATCHED, Reason.REPO_RULE_TIGHTENED,
                      Reason.REPO_MAY_NOT_LOOSEN, Reason.REPO_MAY_NOT_DISABLE})
MAX_REASONS = 20
_SUBJECT_LIMIT = 120


def lasting_reasons(decision: Decision) -> list[list[str]]:
    """[reason, subject] pairs worth a note, sorted: what a person would want to know changed."""
    chosen = [b for b in decision.blocked_by() if b.reason not in WAITING]
    if not chosen and not decision.blocked_by():
        chosen = [b for b in decision.reasons if b.reason in _WHY_NOT]
    pairs = {(b.reason.value, "" if b.reason in COUNTED else b.subject) for b in chosen}
    return [list(p) for p in sorted(pairs)][:MAX_REASONS]


def blocked_note(decision: Decision, reasons: list[list[str]]) -> str:
    lines = [MARKER, "iacbot will not merge this pull request on its own for now:", ""]
    for value, subject in reasons:
        reason = Reason(value)
        about = f" {md_code(subject, _SUBJECT_LIMIT)}" if subject else ""
        lines.append(f"* `{reason.value}`{about}: {EXPLAINED[reason]}")
    lines += ["", f"Action: `{decision.action.value}`. iacbot decides again when checks complete, and comments "
              "again only if these reasons change."]
    return "\n".join(lines) + "\n"


def post_note(repo: Repository, number: int, body: str) -> bool:
    """POST /issues/{n}/comments. A failure is logged and reported (False), never raised: a note
    is a courtesy and must not stop a decision from being recorded."""
    try:
        repo.requester.requestJsonAndCheck("POST", f"{repo.url}/issues/{int(number)}/comments", input={"body": body})
        return True
    except GithubException as exc:
        log.warning("%s#%s: the merge note was not posted: HTTP %s", repo.full_name, number, exc.status)
    except (requests.RequestException, GitHubRetryLater) as exc:
        log.warning("%s#%s: the merge note was not posted: %s", repo.full_name, number, type(exc).__name__)
    return False
