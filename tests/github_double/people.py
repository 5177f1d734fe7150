"""Who an e-mail address is on GitHub, who a caller acts as, and what a collaborator may do.

GitHub links a commit's author and committer to an account by e-mail: a verified address of a
user, or a noreply address "<id>+<login>@users.noreply.github.com" (an App's bot account has one
too, with "<slug>[bot]" as login). An address linked to nobody gives `author: null`, which is
exactly what a commit made with a made-up identity looks like.
"""
from __future__ import annotations

import re

from . import render
from .state import Repo, World

NOREPLY = re.compile(r"^(?:(\d+)\+)?([A-Za-z0-9-]+(?:\[bot\])?)@users\.noreply\.github\.com$", re.IGNORECASE)
WEB_FLOW = ("GitHub", "noreply@github.com")  # the committer of what GitHub's merge button writes
ROLES = ("read", "triage", "write", "maintain", "admin")
PERMISSION_OF_ROLE = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}


def kind_of(login: str) -> str:
    return "Bot" if login.endswith("[bot]") else "User"


def account(login: str) -> dict:
    """The simple-user object of `login` (a Bot for "<slug>[bot]")."""
    return render.user(login, kind_of(login))


def noreply_email(login: str) -> str:
    """GitHub's noreply address for an account: what a commit an installation token makes carries."""
    return f"{render.user(login)['id']}+{login}@users.noreply.github.com"


def login_for_email(world: World, email: str) -> str | None:
    email = (email or "").strip().lower()
    if email == WEB_FLOW[1]:
        return "web-flow"
    if email in world.emails:
        return world.emails[email]
    m = NOREPLY.match(email)
    if m is None:
        return None
    uid, login = m.group(1), m.group(2)
    if uid is not None and int(uid) != render.user(login)["id"]:
        return None  # the id belongs to another account (or none): GitHub links nobody
    return login


def account_for_email(world: World, email: str) -> dict | None:
    login = login_for_email(world, email)
    return None if login is None else account(login)


def role_of(repo: Repo, login: str) -> str | None:
    """admin|maintain|write|triage|read, or None for someone with no access (the owner is admin)."""
    if login.lower() == repo.owner.lower():
        return "admin"
    if login.lower() in repo.roles:
        return repo.roles[login.lower()]
    return "write" if login.lower() in repo.collaborators else None


def collaborator(repo: Repo, login: str, role: str | None) -> dict:
    """The `collaborator` object of the permission answer (a user with its permission flags)."""
    rank = ROLES.index(role) if role is not None else -1
    flags = {"pull": rank >= 0, "triage": rank >= 1, "push": rank >= 2, "maintain": rank >= 3, "admin": rank >= 4}
    user = account(login)
    return {**user, "permissions": flags, "role_name": role or "none"}
