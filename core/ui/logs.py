"""A task's log as the UI first shows it: the end of a sandbox file, read through the files API
(`/files/read`), with the offset the browser goes on following from."""

from __future__ import annotations

from dataclasses import dataclass

from core.ui.client import Api, ApiError

TAIL_BYTES = 16 * 1024


@dataclass(frozen=True)
class LogTail:
    path: str  # the files API's path of the file (a sandbox directory or Mesos' virtual path)
    text: str
    end: int  # the byte offset after `text`: where following goes on
    problem: str = ""  # why nothing could be read (the API's answer)


async def tail(api: Api, path: str, max_bytes: int = TAIL_BYTES) -> LogTail:
    try:
        size = (await api.get("/files/read", {"path": path, "offset": "-1"}))["offset"]
    except ApiError as exc:
        return LogTail(path, "", 0, _problem(exc.status))
    start = max(0, int(size) - max_bytes)
    chunk = await api.get("/files/read", {"path": path, "offset": str(start), "length": str(max_bytes)})
    text = str(chunk.get("data", ""))
    if start > 0 and "\n" in text:
        text = text.split("\n", 1)[1]  # begin at a whole line
        start = int(size) - len(text.encode("utf-8", "surrogateescape"))
    return LogTail(path, text, start + len(text.encode("utf-8", "surrogateescape")))


def _problem(status: int) -> str:
    if status == 404:
        return "The file is not there (yet): the task has not written it, or its sandbox was removed."
    if status == 403:
        return "The files API refused to read this file."
    return f"The files API answered {status}."
