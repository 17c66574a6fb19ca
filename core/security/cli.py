"""`trireme token ...`, `trireme audit` and `trireme hash-password`: the server's tokens, its audit
log, and password hashes for `--http-credentials`."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated, Any

import typer

from core.clikit import Api, Column, fail, new_app, print_json, print_table, say

tokens = new_app("Bearer tokens (Nomad's ACL tokens): bootstrap, create, list, revoke, whoami.")
Url = Annotated[str, typer.Option("--url", envvar="TRIREME_URL", help="The Trireme server.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
DEFAULT_URL = "http://127.0.0.1:8080"


def _print_token(token: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(token)
        return
    say(f"AccessorID: {token['AccessorID']}")
    say(f"SecretID:   {token['SecretID']}   (shown once: keep it, e.g. export TRIREME_TOKEN=...)")
    say(f"Name:       {token['Name']}")
    say(f"Type:       {token['Type']}")
    say(f"Roles:      {', '.join(token.get('Roles') or []) or '-'}")


@tokens.command("bootstrap")
def bootstrap(url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    """Create the first management token (once, from the server's own machine).

    Example: trireme token bootstrap
    """
    _print_token(Api(url).call("POST", "/v1/acl/bootstrap"), as_json)


@tokens.command("create")
def create(name: Annotated[str, typer.Argument(help="Who the token acts as (letters, digits, _ . @ -).")],
           role: Annotated[list[str] | None, typer.Option("--role", help="A role from the server's roles file; "
                                                          "repeat for more.")] = None,
           management: Annotated[bool, typer.Option("--management", help="An admin token.")] = False,
           url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    """Create a token; its secret is printed once.

    Example: trireme token create ci --role deployers
    """
    body = {"Name": name, "Type": "management" if management else "client", "Roles": role or []}
    _print_token(Api(url).call("POST", "/v1/acl/token", json=body), as_json)


@tokens.command("list")
def list_tokens(url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    """Every token (never their secrets).

    Example: trireme token list --json
    """
    found = Api(url).call("GET", "/v1/acl/tokens")
    if as_json:
        print_json(found)
        return
    print_table(["ACCESSOR", "NAME", "TYPE", "ROLES", "CREATED"],
                [[t["AccessorID"], t["Name"], t["Type"], ",".join(t.get("Roles") or []) or "-", t["CreateTime"]]
                 for t in found])


@tokens.command("revoke")
def revoke(accessor: Annotated[str, typer.Argument(help="The token's AccessorID (see `trireme token list`).")],
           url: Url = DEFAULT_URL) -> None:
    """Revoke a token: it is refused from now on.

    Example: trireme token revoke 8e4b0b8a-...
    """
    token = Api(url).call("DELETE", f"/v1/acl/token/{accessor}")
    say(f"revoked token {token['AccessorID']} ({token['Name']})")


@tokens.command("whoami")
def whoami(url: Url = DEFAULT_URL, as_json: AsJson = False) -> None:
    """Who the server takes this command for, and its roles.

    Example: trireme token whoami --url https://trireme.example.com:8080
    """
    me = Api(url).call("GET", "/v1/acl/whoami")
    if as_json:
        print_json(me)
        return
    say(f"{me['principal'] or '(anonymous)'} ({me['kind']}): roles {', '.join(me['roles']) or '-'}")


def audit(url: Url = DEFAULT_URL, limit: Annotated[int, typer.Option(min=1, max=10000, help="At most this many.")]
          = 50, principal: Annotated[str | None, typer.Option(help="Only this principal's.")] = None,
          as_json: AsJson = False, wide: Annotated[bool, typer.Option("--wide", help="Print the table at its "
                                                                      "full width.")] = False) -> None:
    """The server's audit log, newest first: who changed what, and how it ended (admins only).

    Example: trireme audit --limit 20
    """
    params: dict[str, Any] = {"limit": limit}
    if principal is not None:
        params["principal"] = principal
    entries = Api(url).call("GET", "/v1/audit", params=params)
    if as_json:
        print_json(entries)
        return
    print_table(["TIME", "PRINCIPAL", "METHOD", Column("PATH", wraps=True), "STATUS", "OUTCOME",
                 Column("RESOURCES", wraps=True)],
                [[e["time"], e["principal"] or "-", e["method"], e["path"], str(e["status"]), e["outcome"],
                  ", ".join(e.get("resources") or []) or "-"] for e in entries], wide)


def hash_password() -> None:
    """Print an argon2 hash of a password (read from the terminal, or a line of standard input),
    for `trireme serve --http-credentials USER:HASH`, so no password is on a command line.

    Example: trireme hash-password
    """
    from core.security.passwords import hash_password as argon2_hash

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            fail("the passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        fail("an empty password cannot be used")
    say(argon2_hash(password))
