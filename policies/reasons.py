"""The closed sets a decision is made of: what can happen to a fix, and every reason why.

A reason is never free text: each member has one documented meaning (``EXPLAINED``), and what it
is about (a check's name, a file, a rule's name) travels beside it as a subject (policies.decision).
Like Renovate's ``PrAutomergeBlockReason``, a new reason is a new member here, documented here.
"""
from __future__ import annotations

from enum import Enum


class Action(str, Enum):
    """What happens to a fix, from most to least automatic (``STRICTNESS``)."""

    AUTOMERGE = "automerge"        # open a PR and merge it once the guardrails hold
    PULL_REQUEST = "pull_request"  # open a PR; a person reviews and merges it
    RECOMMEND = "recommend"        # no branch: listed on the repository's dashboard
    IGNORE = "ignore"              # nothing is done; the rule that said so is recorded


#: Higher is stricter. A repository's policy may only move a fix up this order.
STRICTNESS = {Action.AUTOMERGE: 0, Action.PULL_REQUEST: 1, Action.RECOMMEND: 2, Action.IGNORE: 3}


def stricter(a: Action, b: Action) -> Action:
    return a if STRICTNESS[a] >= STRICTNESS[b] else b


class Reason(str, Enum):
    # -- which rule decided -------------------------------------------------------------------
    RULE_MATCHED = "rule-matched"                          # subject: the rule's name
    NO_RULE_MATCHED = "no-rule-matched"
    REPO_RULE_TIGHTENED = "repo-rule-tightened"            # subject: the repository rule's name
    REPO_MAY_NOT_DISABLE = "repo-may-not-disable"          # subject: the repository rule's name
    REPO_MAY_NOT_LOOSEN = "repo-may-not-loosen"            # subject: the repository rule's name
    POLICY_MISSING = "policy-missing"                      # subject: where it was looked for
    POLICY_INVALID = "policy-invalid"                      # subject: file:line:col
    REPO_POLICY_INVALID = "repo-policy-invalid"            # subject: file:line:col
    # -- what the fix is (guardrails no policy lifts) ----------------------------------------
    CATEGORY_IDENTITY = "category-identity"
    CATEGORY_NETWORK = "category-network"
    CATEGORY_SECRET = "category-secret"
    RISK_NOT_LOW = "risk-not-low"                          # subject: the risk
    ASSUMED_VALUE = "assumed-value"
    IMPACT_NOT_NAMED = "impact-not-named"                  # subject: the impact the rule did not name
    NO_FIXER_LABELS = "no-fixer-labels"                    # the fixer (and so its labels) is unknown
    # -- when -------------------------------------------------------------------------------
    OUTSIDE_WINDOW = "outside-window"                      # subject: the window
    KILL_SWITCH_GLOBAL = "kill-switch-global"
    KILL_SWITCH_REPOSITORY = "kill-switch-repository"
    HOURLY_LIMIT = "hourly-limit"                          # subject: "N of at most M"
    MERGE_IN_PROGRESS = "merge-in-progress"                # subject: the base branch
    # -- what the pull request holds (merge time) -------------------------------------------
    PR_NOT_OPEN = "pr-not-open"
    PR_NOT_IACBOT = "pr-not-iacbot"
    NOT_MERGEABLE = "not-mergeable"
    HEAD_NOT_IACBOT_COMMIT = "head-not-iacbot-commit"      # subject: the head sha
    COMMIT_NOT_RECORDED = "commit-not-recorded"            # subject: the commit sha
    FOREIGN_AUTHOR = "foreign-author"                      # subject: the commit sha
    FOREIGN_COMMITTER = "foreign-committer"                # subject: the commit sha
    DIFF_OUTSIDE_FIX = "diff-outside-fix"                  # subject: the file
    PROTECTED_PATH = "protected-path"                      # subject: the file
    BASE_CHANGED = "base-changed"                          # subject: the base branch now
    # -- checks on the head sha ---------------------------------------------------------------
    NO_REQUIRED_CHECKS = "no-required-checks"
    CHECK_MISSING = "check-missing"                        # subject: the check's name
    CHECK_PENDING = "check-pending"                        # subject: the check's name
    CHECK_NOT_SUCCESSFUL = "check-not-successful"          # subject: "name: conclusion"
    CHECK_WRONG_APP = "check-wrong-app"                    # subject: "name: app"
    # -- human decisions and the open-PR cap --------------------------------------------------
    NO_EARLIER_DECLINE = "no-earlier-decline"
    EARLIER_PR_MERGED = "earlier-pr-merged"                # subject: the PR number
    DECLINED = "declined"                                  # subject: the PR number
    DECLINED_SOURCE_UNKNOWN = "declined-source-unknown"    # subject: the PR number
    DECLINE_SOURCE_CHANGED = "decline-source-changed"      # subject: the file
    DECLINE_EXPIRED = "decline-expired"                    # subject: when it expired
    PR_EXISTS = "pr-exists"
    NO_PR_CAP = "no-pr-cap"
    UNDER_PR_CAP = "under-pr-cap"                          # subject: "N of at most M"
    AT_PR_CAP = "at-pr-cap"                                # subject: "N of at most M"
    # -- jobs-direction: what a closed pull request was (workers.pr_closed) ------------------
    PR_CLOSED_MERGED = "pr-closed-merged"                  # subject: the PR number
    PR_CLOSED_DECLINED = "pr-closed-declined"              # subject: the PR number
    CLOSE_NOT_IACBOT_BRANCH = "close-not-iacbot-branch"    # subject: the branch
    CLOSE_NO_FINGERPRINT = "close-no-fingerprint"          # subject: the branch
    CLOSED_BY_BOT = "closed-by-bot"                        # subject: the bot's login
    # -- end jobs-direction -------------------------------------------------------------------
    # -- rollback: what followed a merged fix (policies.rollback) -------------------------------
    FINDING_STILL_PRESENT = "finding-still-present"        # subject: "RULE on RESOURCE"
    CHECK_TURNED_RED = "check-turned-red"                  # subject: "name: conclusion (app)"
    FINDING_CLEARED = "finding-cleared"                    # subject: the rules re-checked
    NO_CHECK_TURNED_RED = "no-check-turned-red"            # subject: how many checks were compared
    FINDING_NOT_RECHECKED = "finding-not-rechecked"
    FINDING_RECHECK_BLIND = "finding-recheck-blind"        # subject: the file checkov could not read
    CHECK_STILL_RUNNING = "check-still-running"            # subject: the check's name
    CHECK_NEVER_COMPLETED = "check-never-completed"        # subject: the check's name
    AUTO_REVERT_DISABLED = "auto-revert-disabled"          # subject: which policy said so
    NO_AUTO_REVERT_MARKER = "no-auto-revert-marker"        # subject: the PR number
    REVERT_CAP_REACHED = "revert-cap-reached"              # subject: "N of at most M"
    FIX_REVERTED = "fix-reverted"                          # subject: the PR number (publish_job's verdict)
    # -- end rollback ---------------------------------------------------------------------------


#: Every reason's meaning, as shown on a PR, the dashboard and by ``iacbot policy explain``.
EXPLAINED: dict[Reason, str] = {
    Reason.RULE_MATCHED: "this policy rule matched first and chose the action",
    Reason.NO_RULE_MATCHED: "no policy rule matched, so the fix waits for review (the default)",
    Reason.REPO_RULE_TIGHTENED: "the repository's .github/iacbot.yml chose a stricter action",
    Reason.REPO_MAY_NOT_DISABLE: "the repository's policy asked to recommend or ignore, which the central "
                                 "policy does not allow; the fix waits for review instead",
    Reason.REPO_MAY_NOT_LOOSEN: "the repository's policy asked for a less strict action than the central "
                                "policy; a repository can only tighten",
    Reason.POLICY_MISSING: "no central policy could be read: nothing is merged automatically",
    Reason.POLICY_INVALID: "the central policy is invalid: nothing is merged automatically until it is fixed",
    Reason.REPO_POLICY_INVALID: "the repository's .github/iacbot.yml is invalid: nothing in this repository "
                                "is merged automatically until it is fixed",
    Reason.CATEGORY_IDENTITY: "identity changes always wait for a person",
    Reason.CATEGORY_NETWORK: "network changes always wait for a person",
    Reason.CATEGORY_SECRET: "secret changes always wait for a person",
    Reason.RISK_NOT_LOW: "only low-risk fixes merge automatically",
    Reason.ASSUMED_VALUE: "the fix assumes a value about the workload: a person confirms it",
    Reason.IMPACT_NOT_NAMED: "the fix declares an impact that the matching rule does not name",
    Reason.NO_FIXER_LABELS: "the fixer that made this change is not known here, so neither are its labels",
    Reason.OUTSIDE_WINDOW: "outside the change window of the rule or policy",
    Reason.KILL_SWITCH_GLOBAL: "automatic merging is switched off for every repository",
    Reason.KILL_SWITCH_REPOSITORY: "automatic merging is switched off for this repository",
    Reason.HOURLY_LIMIT: "this repository had as many automatic merges in the last hour as the policy allows",
    Reason.MERGE_IN_PROGRESS: "another automatic merge into this base branch is under way",
    Reason.PR_NOT_OPEN: "the pull request is not open",
    Reason.PR_NOT_IACBOT: "the pull request was not opened by iacbot's App",
    Reason.NOT_MERGEABLE: "GitHub says the pull request cannot be merged as it is",
    Reason.HEAD_NOT_IACBOT_COMMIT: "the pull request's head is not the commit iacbot made",
    Reason.COMMIT_NOT_RECORDED: "a commit between base and head is not one iacbot recorded making",
    Reason.FOREIGN_AUTHOR: "a commit between base and head was authored by someone other than iacbot",
    Reason.FOREIGN_COMMITTER: "a commit between base and head was committed by someone other than iacbot",
    Reason.DIFF_OUTSIDE_FIX: "the pull request changes a file or lines outside the fix",
    Reason.PROTECTED_PATH: "the pull request touches policy, .github/, CODEOWNERS or CI files",
    Reason.BASE_CHANGED: "the pull request's base branch is not the one iacbot published it onto (retargeted)",
    Reason.NO_REQUIRED_CHECKS: "the policy names no required check, and no check means nothing was verified",
    Reason.CHECK_MISSING: "a required check has not reported on the head commit",
    Reason.CHECK_PENDING: "a required check is still running on the head commit",
    Reason.CHECK_NOT_SUCCESSFUL: "a required check on the head commit did not succeed (neutral and skipped "
                                 "are not success)",
    Reason.CHECK_WRONG_APP: "a check with the required name was posted by another App than the one required",
    Reason.NO_EARLIER_DECLINE: "no earlier pull request for this finding was declined",
    Reason.EARLIER_PR_MERGED: "an earlier pull request for this finding was merged; the finding is back",
    Reason.DECLINED: "a person declined this fix, the source has not changed and the acceptance has not "
                     "expired; reopen that PR or change the file to get the fix again",
    Reason.DECLINED_SOURCE_UNKNOWN: "a person declined this fix and the source it was made from is unknown, "
                                    "so the decline stands until it expires",
    Reason.DECLINE_SOURCE_CHANGED: "a person declined this fix, but the file changed since",
    Reason.DECLINE_EXPIRED: "a person declined this fix, and that risk acceptance has expired",
    Reason.PR_EXISTS: "a pull request from this finding's branch is open; publishing updates it and opens none",
    Reason.NO_PR_CAP: "no cap on open pull requests",
    Reason.UNDER_PR_CAP: "fewer of iacbot's pull requests are open than the cap",
    Reason.AT_PR_CAP: "iacbot's open pull requests are at the cap: this fix waits for one to close",
    # -- jobs-direction ---------------------------------------------------------------------
    Reason.PR_CLOSED_MERGED: "the pull request was merged: recorded, and a finding that comes back gets a new PR",
    Reason.PR_CLOSED_DECLINED: "a person closed the pull request without merging it: recorded as a risk "
                               "acceptance (who, when, until when)",
    Reason.CLOSE_NOT_IACBOT_BRANCH: "the closed pull request is not from an iacbot branch of this repository: "
                                    "nothing is recorded",
    Reason.CLOSE_NO_FINGERPRINT: "the closed pull request's branch does not end in a finding's fingerprint: "
                                 "nothing is recorded",
    Reason.CLOSED_BY_BOT: "a bot closed the pull request (iacbot superseding its own, a cleanup App): not a "
                          "person's decline, so nothing is recorded",
    # -- end jobs-direction -------------------------------------------------------------------
    # -- rollback -------------------------------------------------------------------------------
    Reason.FINDING_STILL_PRESENT: "re-scanned at the merge commit, the rule the fix was for still fails on the "
                                  "same resource: the fix did not work",
    Reason.CHECK_TURNED_RED: "a check that passed on the merge commit's parent failed on the merge commit",
    Reason.FINDING_CLEARED: "re-scanned at the merge commit, the rules the fix was for pass",
    Reason.NO_CHECK_TURNED_RED: "every check that passed on the merge commit's parent completed on the merge "
                                "commit without failing",
    Reason.FINDING_NOT_RECHECKED: "the finding has not been re-scanned at the merge commit yet",
    Reason.FINDING_RECHECK_BLIND: "checkov could not read the fixed file at the merge commit, so the re-scan "
                                  "proves nothing either way: nothing is reverted on it",
    Reason.CHECK_STILL_RUNNING: "a check that passed on the parent has not completed on the merge commit yet",
    Reason.CHECK_NEVER_COMPLETED: "a check that passed on the parent never completed on the merge commit "
                                  "while the merge was watched: nothing is reverted on it",
    Reason.AUTO_REVERT_DISABLED: "the policy turns automatic reverts off (rollback.auto_revert: false): the "
                                 "failure is reported, not reverted",
    Reason.NO_AUTO_REVERT_MARKER: "the pull request's body carries <!-- iacbot:no-auto-revert -->: the "
                                  "failure is reported, not reverted",
    Reason.REVERT_CAP_REACHED: "iacbot made as many reverts in this repository today (UTC) as the policy "
                               "allows (rollback.max_reverts_per_day)",
    Reason.FIX_REVERTED: "iacbot reverted this fix because it did not work; the same fix is not proposed again "
                         "until the file changes or the term ends",
    # -- end rollback ---------------------------------------------------------------------------
}

#: Reasons that block an automatic merge (a decision carrying one is never AUTOMERGE).
BLOCKING: frozenset[Reason] = frozenset({
    Reason.POLICY_MISSING, Reason.POLICY_INVALID, Reason.REPO_POLICY_INVALID,
    Reason.CATEGORY_IDENTITY, Reason.CATEGORY_NETWORK, Reason.CATEGORY_SECRET, Reason.RISK_NOT_LOW,
    Reason.ASSUMED_VALUE, Reason.IMPACT_NOT_NAMED, Reason.NO_FIXER_LABELS, Reason.OUTSIDE_WINDOW,
    Reason.KILL_SWITCH_GLOBAL, Reason.KILL_SWITCH_REPOSITORY, Reason.HOURLY_LIMIT, Reason.MERGE_IN_PROGRESS,
    Reason.PR_NOT_OPEN, Reason.PR_NOT_IACBOT, Reason.NOT_MERGEABLE, Reason.HEAD_NOT_IACBOT_COMMIT,
    Reason.COMMIT_NOT_RECORDED, Reason.FOREIGN_AUTHOR, Reason.FOREIGN_COMMITTER,
    Reason.DIFF_OUTSIDE_FIX, Reason.PROTECTED_PATH, Reason.BASE_CHANGED, Reason.NO_REQUIRED_CHECKS, Reason.CHECK_MISSING,
    Reason.CHECK_PENDING, Reason.CHECK_NOT_SUCCESSFUL, Reason.CHECK_WRONG_APP,
})
