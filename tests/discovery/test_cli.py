"""`trireme serve --haproxy ...` and `trireme lb ...` refuse what cannot work at once, in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.server import REPO, free_port


def trireme(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, PYTHONPATH=str(REPO)))


def test_serve_with_a_missing_haproxy_fails_at_start_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-haproxy"
    out = trireme("serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data"), "--haproxy",
                  "--haproxy-bin", str(missing))
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stderr.strip().splitlines() == [f"--haproxy: haproxy binary {str(missing)!r} was not found or is "
                                               "not executable"]
    assert not (tmp_path / "data").exists()


def test_serve_refuses_a_bind_address_haproxy_cannot_use(tmp_path: Path) -> None:
    out = trireme("serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data"), "--haproxy",
                  "--haproxy-bind", "0.0.0.0 transparent")
    assert out.returncode == 2 and "--haproxy-bind" in out.stderr and "Traceback" not in out.stderr


def test_lb_commands_name_what_is_wrong(tmp_path: Path) -> None:
    run = trireme("lb", "run", "--config", str(tmp_path / "lb" / "haproxy.cfg"), "--haproxy", str(tmp_path / "none"))
    assert run.returncode == 1 and "was not found" in run.stderr and "Traceback" not in run.stderr
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    render = trireme("lb", "render", "--url", url)
    assert render.returncode == 1 and url in render.stderr and "Traceback" not in render.stderr
    bind = trireme("lb", "render", "--url", url, "--bind", "not an address")
    assert bind.returncode == 2 and "--bind" in bind.stderr
