"""What the `iacbot policy` commands print: check results, an explanation, a simulation table.

Every outside string (file names, rule names, messages, subjects) goes through bot.terminal.shown:
escaped, never read as rich markup.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.text import Text

from bot.policy_facts import Facts
from bot.policy_files import REPOSITORY, Checked
from bot.policy_simulate import NO_FIXER, NOT_MEASURED, NOT_NEEDED, OPENS_NO_PR, PATCH, Simulated, counts
from bot.policy_table import print_table
from bot.terminal import shown
from policies.decision import Decision
from policies.model import PolicySet
from policies.reasons import Action

ACTION_STYLE = {Action.AUTOMERGE: "green", Action.PULL_REQUEST: "yellow", Action.RECOMMEND: "cyan",
                Action.IGNORE: "magenta"}
SUBJECT_LIMIT = 60
PUBLISH_NOTE = ("Decided as when the fix is published (decide_publish: no pull request yet, no kill switch on). "
                "Right before a merge iacbot decides again with the pull request's commits, files and required "
                "checks on its head, the kill switches and the hourly limit: that can only keep a fix from "
                "merging. Give --merge-facts FILE to see that decision.")
SIMULATE_NOTE = ("decided as when published (decide_publish, no kill switch on); the merge-time guardrails "
                 "(commits, diff, required checks on the head, hourly limit) apply later and can only keep a fix "
                 "from merging")


# -- check ------------------------------------------------------------------------------------

def print_check(console: Console, results: Sequence[Checked]) -> None:
    """Every problem as FILE:LINE:COL: message (what editors and CI annotate), then one line per file."""
    for result in results:
        for problem in result.problems:
            console.print(shown(problem.text()), soft_wrap=True)
    for result in results:
        kind = "repository policy (.github/iacbot.yml)" if result.kind == REPOSITORY else "central policy"
        if result.valid:
            policy = result.policy
            console.print(shown(f"{result.path}: valid {kind}, {len(policy.rules)} rules, "
                                f"sha256 {policy.digest[:12]}", "green"), soft_wrap=True)
        else:
            what = "cannot be used" if result.policy is None else "loads, but has problems"
            console.print(shown(f"{result.path}: {kind} {what}: {len(result.problems)} "
                                f"problem{'s' if len(result.problems) != 1 else ''}", "red"), soft_wrap=True)


# -- explain ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Explanation:
    given: str                      # where the fix came from ("the finding in f.json")
    facts: Facts
    policies: PolicySet
    at: datetime
    publish: Decision
    merge: Decision | None          # with --merge-facts
    if_automerge: Decision | None   # the guardrails on this fix whatever a rule says

    def to_json(self) -> dict:
        fix = self.facts.fix.to_json()
        fix["changed_lines"] = self.facts.changed_lines
        central, repo = self.policies.central, self.policies.repo
        return {
            "given": self.given, "at": self.at.isoformat(), "fix": fix,
            "blast_radius_measured": self.facts.measured, "notes": list(self.facts.notes),
            "policy": {"file": central.source, "digest": central.digest} if central else None,
            "repo_policy": {"file": repo.source, "digest": repo.digest} if repo else None,
            "publish": decision_json(self.publish),
            "merge": decision_json(self.merge) if self.merge else None,
            "if_automerge": decision_json(self.if_automerge) if self.if_automerge else None,
            "note": None if self.merge else PUBLISH_NOTE,
        }


def decision_json(decision: Decision) -> dict:
    return {**decision.to_json(), "explained": [b.text() for b in decision.reasons],
            "guardrails": [b.to_json() for b in decision.blocked_by()]}


def print_explanation(console: Console, e: Explanation) -> None:
    fix = e.facts.fix
    rules = ", ".join(fix.rule_ids)
    console.print(shown(f"Fix {fix.fingerprint}: {rules} in {', '.join(fix.paths)}, from {e.given}", "bold"),
                  soft_wrap=True)
    if fix.category is not None:
        impact = ", ".join(sorted(i.value for i in fix.impact)) or "none"
        console.print(shown(f"  fixer {fix.fix_class}: category {fix.category.value}, risk {fix.risk.value}, "
                            f"confidence {fix.confidence.value}, impact {impact} (the registry's labels)"),
                      soft_wrap=True)
    else:
        console.print(shown(f"  no fixer handles {fix.rule_ids[0]}: no labels, so never merged automatically"),
                      soft_wrap=True)
    lines = f"{e.facts.changed_lines} changed lines" if e.facts.measured else "changed lines not measured"
    repository = fix.repository or "not given (--repository): rules naming repositories do not match"
    console.print(shown(f"  severity {fix.severity or 'none'}, {len(fix.paths)} file(s), {lines}, "
                        f"{fix.resources} resource(s), repository {repository}"), soft_wrap=True)
    if not e.facts.measured:
        console.print(shown("  an unmeasured fix is decided as larger than any max_changed_lines (fail closed)"),
                      soft_wrap=True)
    for note in e.facts.notes:
        console.print(shown(f"  note: {note}", "yellow"), soft_wrap=True)
    central, repo = e.policies.central, e.policies.repo
    console.print(shown(f"Policy {central.source} (sha256 {central.digest[:12]})"
                        + (f", repository policy {repo.source} (sha256 {repo.digest[:12]})" if repo
                           else ", no repository policy")), soft_wrap=True)
    _print_decision(console, f"When published, at {e.at.isoformat()}", e.publish)
    if e.merge is not None:
        _print_decision(console, "Right before a merge, with the merge facts given", e.merge)
    if e.if_automerge is not None:
        blocked = e.if_automerge.blocked_by()
        if blocked:
            console.print(Text("Whatever a rule says, this fix would not merge on its own now, because of:"))
            for because in blocked:
                console.print(Text("  - ") + shown(because.text()), soft_wrap=True)
        else:
            console.print(Text("No guardrail known at publish time stops this fix: a rule saying automerge would "
                               "merge it once the merge-time guardrails hold."))
    if e.merge is None:
        console.print(Text(PUBLISH_NOTE, style="dim"), soft_wrap=True)


def _print_decision(console: Console, when: str, decision: Decision) -> None:
    console.print(Text(f"{when}: ") + shown(decision.action.value, f"bold {ACTION_STYLE[decision.action]}"))
    console.print(shown(f"  central rule: {decision.rule or '(none matched)'}"), soft_wrap=True)
    console.print(shown(f"  repository rule: {decision.repo_rule or '(none)'}"), soft_wrap=True)
    console.print(Text("  reasons:"))
    for because in decision.reasons:
        console.print(Text("    - ") + shown(because.text()), soft_wrap=True)
    guards = decision.blocked_by()
    console.print(Text("  guardrails that applied: ") + shown(", ".join(_code(b) for b in guards) or "none"),
                  soft_wrap=True)


def _code(because) -> str:
    subject = because.subject if len(because.subject) <= SUBJECT_LIMIT else because.subject[:SUBJECT_LIMIT - 1] + "…"
    return f"{because.reason.value}({subject})" if subject else because.reason.value


# -- simulate ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SimulationHeader:
    policy: Path
    compare: Path | None
    at: datetime
    repository: str | None
    labels_only: bool
    measure_all: bool = False
    action_changes: bool = False    # list only the findings whose action changes


def _reasons(decision: Decision) -> str:
    return " ".join(_code(b) for b in decision.reasons)


def _fix_cell(result: Simulated) -> str:
    """The fix's changed lines; "-" when the decision does not depend on them (not measured), "?"
    when nothing was measured (--labels-only), else why no PR would be opened at all."""
    return {PATCH: str(result.facts.changed_lines), NOT_NEEDED: "-", NOT_MEASURED: "?"}.get(result.patch, result.patch)


def print_simulation(console: Console, results: Sequence[Simulated], header: SimulationHeader) -> None:
    if header.compare:
        rows = [r for r in results if (r.compared.action is not r.decision.action if header.action_changes
                                       else r.changed)]
    else:
        rows = list(results)
    findings = sum(len(r.findings) for r in results)
    what = "change their action" if header.action_changes else "change"
    title = (f"{sum(len(r.findings) for r in rows)} of {findings} findings {what} between {header.compare} (old) and "
             f"{header.policy} (new)" if header.compare else f"{findings} findings under {header.policy}")
    columns = ["fingerprint", "rule", "category", "risk", "confidence", "lines"]
    columns += ["action old -> new", "reasons old -> new"] if header.compare else ["action", "reasons"]
    cells = []
    for result in rows:
        fix = result.facts.fix
        labels = [Text(fix.fingerprint), None, shown(fix.category.value if fix.category else "-"),
                  shown(fix.risk.value if fix.risk else "-"), shown(fix.confidence.value if fix.confidence else "-"),
                  shown(_fix_cell(result))]
        if header.compare:
            old, new = result.compared, result.decision
            action = shown(f"{old.action.value} -> {new.action.value}")
            reasons = shown(f"{_reasons(old)} -> {_reasons(new)}")
        else:
            action = shown(result.decision.action.value, ACTION_STYLE[result.decision.action])
            reasons = shown(_reasons(result.decision))
        for finding in result.findings:
            labels[1] = shown(finding.rule_id)
            cells.append([*labels, action, reasons])
    print_table(console, title, columns, cells)
    console.print(shown(summary(results, header)), soft_wrap=True)


def summary(results: Sequence[Simulated], header: SimulationHeader) -> str:
    findings = sum(len(r.findings) for r in results)
    new = counts(results)
    order = [a.value for a in Action]
    per_action = ", ".join(f"{a} {new[a]}" for a in order if new[a]) or "nothing"
    text = f"{findings} findings in {len(results)} fixes at {header.at.isoformat()}: {per_action}"
    if header.compare:
        old = counts(results, compared=True)
        changed = sum(len(r.findings) for r in results if r.changed)
        moved = sum(len(r.findings) for r in results if r.compared.action is not r.decision.action)
        text += (f"; {changed} change from {header.compare} ({moved} their action): "
                 + ", ".join(f"{a} {old[a]} -> {new[a]}" for a in order if old[a] or new[a]))
    no_pr = Counter()
    for result in results:
        if result.patch in OPENS_NO_PR:
            no_pr[result.patch] += len(result.findings)
    if no_pr:
        text += (f". {sum(no_pr.values())} would open no PR whatever the policy ("
                 + ", ".join(f"{k} {v}" for k, v in sorted(no_pr.items())) + ")")
    if header.labels_only:
        unknown = sum(len(r.findings) for r in results if r.patch == NOT_MEASURED)
        text += (f". Blast radius not measured (--labels-only): {unknown} findings ('?') would be decided otherwise "
                 "if their fix were small enough; a rule limited by max_changed_lines did not match them")
    else:
        measured = sum(1 for r in results if r.patch not in (NOT_NEEDED, NOT_MEASURED, NO_FIXER))
        text += (f". Patches proposed (not verified) for every fix ({measured}; --measure-all)" if header.measure_all
                 else f". Patches proposed (not verified) for the {measured} fixes whose decision depends on their "
                      "changed lines (--measure-all: every fix)")
    if not header.repository:
        text += ". No --repository: rules that name repositories did not match"
    return text + f"; {SIMULATE_NOTE}."
