"""A collaborator's permission on a repository (GET .../collaborators/{username}/permission)."""
from __future__ import annotations

from . import people
from .handlers import Ctx


def collaborator_permission(ctx: Ctx):
    """admin|write|read|none, with the finer `role_name` (maintain counts as write, triage as read)."""
    login = ctx.params["username"]
    role = people.role_of(ctx.repo, login)
    shown = ctx.repo.collaborators.get(login.lower(), login)
    return 200, {"permission": people.PERMISSION_OF_ROLE.get(role, "none"), "role_name": role or "none",
                 "user": people.collaborator(ctx.repo, shown, role)}
