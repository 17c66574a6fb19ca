"""A data dir that cannot be written: no SIGBUS, a 503 for the write that hit it, reads go on,
nothing acknowledged is lost; and a server that cannot start says why in one line."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.server.datadir import DataDirError, check_data_dir
from tests.conftest import StartServer
from tests.support.server import REPO, free_port, wait_until

NEEDS_CHATTR = ("making files unwritable under a process that has them open needs chattr +i: "
                "root and a file system with the immutable flag (ext4, xfs, btrfs)")


def can_chattr(directory: Path) -> bool:
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        return False
    probe = directory / "chattr-probe"
    probe.touch()
    try:
        if subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode != 0:
            return False
        subprocess.run(["chattr", "-i", str(probe)], check=True)
        return True
    finally:
        probe.unlink()


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    subprocess.run(["chattr", "-R", "+i", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-R", "-i", str(path)], check=True)


@contextlib.contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """chattr +i as root (root writes through chmod), chmod a-w otherwise."""
    if os.geteuid() == 0:
        if not can_chattr(path.parent):
            pytest.skip(NEEDS_CHATTR)
        with immutable(path):
            yield
        return
    mode = path.stat().st_mode
    path.chmod(0o500)
    try:
        yield
    finally:
        path.chmod(mode)


def serve(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """`trireme serve` expected to refuse to start: it must exit by itself."""
    return subprocess.run([sys.executable, "-m", "core.cli", "serve", "--port", str(free_port()),
                           "--data-dir", str(data_dir)], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                          capture_output=True, text=True, timeout=60)


def test_serve_on_an_unwritable_data_dir_exits_with_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "state.sqlite").write_bytes(b"")
    with unwritable(data):
        done = serve(data)
    assert done.returncode == 1
    assert done.stderr.strip() == f"--data-dir {data}: cannot write to it: " + (
        "Operation not permitted" if os.geteuid() == 0 else "Permission denied")
    assert "Traceback" not in done.stdout + done.stderr


def test_serve_where_the_data_dir_cannot_be_made_exits_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    done = serve(tmp_path / "a-file" / "data")
    assert done.returncode == 1
    assert done.stderr.strip() == (f"--data-dir {tmp_path}/a-file/data: cannot create it: {tmp_path}/a-file "
                                   "is not a directory")


def test_a_data_dir_in_use_by_another_process_is_refused(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from core.store.sqlite import SQLiteStore; SQLiteStore(Path(sys.argv[1])); "
                               "print('open', flush=True); time.sleep(600)", str(tmp_path / "state.sqlite")],
                              cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(DataDirError, match=r"state\.sqlite is in use by another process"):
            check_data_dir(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    check_data_dir(tmp_path)  # free again


STORE_UNDER_CHATTR = """
import asyncio, subprocess, sys
from pathlib import Path
from core.store import Put, StoreUnavailable
from core.store.sqlite import SQLiteStore

async def main() -> None:
    data = Path(sys.argv[1])
    store = SQLiteStore(data / "state.sqlite")
    for i in range(600):  # past a WAL checkpoint, so the database file itself is written too
        await store.commit([Put(f"kept{i}", b"v")])
    await store.durable()
    subprocess.run(["chattr", "-R", "+i", str(data)], check=True)
    try:
        for _ in range(3):
            try:
                await store.commit([Put("refused", b"v")])
                print("committed while unwritable")
            except StoreUnavailable as exc:
                print("refused:", exc)
        print("read:", (await store.get("kept1")) is not None, len(await store.list("kept")))
    finally:
        subprocess.run(["chattr", "-R", "-i", str(data)], check=True)
    await store.commit([Put("after", b"v")])
    print("after:", sorted(k for k in await store.list("") if not k.startswith("kept")))
    await store.close()

asyncio.run(main())
"""


def test_a_store_whose_files_become_unwritable_refuses_commits_and_recovers(tmp_path: Path) -> None:
    if not can_chattr(tmp_path):
        pytest.skip(NEEDS_CHATTR)
    data = tmp_path / "data"
    data.mkdir()
    # in a child: the bug this guards against is a SIGBUS, which would end the test run itself
    done = subprocess.run([sys.executable, "-c", STORE_UNDER_CHATTR, str(data)], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 5 and all(line.startswith("refused: the state store") for line in lines[:3]), lines
    assert "cannot commit" in lines[0]
    assert lines[3:] == ["read: True 600", "after: ['after']"]


def test_a_running_server_whose_data_dir_becomes_unwritable_answers_503_and_keeps_serving(
        start_server: StartServer, tmp_path: Path) -> None:
    if not can_chattr(tmp_path):
        pytest.skip(NEEDS_CHATTR)
    data = tmp_path / "data"
    server = start_server(data_dir=data)
    app = {"cmd": "sleep 600", "cpus": 0.01, "mem": 16, "instances": 1}
    with server.client() as client:
        assert client.post("/v2/apps", json={"id": "/kept", **app}).status_code == 201
        wait_until(lambda: client.get("/v2/apps/kept").json()["app"]["tasksRunning"] == 1, what="/kept running")
        wait_until(lambda: client.get("/v2/deployments").json() == [], what="the deployment to end")
        with immutable(data):
            refused = client.post("/v2/apps", json={"id": "/refused", **app})
            assert refused.status_code == 503
            assert "state.sqlite cannot commit" in refused.json()["message"]
            assert server.proc is not None and server.proc.poll() is None
            assert [a["id"] for a in client.get("/v2/apps").json()["apps"]] == ["/kept"]
            assert client.get("/ping").text == "pong"
        assert client.post("/v2/apps", json={"id": "/after", **app}).status_code == 201
    assert "state.sqlite cannot commit: disk I/O error" in server.log()
    server.stop()
    restarted = start_server(data_dir=data, port=server.port)
    with restarted.client() as client:
        ids = sorted(a["id"] for a in client.get("/v2/apps").json()["apps"])
    assert ids == ["/after", "/kept"]
    with contextlib.suppress(httpx.HTTPError):
        restarted.stop()
