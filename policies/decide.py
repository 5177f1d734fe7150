"""The decision point: facts in, ``Decision`` out, for publishing a fix and again right before
merging it. Pure: no I/O, no clock (``now`` is a fact), no randomness.

1. No usable central policy: fail closed. The fix gets a pull request and never an automatic
   merge (POLICY_MISSING / POLICY_INVALID).
2. The first central rule that matches decides (RULE_MATCHED), none: PULL_REQUEST (NO_RULE_MATCHED).
3. The repository's ``.github/iacbot.yml``, if any, is evaluated the same way and can only
   tighten: the stricter action wins (REPO_RULE_TIGHTENED); a looser one is noted and has no
   effect (REPO_MAY_NOT_LOOSEN); recommend/ignore need the central ``may_disable`` and otherwise
   mean pull_request (REPO_MAY_NOT_DISABLE). An invalid repository policy blocks automatic merges
   in that repository (REPO_POLICY_INVALID).
4. If the action is still AUTOMERGE, every guardrail (``policies.guardrails``) is consulted, and
   any that applies turns it into PULL_REQUEST with all of them listed.
"""
from __future__ import annotations

from datetime import datetime

from policies import guardrails
from policies.decision import Because, Decision
from policies.facts import FixFacts, MergeFacts, PublishFacts
from policies.match import first_match
from policies.model import Policy, PolicyProblem, PolicySet, Rule
from policies.reasons import STRICTNESS, Action, Reason, stricter

_PROBLEMS_LISTED = 10     # a decision names the first few problems; the policy issue lists them all


def decide_publish(policies: PolicySet, fix: FixFacts, facts: PublishFacts) -> Decision:
    """What to do with a verified fix about to be published (open a PR, and may it auto-merge)."""
    return _decide(policies, fix, facts.now, facts.global_kill_switch, facts.repo_kill_switch, None)


def decide_merge(policies: PolicySet, fix: FixFacts, facts: MergeFacts) -> Decision:
    """Whether iacbot's open pull request for ``fix`` may be merged now, on ``facts.head_sha``."""
    return _decide(policies, fix, facts.now, facts.global_kill_switch, facts.repo_kill_switch, facts)


def _decide(policies: PolicySet, fix: FixFacts, now: datetime, global_kill: bool, repo_kill: bool,
            merge: MergeFacts | None) -> Decision:
    central = policies.central
    repo_ok = not policies.repo_problems
    repo = policies.repo if repo_ok else None
    repo_digest = repo.digest if repo is not None else None
    repo_invalid = [] if repo_ok else _problem_reasons(Reason.REPO_POLICY_INVALID, policies.repo_problems)

    if central is None or policies.central_problems:
        reasons = (_problem_reasons(Reason.POLICY_INVALID, policies.central_problems) if policies.central_problems
                   else [Because(Reason.POLICY_MISSING, "central policy")])
        return Decision(Action.PULL_REQUEST, tuple(reasons + repo_invalid), None, None,
                        central.digest if central is not None else None, repo_digest)

    rule = first_match(central.rules, fix)
    action = rule.action if rule is not None else Action.PULL_REQUEST
    reasons = [Because(Reason.RULE_MATCHED, rule.name) if rule else Because(Reason.NO_RULE_MATCHED)]

    repo_rule = first_match(repo.rules, fix) if repo is not None else None
    if repo_rule is not None:
        action, note = _tighten(action, repo_rule, central.repo_may_disable)
        if note is not None:
            reasons.append(note)
    reasons.extend(repo_invalid)

    if action is Action.AUTOMERGE:
        blocking = _guardrails(central, repo, rule, repo_rule, fix, now, global_kill, repo_kill, merge)
        blocking += repo_invalid     # already listed above; it blocks all the same
        if blocking:
            action = Action.PULL_REQUEST
            reasons += blocking
    return Decision(action, tuple(dict.fromkeys(reasons)), rule.name if rule else None,
                    repo_rule.name if repo_rule else None, central.digest, repo_digest)


def _tighten(central: Action, repo_rule: Rule, may_disable: bool) -> tuple[Action, Because | None]:
    wanted = repo_rule.action
    if STRICTNESS[wanted] < STRICTNESS[central]:
        return central, Because(Reason.REPO_MAY_NOT_LOOSEN, repo_rule.name)
    if wanted in (Action.RECOMMEND, Action.IGNORE) and not may_disable and wanted is not central:
        action = stricter(central, Action.PULL_REQUEST)
        return action, Because(Reason.REPO_MAY_NOT_DISABLE, repo_rule.name)
    if wanted is not central:
        return wanted, Because(Reason.REPO_RULE_TIGHTENED, repo_rule.name)
    return central, None


def _guardrails(central: Policy, repo: Policy | None, rule: Rule | None, repo_rule: Rule | None, fix: FixFacts,
                now: datetime, global_kill: bool, repo_kill: bool, merge: MergeFacts | None) -> list[Because]:
    checks = guardrails.required_checks(central, repo)
    out = guardrails.fix_guardrails(fix, rule)
    # A repository rule that also said automerge can narrow the window (tighten), never widen it.
    out += guardrails.time_guardrails(now, central, (rule, repo_rule), global_kill, repo_kill)
    # Only the security team's own required checks make a fix eligible: a repository may add
    # checks to them, but a check it names cannot stand in for a central policy that names none.
    out += guardrails.no_checks_guardrail(central.required_checks)
    if merge is not None:
        out += guardrails.merge_guardrails(fix, merge, central)
        out += guardrails.check_guardrails(checks, merge)
    return out


def _problem_reasons(reason: Reason, problems: tuple[PolicyProblem, ...]) -> list[Because]:
    if not problems:
        return []
    listed = [Because(reason, p.where()) for p in problems[:_PROBLEMS_LISTED]]
    return list(dict.fromkeys(listed))
