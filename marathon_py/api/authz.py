"""Who may do what on Marathon's API: the server's authorizer (`core.security`) asked about app and
group ids, as Marathon's authorizer plugin is asked about run specs and groups.

Rules:
- Apps and groups are resources `marathon:<id>`; a grant on `/web` covers `/web` and everything
  below it. Reading needs `view`, creating and changing (scaling, restarting, killing tasks,
  cancelling a deployment, resetting a delay) `update`, deleting `delete`; a group change is
  checked on the group and on every app it touches.
- The server's own state (`/v2/info`, `/v2/leader`) needs `view` on the root group `/`, and
  abdication (`DELETE /v2/leader`) `admin` on it.
- Lists (`/v2/apps`, `/v2/groups`, `/v2/tasks`, `/v2/deployments`, `/v2/queue`, `/v2/events`)
  show only what the caller may view: apps it may view, their tasks, queue entries and events,
  the deployments touching one of them, the groups leading to them.
- A task's sandbox files (the server's `/files` API) need `view` on its app.
- A refusal is Marathon's: 403 `{"message": "Not Authorized to perform this action!"}`.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.security import Access, Action, Resource, access_of

FRAMEWORK = "marathon"
ROOT = "/"


def marathon_forbidden(message: str) -> Response:
    return JSONResponse({"message": "Not Authorized to perform this action!"}, status_code=403)


def app_resource(resource_id: str) -> Resource:
    """An app or group id as authorization sees it."""
    return Resource(FRAMEWORK, resource_id)


class Authz:
    """One request's permissions on Marathon's ids."""

    def __init__(self, access: Access) -> None:
        self.access = access
        self._views_all: bool | None = None

    @classmethod
    def of(cls, request: Request) -> Authz:
        return cls(access_of(request))

    def require(self, action: Action, *ids: str) -> None:
        """Return if the caller may act on every id, else raise `Denied` (Marathon's 403)."""
        for resource_id in dict.fromkeys(ids):
            self.access.require(action, app_resource(resource_id), marathon_forbidden)

    def may(self, action: Action, resource_id: str) -> bool:
        return self.access.allows(action, app_resource(resource_id))

    def may_view(self, resource_id: str) -> bool:
        """Whether the caller may see `resource_id` (asked once per request when it sees all)."""
        if self._views_all is None:
            # a grant covering the root covers every id, so big lists need no check per app
            self._views_all = self.may(Action.VIEW, ROOT)
        return self._views_all or self.may(Action.VIEW, resource_id)

    def may_view_any(self, ids: Iterable[str]) -> bool:
        return any(self.may_view(i) for i in ids)
