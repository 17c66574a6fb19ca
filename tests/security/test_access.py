"""The access model, the roles file, passwords, tokens and the server's names, unit by unit."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest

from core.security.access import (
    ANONYMOUS,
    Access,
    Action,
    Denied,
    Grant,
    Policy,
    Principal,
    PrincipalKind,
    Resource,
    Role,
    access_of,
    path_covered,
)
from core.security.authentication import Authenticator, Unauthenticated
from core.security.passwords import CredentialError, PasswordBook, load_mesos_credentials, parse_credential
from core.security.roles_file import RolesFileError, load_roles, parse_roles
from core.security.serve_options import ServeOptionError, ServeSecurityOptions, security_settings
from core.security.settings import SecuritySettings, allowed_hosts, exposure_problem
from core.security.tokens import TokenBook, TokenError
from core.store.base import Namespace
from core.store.memory import MemoryStore

FRAMEWORKS = ("marathon", "chronos", "aurora")


def test_actions_imply_view_and_admin_implies_all() -> None:
    assert Action.UPDATE.implies(Action.VIEW) and Action.DELETE.implies(Action.VIEW)
    assert not Action.UPDATE.implies(Action.DELETE) and not Action.VIEW.implies(Action.UPDATE)
    assert all(Action.ADMIN.implies(a) for a in Action)
    assert Action.parse("create") is Action.UPDATE
    with pytest.raises(ValueError, match="unknown action 'launch'"):
        Action.parse("launch")


def test_resource_patterns_cover_paths_below_a_prefix_not_beside_it() -> None:
    assert path_covered("/web", "/web") and path_covered("/web", "/web/api") and path_covered("/web/", "/web/a")
    assert not path_covered("/web", "/webby") and not path_covered("/web", "/")
    assert path_covered("nightly-*", "nightly-backup") and not path_covered("nightly-*", "daily")
    assert path_covered("www-data", "www-data") and not path_covered("www-data", "www-data2")
    assert path_covered("*", "anything") and path_covered("", "anything")


def test_grants_match_framework_path_and_owner() -> None:
    grant = Grant(Action.DELETE, "chronos", "*", (("owner", "web@example.com"),))
    mine = Resource("chronos", "backup", {"owner": ("web@example.com", "ops@example.com")})
    theirs = Resource("chronos", "backup", {"owner": ("db@example.com",)})
    assert grant.covers(Action.DELETE, mine) and grant.covers(Action.VIEW, mine)
    assert not grant.covers(Action.DELETE, theirs)
    assert not grant.covers(Action.UPDATE, mine)
    assert not grant.covers(Action.DELETE, Resource("marathon", "backup", {"owner": ("web@example.com",)}))


def test_access_require_records_resources_and_raises_with_the_frameworks_answer() -> None:
    role = Role("web", (Grant(Action.UPDATE, "marathon", "/web"),))
    access = Access(Principal("alice", PrincipalKind.USER, (role,)))
    access.require(Action.UPDATE, Resource("marathon", "/web/api"))
    assert access.allows(Action.VIEW, Resource("marathon", "/web"))
    assert not access.allows(Action.VIEW, Resource("marathon", "/db"))
    with pytest.raises(Denied) as denied:
        access.require(Action.DELETE, Resource("marathon", "/web/api"))
    assert denied.value.response.status_code == 403
    assert b"Not Authorized to perform this action!" in bytes(denied.value.response.body)
    assert access.resources == ["marathon:/web/api", "marathon:/web/api"] and access.denied
    assert access_of({}).principal is ANONYMOUS  # no middleware ran: authentication is off


def test_roles_file_grants_and_principals(tmp_path: Path) -> None:
    path = tmp_path / "roles.toml"
    path.write_text("""
[roles.web-team]
grants = [
  { action = "create", framework = "marathon", resource = "/web" },
  { action = "delete", framework = "chronos", owner = "web@example.com" },
  { action = "admin", framework = "aurora", resource = "www-data" },
]
[principals]
alice = ["web-team", "viewer"]
ci = ["admin"]
""")
    policy = load_roles(path, FRAMEWORKS)
    alice = Principal("alice", PrincipalKind.USER, policy.roles_of("alice"))
    assert alice.may(Action.UPDATE, Resource("marathon", "/web/x"))
    assert not alice.may(Action.UPDATE, Resource("marathon", "/db"))
    assert alice.may(Action.VIEW, Resource("marathon", "/db"))  # viewer
    assert alice.may(Action.ADMIN, Resource("aurora", "www-data"))
    assert not alice.may(Action.ADMIN, Resource("core", "tokens"))
    assert Principal("ci", PrincipalKind.TOKEN, policy.roles_of("ci")).may(Action.ADMIN, Resource("core", "tokens"))
    assert policy.roles_of("stranger") == ()
    assert Policy().roles_of("anyone")[0].name == "admin"  # no roles file: every authenticated principal is admin


@pytest.mark.parametrize(("text", "error"), [
    ('[roles.x]\ngrants = [{ action = "fly" }]', "roles.x.grants[0].action: unknown action 'fly'"),
    ('[roles.x]\ngrants = [{ action = "view", framework = "kubernetes" }]', "unknown framework 'kubernetes'"),
    ('[roles.x]\ngrants = [{ action = "view", path = "/web" }]', "unknown key 'path'"),
    ('[roles.x]\ngrants = [{ framework = "marathon" }]', "roles.x.grants[0].action is required"),
    ('[principals]\nalice = ["nosuch"]', "principals.alice: unknown role 'nosuch'"),
    ('[roles.admin]\ngrants = []', "'admin' is built in"),
    ('[users]\nalice = 1', "unknown section 'users'"),
    ('roles = [', "not valid TOML"),
])
def test_roles_file_mistakes_name_the_field(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "roles.toml"
    path.write_text(text)
    with pytest.raises(RolesFileError, match=r"roles\.toml") as exc:
        load_roles(path, FRAMEWORKS)
    assert error in str(exc.value)


async def test_passwords_are_hashed_checked_in_a_thread_and_cached() -> None:
    user, hashed = parse_credential("alice:s3cr:et")
    assert user == "alice" and hashed.startswith("$argon2id$") and "s3cr" not in hashed
    assert parse_credential(f"bob:{hashed}") == ("bob", hashed)  # given hashed: kept as is
    with pytest.raises(CredentialError, match="USER:PASSWORD"):
        parse_credential("alice")
    with pytest.raises(CredentialError, match="not an argon2 hash"):
        parse_credential("alice:$argon2id$junk")
    book = PasswordBook([(user, hashed)])
    assert await book.verify("alice", "s3cr:et")
    assert not await book.verify("alice", "wrong") and not await book.verify("nobody", "s3cr:et")
    started = time.monotonic()
    for _ in range(20):
        assert await book.verify("alice", "s3cr:et")
    assert time.monotonic() - started < 1.0  # 20 argon2 checks would take seconds: the cache answered


def test_mesos_credentials_file(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text('{"credentials": [{"principal": "marathon-ext", "secret": "kitesurf"}]}')
    [(principal, hashed)] = load_mesos_credentials(path)
    assert principal == "marathon-ext" and hashed.startswith("$argon2id$")
    path.write_text('{"credentials": [{"principal": "a:b", "secret": "x"}]}')
    with pytest.raises(CredentialError, match=r"credentials\[0\].principal must not contain ':'"):
        load_mesos_credentials(path)


async def test_tokens_keep_only_a_hash_and_are_found_by_secret() -> None:
    store = Namespace(MemoryStore(), "core")
    book = await TokenBook(store).load()
    token, secret = await book.create("ci", "client", ("deployers",), known_roles=frozenset({"deployers"}))
    stored = (await store.get(f"tokens/{token.accessor}"))
    assert stored is not None and secret.encode() not in stored.value
    assert book.find(secret) == token and book.find(secret + "x") is None
    reloaded = await TokenBook(store).load()
    assert reloaded.find(secret) == token
    with pytest.raises(TokenError, match="Roles: unknown role 'ops'"):
        await book.create("ci2", "client", ("ops",), known_roles=frozenset({"deployers"}))
    with pytest.raises(TokenError, match="Name:"):
        await book.create("has space")
    assert await book.revoke(token.accessor) == token and book.find(secret) is None
    await book.create("root", "management", bootstrap=True)
    with pytest.raises(TokenError, match="ACL bootstrap already done"):
        await book.create("again", "management", bootstrap=True)


async def test_authenticator_reads_basic_bearer_and_token_headers() -> None:
    book = await TokenBook(Namespace(MemoryStore(), "core")).load()
    _, secret = await book.create("ci", "client")
    policy = parse_roles({"roles": {"deploy": {"grants": [{"action": "update", "framework": "marathon"}]}},
                          "principals": {"alice": ["viewer"]}}, FRAMEWORKS)
    auth = Authenticator(PasswordBook([parse_credential("alice:pw")]), PasswordBook(), policy, lambda: book)
    basic = "Basic " + base64.b64encode(b"alice:pw").decode()
    alice = await auth.authenticate(basic)
    assert alice is not None and alice.kind is PrincipalKind.USER and [r.name for r in alice.roles] == ["viewer"]
    for header in (f"Bearer {secret}", f"token={secret}"):
        ci = await auth.authenticate(header)
        assert ci is not None and ci.name == "ci" and ci.kind is PrincipalKind.TOKEN and ci.roles == ()
    assert await auth.authenticate(None) is None
    for wrong in ("Basic " + base64.b64encode(b"alice:nope").decode(), "Bearer nope", "Basic %%%", "Digest x"):
        with pytest.raises(Unauthenticated):
            await auth.authenticate(wrong)


def test_host_names_the_server_answers() -> None:
    names = allowed_hosts("127.0.0.1", 8080, SecuritySettings())
    assert names is not None
    assert {"127.0.0.1:8080", "localhost:8080", "[::1]:8080"} <= names
    assert "evil.example:8080" not in names and "127.0.0.1" not in names
    named = allowed_hosts("127.0.0.1", 80, SecuritySettings(server_names=("Trireme.Example.com",)))
    assert named is not None and {"trireme.example.com", "trireme.example.com:80", "127.0.0.1"} <= named
    assert allowed_hosts("127.0.0.1", 8080, SecuritySettings(server_names=("*",))) is None


def test_only_loopback_may_go_without_authentication() -> None:
    assert exposure_problem("127.0.0.1", SecuritySettings()) is None
    assert exposure_problem("localhost", SecuritySettings()) is None
    assert exposure_problem("::1", SecuritySettings()) is None
    assert "--insecure" in (exposure_problem("0.0.0.0", SecuritySettings()) or "")
    assert exposure_problem("0.0.0.0", SecuritySettings(authenticate=True)) is None
    assert exposure_problem("10.0.0.5", SecuritySettings(http_credentials=(("a", "h"),))) is None


def test_serve_options_refuse_what_cannot_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MARATHON_HTTP_CREDENTIALS", raising=False)
    monkeypatch.setenv("MESOSPHERE_HTTP_CREDENTIALS", "carol:pw")
    settings = security_settings(ServeSecurityOptions(), FRAMEWORKS)
    assert [u for u, _ in settings.http_credentials] == ["carol"] and settings.authentication
    monkeypatch.delenv("MESOSPHERE_HTTP_CREDENTIALS")
    roles = tmp_path / "roles.toml"
    roles.write_text("[principals]\nalice = ['viewer']\n")
    cases = [
        (ServeSecurityOptions(roles=roles), "--roles", "roles need authentication"),
        (ServeSecurityOptions(authenticate_frameworks=True), "--authenticate-frameworks", "cannot authenticate"),
        (ServeSecurityOptions(ssl_cert=tmp_path / "cert.pem"), "--ssl-key", "go together"),
        (ServeSecurityOptions(ssl_cert=tmp_path / "c.pem", ssl_key=tmp_path / "k.pem"), "--ssl-cert", "no such file"),
        (ServeSecurityOptions(http_credentials=("a:1", "a:2")), "--http-credentials", "given twice"),
    ]
    for options, flag, message in cases:
        with pytest.raises(ServeOptionError, match=message) as exc:
            security_settings(options, FRAMEWORKS)
        assert exc.value.option == flag
