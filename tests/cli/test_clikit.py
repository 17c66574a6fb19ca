"""core.clikit's rules, unit by unit: server errors as one line, hints in the CLI's words, tables
that keep ids whole, and --watch's progress and timeout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import certifi
import httpx
import pytest
import typer

from core.clikit import Api, Column, Progress, follow, print_table
from core.clikit.credentials import client_options, trusted
from core.clikit.http import explain


def answer(status: int, body: object = None, text: str = "") -> httpx.Response:
    return httpx.Response(status, json=body) if body is not None else httpx.Response(status, text=text)


def test_explain_reads_marathon_chronos_and_aurora_errors() -> None:
    assert explain(answer(409, {"message": "An app with id [/web] already exists."})) == \
        "error 409: An app with id [/web] already exists."
    assert explain(answer(422, {"message": "Object is not valid", "details": [
        {"path": "/cpus", "errors": ["must be >= 0", "must be a number"]}]})) == \
        "error 422: Object is not valid (/cpus: must be >= 0, must be a number)"
    assert explain(answer(400, {"status": "Bad Request", "message": "parents: job x does not exist"})) == \
        "error 400: parents: job x does not exist"
    assert explain(answer(400, {"responseCode": "INVALID_REQUEST", "details": [{"message": "no such job"}]})) == \
        "error 400: no such job"
    assert explain(answer(502, text="<html>bad gateway</html>")) == "error 502: <html>bad gateway</html>"
    assert explain(answer(503, text="")) == "error 503: Service Unavailable"


def test_hints_speak_of_the_cli_flag() -> None:
    api = Api("http://x", hints={"?force=true": "--force"})
    assert api.translate("App is locked. Override with the option '?force=true'.") == \
        "App is locked. Override with the option '--force'."


def test_tables_keep_ids_whole_and_show_server_text_as_written(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    task_id = "web_frontend.4f1a2b3c-1111-2222-3333-444455556666"
    print_table(["ID", "STATE", Column("MESSAGE", wraps=True)], [(task_id, "TASK_RUNNING", "[/web] [bold]x[/bold]")])
    out = capsys.readouterr().out
    assert task_id in out and "TASK_RUNNING" in out and "[/web]" in out and "[bold]x[/bold]" in out
    print_table(["ID", Column("CMD", wraps=True)], [("a", "word " * 30)])
    assert max(len(line.rstrip()) for line in capsys.readouterr().out.splitlines()) <= 40
    print_table(["ID", Column("CMD", wraps=True)], [("a", "word " * 30)], wide=True)
    assert ("word " * 30).strip() in capsys.readouterr().out


def polls(*answers: Progress | None) -> Iterator[Progress | None]:
    yield from answers


def test_follow_prints_one_line_per_change_when_not_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    steps = polls(Progress("step 1/2: 0/2 ready", 0, 2), Progress("step 1/2: 0/2 ready", 0, 2),
                  Progress("step 2/2: 1/2 ready", 1.5, 2), None)
    follow(lambda: next(steps), "deployment d", timeout=60, interval=0)
    assert capsys.readouterr().out.splitlines() == ["step 1/2: 0/2 ready", "step 2/2: 1/2 ready"]


def test_follow_ends_with_exit_1_after_its_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as ended:
        follow(lambda: Progress("waiting"), "deployment d", timeout=0.2, interval=0.05)
    assert ended.value.exit_code == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["waiting"]
    assert "deployment d did not end within 0.2 s" in captured.err


def test_follow_draws_a_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    steps = polls(Progress("a", 0, 2), Progress("b", 1, 2), None)
    follow(lambda: next(steps), "deployment d", timeout=60, interval=0)
    with pytest.raises(typer.Exit):
        follow(lambda: Progress("c", 1, 2), "deployment d", timeout=0.1, interval=0.05)


def test_each_tls_context_is_built_once_and_again_when_its_ca_file_changes(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "TRIREME_CA_CERT", "TRIREME_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRIREME_CONFIG", str(tmp_path / "none.toml"))
    assert trusted() is trusted() is client_options("http://127.0.0.1:1")["verify"]  # the system's CAs, read once
    bundle = Path(certifi.where()).read_text()
    ca = tmp_path / "ca.pem"
    ca.write_text(bundle)
    first = trusted(str(ca))
    assert trusted(str(ca)) is first and first is not trusted()
    monkeypatch.setenv("TRIREME_CA_CERT", str(ca))
    assert client_options("http://127.0.0.1:1")["verify"] is first
    ca.write_text(bundle[: bundle.index("-----END CERTIFICATE-----") + 26])  # rewritten: one certificate left
    assert trusted(str(ca)) is not first
    assert len(trusted(str(ca)).get_ca_certs()) == 1
