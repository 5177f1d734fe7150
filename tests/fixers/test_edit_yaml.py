"""YAML splice edits: exact bytes outside the edit, intended data change, idempotency."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixers.edit.yaml import YamlEditError, append_item, load_documents, remove_item, set_value


def load(text: str):
    return load_documents(text)


def common_prefix_suffix(a: str, b: str) -> tuple[int, int]:
    p = 0
    while p < min(len(a), len(b)) and a[p] == b[p]:
        p += 1
    s = 0
    while s < min(len(a), len(b)) - p and a[-1 - s] == b[-1 - s]:
        s += 1
    return p, s


def test_replaces_only_the_value_keeping_comment_and_tab():
    text = "a:\n  b: true\t# keep\n  c: 1\n"
    assert set_value(text, 0, ["a", "b"], False) == "a:\n  b: false\t# keep\n  c: 1\n"


def test_inserts_nested_keys_with_the_files_indentation_and_crlf():
    text = "# head\r\na: 1\r\nb:\r\n    c: 2\r\n"
    assert set_value(text, 0, ["b", "d", "e"], True) == "# head\r\na: 1\r\nb:\r\n    c: 2\r\n    d:\r\n        e: true\r\n"


def test_no_trailing_newline_stays_without_one():
    assert set_value("a:\n  b: 1", 0, ["a", "c"], 2) == "a:\n  b: 1\n  c: 2"


def test_flow_empty_mapping_and_sequence_are_filled_in_place():
    text = "a: {}\nb: []  # x\n"
    text = set_value(text, 0, ["a", "k"], "v")
    text = append_item(text, 0, ["b"], "ALL")
    assert text == "a: {k: v}\nb: [ALL]  # x\n"


def test_block_sequence_follows_the_files_dash_style():
    text = "x:\n- a\ny:\n  z: 1\n"
    assert append_item(text, 0, ["y", "l"], "ALL") == "x:\n- a\ny:\n  z: 1\n  l:\n  - ALL\n"
    assert append_item(text, 0, ["x"], "b") == "x:\n- a\n- b\ny:\n  z: 1\n"


def test_second_document_edit_leaves_first_byte_identical():
    first = "# lead comment\n---\nkind: A   # odd\n"
    text = first + "---\nkind: B\nspec:\n  k: 1\n"
    out = set_value(text, 1, ["spec", "k"], 2)
    assert out.startswith(first) and load(out)[1] == {"kind": "B", "spec": {"k": 2}}


def test_same_edit_twice_changes_nothing():
    once = set_value("a:\n  b: 1\n", 0, ["a", "c", "d"], "x")
    assert set_value(once, 0, ["a", "c", "d"], "x") == once
    twice = append_item(append_item("l: []\n", 0, ["l"], "A"), 0, ["l"], "A")
    assert twice == "l: [A]\n"


def test_remove_item_block_and_emptying():
    text = "add:\n  - A   # a\n  - B\n"
    assert remove_item(text, 0, ["add"], "B") == "add:\n  - A   # a\n"
    assert remove_item("c:\n  add:\n    - A\n  x: 1\n", 0, ["c", "add"], "A") == "c:\n  add: []\n  x: 1\n"


@pytest.mark.parametrize("text, path", [
    ("a: &x {b: 1}\nc: *x\n", ["c", "b"]),
    ("base: &b {k: 1}\nm:\n  <<: *b\n", ["m", "k"]),
    ("a: [\n", ["a"]),
    ("a: {{ .Values.x }}\n", ["a"]),
    ("a: 1\n", ["a", "b"]),
])
def test_unsafe_or_broken_input_raises_edit_error(text, path):
    with pytest.raises(YamlEditError):
        set_value(text, 0, path, 2)


def test_template_value_is_refused():
    with pytest.raises(YamlEditError, match="template"):
        set_value('a: "{{ .Values.x }}"\n', 0, ["a"], "y")


keys = st.sampled_from(["alpha", "beta", "gamma", "delta", "eps"])
scalars = st.one_of(st.integers(-5, 500), st.booleans(), st.sampled_from(["x", "y z", "100m", "on"]))


@st.composite
def documents(draw):
    """A nested mapping rendered with a chosen indent, comments and line ending; returns text and data."""
    indent = draw(st.sampled_from([2, 3, 4]))
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    data = draw(st.dictionaries(keys, st.one_of(scalars, st.dictionaries(keys, scalars, min_size=1, max_size=3)), min_size=1, max_size=4))
    lines = [draw(st.sampled_from(["", "# top comment"]))] if draw(st.booleans()) else []
    for k, v in data.items():
        if isinstance(v, dict):
            lines.append(f"{k}:" + draw(st.sampled_from(["", "   # section"])))
            for k2, v2 in v.items():
                lines.append(" " * indent + f"{k2}: {_render(v2)}" + draw(st.sampled_from(["", "  # c", "\t# tab"])))
        else:
            lines.append(f"{k}: {_render(v)}" + draw(st.sampled_from(["", " # c"])))
    text = nl.join(lines) + (nl if draw(st.booleans()) else "")
    return text, data


def _render(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v) if isinstance(v, int) else f'"{v}"'


@settings(deadline=None)
@given(documents(), st.lists(keys, min_size=1, max_size=3), scalars)
def test_edit_changes_only_the_target_region(doc, path, value):
    text, data = doc
    try:
        out = set_value(text, 0, path, value)
    except YamlEditError:
        return  # e.g. the path runs through a scalar: refusing is allowed, corrupting is not
    prefix, suffix = common_prefix_suffix(text, out)
    changed_old = text[prefix:len(text) - suffix]
    # Only whole inserted lines or a replaced value: the untouched text around it is identical.
    assert text[:prefix] == out[:prefix] and text[len(text) - suffix:] == out[len(out) - suffix:]
    assert "#" not in changed_old, "a comment was rewritten"
    expected = __import__("copy").deepcopy(data)
    target = expected
    for step in path[:-1]:
        if not isinstance(target.get(step), dict):
            target[step] = {}
        target = target[step]
    target[path[-1]] = value
    assert load(out)[0] == expected
    assert set_value(out, 0, path, value) == out
