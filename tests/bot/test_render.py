"""Diff text and changed-line counting, as people and the benchmark read them."""
from bot.render import changed_line_count, unified_diff


def test_changed_lines_count_what_a_reviewer_reads():
    before = "a: 1\nb: 2\nc: 3\n"
    assert changed_line_count(before, before) == 0
    assert changed_line_count(before, "a: 1\nb: 9\nc: 3\n") == 1           # one line replaced
    assert changed_line_count(before, "a: 1\nb: 2\nx: 0\ny: 0\nc: 3\n") == 2  # two lines added


def test_unified_diff_marks_a_missing_final_newline():
    diff = unified_diff("f.tf", "a = 1", "a = 2")
    assert diff.splitlines()[:2] == ["--- a/f.tf", "+++ b/f.tf"]
    assert "-a = 1\n\\ No newline at end of file\n+a = 2\n\\ No newline at end of file\n" in diff
