"""A table of thousands of rows, drawn like rich's default table, in milliseconds.

rich.table.Table measures and wraps every cell through its render pipeline: about a millisecond
a row, so a simulation of the shared corpora (3,433 findings) spent more than 3 s in the table
alone. The cells here are one-line Texts (bot.terminal.shown: escaped, never markup), so the
columns are as wide as their widest cell and only the last column is folded, when a terminal is
narrower than the table.
"""
from __future__ import annotations

from typing import Sequence

from rich.console import Console
from rich.text import Text

# rich.box.HEAVY_HEAD, the box rich's Table draws by default.
_TOP, _HEAD, _RULE, _ROW, _BOTTOM = ("┏", "━", "┳", "┓"), "┃", ("┡", "━", "╇", "┩"), "│", ("└", "─", "┴", "┘")
MIN_LAST = 20      # the last column keeps at least this many cells when folded


def print_table(console: Console, title: str, headers: Sequence[str], rows: Sequence[Sequence[Text]]) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        for n, cell in enumerate(row):
            widths[n] = max(widths[n], cell.cell_len)
    total = sum(widths) + 3 * len(widths) + 1
    if console.is_terminal and total > console.width:
        widths[-1] = max(MIN_LAST, widths[-1] - (total - console.width))
    lines = [Text(title, style="italic"), _border(_TOP, widths),
             _line(_HEAD, [Text(h, style="bold") for h in headers], widths), _border(_RULE, widths)]
    for row in rows:
        lines.extend(_row_lines(console, row, widths))
    lines.append(_border(_BOTTOM, widths))
    console.print(Text("\n").join(lines), soft_wrap=True)


def _border(parts: tuple[str, str, str, str], widths: Sequence[int]) -> Text:
    left, fill, cross, right = parts
    return Text(left + cross.join(fill * (w + 2) for w in widths) + right)


def _line(bar: str, cells: Sequence[Text], widths: Sequence[int]) -> Text:
    out = Text(bar)
    for cell, width in zip(cells, widths):
        out.append(" ")
        out.append_text(cell)
        out.append(" " * (width - cell.cell_len + 1))
        out.append(bar)
    return out


def _row_lines(console: Console, row: Sequence[Text], widths: Sequence[int]) -> list[Text]:
    last = row[-1]
    if last.cell_len <= widths[-1]:
        return [_line(_ROW, row, widths)]
    folded = last.wrap(console, widths[-1], overflow="fold")
    blank = [Text("")] * (len(row) - 1)
    return [_line(_ROW, [*(row[:-1] if n == 0 else blank), part], widths) for n, part in enumerate(folded)]
