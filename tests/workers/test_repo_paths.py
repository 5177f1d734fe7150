"""The one rule for repository paths from outside (workers/repo_paths.py), and the scan worker's
copy of it (scanner/iacbot_scanner/worker.py, run in .venv-scanner): both on the same cases."""
from __future__ import annotations

import json
import subprocess

import pytest

from tests.celery_worker import SCANNER_VENV
from tests.paths import REPO
from workers import repo_paths
from workers.github_fetch import write_tree
from workers.repo_paths import PathRefusal

GOOD = ["main.tf", "infra/main.tf", "k8s/web.yaml", "a b/c d.tf", "ünï/cödé.yaml", "Main.TF", "x..y.tf",
        "...tf", ".github/workflows/ci.yml", "d/" * 200 + "x.tf", "n" * 255 + "/x.tf", "日本/設定.yaml"]
BAD = {
    "": PathRefusal.EMPTY,
    "/etc/passwd.tf": PathRefusal.ABSOLUTE,
    "../x.tf": PathRefusal.PARENT,
    "a/../../x.tf": PathRefusal.PARENT,
    "..": PathRefusal.PARENT,
    "dir/evil\\name.yaml": PathRefusal.BACKSLASH,
    "..\\x.tf": PathRefusal.BACKSLASH,
    "a\nb.tf": PathRefusal.UNPRINTABLE,
    "x.tf\nproblem: forged line": PathRefusal.UNPRINTABLE,
    "a\rb.tf": PathRefusal.UNPRINTABLE,
    "a\x00b.tf": PathRefusal.UNPRINTABLE,
    "a\x1b[31mred.tf": PathRefusal.UNPRINTABLE,
    "a\x7f.tf": PathRefusal.UNPRINTABLE,
    "a\x85.tf": PathRefusal.UNPRINTABLE,
    "safe\u202efp.yaml": PathRefusal.UNPRINTABLE,  # a bidi override hides what the name says
    "zero\u200bwidth.tf": PathRefusal.UNPRINTABLE,
    "line\u2028sep.tf": PathRefusal.UNPRINTABLE,
    "\ud800.tf": PathRefusal.UNPRINTABLE,  # a lone surrogate (valid JSON, not UTF-8)
    "./x.tf": PathRefusal.NOT_CANONICAL,
    "a//b.tf": PathRefusal.NOT_CANONICAL,
    "a/./b.tf": PathRefusal.NOT_CANONICAL,
    "dir/": PathRefusal.NOT_CANONICAL,
    ".git/config": PathRefusal.GIT_DIR,
    "sub/.GIT/x.yaml": PathRefusal.GIT_DIR,
    "n" * 256 + ".tf": PathRefusal.TOO_LONG,
    "é" * 128 + ".tf": PathRefusal.TOO_LONG,  # 256 bytes in UTF-8
    "d/" * 600 + "x.tf": PathRefusal.TOO_LONG,
}


@pytest.mark.parametrize("path", GOOD)
def test_good_paths_are_used(path):
    assert repo_paths.refusal(path) is None
    assert str(repo_paths.checked(path)) == path  # canonical: used exactly as given


@pytest.mark.parametrize("path,why", BAD.items())
def test_bad_paths_are_refused_with_their_reason(path, why):
    assert repo_paths.refusal(path) is why
    with pytest.raises(ValueError):
        repo_paths.checked(path)


@pytest.mark.parametrize("value", [None, 7, b"main.tf", ["main.tf"]])
def test_what_is_not_a_string_is_refused(value):
    assert repo_paths.refusal(value) is PathRefusal.EMPTY


def test_a_refused_path_is_named_quoted_so_it_cannot_forge_a_line():
    problem = repo_paths.refused("x.tf\nproblem: forged line\x1b[2J", PathRefusal.UNPRINTABLE)
    assert "\n" not in problem and "\x1b" not in problem
    assert problem.startswith("'x.tf\\nproblem: forged line\\x1b[2J': unsafe repository path (")
    long_problem = repo_paths.refused("n" * 5000 + ".tf", PathRefusal.TOO_LONG)
    assert len(long_problem) < 400 and "(5003 characters)" in long_problem


# Runs in .venv-scanner with only scanner/ importable: the scan worker's verdict on each case.
PROBE = """
import json, sys
from iacbot_scanner.worker import safe_relative
cases = json.loads(sys.stdin.read())
print(json.dumps([safe_relative(case) is not None for case in cases]))
"""


def test_the_scan_worker_refuses_exactly_what_the_fetch_refuses():
    cases = GOOD + list(BAD)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "scanner"), "IACBOT_REDIS_URL": "redis://127.0.0.1:6379/11"}
    done = subprocess.run([str(SCANNER_VENV / "bin" / "python"), "-c", PROBE], input=json.dumps(cases), env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    scanner_verdicts = json.loads(done.stdout.strip().splitlines()[-1])
    assert dict(zip(cases, scanner_verdicts)) == {case: repo_paths.is_safe(case) for case in cases}


def test_write_tree_refuses_bad_paths_and_writes_the_rest(tmp_path):
    dest = tmp_path / "root"
    dest.mkdir()
    problems = write_tree({"ok/main.tf": b"a", "../escape.tf": b"b", "ok\\x.yaml": b"c", "n" * 300: b"d",
                           "ok/main.tf/inner.tf": b"e"}, dest)
    assert (dest / "ok/main.tf").read_bytes() == b"a"
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["root", "root/ok",
                                                                                      "root/ok/main.tf"]
    assert len(problems) == 4 and all("not fixed" in p for p in problems)
    assert any(p.startswith("'../escape.tf'") for p in problems)
    assert any(p.startswith("'ok/main.tf/inner.tf': cannot be written") for p in problems)
