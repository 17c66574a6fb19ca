"""What commands print: plain lines, JSON for scripts, and tables that never cut an id."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table


def console(err: bool = False, width: int | None = None) -> Console:
    """A console that prints text as written: server text such as `[/web]` is data, not markup."""
    return Console(stderr=err, markup=False, highlight=False, emoji=False, width=width)


def say(text: str, err: bool = False) -> None:
    typer.echo(text, err=err)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))


UNLIMITED = 1_000_000


@dataclass(frozen=True)
class Column:
    """A table column. Values are shown whole (ids, states, hosts), except in a `wraps` column
    (free text such as a command line), which wraps to fit the terminal."""

    title: str
    wraps: bool = False


def print_table(columns: Sequence[Column | str], rows: Iterable[Sequence[str]], wide: bool = False) -> None:
    """A table on stdout. Only `wraps` columns wrap; when the whole columns alone do not fit the
    terminal, or with `wide`, the table is printed at its natural width (nothing is cut)."""
    rows = [list(r) for r in rows]
    cols = [c if isinstance(c, Column) else Column(c) for c in columns]
    table = Table(box=None, pad_edge=False, header_style="bold")
    for i, col in enumerate(cols):
        longest = max([len(col.title), *(len(r[i]) for r in rows)])
        if col.wraps:
            table.add_column(col.title, overflow="fold")
        else:
            table.add_column(col.title, no_wrap=True, min_width=longest)
    for row in rows:
        table.add_row(*row)
    out = console()
    needed = Measurement.get(out, out.options.update_width(UNLIMITED), table)
    if wide or needed.minimum > out.width:
        out = console(width=max(needed.maximum, out.width))
    out.print(table)
