"""What a decision is: an action and every reason for it, each from the closed set in reasons.py."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policies.reasons import BLOCKING, EXPLAINED, Action, Reason


@dataclass(frozen=True)
class Because:
    """One reason, and what it is about (a rule's name, a check, a file, a commit), if anything."""

    reason: Reason
    subject: str = ""

    def text(self) -> str:
        about = f" ({self.subject})" if self.subject else ""
        return f"{self.reason.value}{about}: {EXPLAINED[self.reason]}"

    def to_json(self) -> dict[str, str]:
        return {"reason": self.reason.value, "subject": self.subject}

    @classmethod
    def from_json(cls, data: Any) -> "Because":
        return cls(Reason(data["reason"]), str(data.get("subject") or ""))


@dataclass(frozen=True)
class Decision:
    """``action`` for one fix, with ``reasons`` (the rule that matched first, then every guardrail
    that applied), the names of the central and repository rules that matched, and the digests of
    the policies it was made under. A decision with a BLOCKING reason is never AUTOMERGE."""

    action: Action
    reasons: tuple[Because, ...]
    rule: str | None = None             # the central rule that matched first
    repo_rule: str | None = None        # the repository rule that matched first
    policy_digest: str | None = None    # sha256 of the central policy's bytes
    repo_policy_digest: str | None = None

    def __post_init__(self) -> None:
        if self.action is Action.AUTOMERGE and self.blocked_by():
            raise ValueError("a decision with a blocking reason cannot be automerge")

    def blocked_by(self) -> tuple[Because, ...]:
        return tuple(b for b in self.reasons if b.reason in BLOCKING)

    def has(self, reason: Reason) -> bool:
        return any(b.reason is reason for b in self.reasons)

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action.value, "reasons": [b.to_json() for b in self.reasons], "rule": self.rule,
                "repo_rule": self.repo_rule, "policy_digest": self.policy_digest,
                "repo_policy_digest": self.repo_policy_digest}

    @classmethod
    def from_json(cls, data: Any) -> "Decision":
        return cls(Action(data["action"]), tuple(Because.from_json(b) for b in data.get("reasons") or ()),
                   data.get("rule"), data.get("repo_rule"), data.get("policy_digest"),
                   data.get("repo_policy_digest"))
