"""workers.switches on the real Redis, and scripts/kill-switch as an operator runs it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.settings import CommonSettings
from tests.paths import REPO as REPO_ROOT
from tests.service.conftest import TEST_REDIS_URL, redis_db  # noqa: F401  (fixture)
from workers import switches


def test_the_global_switch_is_the_setting_or_the_flag(redis_db):
    off, on = CommonSettings(automerge_kill_switch=False), CommonSettings(automerge_kill_switch=True)
    assert not switches.global_on(off, redis_db)
    assert switches.global_on(on, redis_db)              # the setting alone
    switches.set_global(redis_db, True)
    assert switches.global_on(off, redis_db)             # the run-time flag alone
    switches.set_global(redis_db, False)
    assert not switches.global_on(off, redis_db)
    assert switches.global_on(on, redis_db)              # Redis cannot turn off what the setting turned on


def test_a_repository_switch_is_per_repository_and_case_insensitive(redis_db):
    switches.set_repo(redis_db, "Octo/Apps", True)
    assert switches.repo_on(redis_db, "octo/apps")
    assert not switches.repo_on(redis_db, "octo/other")
    assert not switches.global_on(CommonSettings(), redis_db)  # one repository's switch is not the global one
    assert switches.repos_on(redis_db) == ["octo/apps"]
    switches.set_repo(redis_db, "octo/apps", False)
    assert not switches.repo_on(redis_db, "Octo/Apps")


def test_a_repository_must_be_owner_slash_name(redis_db):
    with pytest.raises(ValueError):
        switches.set_repo(redis_db, "apps", True)


def run(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IACBOT_")}
    env.update(IACBOT_REDIS_URL=TEST_REDIS_URL, IACBOT_BROKER_DURABILITY="volatile-allowed")
    return subprocess.run([str(REPO_ROOT / "scripts" / "kill-switch"), *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_the_script_turns_switches_on_and_off(redis_db):
    done = run("on")
    assert done.returncode == 0, done.stderr
    assert switches.global_flag(redis_db)
    assert "global: kill switch on" in done.stdout
    assert run("on", "--repo", "octo/apps").returncode == 0
    status = run("status")
    assert "global: kill switch on" in status.stdout and "octo/apps: kill switch on" in status.stdout
    assert run("off").returncode == 0
    assert not switches.global_flag(redis_db) and switches.repo_on(redis_db, "octo/apps")
    assert run("off", "--repo", "Octo/Apps").returncode == 0
    assert not switches.repo_on(redis_db, "octo/apps")
    assert "octo/apps" not in run("status").stdout


def test_the_script_refuses_what_it_cannot_do(redis_db):
    assert run("maybe").returncode == 2
    assert run("on", "--repo", "apps").returncode == 2
    assert not switches.global_flag(redis_db)
    gone = subprocess.run([str(REPO_ROOT / "scripts" / "kill-switch"), "status"], capture_output=True, text=True,
                          timeout=60, env={**{k: v for k, v in os.environ.items() if not k.startswith("IACBOT_")},
                                           "IACBOT_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert gone.returncode == 1 and "did not answer" in gone.stderr
