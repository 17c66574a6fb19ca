"""How Thermos runs a process's cmdline.

Rules (Thermos's own):
- The cmdline runs under bash (`bash -c`), so configs may use bash syntax such as `[[ ... ]]`;
  where bash is missing, /bin/sh is the fallback.
- If the sandbox holds a `.thermos_profile` when a process starts, it is sourced first, so an
  earlier process can export variables for the later ones (Aurora's `.thermos_profile` convention).
"""

from __future__ import annotations

import shutil
from pathlib import Path

PROFILE = ".thermos_profile"


def argv(command: str, sandbox: Path) -> list[str]:
    shell = shutil.which("bash") or "/bin/sh"
    if (sandbox / PROFILE).is_file():
        command = f". ./{PROFILE}\n{command}"
    return [shell, "-c", command]
