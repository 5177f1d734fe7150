"""Outside strings printed by the CLI: escaped, never read as markup."""
import io

from rich.console import Console

from bot.terminal import escape_controls, shown


def test_control_characters_become_visible_escapes():
    assert escape_controls("a\x1b[31mb\x1b[0m") == "a\\x1b[31mb\\x1b[0m"
    assert escape_controls("line\nforged: yes\r") == "line\\nforged: yes\\r"
    assert escape_controls("\x07\x00\x7f\x9b") == "\\x07\\x00\\x7f\\x9b"
    assert escape_controls("abc\u202etxt.yaml") == "abc\\u202etxt.yaml"      # right-to-left override
    assert escape_controls("tab\tok, café, 日本") == "tab\tok, café, 日本"


def test_markup_in_outside_strings_is_printed_as_written():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="standard", width=200)
    console.print(shown("[bold]x[/bold] [red]y\x1b[31m"))
    text = out.getvalue()
    assert "[bold]x[/bold] [red]y\\x1b[31m" in text
    assert "\x1b[1m" not in text and "\x1b[31m" not in text   # neither bold nor red was applied
