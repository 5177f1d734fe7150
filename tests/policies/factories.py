"""Facts for policy tests: a fix and a pull request for which every guardrail holds, so a test can
break exactly one fact and see exactly that guardrail block."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from fixers.models import Category, Confidence, Risk
from policies.facts import ChangedFile, CheckFacts, CommitFacts, FixFacts, MergeFacts, PublishFacts
from policies.load import load_policy, load_repo_policy
from policies.model import PolicySet

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc)    # a Wednesday, 11:00 in Berlin
HEAD = "a" * 40

PERMISSIVE = """\
version: 1
automerge:
  required_checks: [{name: test, app: github-actions}]
rules:
  - {name: all, match: {}, action: automerge}
"""


def fix(**changes) -> FixFacts:
    base = FixFacts(fingerprint="0123456789abcdef", repository="acme/app", rule_ids=("CKV_K8S_20",),
                    fix_class="k8s.container-security-context", category=Category.HARDENING, risk=Risk.LOW,
                    confidence=Confidence.SAFE_DEFAULT, severity="MEDIUM", paths=("k8s/app.yaml",),
                    changed_lines=2, resources=1)
    return replace(base, **changes)


def publish(**changes) -> PublishFacts:
    return replace(PublishFacts(now=NOW), **changes)


def green_check(name="test", app="github-actions", sha=HEAD, conclusion="success", status="completed") -> CheckFacts:
    return CheckFacts(name=name, head_sha=sha, status=status, conclusion=conclusion, app_slug=app)


def merge(**changes) -> MergeFacts:
    base = MergeFacts(now=NOW, pr_open=True, pr_by_iacbot=True, mergeable=True, base_ref="main", decided_base_ref="main", head_sha=HEAD,
                      decided_head_sha=HEAD, commits=(CommitFacts(HEAD, True, True, True),),
                      files=(ChangedFile("k8s/app.yaml", 2),), checks=(green_check(),))
    return replace(base, **changes)


def policies(central: str | None = PERMISSIVE, repo: str | None = None) -> PolicySet:
    return PolicySet(load_policy(central, "central.yml") if central is not None else None,
                     load_repo_policy(repo, ".github/iacbot.yml") if repo is not None else None)
