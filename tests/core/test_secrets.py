"""The file-backed secret store (`trireme serve --secrets-dir`) and secret variables of a task:
names checked, values read at launch into the task's environment only, failures named."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from core.cluster.embedded import EmbeddedCluster
from core.driver.types import CommandInfo, Reason, TaskState
from core.secrets import (
    MAX_SECRET_BYTES,
    DirectorySecrets,
    NoSecrets,
    SecretError,
    open_secrets_dir,
    secret_name_problem,
)
from tests.core.conftest import FAST, MakeCluster, MakeFramework
from tests.support.harness import shell_task

VALUE = "s3cr3t value with spaces\n"


@pytest.mark.parametrize("name", ["db", "db/password", "/db/password", "a.b-c_d", "_x"])
def test_names_that_are_secrets(name: str) -> None:
    assert secret_name_problem(name) is None


@pytest.mark.parametrize("name", ["", "/", "..", "../etc/passwd", "db/../x", ".hidden", "a//b", "a\0b", "a b",
                                  "x" * 256])
def test_names_that_are_not(name: str) -> None:
    assert secret_name_problem(name) is not None


def test_a_directory_store_reads_files_as_they_are(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "password").write_text(VALUE)
    elsewhere = tmp_path.parent / f"{tmp_path.name}-mounted"
    elsewhere.write_text("linked")
    (tmp_path / "linked").symlink_to(elsewhere)  # an operator's link (a mounted secret volume) is followed
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "big").write_bytes(b"x" * (MAX_SECRET_BYTES + 1))
    (tmp_path / "nul").write_bytes(b"a\0b")
    (tmp_path / "latin").write_bytes(b"\xe9t\xe9")
    store = DirectorySecrets(tmp_path)
    assert store.read("db/password") == VALUE and store.read("/db/password") == VALUE  # newline kept
    assert store.read("linked") == "linked"
    assert store.has("db/password") and not store.has("db") and not store.has("nope") and not store.has("../x")
    for name, why in [("nope", "does not exist"), ("fifo", "not a regular file"), ("big", "larger than"),
                      ("nul", "NUL"), ("latin", "not UTF-8"), ("db", "not a regular file"),
                      ("../etc/passwd", "not a secret name")]:
        with pytest.raises(SecretError, match=why):
            store.read(name)
    with pytest.raises(SecretError, match="keeps no secrets"):
        NoSecrets().read("db")
    assert not NoSecrets().has("db")


def test_the_secrets_dir_must_be_a_readable_directory(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match="No such file"):
        open_secrets_dir(tmp_path / "missing")
    (tmp_path / "file").write_text("")
    with pytest.raises(SecretError, match="not a directory"):
        open_secrets_dir(tmp_path / "file")
    assert open_secrets_dir(tmp_path).root == tmp_path


def test_secret_variables_travel_as_mesos_references() -> None:
    command = CommandInfo("env", environment=(("A", "1"),), secrets=(("DB", "db/password"),))
    wire = command.to_json()
    assert wire["environment"]["variables"] == [
        {"name": "A", "value": "1"},
        {"name": "DB", "type": "SECRET", "secret": {"type": "REFERENCE", "reference": {"name": "db/password"}}}]
    assert CommandInfo.from_json(wire) == command
    odd = {"environment": {"variables": [{"name": "X", "type": "SECRET", "secret": {"type": "VALUE"}}]}}
    assert CommandInfo.from_json(odd).secrets == (("X", ""),)  # names no secret: refused at launch


async def test_a_task_gets_its_secrets_in_its_environment_only(make_cluster: MakeCluster,
                                                                make_framework: MakeFramework,
                                                                tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    (secrets / "db").mkdir(parents=True)
    (secrets / "db" / "password").write_text(VALUE)
    cluster: EmbeddedCluster = await make_cluster(replace(FAST, agent=replace(FAST.agent,
                                                                               secrets=DirectorySecrets(secrets))))
    fw = await make_framework(cluster)

    def with_secret(task_id: str, secret: str, command: str = 'printf %s "$DB" > db.txt') -> object:
        task = shell_task(task_id, command)
        assert task.command is not None
        return replace(task, command=replace(task.command, secrets=(("DB", secret),)))

    await fw.launch(with_secret("reads", "db/password"))  # type: ignore[arg-type]
    await fw.wait_state("reads", TaskState.TASK_FINISHED)
    sandbox = next(cluster.data_dir.glob("agents/*/sandboxes/*/reads"))
    assert (sandbox / "db.txt").read_text() == VALUE
    assert cluster.master is not None
    assert VALUE.strip() not in json.dumps(cluster.master.state())
    for checkpoint in cluster.data_dir.glob("agents/*/checkpoint.sqlite*"):
        assert VALUE.strip().encode() not in checkpoint.read_bytes()

    await fw.launch(with_secret("missing", "db/nope"))  # type: ignore[arg-type]
    missing = await fw.wait_state("missing", TaskState.TASK_FAILED)
    assert missing.reason is Reason.REASON_CONTAINER_LAUNCH_FAILED
    assert missing.message == "Failed to resolve secrets: secret 'db/nope' does not exist in the server's secret store"
    await fw.launch(with_secret("escapes", "../../etc/passwd"))  # type: ignore[arg-type]
    escapes = await fw.wait_state("escapes", TaskState.TASK_ERROR)
    assert "secret.reference.name" in escapes.message and "not a secret name" in escapes.message
