"""A user's mistake ends a command with one line and a non-zero exit, never a traceback
(no server needed: CliRunner, an unreachable port, missing files)."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import aurora_py.cli
from core.cli import cli_app
from tests.support.server import free_port


def trireme(*args: str, **env: str) -> Result:
    return CliRunner().invoke(cli_app(), list(args), prog_name="trireme", env={"COLUMNS": "200", **env})


def aurora(*args: str) -> Result:
    return CliRunner().invoke(aurora_py.cli.app, list(args), prog_name="aurora", env={"TRIREME_URL": ""})


def one_line(result: Result) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.fixture
def nowhere() -> str:
    """A URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.mark.parametrize("args", [("marathon", "app", "add", "{missing}"), ("chronos", "job", "add", "{missing}"),
                                  ("marathon", "group", "add", "{missing}"),
                                  ("marathon", "app", "update", "/web", "{missing}")])
def test_a_missing_file_is_one_line_naming_it(args: tuple[str, ...], tmp_path: Path, nowhere: str) -> None:
    missing = tmp_path / "nothere.json"
    result = trireme(*[a.format(missing=missing) for a in args], "--url", nowhere)
    assert result.exit_code == 1
    assert one_line(result) == f"{missing}: No such file or directory"


def test_a_directory_or_bad_json_as_a_definition(tmp_path: Path, nowhere: str) -> None:
    result = trireme("marathon", "app", "add", str(tmp_path), "--url", nowhere)
    assert result.exit_code == 1 and one_line(result) == f"{tmp_path}: Is a directory"
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    result = trireme("chronos", "job", "add", str(bad), "--url", nowhere)
    assert result.exit_code == 1 and one_line(result).startswith(f"{bad}: invalid JSON: ")


@pytest.mark.parametrize("verb", ["create", "inspect"])
def test_a_missing_aurora_config_is_one_line(verb: str, tmp_path: Path) -> None:
    result = aurora("job", verb, "devcluster/www/prod/hello", str(tmp_path / "hello.aurora"))
    assert result.exit_code == 1
    assert one_line(result) == (f"Error loading configuration: {tmp_path / 'hello.aurora'}: cannot read: "
                                "No such file or directory")


@pytest.mark.parametrize("args", [("marathon", "app", "list"), ("marathon", "task", "list"),
                                  ("marathon", "task", "log", "t1"), ("marathon", "app", "log", "/web"),
                                  ("chronos", "job", "log", "x"),
                                  ("aurora", "task", "log", "devcluster/www/prod/hello/0"),
                                  ("marathon", "deployment", "list"), ("marathon", "events"),
                                  ("chronos", "job", "list"), ("chronos", "job", "show", "x"), ("lb", "render"),
                                  ("aurora", "job", "status", "devcluster/www/prod/hello"),
                                  ("aurora", "update", "list", "devcluster")])
def test_an_unreachable_server_exits_1_naming_the_url(args: tuple[str, ...], nowhere: str) -> None:
    result = trireme(*args, "--url", nowhere)
    assert result.exit_code == 1
    assert one_line(result).startswith(f"cannot reach the server at {nowhere}: ")


def test_a_url_that_is_no_url_is_one_line() -> None:
    result = trireme("marathon", "app", "list", "--url", "localhost:8080")
    assert result.exit_code == 1 and one_line(result).startswith("cannot reach the server at localhost:8080: ")


def test_usage_errors_keep_exit_2(nowhere: str) -> None:
    assert trireme("marathon", "app", "scale", "/web", "many", "--url", nowhere).exit_code == 2
    assert trireme("marathon", "app", "list", "--no-such-option").exit_code == 2
    assert trireme("serve", "--port", "70000").exit_code == 2
    assert trireme("serve", "--log-level", "chatty").exit_code == 2
    for option, value, problem in (("--log-format", "xml", "must be text or json, not 'xml'"),
                                   ("--task-log-max-size", "huge", "'huge' is not a size"),
                                   ("--task-log-max-size", "100B", "less than one memory page"),
                                   ("--task-log-rotate", "-1", "")):
        refused = trireme("serve", option, value)
        assert refused.exit_code == 2 and option in refused.output and problem in refused.output, refused.output


def test_serve_refuses_a_data_dir_it_cannot_create(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    under = trireme("serve", "--data-dir", str(a_file / "data"))
    assert under.exit_code == 1
    assert one_line(under) == f"--data-dir {a_file / 'data'}: cannot create it: {a_file} is not a directory"
    itself = trireme("serve", "--data-dir", str(a_file))
    assert itself.exit_code == 1 and one_line(itself) == f"--data-dir {a_file}: cannot create it: {a_file} is a file"
    deeper = trireme("serve", "--data-dir", str(a_file / "x" / "y"))
    assert deeper.exit_code == 1 and "is not a directory" in one_line(deeper)


def test_serve_refuses_an_haproxy_config_under_a_file(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    result = trireme("serve", "--data-dir", str(tmp_path / "data"), "--haproxy",
                     "--haproxy-config", str(a_file / "haproxy.cfg"))
    assert result.exit_code == 1
    assert one_line(result) == f"--haproxy-config {a_file}: cannot create it: {a_file} is a file"


def test_version_of_both_commands() -> None:
    assert one_line(trireme("--version")) == f"trireme {version('trireme')}"
    assert one_line(aurora("--version")) == f"aurora {version('trireme')}"


def test_shell_completion_is_offered_and_completes_commands() -> None:
    for prog, app in (("trireme", cli_app()), ("aurora", aurora_py.cli.app)):
        script = CliRunner().invoke(app, ["--show-completion", "bash"], prog_name=prog)
        assert script.exit_code == 0 and f"_{prog.upper()}_COMPLETE=complete_bash" in script.output
        assert "--install-completion" in CliRunner().invoke(app, ["--help"], prog_name=prog).output
    completed = CliRunner().invoke(cli_app(), [], prog_name="trireme", env={
        "_TRIREME_COMPLETE": "complete_bash", "COMP_WORDS": "trireme marathon app sc", "COMP_CWORD": "3"})
    assert completed.output.split() == ["scale"]


def test_an_unknown_aurora_cluster_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(aurora_py.cli.app, ["job", "status", "nocluster/www/prod/hello"], prog_name="aurora",
                                env={"TRIREME_URL": "", "AURORA_CONFIG_ROOT": str(tmp_path), "HOME": str(tmp_path)})
    assert result.exit_code == 1 and one_line(result).startswith("Unknown cluster 'nocluster'")
