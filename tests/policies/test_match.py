"""policies.match and Window.contains: globs, ** paths, blast radius, windows across zones and DST."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from fixers.models import Category, Confidence, Impact, Risk
from policies.match import first_match, matches, path_matches
from policies.model import END_OF_DAY, Match, Rule, Window
from policies.reasons import Action
from tests.policies.factories import fix


@pytest.mark.parametrize("glob,path,expected", [
    ("envs/prod/**", "envs/prod/a/b.tf", True),
    ("envs/prod/**", "envs/prod/main.tf", True),
    ("envs/prod/**", "envs/prod", False),
    ("envs/prod/**", "envs/production/main.tf", False),
    ("envs/prod/**", "x/envs/prod/main.tf", False),
    ("**/x.tf", "x.tf", True),
    ("**/x.tf", "a/b/x.tf", True),
    ("**/x.tf", "a/bx.tf", False),
    ("**/prod/**", "prod/main.tf", True),
    ("**/prod/**", "envs/prod/k8s/app.yaml", True),
    ("**/prod/**", "envs/preprod/main.tf", False),
    ("a/**/b.tf", "a/b.tf", True),
    ("a/**/b.tf", "a/x/y/b.tf", True),
    ("*.tf", "main.tf", True),
    ("*.tf", "modules/main.tf", False),
    ("envs/*/main.tf", "envs/dev/main.tf", True),
    ("envs/*/main.tf", "envs/dev/x/main.tf", False),
    ("k8s/?.yaml", "k8s/a.yaml", True),
    ("k8s/?.yaml", "k8s/ab.yaml", False),
    ("k8s/[ab].yaml", "k8s/b.yaml", True),
    ("k8s/[!ab].yaml", "k8s/b.yaml", False),
    ("k8s/[!ab].yaml", "k8s/c.yaml", True),
    ("a?b", "a/b", False),
    ("a[/]b", "a/b", False),
    ("Envs/**", "envs/a.tf", False),
    ("a.b", "axb", False),
    ("a+(b)", "a+(b)", True),
    ("**", "any/thing.tf", True),
])
def test_path_globs(glob, path, expected):
    assert path_matches(glob, path) is expected


def test_an_empty_match_matches_everything():
    assert matches(Match(), fix())
    assert matches(Match(), fix(category=None, risk=None, confidence=None, paths=(), rule_ids=()))


def test_rule_ids_every_id_of_the_fix_must_match_and_case_counts():
    m = Match(rule_ids=("CKV_K8S_*",))
    assert matches(m, fix(rule_ids=("CKV_K8S_20", "CKV_K8S_28")))
    assert not matches(m, fix(rule_ids=("CKV_K8S_20", "CKV_AWS_1")))
    assert not matches(m, fix(rule_ids=()))
    assert not matches(Match(rule_ids=("ckv_k8s_*",)), fix())


def test_fix_classes_and_repositories():
    assert matches(Match(fix_classes=("k8s.*",)), fix())
    assert not matches(Match(fix_classes=("terraform.*",)), fix())
    assert matches(Match(repositories=("acme/*",)), fix())
    assert matches(Match(repositories=("ACME/App",)), fix()), "GitHub's names are case-insensitive"
    assert not matches(Match(repositories=("acme/other", "evil/*")), fix())
    assert not matches(Match(repositories=("acme",)), fix())


def test_labels():
    assert matches(Match(categories=frozenset({Category.HARDENING, Category.LOGGING})), fix())
    assert not matches(Match(categories=frozenset({Category.LOGGING})), fix())
    assert not matches(Match(categories=frozenset({Category.HARDENING})), fix(category=None))
    assert not matches(Match(risk=frozenset({Risk.LOW})), fix(risk=Risk.MEDIUM))
    assert not matches(Match(confidence=frozenset({Confidence.SAFE_DEFAULT})), fix(confidence=Confidence.ASSUMED_VALUE))
    assert matches(Match(severity=frozenset({"MEDIUM"})), fix())
    assert not matches(Match(severity=frozenset({"MEDIUM"})), fix(severity=None))


def test_impact_the_fix_impacts_must_all_be_listed():
    m = Match(impact=frozenset({Impact.COST, Impact.AVAILABILITY}))
    assert matches(m, fix())
    assert matches(m, fix(impact=frozenset({Impact.COST})))
    assert matches(m, fix(impact=frozenset({Impact.COST, Impact.AVAILABILITY})))
    assert not matches(m, fix(impact=frozenset({Impact.COST, Impact.OPERATIONS})))


def test_paths_every_changed_path_matches_one_and_not_paths_none():
    m = Match(paths=("envs/dev/**", "envs/staging/**"))
    assert matches(m, fix(paths=("envs/dev/a.tf", "envs/staging/b.tf")))
    assert not matches(m, fix(paths=("envs/dev/a.tf", "envs/prod/b.tf")))
    assert not matches(m, fix(paths=())), "a fix that names no file is not proven to be inside the paths"
    n = Match(not_paths=("**/prod/**",))
    assert matches(n, fix(paths=("envs/dev/a.tf",)))
    assert not matches(n, fix(paths=("envs/dev/a.tf", "envs/prod/b.tf")))


def test_blast_radius_limits_are_inclusive():
    assert matches(Match(max_files=1, max_changed_lines=2, max_resources=1), fix())
    assert not matches(Match(max_files=1), fix(paths=("a.tf", "b.tf")))
    assert not matches(Match(max_changed_lines=1), fix())
    assert not matches(Match(max_resources=1), fix(resources=2))
    assert not matches(Match(max_files=0), fix())


def test_the_rule_window_does_not_decide_which_rule_matches():
    never = Window(frozenset(), time(9), time(17), "UTC")
    assert matches(Match(window=never), fix())


def test_first_match_is_the_first_in_order():
    rules = (Rule("a", Match(risk=frozenset({Risk.HIGH})), Action.IGNORE),
             Rule("b", Match(), Action.PULL_REQUEST), Rule("c", Match(), Action.AUTOMERGE))
    assert first_match(rules, fix()).name == "b"
    assert first_match(rules[:1], fix()) is None


BERLIN_WEEKDAYS = Window(frozenset(range(5)), time(9), time(17), "Europe/Berlin")


def _at(zone: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


def test_window_in_its_time_zone():
    # 2026-12-02 is a Wednesday. Berlin is UTC+1 in winter.
    assert BERLIN_WEEKDAYS.contains(datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc))         # 09:00 Berlin
    assert not BERLIN_WEEKDAYS.contains(datetime(2026, 12, 2, 7, 59, tzinfo=timezone.utc))    # 08:59 Berlin
    assert BERLIN_WEEKDAYS.contains(datetime(2026, 12, 2, 15, 59, tzinfo=timezone.utc))       # 16:59 Berlin
    assert not BERLIN_WEEKDAYS.contains(datetime(2026, 12, 2, 16, 0, tzinfo=timezone.utc))    # 17:00: end excluded
    assert BERLIN_WEEKDAYS.contains(_at("America/New_York", 2026, 12, 2, 3, 30))               # 09:30 Berlin
    assert not BERLIN_WEEKDAYS.contains(_at("Asia/Tokyo", 2026, 12, 5, 18, 0))                 # Saturday 10:00 Berlin
    # Friday 23:30 in New York is Saturday 05:30 in Berlin: not a weekday there.
    assert not BERLIN_WEEKDAYS.contains(_at("America/New_York", 2026, 12, 4, 23, 30))


def test_window_keeps_wall_clock_hours_across_dst():
    # Berlin leaves DST on 2026-10-25 (a Sunday) and enters it on 2026-03-29.
    summer_monday = datetime(2026, 10, 19, 7, 0, tzinfo=timezone.utc)   # 09:00 CEST
    winter_monday = datetime(2026, 10, 26, 7, 0, tzinfo=timezone.utc)   # 08:00 CET
    assert BERLIN_WEEKDAYS.contains(summer_monday)
    assert not BERLIN_WEEKDAYS.contains(winter_monday)
    assert BERLIN_WEEKDAYS.contains(winter_monday + timedelta(hours=1))
    sunday = Window(frozenset({6}), time(2, 30), time(3, 0), "Europe/Berlin")
    # 2026-03-29 02:30 does not exist in Berlin (clocks go 02:00 -> 03:00): the window never opens that night.
    night = datetime(2026, 3, 29, 0, 0, tzinfo=timezone.utc)
    assert not any(sunday.contains(night + timedelta(minutes=m)) for m in range(0, 180, 5))
    # 2026-10-25 02:30 happens twice in Berlin: the window is open both times.
    assert sunday.contains(datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc))   # 02:30 CEST
    assert sunday.contains(datetime(2026, 10, 25, 1, 30, tzinfo=timezone.utc))   # 02:30 CET


def test_a_window_whose_end_is_before_its_start_spans_midnight():
    friday_night = Window(frozenset({4}), time(22), time(2), "UTC")
    assert friday_night.contains(datetime(2026, 12, 4, 22, 0, tzinfo=timezone.utc))     # Friday 22:00
    assert friday_night.contains(datetime(2026, 12, 5, 1, 59, tzinfo=timezone.utc))     # Saturday 01:59
    assert not friday_night.contains(datetime(2026, 12, 5, 2, 0, tzinfo=timezone.utc))  # Saturday 02:00
    assert not friday_night.contains(datetime(2026, 12, 4, 1, 0, tzinfo=timezone.utc))  # Friday 01:00: Thursday's night
    assert not friday_night.contains(datetime(2026, 12, 5, 22, 0, tzinfo=timezone.utc))  # Saturday 22:00
    sunday_night = Window(frozenset({6}), time(23), time(1), "UTC")
    assert sunday_night.contains(datetime(2026, 12, 7, 0, 30, tzinfo=timezone.utc))     # Monday 00:30


def test_whole_days_and_empty_windows():
    all_day = Window(frozenset({2}), time(0), END_OF_DAY, "UTC")
    assert all_day.contains(datetime(2026, 12, 2, 0, 0, tzinfo=timezone.utc))
    assert all_day.contains(datetime(2026, 12, 2, 23, 59, 59, tzinfo=timezone.utc))
    assert not all_day.contains(datetime(2026, 12, 3, 0, 0, tzinfo=timezone.utc))
    assert not Window(frozenset(range(7)), time(9), time(9), "UTC").contains(datetime(2026, 12, 2, 9, tzinfo=timezone.utc))
    assert not Window(frozenset(), time(0), END_OF_DAY, "UTC").contains(datetime(2026, 12, 2, 9, tzinfo=timezone.utc))
    assert BERLIN_WEEKDAYS.text() == "mon,tue,wed,thu,fri 09:00-17:00 Europe/Berlin"
    assert all_day.text() == "wed 00:00-24:00 UTC"


def test_a_naive_instant_is_refused():
    with pytest.raises(ValueError):
        BERLIN_WEEKDAYS.contains(datetime(2026, 12, 2, 10))


def test_an_unknown_zone_cannot_make_a_window():
    with pytest.raises(Exception):
        Window(frozenset(), time(0), time(1), "Mars/Base")
