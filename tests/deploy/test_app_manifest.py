"""The App manifest asks for exactly what the service uses: every handled event, every permission a
token is requested with, and nothing more."""
from __future__ import annotations

import json

from bot.github.auth import PUBLISH_PERMISSIONS
from bot.service.events import HANDLED_EVENTS
from tests.paths import REPO
from workers.code_scanning import ALERT_PERMISSIONS
from workers.dashboard import DASHBOARD_PERMISSIONS
from workers.github_fetch import READ_PERMISSIONS
from workers.policy_source import POLICY_READ_PERMISSIONS
from workers.pr_closed import PR_READ_PERMISSIONS

MANIFEST = json.loads((REPO / "deploy" / "github-app-manifest.json").read_text())
# GitHub sends these to every App and rejects a manifest that lists them.
ALWAYS_DELIVERED = {"installation", "installation_repositories"}
LEVELS = {"read": 1, "write": 2}


def test_subscribes_to_every_handled_event_and_no_other():
    assert set(MANIFEST["default_events"]) == HANDLED_EVENTS - ALWAYS_DELIVERED


def test_grants_every_permission_a_task_requests():
    granted = MANIFEST["default_permissions"]
    for requested in (PUBLISH_PERMISSIONS, READ_PERMISSIONS, ALERT_PERMISSIONS, PR_READ_PERMISSIONS,
                      DASHBOARD_PERMISSIONS, POLICY_READ_PERMISSIONS):
        for scope, level in requested.items():
            assert scope in granted, scope
            assert LEVELS[granted[scope]] >= LEVELS[level], (scope, level)


def test_asks_for_no_write_access_beyond_publishing():
    writes = {scope for scope, level in MANIFEST["default_permissions"].items() if level == "write"}
    assert writes == set(PUBLISH_PERMISSIONS)
    assert {s for s, level in DASHBOARD_PERMISSIONS.items() if level == "write"} <= writes
