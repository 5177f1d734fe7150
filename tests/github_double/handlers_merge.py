"""Merging a pull request pinned to a SHA, and what a PR or a comparison contains.

GitHub's order of refusals on PUT .../merge, kept here: a closed PR (422, the double's wording),
then a head that moved away from `sha` (409), then a PR that cannot merge (405: conflicts, a
test's `mergeable=False`, a draft, or branch protection's required checks not green on the head).
"""
from __future__ import annotations

from . import merging, people, render
from .auth import HTTPError
from .handlers import Ctx, _actor_login, _pull, _refresh, paginate, resolve_commitish

HEAD_MOVED = "Head branch was modified. Review and try the merge again."
PROTECTED_DOCS = "https://docs.github.com/articles/about-protected-branches"


def merge_pull(ctx: Ctx):
    repo, body = ctx.repo, ctx.body or {}
    pr = _pull(ctx)
    if pr.state != "open":
        raise HTTPError(422, "Pull Request is not open" if pr.merged_at is None else "Pull Request is already merged")
    if body.get("sha") and body["sha"].lower() != pr.head_sha:
        raise HTTPError(409, HEAD_MOVED)
    state = merging.mergeability(repo, pr)
    if state.refusal is not None:
        raise HTTPError(405, state.refusal)
    merger = _actor_login(ctx) or "octocat"
    method = body.get("merge_method") or "merge"
    merging.merge(repo, pr, method, body.get("commit_title"), body.get("commit_message"), merger)
    return 200, {"sha": pr.merge_commit_sha, "merged": True, "message": "Pull Request successfully merged"}


def check_merged(ctx: Ctx):
    pr = _pull(ctx)
    if pr.merged_at is None:
        raise HTTPError(404, "Not Found")
    return 204, None


def _commit_json(ctx: Ctx, sha: str) -> dict:
    world = ctx.world
    return render.commit_with_accounts(ctx.repo, sha, ctx.repo.objects.commit(sha),
                                       lambda email: people.account_for_email(world, email))


def _pr_range(ctx: Ctx) -> tuple[str, str]:
    """(base, head) of the PR's change. A closed PR's base SHA stays where it was when it closed
    (_refresh moves only open ones), so a merged PR still lists what it brought in."""
    pr = _pull(ctx)
    return pr.base_sha, pr.head_sha


def list_pull_commits(ctx: Ctx):
    base, head = _pr_range(ctx)
    shas = merging.pull_commits(ctx.repo.objects, base, head)[:merging.MAX_COMMITS]
    page, links = paginate(ctx, shas)
    return 200, [_commit_json(ctx, sha) for sha in page], links


def _changes(ctx: Ctx, base: str, head: str) -> list:
    objects = ctx.repo.objects
    common = objects.merge_base(base, head)
    return merging.file_changes(objects, objects.commit(common).tree if common else None,
                                objects.commit(head).tree)[:merging.MAX_FILES]


def list_pull_files(ctx: Ctx):
    base, head = _pr_range(ctx)
    page, links = paginate(ctx, _changes(ctx, base, head))
    return 200, [render.diff_entry(ctx.repo, c, head) for c in page], links


def compare(ctx: Ctx):
    """GET compare/{base}...{head}: what head has that their merge base has not (three dots; two
    dots are accepted and read the same way, as GitHub's API does)."""
    repo, basehead = ctx.repo, ctx.params["basehead"]
    sep = "..." if "..." in basehead else ".."
    base_name, _, head_name = basehead.partition(sep)
    base, head = resolve_commitish(repo, base_name.split(":")[-1]), resolve_commitish(repo, head_name.split(":")[-1])
    if not base_name or not head_name or base is None or head is None:
        raise HTTPError(404, "Not Found")
    objects = repo.objects
    common = objects.merge_base(base, head)
    ahead = merging.pull_commits(objects, base, head)
    behind = merging.pull_commits(objects, head, base)
    status = "identical" if base == head else "ahead" if not behind else "behind" if not ahead else "diverged"
    page, links = paginate(ctx, ahead[:merging.MAX_COMMITS])
    u, web = f"{render.API}/repos/{repo.full_name}", f"{render.WEB}/{repo.full_name}"
    out = {
        "url": f"{u}/compare/{basehead}", "html_url": f"{web}/compare/{basehead}",
        "permalink_url": f"{web}/compare/{repo.owner}:{base[:7]}...{repo.owner}:{head[:7]}",
        "diff_url": f"{web}/compare/{basehead}.diff", "patch_url": f"{web}/compare/{basehead}.patch",
        "base_commit": _commit_json(ctx, base),
        "merge_base_commit": _commit_json(ctx, common) if common else _commit_json(ctx, base),
        "status": status, "ahead_by": len(ahead), "behind_by": len(behind), "total_commits": len(ahead),
        "commits": [_commit_json(ctx, sha) for sha in page],
        "files": [render.diff_entry(repo, c, head) for c in _changes(ctx, base, head)],
    }
    return 200, out, links


def set_mergeable_checked(repo, number: int, value: bool | str | None) -> None:
    """For GitHubDouble.set_mergeable: None gives the decision back to the double."""
    pr = repo.pulls.get(number)
    if pr is None:
        raise ValueError(f"{repo.full_name}#{number} is not a pull request")
    pr.mergeable_override = value
    _refresh(repo, pr)


def get_commit(ctx: Ctx):
    """GET commits/{ref}: the commit with its linked accounts, its files against its first parent
    and their line counts (what PyGithub's repo.get_commit(sha) asks for)."""
    repo = ctx.repo
    sha = resolve_commitish(repo, ctx.params["ref"])
    if sha is None:
        raise HTTPError(422, f"No commit found for SHA: {ctx.params['ref']}")
    c = repo.objects.commit(sha)
    parent_tree = repo.objects.commit(c.parents[0]).tree if c.parents else None
    changes = merging.file_changes(repo.objects, parent_tree, c.tree)[:merging.MAX_FILES]
    out = _commit_json(ctx, sha)
    adds, dels = sum(x.additions for x in changes), sum(x.deletions for x in changes)
    out["stats"] = {"additions": adds, "deletions": dels, "total": adds + dels}
    out["files"] = [render.diff_entry(repo, x, sha) for x in changes]
    return 200, out


def pulls_for_commit(ctx: Ctx):
    """GET commits/{sha}/pulls: open PRs whose head is that commit, and merged PRs it came in with."""
    repo = ctx.repo
    sha = resolve_commitish(repo, ctx.params["commit_sha"])
    if sha is None:
        raise HTTPError(422, f"No commit found for SHA: {ctx.params['commit_sha']}")
    found = [p for p in sorted(repo.pulls.values(), key=lambda p: p.number)
             if _refresh(repo, p).head_sha == sha or p.merge_commit_sha == sha
             or (p.merged_at is not None and repo.objects.is_ancestor(sha, p.head_sha)
                 and not repo.objects.is_ancestor(sha, p.base_sha))]
    page, links = paginate(ctx, found)
    return 200, [render.pull(repo, p, full=False) for p in page], links


def list_branches(ctx: Ctx):
    repo = ctx.repo
    names = sorted(ref[len("refs/heads/"):] for ref in repo.refs if ref.startswith("refs/heads/"))
    if ctx.query.get("protected") in ("true", "false"):
        names = [n for n in names if (n in repo.protection) == (ctx.query["protected"] == "true")]
    page, links = paginate(ctx, names)
    u = f"{render.API}/repos/{repo.full_name}/commits"
    return 200, [{"name": n, "commit": {"sha": repo.refs[f"refs/heads/{n}"], "url": f"{u}/{repo.refs[f'refs/heads/{n}']}"},
                  "protected": n in repo.protection} for n in page], links


def branch_rules(ctx: Ctx):
    """GET rules/branches/{branch}: the double has no rulesets, only classic protection."""
    page, links = paginate(ctx, [])
    return 200, page, links


def update_branch(ctx: Ctx):
    """PUT .../update-branch: merge the base into the PR's branch (a real merge commit on the head
    branch, written by the caller with GitHub as committer). GitHub does it asynchronously (202);
    the double at once. Its head then moves, so a later merge pinned to the old head gets 409."""
    repo, body = ctx.repo, ctx.body or {}
    pr = _pull(ctx)
    if pr.state != "open":
        raise HTTPError(422, "Pull Request is not open")  # the double's wording
    expected = (body.get("expected_head_sha") or pr.head_sha).lower()
    if expected != pr.head_sha:
        raise HTTPError(422, "expected head sha didn't match current head ref.")
    if repo.objects.is_ancestor(pr.base_sha, pr.head_sha):
        raise HTTPError(422, "There are no new commits on the base branch.")
    try:
        merging.update_head(repo, pr, _actor_login(ctx) or "octocat")
    except ValueError:
        raise HTTPError(422, "merge conflict between base and head")  # the double's wording
    return 202, {"message": "Updating pull request branch.",
                 "url": f"{render.WEB}/repos/{repo.full_name}/pulls/{pr.number}"}
