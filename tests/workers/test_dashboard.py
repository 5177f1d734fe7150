"""workers.dashboard.refresh against the GitHub double and the real Redis: one dashboard issue per
repository, written from the decision store, iacbot's open PRs, accepted risks and merges; a
person's text outside the markers survives every refresh; a person's issue that copies the marker
is never touched; nothing is written when nothing changed."""
from __future__ import annotations

import time

import pytest

from bot import dashboard as render
from bot.settings import CommonSettings
from fixers.models import Category, Confidence, Risk
from policies.decision import Because, Decision
from policies.facts import FixFacts
from policies.reasons import Action, Reason
from tests.github_double import GitHubDouble, new_app_key_pem
from tests.service.conftest import TEST_REDIS_URL, redis_db  # noqa: F401  (fixture)
from workers import decision_store, declined
from workers import dashboard as board
from workers.decision_store import DecisionRecord

APP_ID = 717171
REPO = "octo/apps"


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    path = tmp_path_factory.mktemp("key") / "app.pem"
    path.write_text(new_app_key_pem())
    return path


@pytest.fixture
def gh(key, redis_db):  # noqa: F811
    with GitHubDouble() as double:
        double.create_repo(REPO, files={"README.md": "# apps\n"})
        double.installation = double.install_app(APP_ID, key.read_text(), repos=[REPO])
        for branch in ("iacbot/a", "iacbot/b", "feature/c", "iacbot/d"):
            double.push_commit(REPO, {f"{branch}.txt": "x"}, branch=branch)
        bot = double.bot_login()
        double.prs = [double.open_pull(REPO, "iacbot/a", "main", "fix a", login=bot),
                      double.open_pull(REPO, "iacbot/b", "main", "fix b", login=bot),
                      double.open_pull(REPO, "feature/c", "main", "a person's", login="mallory"),
                      double.open_pull(REPO, "iacbot/d", "main", "fix d", login=bot)]
        yield double
        assert double.violations == [], "OpenAPI violations:\n" + "\n".join(double.violations)


def cfg(gh, key) -> CommonSettings:
    return CommonSettings(github_app_id=APP_ID, github_app_private_key_file=str(key), github_api_url=gh.base_url,
                          redis_url=TEST_REDIS_URL, github_write_interval_seconds=0)


def save(r, fingerprint: str, action: Action, pr: int | None, reasons=(), stage="publish", at=100.0,
         rule_id="CKV_K8S_16") -> None:
    fix = FixFacts(fingerprint, REPO, (rule_id,), "k8s.x", Category.HARDENING, Risk.LOW, Confidence.SAFE_DEFAULT,
                   paths=("k8s/web.yaml",))
    decision = Decision(action, tuple(reasons) or (Because(Reason.RULE_MATCHED, "rule-1"),), rule="rule-1")
    decision_store.save(r, DecisionRecord(REPO, 1, fingerprint, "job", stage, fix, decision, at, pr, "a" * 40, "main"))


def dashboards(gh, login=None) -> list[dict]:
    login = login or gh.bot_login()
    return [i for i in gh.issues(REPO) if i["user"]["login"] == login and render.marker(render.KIND) in (i["body"] or "")]


def test_the_dashboard_shows_each_section_and_keeps_a_persons_text(gh, key, redis_db):  # noqa: F811
    a, b, c, d = gh.prs
    save(redis_db, "a" * 16, Action.PULL_REQUEST, a)
    save(redis_db, "b" * 16, Action.PULL_REQUEST, b, [Because(Reason.RULE_MATCHED, "auto"),
                                                     Because(Reason.CHECK_PENDING, "test")], stage="merge")
    save(redis_db, "d" * 16, Action.AUTOMERGE, d)
    save(redis_db, "e" * 16, Action.RECOMMEND, None, rule_id="CKV_AWS_18")
    save(redis_db, "f" * 16, Action.PULL_REQUEST, 99)                      # that PR is closed: not shown
    decision_store.record_merge(redis_db, REPO, 42, "c" * 40, at=1000.0)
    declined.record(redis_db, declined.PrDecision(declined.DECLINED, REPO, "9" * 16, 41, "k8s/db.yaml", "1" * 40,
                                                  "2" * 40, recorded_at=time.time(), closed_by="@alice",
                                                  closed_at=time.time()))
    theirs = gh.open_issue(REPO, "iacbot dashboard", body=render.marker(render.KIND) + "\nmine", login="alice")

    assert board.refresh(cfg(gh, key), redis_db, gh.installation.id, REPO)["dashboard"] == "created"
    [issue] = dashboards(gh)
    text = issue["body"]
    assert f"Waiting for review (1)" in text and f"#{a} " in text
    assert "Blocked from auto-merge (1)" in text and f"#{b} " in text and "`check-pending`" in text
    assert "Merging automatically once the required checks pass (1)" in text and f"#{d} " in text
    assert "Recommendations (no branch opened) (1)" in text and "CKV\\_AWS\\_18" not in text and "CKV_AWS_18" in text
    assert "#99" not in text and f"#{c} " not in text
    assert "Accepted risks (pull requests closed without merging) (1)" in text and "#41" in text
    assert "closed by `@\u2060alice`" in text and "expires " in text
    assert "Last automatic merges (1)" in text and "#42" in text

    # a person writes above and below iacbot's part; the next refresh keeps it
    gh.edit_issue(REPO, issue["number"], body="Notes by alice\n\n" + text + "\n\nMore notes\n", login="alice")
    save(redis_db, "a" * 16, Action.PULL_REQUEST, a, [Because(Reason.RULE_MATCHED, "rule-1"),
                                                     Because(Reason.CATEGORY_NETWORK)], at=200.0)
    assert board.refresh(cfg(gh, key), redis_db, gh.installation.id, REPO)["dashboard"] == "updated"
    [again] = dashboards(gh)
    assert again["number"] == issue["number"]
    assert again["body"].startswith("Notes by alice\n\n" + render.START) and again["body"].endswith("More notes\n")
    assert "Blocked from auto-merge (2)" in again["body"] and "Waiting for review (0)" in again["body"]

    # nothing changed: nothing written
    gh.reset_traffic()
    assert board.refresh(cfg(gh, key), redis_db, gh.installation.id, REPO)["dashboard"] == "unchanged"
    assert gh.requests_matching("PATCH", r"/issues/\d+$") == [] and gh.requests_matching("POST", r"/issues$") == []
    person = gh.issue(REPO, theirs)
    assert person["body"] == render.marker(render.KIND) + "\nmine" and person["state"] == "open"


def test_a_refresh_already_queued_is_not_queued_twice(redis_db):  # noqa: F811
    redis_db.set(board.pending_key(REPO), "1")
    assert board.request_refresh(redis_db, 1, REPO) is False
    assert redis_db.ttl(board.pending_key(REPO)) == -1  # left as it was
