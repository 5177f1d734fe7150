"""HCL splice edits: exact bytes outside the edited region, re-parse to the intended data."""
from __future__ import annotations

import hcl2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixers.edit.hcl import (
    HclEditError,
    NotLiteral,
    append_block_after,
    find_block,
    literal_value,
    parse_tree,
    read_path,
    render_value,
    set_attribute,
    set_path,
)

names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
scalars = st.one_of(st.booleans(), st.integers(-1000, 1000),
                    st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=12)
                    .filter(lambda t: "${" not in t and "%{" not in t))  # refused: see test_template_markers_are_refused
comments = st.sampled_from(["", " # hash", " // slashes", " /* block */"])
indents = st.sampled_from(["  ", "    ", "\t", " "])
spacing = st.sampled_from([" = ", "=", "   =   "])


@st.composite
def resources(draw):
    """A file with one resource of random attributes, comments, heredoc, indentation and newlines."""
    indent, nl = draw(indents), draw(st.sampled_from(["\n", "\r\n"]))
    attrs = draw(st.dictionaries(names.filter(lambda n: n != "target"), scalars, max_size=4))
    lines = [f"{indent}{k}{draw(spacing)}{render_value(v)}{draw(comments)}" for k, v in attrs.items()]
    if draw(st.booleans()):
        lines.append(f"{indent}doc = <<EOT{nl}some text{nl}EOT")
    if draw(st.booleans()):
        lines.append(f"{indent}# a comment line")
    head = draw(st.sampled_from(["", "# header\n", "/* multi\nline */\n"])).replace("\n", nl)
    if not lines and draw(st.booleans()):
        body = "{}"
    else:
        body = "{" + nl + nl.join(lines) + (nl if lines else "") + "}"
    tail = draw(st.sampled_from(["", nl, nl + "# end" + nl]))
    return f'{head}resource "aws_instance" "web" {body}{tail}'


def _changed_region(before: str, after: str) -> tuple[int, int]:
    """[start, end) in `before` outside which `after` is byte-identical."""
    prefix = 0
    while prefix < min(len(before), len(after)) and before[prefix] == after[prefix]:
        prefix += 1
    suffix = 0
    while (suffix < min(len(before), len(after)) - prefix
           and before[len(before) - 1 - suffix] == after[len(after) - 1 - suffix]):
        suffix += 1
    return prefix, len(before) - suffix


def _resource(data: dict) -> dict:
    return data["resource"][0]['"aws_instance"']['"web"']


@settings(deadline=None)
@given(resources(), scalars)
def test_new_attribute_changes_only_the_block_interior(source, value):
    block = find_block(parse_tree(source), "resource", ["aws_instance", "web"])
    after = set_attribute(source, block, "target", render_value(value))
    start, end = _changed_region(source, after)
    assert block.lbrace < start and end <= block.rbrace
    assert not source[start:end].strip(" \t")  # at most whitespace before `}` was replaced
    expected = hcl2.loads(source)
    _resource(expected)["target"] = hcl2.loads(f"x = {render_value(value)}\n")["x"]
    assert hcl2.loads(after) == expected


@settings(deadline=None)
@given(resources(), scalars)
def test_nested_path_is_created_and_reads_back(source, value):
    block = find_block(parse_tree(source), "resource", ["aws_instance", "web"])
    after = set_path(source, block, ("outer", "inner", "target"), render_value(value))
    written = read_path(find_block(parse_tree(after), "resource", ["aws_instance", "web"]), ("outer", "inner", "target"))
    assert literal_value(written.value_text(after)) == value
    start, end = _changed_region(source, after)
    assert block.lbrace < start and end <= block.rbrace
    # applying the same edit again leaves the text alone
    again = set_path(after, find_block(parse_tree(after), "resource", ["aws_instance", "web"]),
                     ("outer", "inner", "target"), render_value(value))
    assert again == after


@settings(deadline=None)
@given(resources(), scalars)
def test_replacing_a_value_touches_only_that_value(source, value):
    block = find_block(parse_tree(source), "resource", ["aws_instance", "web"])
    with_target = set_attribute(source, block, "target", "null")
    block = find_block(parse_tree(with_target), "resource", ["aws_instance", "web"])
    old = read_path(block, ("target",))
    after = set_attribute(with_target, block, "target", render_value(value))
    assert after == with_target[:old.value_start] + render_value(value) + with_target[old.value_end:]


@settings(deadline=None)
@given(resources())
def test_appended_block_leaves_everything_else_intact(source):
    block = find_block(parse_tree(source), "resource", ["aws_instance", "web"])
    after = append_block_after(source, block, 'resource "aws_ebs_volume" "extra"', [("size", "40")])
    start, end = _changed_region(source, after)
    assert start == end >= block.end  # a pure insertion after the anchor block
    data = hcl2.loads(after)
    assert data["resource"][-1] == {'"aws_ebs_volume"': {'"extra"': {"size": 40, "__is_block__": True}}}
    assert data["resource"][0] == hcl2.loads(source)["resource"][0]


def test_one_line_block_with_content_is_opened_for_terraform():
    source = 'resource "a" "b" { x = 1 }\n'
    block = find_block(parse_tree(source), "resource", ["a", "b"])
    assert set_attribute(source, block, "y", "2") == 'resource "a" "b" {\n  x = 1\n  y = 2\n}\n'


def test_crlf_and_missing_final_newline_are_kept():
    source = 'resource "a" "b" {\r\n  x = 1\r\n}'
    block = find_block(parse_tree(source), "resource", ["a", "b"])
    assert set_attribute(source, block, "y", "2") == 'resource "a" "b" {\r\n  x = 1\r\n  y = 2\r\n}'


def test_unparseable_text_is_an_edit_error():
    with pytest.raises(HclEditError, match="does not parse"):
        parse_tree('resource "a" "b" {\n')


def test_attribute_expression_is_not_treated_as_block():
    source = 'resource "a" "b" {\n  opts = { x = 1 }\n}\n'
    block = find_block(parse_tree(source), "resource", ["a", "b"])
    with pytest.raises(HclEditError, match="attribute expression"):
        set_path(source, block, ("opts", "x"), "2")


@pytest.mark.parametrize("text", ["var.x", "local.y", '"${var.a}-b"', "upper(\"a\")", "a ? b : c", "[var.x]"])
def test_computed_expressions_are_not_literals(text):
    with pytest.raises(NotLiteral):
        literal_value(text)


@pytest.mark.parametrize("text, value", [("true", True), ("42", 42), ("1.5", 1.5), ('"a\\"b"', 'a"b'),
                                         ('["x", 2]', ["x", 2]), ("null", None)])
def test_literals(text, value):
    assert literal_value(text) == value


@pytest.mark.parametrize("value", ["${var.x}", "50%{", "a%{b"])
def test_template_markers_are_refused(value):
    # python-hcl2 cannot read back HCL's escaped template markers, so such a value is never written.
    with pytest.raises(HclEditError, match="template marker"):
        render_value(value)


# ---------------------------------------------------------------- terraform fmt alignment (issue 7 item 12)

def _add(source: str, name: str, value: str = "true") -> str:
    block = find_block(parse_tree(source), "resource", ["a", "b"])
    return set_attribute(source, block, name, value)


def test_new_attribute_takes_the_equals_column_of_the_run_above():
    source = 'resource "a" "b" {\n  size              = 40\n  availability_zone = "x"\n}\n'
    assert _add(source, "encrypted") == (
        'resource "a" "b" {\n  size              = 40\n  availability_zone = "x"\n  encrypted         = true\n}\n')


def test_fmt_column_comes_from_the_longest_name_even_when_the_run_is_not_aligned():
    source = 'resource "a" "b" {\n  a = 1\n  long_name = 2\n}\n'
    assert _add(source, "mid") == 'resource "a" "b" {\n  a = 1\n  long_name = 2\n  mid       = true\n}\n'


def test_a_longer_name_starts_its_own_run_after_a_blank_line_instead_of_moving_others():
    source = 'resource "a" "b" {\n  ami  = "x"\n  type = "y"\n}\n'
    assert _add(source, "monitoring") == (
        'resource "a" "b" {\n  ami  = "x"\n  type = "y"\n\n  monitoring = true\n}\n')


@pytest.mark.parametrize("before", [
    "  # a comment line\n",
    "  inner {\n    x = 1\n  }\n",
    "  tags = {\n    Name = \"x\"\n  }\n",
    "  doc = <<EOT\ntext\nEOT\n",
    "\n",
])
def test_comment_block_multiline_value_or_blank_line_end_the_run(before):
    source = f'resource "a" "b" {{\n  a_long_name = 1\n{before}}}\n'
    assert _add(source, "x") == f'resource "a" "b" {{\n  a_long_name = 1\n{before}  x = true\n}}\n'


def test_trailing_comments_stay_in_the_run():
    source = 'resource "a" "b" {\n  size = 40 # GiB\n}\n'
    assert _add(source, "enc") == 'resource "a" "b" {\n  size = 40 # GiB\n  enc  = true\n}\n'


def test_moved_attribute_of_a_one_line_block_is_padded_with_the_new_ones():
    source = 'resource "a" "b" { x = 1 }\n'
    assert _add(source, "longer") == 'resource "a" "b" {\n  x      = 1\n  longer = true\n}\n'


def test_new_blocks_align_their_own_runs():
    source = 'resource "a" "b" {\n  x = 1\n}\n'
    block = find_block(parse_tree(source), "resource", ["a", "b"])
    after = append_block_after(source, block, 'resource "c" "d"', [("bucket", "x.id"), ("block_public_acls", "true")])
    assert after.endswith('resource "c" "d" {\n  bucket            = x.id\n  block_public_acls = true\n}\n')
