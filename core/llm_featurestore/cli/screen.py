"""Where the commands draw: rich's tables and panels when rich is installed, plain text
when it is not (a core-only install), through the same three calls.

The commands decide what to show (:mod:`llm_featurestore.cli.show`); a screen only
draws it. Styles are rich style names; the plain screen ignores them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Cell", "Column", "PlainScreen", "RichScreen", "Screen", "new_screen"]

Cell = str | tuple[str, str]
"""A table cell: its text, or ``(text, style)``."""


@dataclass(frozen=True)
class Column:
    """A table column: its header, and how its cells sit."""

    header: str
    no_wrap: bool = False
    right: bool = False


class Screen(Protocol):
    """What a command draws on."""

    def line(self, text: str, style: str = "") -> None:
        """One line (wrapped by rich, as is by the plain screen)."""

    def table(self, title: str, columns: Sequence[Column], rows: Iterable[Sequence[Cell]]) -> None:
        """A titled table, one row per sequence of cells (as many as ``columns``)."""

    def panel(self, title: str, body: str) -> None:
        """A titled block of text, shown verbatim."""


def _split(cell: Cell) -> tuple[str, str]:
    return cell if isinstance(cell, tuple) else (cell, "")


class RichScreen:
    """Draws with rich (tables with borders, panels, colours where the terminal has them)."""

    def __init__(self, console: Any = None) -> None:
        """Draw on ``console`` (a ``rich.console.Console``), by default one on stdout."""
        from rich.console import Console

        self.console = console or Console(highlight=False, soft_wrap=False)

    def line(self, text: str, style: str = "") -> None:
        from rich.text import Text

        self.console.print(Text(text, style=style))

    def table(self, title: str, columns: Sequence[Column], rows: Iterable[Sequence[Cell]]) -> None:
        from rich.table import Table
        from rich.text import Text

        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(
                column.header, no_wrap=column.no_wrap, justify="right" if column.right else "left"
            )
        for row in rows:
            table.add_row(*(Text(text, style=style) for text, style in map(_split, row)))
        self.console.print(table)

    def panel(self, title: str, body: str) -> None:
        from rich.panel import Panel
        from rich.text import Text

        self.console.print(Panel(Text(body), title=title, expand=False))


class PlainScreen:
    """Draws plain text: aligned columns under a dashed header, panels as indented blocks."""

    def _write(self, text: str) -> None:
        sys.stdout.write(text + "\n")  # sys.stdout at call time (captured in tests)

    def line(self, text: str, style: str = "") -> None:
        self._write(text)

    def table(self, title: str, columns: Sequence[Column], rows: Iterable[Sequence[Cell]]) -> None:
        cells = [[" ".join(_split(cell)[0].split()) for cell in row] for row in rows]
        widths = [
            max([len(column.header), *(len(row[i]) for row in cells)])
            for i, column in enumerate(columns)
        ]
        self._write(title)
        self._write(_row([c.header for c in columns], widths, columns))
        self._write(_row(["-" * w for w in widths], widths, columns))
        for row in cells:
            self._write(_row(row, widths, columns))
        self._write("")

    def panel(self, title: str, body: str) -> None:
        self._write(title)
        for text in body.splitlines():
            self._write(f"  {text}".rstrip())
        self._write("")


def _row(texts: Sequence[str], widths: Sequence[int], columns: Sequence[Column]) -> str:
    out = [
        text.rjust(width) if column.right else text.ljust(width)
        for text, width, column in zip(texts, widths, columns, strict=True)
    ]
    return "  ".join(out).rstrip()


def new_screen() -> Screen:
    """A :class:`RichScreen` when rich can be imported, else a :class:`PlainScreen`."""
    try:
        import rich.console  # noqa: F401
    except ImportError:
        return PlainScreen()
    return RichScreen()
