"""`python3 -m aurora_py.thermos [task.json]`: run one task in the current directory (its sandbox).

The task JSON comes from the file named on the command line or from $THERMOS_TASK. It holds
`task` (the Task from the job description) and `bindings` (values for `{{mesos.instance}}`,
`{{thermos.ports[name]}}` ...). Exit status: 0 SUCCESS, 1 FAILED, 143 KILLED.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from aurora_py.thermos.runner import TaskRunner
from aurora_py.thermos.status import TaskState
from core.cluster.reaping import set_subreaper

EXIT_CODES = {TaskState.SUCCESS: 0, TaskState.FAILED: 1, TaskState.KILLED: 143}


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        document = json.loads(Path(argv[1]).read_text())
    elif "THERMOS_TASK" in os.environ:
        document = json.loads(os.environ["THERMOS_TASK"])
    else:
        print("usage: python3 -m aurora_py.thermos TASK.json (or set THERMOS_TASK)", file=sys.stderr)
        return 2
    bindings = {str(k): str(v) for k, v in document.get("bindings", {}).items()}
    set_subreaper()  # a process that daemonizes stays ours to end with the task
    runner = TaskRunner(document["task"], Path.cwd(), bindings)
    signal.signal(signal.SIGTERM, runner.kill)
    signal.signal(signal.SIGINT, runner.kill)
    return EXIT_CODES[runner.run()]


if __name__ == "__main__":
    sys.exit(main(sys.argv))
