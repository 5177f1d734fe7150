"""`iacbot fix --branch`: each verified fix on its own new local branch, verified again alone."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Mapping

from bot import git_branches
from bot.provenance import branch_name, commit_message
from fixers.engine import FIXED, RunReport, fix_alone, repo_facts
from fixers.models import RuleMeta
from fixers.scanner import Scanner


def commit_branches(root: Path, report: RunReport, scanner: Scanner, catalog: Mapping[str, RuleMeta],
                    signing_key=None, on_signed=None) -> tuple[list[tuple[str, str]], list[str]]:
    """Returns ([(branch, summary)], problems). A fix (every finding of one fingerprint) is re-made
    on the committed file alone, so each branch holds exactly one fix's change, carrying all its
    findings, and passes verification by itself. With `signing_key`, each commit's signed provenance
    goes in its git note under refs/notes/iacbot (bot.attest.local_sign), and ``on_signed(fingerprint,
    branch, envelope sha256)`` is told (the audit log's ``signed`` entry)."""
    try:
        top = git_branches.toplevel(root)
    except git_branches.GitError as exc:
        return [], [str(exc)]
    prefix = root.relative_to(top)
    version = scanner.ping()
    facts = repo_facts(root)
    made, problems = [], []
    for attempt in report.by_status(FIXED):
        finding = attempt.finding
        rules = ", ".join(attempt.rule_ids)
        name = branch_name(attempt)
        repo_path = (prefix / finding.file).as_posix()
        if git_branches.branch_exists(top, name):
            problems.append(f"{finding.file}: branch {name} already exists; left untouched")
            continue
        original = report.changes.get(finding.file, (None, None))[0]
        if git_branches.committed_text(top, repo_path) != original:
            problems.append(f"{finding.file}: differs from HEAD (uncommitted changes?); no branch for {rules}")
            continue
        alone = fix_alone(root, attempt, scanner.scan_texts, catalog, version, facts)
        if isinstance(alone, str):
            problems.append(f"{finding.file}: {rules} does not verify on its own ({alone}); no branch")
            continue
        problems += [f"{finding.file}: {', '.join(left.rule_ids)} left out of branch {name}: it does not verify "
                     f"without the rest of the run ({left.reason})" for left in alone.left]
        commit = git_branches.commit_on_new_branch(top, name, repo_path, alone.new_text,
                                                   commit_message(alone.attempt, alone.verification))
        if signing_key is not None:
            from bot.attest.local_sign import sign_commit
            envelope = sign_commit(top, commit, {repo_path: alone.new_text.encode()}, alone.attempt,
                                   alone.verification, signing_key, version)
            if on_signed is not None:
                on_signed(alone.attempt.fingerprint, name, hashlib.sha256(envelope.dumps().encode()).hexdigest())
        made.append((name, f"{alone.attempt.summary} ({', '.join(alone.attempt.rule_ids)})"))
    return made, problems
