"""A policy decision as markdown lines for what iacbot writes on GitHub (a PR's decision section,
the dashboard). Pure. Reasons are iacbot's own documented wording (policies.reasons.EXPLAINED);
what they are about (a rule's name from a policy file, a file, a check's name) is outside text,
quoted by bot.quoting."""
from __future__ import annotations

from bot import quoting as q
from policies.decision import Because, Decision
from policies.reasons import EXPLAINED, Action, Reason

#: At most this many reasons are listed (a decision has a handful; a hostile policy cannot make more
#: than the guardrails, but the bound keeps any caller's text small).
MAX_REASONS = 40
SUBJECT_LIMIT = 200

ACTION_TEXT = {
    Action.AUTOMERGE: "merge automatically once the required checks pass on this commit (decided again "
                      "right before the merge)",
    Action.PULL_REQUEST: "a person reviews and merges this pull request",
    Action.RECOMMEND: "recommended only: no branch, listed on the repository's dashboard",
    Action.IGNORE: "ignored by policy (recorded, with the rule that said so)",
}


def reason_line(because: Because) -> str:
    about = f" ({q.md_code(because.subject, SUBJECT_LIMIT)})" if because.subject else ""
    return f"`{because.reason.value}`{about}: {EXPLAINED[because.reason]}"


def rule_text(decision: Decision) -> str:
    parts = []
    if decision.rule:
        parts.append(f"central rule {q.md_code(decision.rule, SUBJECT_LIMIT)}")
    if decision.repo_rule:
        parts.append(f"repository rule {q.md_code(decision.repo_rule, SUBJECT_LIMIT)}")
    return ", ".join(parts) or "no rule matched"


def decision_lines(decision: Decision) -> list[str]:
    """The "Policy decision" section of a pull request: the action, every reason, the policies."""
    lines = ["## Policy decision", "",
             f"**{decision.action.value}**: {ACTION_TEXT[decision.action]}.", "",
             f"- Decided by: {rule_text(decision)}"]
    digests = []
    if decision.policy_digest:
        digests.append(f"central {q.md_code(decision.policy_digest[:16], 20)}")
    if decision.repo_policy_digest:
        digests.append(f"repository {q.md_code(decision.repo_policy_digest[:16], 20)}")
    lines.append(f"- Policy digest: {', '.join(digests) if digests else 'no valid policy'}")
    blocked = decision.blocked_by()
    if blocked:
        lines.append(f"- Blocked from merging automatically by {len(blocked)} reason"
                     f"{'s' if len(blocked) != 1 else ''} below")
    lines += ["", "Reasons:", ""]
    shown = decision.reasons[:MAX_REASONS]
    lines += [f"- {reason_line(b)}" for b in shown]
    if len(decision.reasons) > len(shown):
        lines.append(f"- and {len(decision.reasons) - len(shown)} more")
    return [*lines, ""]


def short_reasons(decision: Decision, limit: int = 5) -> str:
    """The reasons on one line (the dashboard): codes and subjects, "and N more" past ``limit``."""
    picked = decision.blocked_by() or decision.reasons
    items = []
    for b in picked[:limit]:
        items.append(f"`{b.reason.value}`" + (f" {q.md_code(b.subject, 80)}" if b.subject else ""))
    if len(picked) > limit:
        items.append(f"and {len(picked) - limit} more")
    return ", ".join(items) or "none given"


#: A PR carries at most this many reason labels ("iacbot:category-network"), besides its action's.
MAX_REASON_LABELS = 3
REASON_LABEL_PREFIX = "iacbot:"


def reason_labels(decision: Decision) -> tuple[str, ...]:
    """Labels that say why a fix waits for review: its blocking reasons (else the one that chose
    the action), from the closed set only, never a policy's or a finding's text."""
    chosen = decision.blocked_by() or decision.reasons[:1]
    names = dict.fromkeys(REASON_LABEL_PREFIX + b.reason.value for b in chosen)
    return tuple(names)[:MAX_REASON_LABELS]


def is_reason_label(name: str) -> bool:
    return name.lower() in _REASON_LABELS


_REASON_LABELS = frozenset(REASON_LABEL_PREFIX + r.value for r in Reason)
