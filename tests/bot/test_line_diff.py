"""Diff text and changed-line counting (bot.line_diff), as people and the benchmark read them."""
from bot.line_diff import changed_line_count, unified_diff


def test_changed_lines_count_what_a_reviewer_reads():
    before = "a: 1\nb: 2\nc: 3\n"
    assert changed_line_count(before, before) == 0
    assert changed_line_count(before, "a: 1\nb: 9\nc: 3\n") == 1           # one line replaced
    assert changed_line_count(before, "a: 1\nb: 2\nx: 0\ny: 0\nc: 3\n") == 2  # two lines added


def test_unified_diff_marks_a_missing_final_newline():
    diff = unified_diff("f.tf", "a = 1", "a = 2")
    assert diff.splitlines()[:2] == ["--- a/f.tf", "+++ b/f.tf"]
    assert "-a = 1\n\\ No newline at end of file\n+a = 2\n\\ No newline at end of file\n" in diff


def _blocks_file(count: int = 60) -> str:
    return "".join(f'resource "aws_instance" "i{i}" {{\n  ami = "x"\n  root_block_device {{\n'
                   f'    volume_size = 8\n  }}\n}}\n' for i in range(count))


def test_diff_is_minimal_on_long_files_of_repeated_lines():
    # 360 lines, most of them `}` and `  }`: difflib's autojunk calls those junk, and two changes
    # separated only by `  }` came out as `-  }` / `+  }`.
    before = _blocks_file()
    old_block = 'resource "aws_instance" "i40" {\n  ami = "x"\n  root_block_device {\n    volume_size = 8\n  }\n}\n'
    new_block = ('resource "aws_instance" "i40" {\n  ami = "x"\n  root_block_device {\n    volume_size = 8\n'
                 '    encrypted   = true\n  }\n  monitoring = true\n}\n')
    after = before.replace(old_block, new_block)
    assert len(before.splitlines()) > 200
    import difflib
    assert "-  }\n" in "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True))), \
        "premise: the default heuristic shows the spurious pair"
    diff = unified_diff("main.tf", before, after)
    changed = [line for line in diff.splitlines()[2:] if line[:1] in "+-"]
    assert changed == ["+    encrypted   = true", "+  monitoring = true"]
    assert diff.splitlines()[2] == "@@ -242,7 +242,9 @@"
    assert changed_line_count(before, after) == 2


def test_diff_applies_with_patch_and_matches_git(tmp_path):
    import subprocess
    before = _blocks_file(70)
    after = before.replace('"i3" {\n  ami = "x"\n', '"i3" {\n  ami = "y"\n').replace('"i69" {\n', '"i69" {\n  monitoring = true\n')
    after = after[: after.rindex("}")]  # and no final newline
    (tmp_path / "main.tf").write_text(before)
    (tmp_path / "fix.patch").write_text(unified_diff("main.tf", before, after))
    subprocess.run(["git", "apply", "--unidiff-zero", "fix.patch"], cwd=tmp_path, check=True)
    assert (tmp_path / "main.tf").read_text() == after
    assert unified_diff("main.tf", before, before) == ""


def test_diff_of_a_huge_repetitive_file_is_minimal_and_cheap():
    # 60,000 lines, two of every three repeated 20,000 times: an exact SequenceMatcher over the
    # whole middle is quadratic here (minutes); anchoring on unique lines keeps it to the changes.
    before = "".join(f'resource "x" "i{i}" {{\n  a = 1\n}}\n' for i in range(20000))
    after = before.replace('"i100" {\n  a = 1\n', '"i100" {\n  a = 1\n  b = 2\n').replace('"i19000" {\n  a = 1\n', '"i19000" {\n  a = 2\n')
    diff = unified_diff("big.tf", before, after)
    assert [line for line in diff.splitlines()[2:] if line[:1] in "+-"] == ["+  b = 2", "-  a = 1", "+  a = 2"]
    assert changed_line_count(before, after) == 2
