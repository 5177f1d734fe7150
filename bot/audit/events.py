"""What the audit log records: one closed set of event kinds, shared by the service and the CLI."""
from __future__ import annotations

from enum import Enum


class Event(str, Enum):
    RECEIVED = "received"              # a job was accepted (webhook, findings API)
    LOCATED = "located"                # a finding's owning source was found (or why not)
    PATCHED = "patched"                # a fixer wrote a patch
    VERIFIED = "verified"              # the patch re-parsed and re-scanned clean (or did not)
    SIGNED = "signed"                  # a provenance statement was signed (its envelope digest)
    PR_OPENED = "pr_opened"            # a pull request was opened or updated
    DECIDED = "decided"                # policy decided (stage publish or merge), with its reasons
    MERGED = "merged"                  # iacbot merged a pull request, or saw a person merge one
    MERGE_VERIFIED = "merge_verified"  # after a merge: the finding is gone, no check turned red
    REVERTED = "reverted"              # a revert pull request was opened for a failed fix
    REVERT_BLOCKED = "revert_blocked"  # a revert could not be made cleanly, or was capped/opted out: an issue says why
    DECLINED = "declined"              # a person closed iacbot's PR unmerged (by whom)
    RISK_ACCEPTED = "risk_accepted"    # ... as a risk acceptance, with its expiry
    RISK_EXPIRED = "risk_expired"      # a risk acceptance lapsed
    POLICY_ERROR = "policy_error"      # a policy file could not be used (fail closed)
    KILL_SWITCH = "kill_switch"        # a kill switch was turned on or off
