"""Fetch a task's URIs into its sandbox before it starts, as Mesos' fetcher does.

`file://` URIs and plain paths are copied, `http(s)://` ones downloaded. Archives are extracted
into the sandbox when `extract` is set; `executable` sets the execute bits. Blocking: run it in a
worker thread.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import requests

from core.driver.types import URI

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")


class FetchError(RuntimeError):
    """A URI could not be fetched; the message names the URI and the cause."""


def fetch_all(uris: tuple[URI, ...], sandbox: Path) -> None:
    """Fetch every URI into `sandbox` (created if missing)."""
    sandbox.mkdir(parents=True, exist_ok=True)
    for uri in uris:
        fetch(uri, sandbox)


def fetch(uri: URI, sandbox: Path) -> Path:
    parsed = urlparse(uri.value)
    name = uri.output_file or os.path.basename(unquote(parsed.path)) or "download"
    target = sandbox / name
    try:
        if parsed.scheme in ("http", "https"):
            with requests.get(uri.value, stream=True, timeout=30) as resp:
                if resp.status_code != 200:
                    raise FetchError(f"Failed to fetch '{uri.value}': HTTP {resp.status_code}")
                with open(target, "wb") as fh:
                    for chunk in resp.iter_content(65536):
                        fh.write(chunk)
        elif parsed.scheme in ("file", ""):
            shutil.copyfile(unquote(parsed.path), target)
        else:
            raise FetchError(f"Failed to fetch '{uri.value}': unsupported scheme '{parsed.scheme}'")
    except (OSError, requests.RequestException) as exc:
        raise FetchError(f"Failed to fetch '{uri.value}': {exc}") from exc
    if uri.executable:
        target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    elif uri.extract and name.endswith(ARCHIVE_SUFFIXES):
        _extract(target, sandbox, uri.value)
    return target


def _extract(archive: Path, sandbox: Path, source: str) -> None:
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(sandbox)
        else:
            with tarfile.open(archive) as tf:
                tf.extractall(sandbox, filter="data")
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise FetchError(f"Failed to extract '{source}': {exc}") from exc
