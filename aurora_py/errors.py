"""What Aurora refuses, as one hierarchy: each error carries Aurora's response code and the HTTP
status the API answers with, and its message names the field or the object at fault."""

from __future__ import annotations


class AuroraError(Exception):
    """A request the scheduler refuses. `code` is Aurora's response code."""

    code = "INVALID_REQUEST"
    http_status = 400


class InvalidJobKey(AuroraError):
    """A malformed job key or instance range."""


class InvalidDescription(AuroraError):
    """A job description that cannot be scheduled; the message names the field."""


class RequestRefused(AuroraError):
    """A well-formed request the scheduler will not carry out (quota, cron, update rules)."""


class UnreadableState(AuroraError):
    """A stored object that cannot be read back (left out on load, its fault recorded)."""


class UnknownJob(AuroraError):
    http_status = 404


class JobExists(AuroraError):
    http_status = 409


class UnknownUpdate(AuroraError):
    http_status = 404


class OverheadSettingInvalid(AuroraError):
    """A configured executor overhead that is not a non-negative amount; names the variable."""
