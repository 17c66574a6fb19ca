"""The Typer apps of Trireme's command lines: help shown as written, user errors as one line, --version."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpx
import typer
from rich.markup import escape
from typer.core import TyperGroup

from core.clikit.errors import describe_os_error, fail
from core.clikit.http import unreachable

DISTRIBUTION = "trireme"
_ESCAPED = "_trireme_help_escaped"


class TriremeGroup(TyperGroup):
    """A command group of a Trireme CLI.

    Help texts are escaped for Rich before the first help page is drawn: Rich reads `[x]` as
    markup, so `[default: ...]` would vanish and `[/instances]` would crash the help page.
    Errors a user can cause and that a command did not handle itself (a file that cannot be read
    or written, a server that cannot be reached) end the command with one line and exit 1."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        escape_help(self)
        return super().main(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except OSError as exc:
            fail(describe_os_error(exc))
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            fail(unreachable(_url_of(exc), exc))


def _url_of(exc: Exception) -> str:
    try:
        return str(exc.request.url.copy_with(query=None))  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):
        return "the server"


def escape_help(command: Any) -> None:
    """Escape the help of `command`, its parameters and every command below it (once)."""
    if getattr(command, _ESCAPED, False):
        return
    for attribute in ("help", "short_help", "epilog"):
        text = getattr(command, attribute, None)
        if isinstance(text, str):
            setattr(command, attribute, escape(text))
    for param in getattr(command, "params", []):
        if isinstance(getattr(param, "help", None), str):
            param.help = escape(param.help)
    setattr(command, _ESCAPED, True)
    for sub in getattr(command, "commands", {}).values():
        escape_help(sub)


def new_app(help: str, root: bool = False, **kwargs: Any) -> typer.Typer:
    """A Typer app (or command group) of a Trireme CLI; a `root` app offers shell completion
    (`--install-completion`, `--show-completion`)."""
    return typer.Typer(cls=TriremeGroup, help=help, no_args_is_help=True, add_completion=root,
                       rich_markup_mode="rich", **kwargs)


def package_version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown (not installed)"


def _print_version(prog: str) -> Callable[[bool], None]:
    def callback(value: bool) -> None:
        if value:
            typer.echo(f"{prog} {package_version()}")
            raise typer.Exit()
    return callback


def version_option(prog: str) -> Any:
    """The `--version` option of a root app, printing `PROG VERSION` (the installed trireme's)."""
    return typer.Option("--version", callback=_print_version(prog), is_eager=True,
                        help="Print the version and exit.")
