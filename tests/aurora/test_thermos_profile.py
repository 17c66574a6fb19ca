"""Thermos runs cmdlines under bash and sources the sandbox's `.thermos_profile` first."""

from __future__ import annotations

from pathlib import Path

from tests.aurora.test_thermos import process, run, stdout


def test_profile_written_by_one_process_is_seen_by_the_next(tmp_path: Path) -> None:
    code, status = run(tmp_path, [
        process("setup_env", "cat <<EOF > .thermos_profile\nexport IT_WORKED=hello\nEOF"),
        process("read_env", 'echo "$IT_WORKED"'),
    ], order=[["setup_env", "read_env"]])
    assert code == 0, status
    assert stdout(tmp_path, "read_env") == "hello\n"


def test_cmdline_may_use_bash_syntax(tmp_path: Path) -> None:
    code, status = run(tmp_path, [process("check", "if [[ -d . && 2 -gt 1 ]]; then echo bash; fi")])
    assert code == 0, status
    assert stdout(tmp_path, "check") == "bash\n"
