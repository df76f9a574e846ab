"""Plain, fast terminal tables that fit the terminal: the only table renderer of the CLI (no rich import).

A view is a sequence of parts — ``Table``, ``Text`` (prose) or other ``View`` s — rendered for a width:

    from dtrack.report.table import Column, Table, Text, View

    table = Table("BTC PERPETUAL FUNDING RATES", [
        Column("Venue"), Column("Symbol"),                      # priority 0: never dropped
        Column("8h-eq", align="right"),
        Column("Next payment", align="right", priority=6),      # dropped first when the width is short
        Column("Note", priority=3, wrap=True, min_width=20),    # prose: wraps inside its column
    ])
    table.add_row("binance", "BTCUSDT", "+0.0100%", "2h 20m", "", mark="!", style="red")
    view = View(table, Text("Rows marked ! exceed the alert threshold.", style="red"))
    print(view.render(80), end="")        # fits 80 columns; render(None): every column, nothing wrapped

Rules of ``render(width)``:

- Every cell is shown whole: a number or a symbol is never cut, wrapped or given an ellipsis. When the columns do
  not fit, ``wrap`` (prose) columns are narrowed first (down to their ``min_width``; their cells wrap onto more
  lines), then whole columns are dropped, the least important first: the highest ``priority`` number (ties: the
  rightmost). Priority 0 columns are never dropped (the table may then be wider than ``width``: give the
  essential columns priority 0 and keep them narrow).
- Titles and ``Text`` are prose: wrapped at spaces to ``width`` (continuation lines indented by two more spaces);
  ``Text(..., nobreak=("arbitrum:BTC/USD [WBTC.b-USDC]",))`` keeps such substrings on one line.
- A row's ``mark`` (``"!"``, ``"▲"`` …) is shown in a gutter before the first column, so a flagged row is visible
  without colour; ``style`` (``bold``, ``dim``, ``italic``, ``red``, ``green``, ``yellow``, combined with spaces)
  only colours it, with ``color=True`` (the CLI asks for it on a terminal, without ``NO_COLOR``).
- ``width=None`` (``--wide``): every column at its natural width, prose unwrapped, the terminal wraps.
- A titled table after other lines of a ``View`` is set off by one blank line.
- Lines carry no trailing spaces; the output ends with a newline.

Widths are display widths (East Asian wide characters count two), each cell's measured once per render.

``Column(name, align, priority)`` may be given positionally (``Column("APR", "right", 1)``); ``table.note(text)``
adds prose under a table. A query result's ``table()`` returns such a part; the CLI prints it with
``dtrack.cli.common.print_view`` (width from ``table_width()``: ``--wide`` -> None, else ``$COLUMNS``, else the
terminal's, else 200 in a pipe; colour from ``color_enabled()``) under ``as_of_line(result)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["Column", "Table", "Text", "View", "display_width", "wrap"]

Align = Literal["left", "right", "center"]

#: between two columns
GAP = "  "
_SGR = {"bold": "1", "dim": "2", "italic": "3", "red": "31", "green": "32", "yellow": "33", "blue": "34",
        "cyan": "36"}
_TOKENS = re.compile(r"\s*\S+")


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal (wide East Asian characters two, combining marks none)."""
    if text.isascii():
        return len(text)
    from unicodedata import combining, east_asian_width

    return sum(0 if combining(c) else 2 if east_asian_width(c) in "WF" else 1 for c in text)


def _paint(text: str, style: str, color: bool) -> str:
    if not (color and style and text):
        return text
    codes = ";".join(_SGR[s] for s in style.split() if s in _SGR)
    return f"\x1b[{codes}m{text}\x1b[0m" if codes else text


def _cut(token: str, room: int) -> tuple[str, str]:
    """The head of ``token`` that fits ``room`` columns (at least one character), and the rest."""
    used = 0
    for n, c in enumerate(token):
        used += display_width(c)
        if used > room:
            return (token[:n], token[n:]) if n else (token[:1], token[1:])
    return token, ""


def wrap(text: str, width: int | None, *, hang: int = 2, nobreak: Iterable[str] = ()) -> list[str]:
    """Prose ``text`` as lines of at most ``width`` columns, broken at spaces (a word longer than a line is cut);
    continuation lines are indented ``hang`` more columns than the first. Each ``\\n`` starts a new line;
    ``nobreak`` substrings are kept on one line. ``width=None``: the lines as they are."""
    out: list[str] = []
    for raw in text.split("\n"):
        raw = raw.rstrip()
        if width is None or display_width(raw) <= width:
            out.append(raw)
            continue
        for keep in nobreak:
            if " " in keep and keep in raw:
                raw = raw.replace(keep, keep.replace(" ", "\x00"))
        indent = len(raw) - len(raw.lstrip(" "))
        cont = " " * min(indent + hang, width // 2)
        line, used, started = "", 0, False
        for token in _TOKENS.findall(raw):
            tw = display_width(token)
            if started and used + tw <= width:
                line, used = line + token, used + tw
                continue
            if started:
                out.append(line)
                line, used = cont, len(cont)
                token = token.lstrip()
                tw = display_width(token)
            started = True
            while used + tw > width and token:  # a word longer than a line: cut
                head, token = _cut(token, max(width - used, 1))
                out.append(line + head)
                line, used = cont, len(cont)
                tw = display_width(token)
            line, used = line + token, used + tw
        out.append(line)
    return [line.replace("\x00", " ").rstrip() for line in out]


@dataclass(frozen=True, slots=True)
class Column:
    """A column: header ``name``, ``align`` (left, right or center), ``priority`` (0: never dropped; higher:
    dropped sooner when the width is short), ``wrap`` (a prose column: its cells wrap inside it rather than widen
    it, down to ``min_width`` columns, before any column is dropped)."""

    name: str
    align: Align = "left"
    priority: int = 0
    wrap: bool = False
    min_width: int = 20


class Part:
    """Something a view shows: lines for a width."""

    def lines(self, width: int | None, color: bool) -> list[str]:
        raise NotImplementedError

    def render(self, width: int | None = None, *, color: bool = False) -> str:
        """The part as text for ``width`` columns (None: as wide as it is), ending with a newline."""
        lines = self.lines(width, color)
        return "\n".join(lines) + "\n" if lines else ""

    def __str__(self) -> str:
        return self.render(None)

    def __rich_console__(self, console: object, options: object) -> Iterable[object]:
        """Printable by rich too (``Console().print(result.table())``), plain, at the console's width."""
        from rich.text import Text as RichText

        yield RichText(self.render(getattr(options, "max_width", None)).rstrip("\n"))


class Text(Part):
    """Prose: one paragraph or several lines (``\\n``), wrapped to the width; ``style`` colours it."""

    def __init__(self, text: str, style: str = "", *, nobreak: Iterable[str] = ()) -> None:
        self.text = text
        self.style = style
        self.nobreak = tuple(nobreak)

    def lines(self, width: int | None, color: bool) -> list[str]:
        return [_paint(line, self.style, color) for line in wrap(self.text, width, nobreak=self.nobreak)]


class View(Part):
    """Parts shown one after the other (``Table``, ``Text``, ``View`` or a plain string)."""

    def __init__(self, *parts: Part | str) -> None:
        self.parts: list[Part] = []
        for part in parts:
            self.add(part)

    def add(self, *parts: Part | str) -> View:
        """Append parts (a string is a ``Text``); returns the view."""
        self.parts += [Text(p) if isinstance(p, str) else p for p in parts]
        return self

    def lines(self, width: int | None, color: bool) -> list[str]:
        out: list[str] = []
        for part in self.parts:
            lines = part.lines(width, color)
            if out and out[-1] and lines and _titled(part):  # a blank line before a table's title
                out.append("")
            out += lines
        return out


def _titled(part: Part) -> bool:
    """Whether ``part`` starts with a table's title."""
    if isinstance(part, View):
        return bool(part.parts) and _titled(part.parts[0])
    return isinstance(part, Table) and bool(part.title)


class Table(Part):
    """A titled table: columns, rows of text cells (each row with an optional ``mark`` and ``style``), and
    notes (prose) under it."""

    def __init__(self, title: str | None, columns: Sequence[Column], *, title_style: str = "bold") -> None:
        self.title = title
        self.title_style = title_style
        self.columns = list(columns)
        self.rows: list[tuple[tuple[str, ...], str, str]] = []
        self.notes: list[Part] = []

    def add_row(self, *cells: str, mark: str = "", style: str = "") -> None:
        """A row: one text per column (already formatted; a newline is a space), the ``mark`` shown before it, its
        ``style``."""
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append((tuple(c.replace("\n", " ") if "\n" in c else c for c in cells), mark, style))

    def note(self, text: str, style: str = "", *, nobreak: Iterable[str] = ()) -> None:
        """A line of prose under the table."""
        self.notes.append(Text(text, style, nobreak=nobreak))

    def shown(self, width: int | None) -> list[tuple[int, int]]:
        """The columns ``render(width)`` shows, as (column index, width), in order."""
        return self._layout(width, self._gutter(), self._widths())[0]

    def _gutter(self) -> int:
        marks = [display_width(m) for _, m, _ in self.rows if m]
        return max(marks) + 1 if marks else 0

    def _widths(self) -> list[list[int]]:
        return [[display_width(row[i]) for row, _, _ in self.rows] for i in range(len(self.columns))]

    def _layout(self, width: int | None, gutter: int,
                cells: list[list[int]]) -> tuple[list[tuple[int, int]], list[int]]:
        cols = self.columns
        natural = [max([display_width(c.name), *cells[i]]) for i, c in enumerate(cols)]
        least = [min(natural[i], max(c.min_width, display_width(c.name))) if c.wrap else natural[i]
                 for i, c in enumerate(cols)]
        shown = list(range(len(cols)))
        while True:
            used = gutter + len(GAP) * (len(shown) - 1)
            fixed = used + sum(natural[i] for i in shown if not cols[i].wrap)
            wraps = [i for i in shown if cols[i].wrap]
            if width is None or fixed + sum(natural[i] for i in wraps) <= width:
                return [(i, natural[i]) for i in shown], natural
            if fixed + sum(least[i] for i in wraps) <= width:
                return [(i, w) for i, w in zip(shown, _share(shown, wraps, natural, least, width - fixed),
                                               strict=True)], natural
            droppable = [i for i in shown if cols[i].priority > 0]
            if not droppable:  # the essential columns alone are too wide: shown whole all the same
                return [(i, least[i]) for i in shown], natural
            shown.remove(max(droppable, key=lambda i: (cols[i].priority, i)))

    def lines(self, width: int | None, color: bool) -> list[str]:
        gutter = self._gutter()
        cells = self._widths()
        layout, _ = self._layout(width, gutter, cells)
        out: list[str] = []
        if self.title:
            out += [_paint(line, self.title_style, color) for line in wrap(self.title, width)]
        head = " " * gutter + GAP.join(_pad(self.columns[i].name, display_width(self.columns[i].name), w,
                                            self.columns[i].align) for i, w in layout)
        out.append(_paint(head.rstrip(), "bold", color))
        out.append(_paint((" " * gutter + GAP.join("─" * w for _, w in layout)).rstrip(), "dim", color))
        for r, (row, mark, style) in enumerate(self.rows):
            parts: list[list[tuple[str, int]]] = []
            for i, w in layout:
                text, tw = row[i], cells[i][r]
                if self.columns[i].wrap and tw > w:
                    parts.append([(piece, display_width(piece)) for piece in wrap(text, w, hang=0)])
                else:
                    parts.append([(text, tw)])
            for n in range(max(len(p) for p in parts)):
                lead = _pad(mark, display_width(mark), gutter, "left") if n == 0 else " " * gutter
                body = GAP.join(_pad(*(p[n] if n < len(p) else ("", 0)), w, self.columns[i].align)
                                for p, (i, w) in zip(parts, layout, strict=True))
                out.append(_paint((lead + body).rstrip(), style, color))
        for note in self.notes:
            out += note.lines(width, color)
        return out


def _pad(text: str, tw: int, width: int, align: Align) -> str:
    space = width - tw
    if space <= 0:
        return text
    if align == "right":
        return " " * space + text
    if align == "center":
        return " " * (space // 2) + text + " " * (space - space // 2)
    return text + " " * space


def _share(shown: list[int], wraps: list[int], natural: list[int], least: list[int], room: int) -> list[int]:
    """Widths of the shown columns: fixed ones natural, prose ones their least width plus a share of what is
    left, in proportion to how much more they would take."""
    spare = room - sum(least[i] for i in wraps)
    want = {i: natural[i] - least[i] for i in wraps}
    total = sum(want.values()) or 1
    got = {i: least[i] + min(want[i], spare * want[i] // total) for i in wraps}
    left = spare - sum(got[i] - least[i] for i in wraps)
    for i in sorted(wraps, key=lambda i: natural[i] - got[i], reverse=True):  # the remainder, one column each
        if left <= 0:
            break
        extra = min(left, natural[i] - got[i])
        got[i] += extra
        left -= extra
    return [got.get(i, natural[i]) for i in shown]
