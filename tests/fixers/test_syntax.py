"""Does a file parse: HCL that python-hcl2's grammar takes and Terraform rejects is refused too.

Each invalid case is one Terraform 1.11 rejects (`terraform fmt -`, error summary in the id) and
python-hcl2 8.x parses; each valid one is a near miss Terraform accepts.
"""
from __future__ import annotations

import pytest

from fixers.edit.hcl import HclEditError, find_block, insert_statements, parse_tree, set_attribute
from fixers.syntax import parse_error
from fixers.verify import unparseable_files

INVALID = {
    "multi-line string": ('resource "aws_s3_bucket" "b" {\n  bucket = "logs\nprod"\n}\n', "Invalid multi-line string at line 2"),
    "multi-line string, CR": ('a = "x\ry"\n', "Invalid multi-line string at line 1"),
    "multi-line label": ('resource "aws_s3_bucket" "b\nc" {\n}\n', "Invalid multi-line string at line 1"),
    "multi-line string in a nested template": ('a = "${upper("x\ny")}"\n', "Invalid multi-line string at line 1"),
    "multi-line escaped template": ('a = "$${x\ny}"\n', "Invalid multi-line string at line 1"),
    "heredoc closing the file without a newline": ('a = <<EOT\ntext\nEOT', "Unterminated template string at line 1"),
    "attribute redefined": ('resource "aws_ebs_volume" "v" {\n  encrypted = false\n  size      = 1\n  encrypted = true\n}\n',
                            "Attribute redefined at line 4: `encrypted` was already set at line 2"),
    "attribute redefined in a nested block": ('resource "x" "y" {\n  b {\n    a = 1\n    a = 2\n  }\n}\n',
                                              "Attribute redefined at line 4"),
    "attribute redefined at top level (tfvars)": ('region = "a"\nregion = "b"\n', "Attribute redefined at line 2"),
    "two arguments on one line": ('resource "x" "y" {\n  a = 1 b = 2\n}\n', "Missing newline at line 2"),
    "two arguments in a one-line block": ('resource "x" "y" { a = 1 b = 2 }\n', "Missing newline at line 1"),
    "a block comment does not end a line": ('resource "x" "y" {\n  a = 1 /* c\n  */ b = 2\n}\n', "Missing newline at line 3"),
    "an argument after a block's brace": ('resource "x" "y" {\n} a = 1\n', "Missing newline at line 2"),
}

VALID = {
    "escaped newline": 'a = "x\\ny"\n',
    "heredoc": 'resource "x" "y" {\n  doc = <<-EOT\n    a\n    b\n    EOT\n  c = 1\n}\n',
    "heredoc, CRLF": 'a = <<EOT\r\ntext\r\nEOT\r\nb = 1\r\n',
    "heredoc then an argument at once": 'a = <<EOT\ntext\nEOT\nb = 1\nc = <<-X\n  y\n  X\nd {\n}\n',
    "line comments end lines": 'resource "x" "y" {\n  a = 1 # one\n  b = 2 // two\n  c = 3 /* three */\n}\n',
    "one-line block": 'resource "x" "y" { a = 1 }\n',
    "same name in two blocks, or as attribute and block": 'a = 1\nb {\n  a = 2\n}\nb {\n  a = 3\n}\n',
    "names differing in case": 'resource "x" "y" {\n  a = 1\n  A = 2\n}\n',
    "newlines inside brackets": 'a = [\n  "x",\n  "y",\n]\nb = {\n  k = "v"\n}\n',
    "no final newline": 'a = 1',
}


@pytest.mark.parametrize("text, why", INVALID.values(), ids=INVALID.keys())
def test_hcl_terraform_rejects_is_refused_with_its_reason(text, why):
    assert why in (parse_error("main.tf", text) or "")
    assert why in (parse_error("main.tf", text, strict=True) or "")


@pytest.mark.parametrize("text", VALID.values(), ids=VALID.keys())
def test_hcl_terraform_accepts_still_parses(text):
    assert parse_error("main.tf", text) is None and parse_error("main.tf", text, strict=True) is None


def test_verification_drops_a_patch_that_redefines_an_attribute_or_breaks_a_string():
    original = 'resource "aws_ebs_volume" "v" {\n  encrypted = false\n}\n'
    broken = unparseable_files({"v.tf": original.replace("}\n", "  encrypted = true\n}\n"),
                                "w.tf": 'a = "x\ny"\n', "ok.tf": original})
    assert set(broken) == {"v.tf", "w.tf"} and "Attribute redefined" in broken["v.tf"]


BLOCK = 'resource "aws_ebs_volume" "v" {\n  size      = 1\n  encrypted = false\n}\n'


def test_the_edit_helpers_never_write_an_attribute_twice():
    block = find_block(parse_tree(BLOCK), "resource", ("aws_ebs_volume", "v"))
    # set_attribute replaces a value in place...
    assert set_attribute(BLOCK, block, "encrypted", "true").count("encrypted") == 1
    # ...and an insertion that would repeat a name is refused with the reason, not written.
    with pytest.raises(HclEditError, match="`encrypted` is already set in the block"):
        insert_statements(BLOCK, block, [("encrypted", "true")])
    with pytest.raises(HclEditError, match="`type` is already set"):
        insert_statements(BLOCK, block, [("type", '"gp3"'), ("type", '"gp2"')])
    with pytest.raises(HclEditError, match="the new `tags` block would set an attribute twice"):
        insert_statements(BLOCK, block, [("tags", [("a", "1"), ("a", "2")])])


def test_an_edit_on_a_file_with_a_redefined_attribute_is_refused():
    """The file itself is not HCL Terraform reads: no edit is made on it."""
    with pytest.raises(HclEditError, match="Attribute redefined at line 4"):
        parse_tree(BLOCK.replace("}\n", "  size      = 2\n}\n"))
