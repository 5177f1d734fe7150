"""A repository's dashboard issue (pure): what iacbot's policy decided about each fix, rendered
between iacbot's markers, spliced into the issue's body so that everything a person wrote
outside the markers stays as it was.

Sections: policy errors, fixes waiting for review (with reasons), blocked from auto-merge (with
reasons), merging automatically once checks pass, recommendations (no branch), ignored by policy,
accepted risks (declined PRs, with their expiry), the last automatic merges, merged fixes that
were verified, reverted (with why) or failed and were not reverted (docs/rollback.md), and the
audit log's size and last checkpoint. Every outside value
(rule ids, paths, rule names, logins, problem messages) is quoted by bot.quoting; nothing here
renders a checkbox, so nothing a person ticks is iacbot's to keep or lose. Bounded: at most
``MAX_PER_SECTION`` entries per section ("and N more"), fewer when the body would pass GitHub's limit.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable

from bot import quoting as q
from bot.decision_text import rule_text, short_reasons
from bot.github.issues import BODY_LIMIT, marker, units
from policies.decision import Because, Decision
from policies.reasons import Action

KIND = "dashboard"
TITLE = "iacbot dashboard"
START = "<!-- iacbot:dashboard:start -->"
END = "<!-- iacbot:dashboard:end -->"
MAX_PER_SECTION = 50
#: Tried in turn until the body fits GitHub's limit beside what people wrote.
SECTION_CAPS = (MAX_PER_SECTION, 20, 5, 0)
NAME_LIMIT, PATH_LIMIT = 120, 200


@dataclass(frozen=True)
class Entry:
    """One fix's latest decision."""

    fingerprint: str
    rule_ids: tuple[str, ...]
    fix_class: str
    paths: tuple[str, ...]
    decision: Decision
    decided_at: float
    pr_number: int | None = None
    stage: str = "publish"


@dataclass(frozen=True)
class AcceptedRisk:
    """A pull request a person closed unmerged: a risk accepted until ``expires_at`` (None: unknown)."""

    fingerprint: str
    pr_number: int
    file: str | None = None
    closed_by: str | None = None
    closed_at: float | None = None
    expires_at: float | None = None


@dataclass(frozen=True)
class Merge:
    pr_number: int
    sha: str
    at: float


@dataclass(frozen=True)
class Watched:
    """A merged fix whose watch ended (workers.rollback): verified, reverted, or not reverted."""

    pr_number: int
    merge_sha: str
    at: float | None
    rule_ids: tuple[str, ...]
    reasons: tuple[Because, ...]
    revert_pr: int | None = None
    issue: int | None = None


@dataclass(frozen=True)
class Sections:
    waiting: tuple[Entry, ...] = ()
    blocked: tuple[Entry, ...] = ()
    automerging: tuple[Entry, ...] = ()
    recommended: tuple[Entry, ...] = ()
    ignored: tuple[Entry, ...] = ()
    accepted: tuple[AcceptedRisk, ...] = ()
    merges: tuple[Merge, ...] = ()
    policy_problems: tuple[str, ...] = ()     # "FILE:LINE:COL: message"
    notes: tuple[str, ...] = field(default=())  # iacbot's own wording (e.g. a listing cut short)
    verified: tuple[Watched, ...] = ()
    reverted: tuple[Watched, ...] = ()        # reverted, or an issue asks for the revert
    not_reverted: tuple[Watched, ...] = ()    # failed after the merge, held (opt-out, cap, policy)
    audit: str | None = None                  # iacbot's own line: the audit log's size and last checkpoint


def classify(entries: Iterable[Entry], open_prs: set[int]) -> dict[str, tuple[Entry, ...]]:
    """Which section each fix's latest decision belongs in. A fix with a pull request is shown
    only while that PR is open (``open_prs``: iacbot's open PR numbers, read from GitHub)."""
    out: dict[str, list[Entry]] = {"waiting": [], "blocked": [], "automerging": [], "recommended": [],
                                   "ignored": []}
    for e in sorted(entries, key=lambda x: x.decided_at, reverse=True):
        action = e.decision.action
        if action is Action.RECOMMEND:
            out["recommended"].append(e)
        elif action is Action.IGNORE:
            out["ignored"].append(e)
        elif e.pr_number is None or e.pr_number not in open_prs:
            continue
        elif action is Action.AUTOMERGE:
            out["automerging"].append(e)
        elif e.decision.blocked_by():
            out["blocked"].append(e)
        else:
            out["waiting"].append(e)
    return {k: tuple(v) for k, v in out.items()}


# -- rendering ---------------------------------------------------------------------------------

def _when(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at)) if at else "unknown"


def _what(e: Entry) -> str:
    rules = ", ".join(q.md_code(r, NAME_LIMIT) for r in e.rule_ids[:3]) or q.md_code(e.fix_class, NAME_LIMIT)
    if len(e.rule_ids) > 3:
        rules += f" and {len(e.rule_ids) - 3} more"
    where = q.md_code(e.paths[0], PATH_LIMIT) if e.paths else "an unknown file"
    return f"{rules} in {where}"


def _pr(e: Entry) -> str:
    return f"#{int(e.pr_number)} " if e.pr_number is not None else ""


def _capped(items: list[str], total: int, cap: int) -> list[str]:
    lines = items[:cap]
    if total > cap:
        lines.append(f"- and {total - cap} more")
    return lines


def _section(title: str, lines: list[str], total: int, cap: int, empty: str) -> list[str]:
    head = f"### {title} ({total})"
    return [head, "", *(_capped(lines, total, cap) if total else [f"_{empty}_"]), ""]


def render(repository: str, s: Sections, now: float, cap: int = MAX_PER_SECTION) -> str:
    """The dashboard between its markers (START ... END), with at most ``cap`` entries a section."""
    lines = [START, marker(KIND), "## iacbot dashboard", "",
             f"_Written by iacbot for {q.md_code(repository, 200)} at {_when(now)}. iacbot rewrites only what "
             "is between its markers; write anything you like above or below._", ""]
    for note in s.notes:
        lines += [f"> {note}", ""]
    if s.policy_problems:
        lines += _section("Policy errors: nothing merges automatically",
                          [f"- {q.md_code(p, 500)}" for p in s.policy_problems[:cap]], len(s.policy_problems), cap,
                          "")
    lines += _section("Waiting for review", [f"- {_pr(e)}{_what(e)}: {short_reasons(e.decision)}"
                                             for e in s.waiting[:cap]], len(s.waiting), cap, "none")
    lines += _section("Blocked from auto-merge", [f"- {_pr(e)}{_what(e)}: {short_reasons(e.decision)}"
                                                  for e in s.blocked[:cap]], len(s.blocked), cap, "none")
    lines += _section("Merging automatically once the required checks pass",
                      [f"- {_pr(e)}{_what(e)} ({rule_text(e.decision)})" for e in s.automerging[:cap]],
                      len(s.automerging), cap, "none")
    lines += _section("Recommendations (no branch opened)",
                      [f"- {_what(e)} ({rule_text(e.decision)})" for e in s.recommended[:cap]],
                      len(s.recommended), cap, "none")
    lines += _section("Ignored by policy", [f"- {_what(e)} ({rule_text(e.decision)})" for e in s.ignored[:cap]],
                      len(s.ignored), cap, "none")
    lines += _section("Accepted risks (pull requests closed without merging)",
                      [_risk(a) for a in s.accepted[:cap]], len(s.accepted), cap, "none")
    lines += _section("Last automatic merges",
                      [f"- #{int(m.pr_number)} at {_when(m.at)} ({q.md_code(m.sha[:12], 20)})" for m in s.merges[:cap]],
                      len(s.merges), cap, "none yet")
    lines += _section("Merged and verified", [f"- {_watched(w)}: {_because(w.reasons)}" for w in s.verified[:cap]],
                      len(s.verified), cap, "none yet")
    lines += _section("Reverted", [f"- {_watched(w)}: {_reverted(w)}, because {_because(w.reasons)}"
                                   for w in s.reverted[:cap]], len(s.reverted), cap, "none")
    if s.not_reverted:
        lines += _section("Failed after merging, not reverted", [f"- {_watched(w)}: {_because(w.reasons)}"
                                                                 for w in s.not_reverted[:cap]],
                          len(s.not_reverted), cap, "none")
    if s.audit:
        lines += [f"**Audit log:** {s.audit}", ""]
    lines.append(END)
    return "\n".join(lines)


def _watched(w: Watched) -> str:
    rules = ", ".join(q.md_code(r, NAME_LIMIT) for r in w.rule_ids[:3]) or "a fix"
    return f"#{int(w.pr_number)} ({rules}, merge {q.md_code(w.merge_sha[:12], 20)}, {_when(w.at)})"


def _reverted(w: Watched) -> str:
    if w.revert_pr:
        return f"revert #{int(w.revert_pr)}"
    if w.issue:
        return f"issue #{int(w.issue)} explains what to revert by hand"
    return "already reverted on the default branch"


def _because(reasons: tuple[Because, ...], limit: int = 4) -> str:
    items = [f"`{b.reason.value}`" + (f" {q.md_code(b.subject, 80)}" if b.subject else "") for b in reasons[:limit]]
    if len(reasons) > limit:
        items.append(f"and {len(reasons) - limit} more")
    return ", ".join(items) or "none given"


def _risk(a: AcceptedRisk) -> str:
    who = f" by {q.md_code(a.closed_by, NAME_LIMIT)}" if a.closed_by else ""
    what = f" ({q.md_code(a.file, PATH_LIMIT)})" if a.file else ""
    expiry = (f"expires {_when(a.expires_at)}" if a.expires_at else "no expiry recorded")
    return f"- #{int(a.pr_number)}{what}: closed{who} at {_when(a.closed_at)}, {expiry}"


# -- the issue's body -------------------------------------------------------------------------

def splice(existing: str | None, section: str) -> str:
    """``existing`` with iacbot's section (START ... END) replaced by ``section``; added at the end
    when missing. Broken markers (one of the two deleted) are dropped, every word around them kept."""
    text = existing or ""
    start = text.find(START)
    end = text.find(END, start + len(START)) if start >= 0 else -1
    if start >= 0 and end >= 0:
        return text[:start] + section + text[end + len(END):]
    kept = text.replace(START, "").replace(END, "").rstrip()
    return (kept + "\n\n" if kept else "") + section + "\n"


def body(existing: str | None, repository: str, s: Sections, now: float) -> str | None:
    """The whole body to write: people's text kept, iacbot's section as large as GitHub allows;
    None when people's text alone leaves no room."""
    for cap in SECTION_CAPS:
        text = splice(existing, render(repository, s, now, cap))
        if units(text) <= BODY_LIMIT:
            return text
    return None
