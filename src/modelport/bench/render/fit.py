"""Tables that fit the console: compact headers and cells first, then the least important
columns left out (every figure stays in --json and --csv)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from rich.table import Table
from rich.text import Text

T = TypeVar("T")
_PER_COLUMN = 3  # one padding space each side and one border; the table adds one more


def fmt_ms(value: float) -> str:
    """Milliseconds with three significant digits."""
    return f"{value:.3g}" if value < 1000 else f"{value:.0f}"


@dataclass(frozen=True)
class Column(Generic[T]):
    """One column: its header, how to fill it, and how hard to keep it.

    Attributes:
        header: the full header.
        cell: the cell text (rich markup) for one row.
        keep: higher stays longer when the console is narrow.
        justify: ``left`` or ``right``.
        short: a shorter header for narrow consoles (the full one when empty).
        compact: a shorter cell for narrow consoles (``cell`` when None).
    """

    header: str
    cell: Callable[[T], str]
    keep: int
    justify: str = "right"
    short: str = ""
    compact: Callable[[T], str] | None = None

    def text(self, row: T, narrow: bool) -> str:
        """The cell for ``row``, compact when ``narrow``."""
        return self.compact(row) if narrow and self.compact else self.cell(row)

    def title(self, narrow: bool) -> str:
        """The header, short when ``narrow``."""
        return self.short if narrow and self.short else self.header


def _width(column: Column[T], rows: Sequence[T], narrow: bool) -> int:
    cells = [Text.from_markup(column.text(r, narrow)).cell_len for r in rows]
    return max([len(column.title(narrow)), *cells]) + _PER_COLUMN


def fit(
    columns: Sequence[Column[T]], rows: Sequence[T], width: int
) -> tuple[list[Column[T]], bool]:
    """The columns to show, in order, and whether to use their narrow forms.

    Full forms when everything fits; else narrow forms; then columns are left out, lowest
    ``keep`` first, until the table fits ``width`` (or only the most important remain).
    """
    for narrow in (False, True):
        total = 1 + sum(_width(c, rows, narrow) for c in columns)
        if total <= width:
            return list(columns), narrow
    shown = list(columns)
    by_importance = sorted(columns, key=lambda c: c.keep)
    total = 1 + sum(_width(c, rows, True) for c in shown)
    for column in by_importance:
        if total <= width or len(shown) <= 2:
            break
        shown.remove(column)
        total -= _width(column, rows, True)
    return shown, True


def fitted_table(
    title: str, columns: Sequence[Column[T]], rows: Sequence[T], width: int
) -> tuple[Table, list[str]]:
    """A rich table of ``rows`` fitting ``width``, and the headers that were left out."""
    shown, narrow = fit(columns, rows, width)
    table = Table(title=title, title_justify="left")
    for column in shown:
        table.add_column(
            column.title(narrow), justify="left" if column.justify == "left" else "right"
        )
    for row in rows:
        table.add_row(*(column.text(row, narrow) for column in shown))
    left_out = [c.header for c in columns if c not in shown]
    return table, left_out
