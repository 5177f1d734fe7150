"""Job kinds (``jobs.kinds``) and the branch scheme (``jobs.branches``): what the receiver and the
workers both know. Imports nothing of bot/ or workers/ (tests/test_architecture.py)."""
from jobs.fields import JobFieldError
from jobs.kinds import (
    KINDS,
    ChecksCompleted,
    CodeScanningAlert,
    FindingsSubmitted,
    InstallationChanged,
    Job,
    PullRequestClosed,
    ScanPush,
    from_message,
)

__all__ = ["KINDS", "ChecksCompleted", "CodeScanningAlert", "FindingsSubmitted", "InstallationChanged", "Job",
           "JobFieldError", "PullRequestClosed", "ScanPush", "from_message"]
