"""What every Trireme command line shares: its Typer apps, one-line errors, server calls, output, --watch.

Rules for every command (tests/cli checks them on every command of every CLI):
- a user's mistake (a missing file, an unreachable server, a refused request) prints one line
  on stderr and exits 1; usage errors keep Typer's exit 2; no traceback;
- text from the server or from help strings is shown as written (never read as Rich markup);
- `--json` prints what a show, list or status command knows as JSON on stdout.
"""

from __future__ import annotations

from core.clikit.app import TriremeGroup, new_app, version_option
from core.clikit.credentials import client_options, set_ca_cert
from core.clikit.errors import fail, prepare_directory, read_source
from core.clikit.http import Api
from core.clikit.output import Column, print_json, print_table, say
from core.clikit.watch import DEFAULT_TIMEOUT, Progress, follow

__all__ = [
    "DEFAULT_TIMEOUT",
    "Api",
    "Column",
    "Progress",
    "TriremeGroup",
    "client_options",
    "fail",
    "follow",
    "new_app",
    "prepare_directory",
    "print_json",
    "print_table",
    "read_source",
    "say",
    "set_ca_cert",
    "version_option",
]
