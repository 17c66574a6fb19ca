"""Sizes in bytes as people write them: `4096`, `4096B`, `512k`, `512KB`, `1MiB`, `10MB`, `1.5GB`.

Units are powers of 1024 (as Mesos' `Bytes` and Marathon read them); a bare number is bytes; the
unit's case, a `B` and an `i` are optional. One parser for every size the server reads: request
body limits, task log rotation, and whatever comes next.
"""

from __future__ import annotations

import re

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])i?b?|b)?\s*", re.IGNORECASE)
_UNITS = {None: 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
EXAMPLES = "4096B, 512KB, 10MB, 1GB"


def parse_size(text: str) -> int:
    """The size `text` names, in bytes; ValueError saying "'text' is not a size" otherwise."""
    found = _SIZE.fullmatch(text)
    if found is None:
        raise ValueError(f"'{text}' is not a size (examples: {EXAMPLES})")
    unit = found.group(2)
    return int(float(found.group(1)) * _UNITS[unit.lower() if unit else None])
