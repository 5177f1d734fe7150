"""The text of a repository's "Action required: iacbot policy" issue (pure).

Opened while the central policy or the repository's ``.github/iacbot.yml`` cannot be used, so
that people learn why nothing merges automatically: every problem as ``FILE:LINE:COL: message``
and what to do. Problem messages may quote a policy file (attacker-controlled in a repository's
own file): each is an inline code span (bot.quoting), so it cannot mention, link or close a comment.
"""
from __future__ import annotations

from bot import quoting as q
from bot.github.issues import marker, units

KIND = "policy"
TITLE = "Action required: iacbot policy"
#: Problems listed per policy; "and N more" past it.
MAX_PROBLEMS = 50
PROBLEM_LIMIT = 500


#: Each policy's list of problems stays under this many characters (UTF-16 units), so that both
#: lists and the text around them fit GitHub's 65,536 whatever the problems quote.
LIST_BUDGET = 25_000


def _problems(problems) -> list[str]:
    lines, used = [], 0
    for p in problems[:MAX_PROBLEMS]:
        line = f"- {q.md_code(p.text(), PROBLEM_LIMIT)}"
        used += units(line) + 1
        if used > LIST_BUDGET:
            break
        lines.append(line)
    if len(problems) > len(lines):
        lines.append(f"- and {len(problems) - len(lines)} more (run `iacbot policy check` on the file to see "
                     "them all)")
    return lines


def body(central_problems, repo_problems, default_branch: str, central_where: str | None) -> str:
    """The issue's body for these problems (PolicyProblem: ``.text()``). ``central_where``: where the
    central policy is kept, as people may be told (a repository's name, or None for a file the
    service reads)."""
    lines = [marker(KIND),
             "iacbot cannot use its policy for this repository, so it **fails closed**: it still opens pull "
             "requests for the fixes it finds, and merges none of them automatically until every problem "
             "below is fixed.", ""]
    if repo_problems:
        lines += ["## This repository's `.github/iacbot.yml`", "", *_problems(repo_problems), "",
                  f"To fix: correct the file on the default branch {q.md_code(default_branch, 200)} (iacbot reads "
                  "it only from there, never from a pull request). `iacbot policy check .github/iacbot.yml` "
                  "shows the same problems on your machine. Deleting the file also clears them: the central "
                  "policy alone then decides.", ""]
    if central_problems:
        where = (f"in {q.md_code(central_where, 200)}" if central_where
                 else "in the file the iacbot service is configured with")
        lines += ["## The central policy", "", *_problems(central_problems), "",
                  f"To fix: the central policy is kept {where}, by the team that runs iacbot; ask them to "
                  "correct it (`iacbot policy check FILE` shows these problems). Nothing in this repository "
                  "needs to change.", ""]
    lines += ["iacbot updates this issue while a problem lasts and closes it when the policy is valid again.", ""]
    return "\n".join(lines)

