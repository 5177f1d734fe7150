"""bot.line_undo: undoing a fix's hunks on a file others edited since, or saying exactly why not."""
from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.line_undo import CONTEXT_LINES, Why, hunks, reverse_hunks, split_lines, undo

BEFORE = b"a\nb\nc\nd\ne\nf\ng\n"
AFTER = b"a\nb\nC\nd\ne\nf\ng\n"       # the fix changed line 3


def test_an_unchanged_file_gets_before_back_byte_for_byte():
    assert undo(BEFORE, AFTER, AFTER).text == BEFORE
    crlf_before, crlf_after = b"x = 1\r\ny = 2\r\n", b"x = 1\r\ny = 3\r\nz = 4"  # endings and no final newline
    assert undo(crlf_before, crlf_after, crlf_after).text == crlf_before
    assert reverse_hunks(split_lines(crlf_before), split_lines(crlf_after), split_lines(crlf_after)).text == crlf_before


def test_an_edit_away_from_the_fix_is_kept():
    current = AFTER.replace(b"f\n", b"F\n")
    assert undo(BEFORE, AFTER, current).text == BEFORE.replace(b"f\n", b"F\n")
    # Lines added elsewhere move the hunk; it is found where it went.
    moved = b"new 1\nnew 2\n" + AFTER
    assert undo(BEFORE, AFTER, moved).text == b"new 1\nnew 2\n" + BEFORE


@pytest.mark.parametrize("current, why", [
    (AFTER.replace(b"C\n", b"C2\n"), Why.CHANGED),              # the fix's own line edited
    (AFTER.replace(b"b\n", b"B\n"), Why.SURROUNDINGS),          # the line right above it
    (AFTER.replace(b"d\n", b"D\n"), Why.SURROUNDINGS),          # ... or below it
    (AFTER.replace(b"C\n", b"C\nmore\n"), Why.SURROUNDINGS),    # a line inserted right after it
    (AFTER.replace(b"C\n", b""), Why.CHANGED),                  # the fix's line deleted
    (AFTER + b"b\nC\nd\n", Why.AMBIGUOUS),                      # a copy of it elsewhere
])
def test_what_blocks_the_undo_is_named_and_nothing_is_undone(current, why):
    result = undo(BEFORE, AFTER, current)
    assert result.text is None and not result.clean
    assert [b.why for b in result.blocked] == [why]
    assert str(result.blocked[0]).startswith("line 3 as the fix left them (replacing 1 line): ")


def test_each_blocked_hunk_is_named_and_a_clean_one_does_not_save_the_rest():
    before = b"1\n2\n3\n4\n5\n6\n7\n8\n9\n"
    after = b"1\nTWO\n3\n4\n5\n6\n7\nEIGHT\n9\n"
    current = after.replace(b"EIGHT", b"eight")
    result = undo(before, after, current)
    assert result.text is None and len(result.blocked) == 1 and result.blocked[0].why is Why.CHANGED
    assert result.blocked[0].hunk.describe() == "line 8 as the fix left them (replacing 1 line)"
    assert undo(before, after, after.replace(b"5\n", b"five\n")).text == before.replace(b"5\n", b"five\n")


def test_added_and_removed_lines_are_described_and_undone():
    before, after = b"a\nb\nc\nd\n", b"a\nd\nnew\n"
    assert [h.describe() for h in hunks(split_lines(before), split_lines(after))] == [
        "the 2 lines the fix removed after line 1", "line 3 as the fix left them (added)"]
    current = b"top\n" + after
    assert undo(before, after, current).text == b"top\n" + before


def test_at_the_file_edges_the_edge_is_part_of_the_surroundings():
    before, after = b"a\nb\nc\n", b"A\nb\nc\n"          # the fix changed the first line
    assert undo(before, after, b"c0\n" + after).blocked[0].why is Why.SURROUNDINGS  # a line added above it
    assert undo(before, after, after + b"d\n").text == before + b"d\n"
    before, after = b"a\nb\nc\n", b"a\nb\nc\nd\n"       # the fix appended a line
    assert undo(before, after, after + b"e\n").blocked[0].why is Why.SURROUNDINGS
    assert undo(before, after, b"z\n" + after).text == b"z\n" + before


def test_an_emptied_file_that_has_content_again_is_blocked():
    assert undo(b"x\n", b"", b"y\n").blocked[0].why is Why.SURROUNDINGS
    assert undo(b"x\n", b"", b"").text == b"x\n"


def test_binary_content_is_restored_whole_but_never_merged():
    assert undo(b"\0old", b"\0new", b"\0new").text == b"\0old"
    result = undo(b"\0old\n", b"\0new\n", b"\0new\nmore\n")
    assert result.text is None and result.blocked[0].why is Why.BINARY


def test_a_file_of_repeated_lines_costs_linear_time_to_search():
    line = b"  }\n"
    after = line * 200_000 + b"x = 1\n" + line * 200_000
    before = after.replace(b"x = 1\n", b"x = 0\n")
    current = b"# edited\n" + after
    assert undo(before, after, current).text == b"# edited\n" + before


# -- properties -----------------------------------------------------------------------------
SMALL = st.lists(st.sampled_from([b"a\n", b"b\n", b"}\n", b"x = 1\n", b"\n", b"c"]), max_size=12)
DISTINCT = st.lists(st.integers(0, 40), max_size=14, unique=True).map(lambda ns: [b"l%d\n" % n for n in ns])


@given(SMALL, SMALL)
def test_undoing_on_the_unchanged_file_gives_before(before, after):
    b, a = b"".join(before), b"".join(after)
    assert undo(b, a, a).text == b


@given(SMALL, SMALL)
def test_the_hunk_by_hunk_undo_on_the_unchanged_file_is_before_or_says_it_is_ambiguous(before, after):
    result = reverse_hunks(before, after, after)
    if result.clean:
        assert result.text == b"".join(before)
    else:  # repeated lines: a copy of a hunk's surroundings elsewhere is never guessed at
        assert {b.why for b in result.blocked} == {Why.AMBIGUOUS}


@given(DISTINCT, DISTINCT)
def test_with_distinct_lines_the_hunk_by_hunk_undo_on_the_unchanged_file_is_before(before, after):
    assert reverse_hunks(before, after, after).text == b"".join(before)


def _changed(lines):
    """A file and the same file with one run of lines replaced (what a fix looks like)."""
    return lines.flatmap(lambda before: st.tuples(
        st.just(before), st.integers(0, len(before)), st.integers(0, 3), lines.map(lambda ls: ls[:3]))).map(
        lambda t: (t[0], [*t[0][:t[1]], *t[3], *t[0][t[1] + t[2]:]]))


LONG_SMALL = st.lists(st.sampled_from([b"a\n", b"b\n", b"}\n", b"x = 1\n", b"\n"]), min_size=4, max_size=16)
LONG_DISTINCT = st.lists(st.integers(0, 60), min_size=4, max_size=16, unique=True).map(
    lambda ns: [b"l%d\n" % n for n in ns])
FIXES = _changed(LONG_SMALL) | _changed(LONG_DISTINCT) | st.tuples(SMALL, SMALL)


@given(FIXES, st.data())
def test_an_edit_away_from_every_hunk_is_kept_and_the_fix_undone(fix, data):
    before, after = fix
    codes = [(i1, j1, j2) for tag, i1, _, j1, j2 in _codes(before, after) if tag == "equal"]
    far = [(i1 + k - j1, k) for i1, j1, j2 in codes for k in range(j1, j2)
           if all(k < h.after_start - CONTEXT_LINES or k >= h.after_end + CONTEXT_LINES
                  for h in hunks(before, after))]
    assume(far)
    in_before, k = data.draw(st.sampled_from(far))
    current = [*after[:k], b"EDITED\n", *after[k + 1:]]
    expected = [*before[:in_before], b"EDITED\n", *before[in_before + 1:]]
    result = reverse_hunks(before, after, current)
    if result.clean:
        assert result.text == b"".join(expected)
    else:
        assert {b.why for b in result.blocked} == {Why.AMBIGUOUS}


@given(FIXES, st.data())
def test_an_edit_inside_a_hunk_always_blocks_that_hunk(fix, data):
    before, after = fix
    inside = [k for h in hunks(before, after) for k in range(h.after_start, h.after_end)]
    assume(inside)
    k = data.draw(st.sampled_from(inside))
    current = [*after[:k], b"EDITED\n", *after[k + 1:]]
    result = reverse_hunks(before, after, current)
    assert result.text is None
    assert any(b.why is Why.CHANGED and b.hunk.after_start <= k < b.hunk.after_end for b in result.blocked)


def _codes(before, after):
    from bot.line_diff import line_opcodes
    return line_opcodes(before, after)
