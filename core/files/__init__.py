"""Task sandboxes over HTTP, as a Mesos agent serves them (`/files/...`), and their logs' rotation."""

from core.files.api import FilesAPI
from core.files.resolve import FilesError, Sandbox, SandboxIndex, SandboxResolver

__all__ = ["FilesAPI", "FilesError", "Sandbox", "SandboxIndex", "SandboxResolver"]
