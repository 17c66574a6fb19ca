"""Marathon's app updates (PUT and PATCH on `/v2/apps`): how an update applies to the app it
changes, and when it is a rollback.

Rules, as Marathon's AppsResource and AppHelpers.updateOrCreate apply them:
- PUT is a partial update unless `partialUpdate=false`; PATCH always is.
- A partial update of an existing app replaces each top-level field the body gives; a field
  that is missing or null keeps the app's value (no deep merge: `env` or `labels` given are the
  new `env` or `labels`). `ports` stand for `portDefinitions`, and `uris` or `fetch` replace both.
- A partial update that gives `version` is a rollback to the app as stored at that version; it
  may be combined only with `id`.
- A complete update (`partialUpdate=false`), or any update of an app that does not exist yet,
  is a whole app definition: fields it leaves out take their defaults, and `version` is ignored.
- The path names the app: an `id` in the body does not rename it and is not checked.
"""

from __future__ import annotations

from typing import Any

from marathon_py.errors import InvalidApp

JSON = dict[str, Any]

# fields one update field replaces together (Marathon keeps only the canonical one)
REPLACES = {"ports": ("portDefinitions",), "portDefinitions": ("ports",), "uris": ("fetch",), "fetch": ("uris",)}
BOOKKEEPING = ("version", "versionInfo", "deployments", "tasks")


def is_rollback(update: Any) -> bool:
    return isinstance(update, dict) and update.get("version") is not None


def rollback_version(update: JSON) -> str:
    """The version a rollback asks for; InvalidApp when the update also changes other fields."""
    others = sorted(k for k, v in update.items() if v is not None and k not in ("id", "version"))
    if others:
        raise InvalidApp([("/", "The 'version' field may only be combined with the 'id' field.")])
    return str(update["version"])


def apply_partial(current: JSON, update: Any) -> Any:
    """The definition an update of `current` (its wire JSON) asks for, to be validated as a whole."""
    if not isinstance(update, dict):
        return update  # refused by validation with the right message
    merged = {k: v for k, v in current.items() if k not in BOOKKEEPING}
    for key, value in update.items():
        if value is None or key in BOOKKEEPING:
            continue
        for replaced in REPLACES.get(key, ()):
            merged.pop(replaced, None)
        merged[key] = value
    return merged
