"""Trireme installed the way a user installs it: a wheel built from the source, in a fresh venv.

The rest of the suite runs on an editable install, which reads every file from the source tree
and so cannot see a file that the wheel leaves out. Here the wheel goes into a venv outside the
source tree, and `trireme serve` runs from another directory, without PYTHONPATH.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import REPO, ServerProcess, port_range, wait_until

PACKAGES = ("core", "marathon_py", "chronos_py", "aurora_py")
NOT_SHIPPED = (".git", ".venv", "build", "tests", "bench", "__pycache__", "*.egg-info", ".mypy_cache",
               ".ruff_cache", ".pytest_cache", "data")


def run(*cmd: str | Path, cwd: Path | None = None, timeout: float = 300) -> str:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds from a copy of the source (a build writes build/ and *.egg-info
    next to the sources; the copy keeps them out of the working tree)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_SHIPPED))
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", root / "dist", source)
    (found,) = (root / "dist").glob("trireme-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel and its dependencies (from pip's configured indexes and cache)."""
    env = tmp_path_factory.mktemp("venv") / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", env)
    run(sys.executable, "-m", "pip", "--python", env / "bin" / "python", "install", "-q", "--no-compile", wheel)
    return env


def test_the_wheel_holds_every_file_the_packages_read(wheel: Path) -> None:
    shipped = set(zipfile.ZipFile(wheel).namelist())
    data_files = {str(path.relative_to(REPO)) for package in PACKAGES for path in (REPO / package).rglob("*")
                  # a package's README.md (the kit's) is for its readers, not read by the code
                  if path.is_file() and path.suffix not in (".py", ".pyc", ".md") and "__pycache__" not in path.parts}
    assert "core/discovery/templates/haproxy.cfg.j2" in data_files
    assert data_files <= shipped, f"left out of the wheel: {sorted(data_files - shipped)}"


def test_version_and_completion_of_the_installed_commands(venv: Path, tmp_path: Path) -> None:
    from importlib.metadata import version

    assert run(venv / "bin" / "trireme", "--version", cwd=tmp_path).split() == ["trireme", version("trireme")]
    assert run(venv / "bin" / "aurora", "--version", cwd=tmp_path).split() == ["aurora", version("trireme")]
    assert "_TRIREME_COMPLETE" in run(venv / "bin" / "trireme", "--show-completion", "bash", cwd=tmp_path)
    assert "_AURORA_COMPLETE" in run(venv / "bin" / "aurora", "--show-completion", "bash", cwd=tmp_path)


@pytest.fixture
def installed_server(venv: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    low, high = port_range()
    server = ServerProcess(tmp_path / "data", ["--kill-tasks-on-exit", "--agent-resources",
                                               f"cpus:2;mem:1024;disk:1000;ports:[{low}-{high}]"],
                           program=[str(venv / "bin" / "trireme")], cwd=elsewhere)
    try:
        yield server.start(timeout=60)
    finally:
        server.cleanup()


def test_installed_trireme_serves_and_runs_an_app(venv: Path, installed_server: ServerProcess) -> None:
    where = run(venv / "bin" / "python", "-c", "import core; print(core.__file__)", cwd=installed_server.cwd)
    assert where.startswith(str(venv)), f"core was imported from {where}, not from the venv"
    with installed_server.client() as http:
        created = http.post("/v2/apps", json={"id": "/installed", "cmd": "echo up > marker; exec sleep 600",
                                              "cpus": 0.1, "mem": 32, "instances": 1})
        assert created.status_code == 201, created.text

        def running() -> list[dict[str, object]]:
            tasks = http.get("/v2/apps/installed/tasks").json()["tasks"]
            return [t for t in tasks if t["state"] == "TASK_RUNNING"]

        (task,) = wait_until(running, timeout=60, what="the app's task to run")  # type: ignore[misc]
        def marked() -> bool:
            markers = installed_server.data_dir.glob(f"agents/*/sandboxes/*/{task['id']}/marker")
            return any(m.read_text() == "up\n" for m in markers)

        wait_until(marked, what="the file the app's command writes in its sandbox")
        assert http.delete("/v2/apps/installed").status_code == 200
        wait_until(lambda: http.get("/v2/tasks").json()["tasks"] == [], timeout=60, what="the app's task to end")
        assert http.get("/v2/apps/installed").status_code == 404

