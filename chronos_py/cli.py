"""`trireme chronos ...`: a thin client of the REST API (any Chronos-compatible server)."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Chronos: scheduled and dependent jobs.")
