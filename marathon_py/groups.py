"""Groups: every parent path of an app is a group, and groups created through `/v2/groups` carry
dependencies and a version. A group's dependencies apply to every app inside it.

`GroupTree` indexes apps by group, both ways, so that what lies under a group costs what is
there, not every app: adding or removing an app touches its parent paths only.
"""

from __future__ import annotations

from typing import Any

from marathon_py.errors import InvalidApp
from marathon_py.model import Group
from marathon_py.validation import canonical_id, id_problems

JSON = dict[str, Any]


def parent_of(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def prefix_of(group_id: str) -> str:
    return "/" if group_id == "/" else group_id + "/"


class GroupTree:
    def __init__(self) -> None:
        self.explicit: dict[str, Group] = {}
        self._apps: dict[str, set[str]] = {}  # group -> the apps directly in it
        self._subgroups: dict[str, dict[str, int]] = {}  # group -> child group -> apps under the child

    def add_app(self, app_id: str) -> None:
        group = parent_of(app_id)
        self._apps.setdefault(group, set()).add(app_id)
        while group != "/":
            parent = parent_of(group)
            children = self._subgroups.setdefault(parent, {})
            children[group] = children.get(group, 0) + 1
            group = parent

    def remove_app(self, app_id: str) -> None:
        group = parent_of(app_id)
        own = self._apps.get(group)
        if own is None or app_id not in own:
            return
        own.discard(app_id)
        if not own:
            del self._apps[group]
        while group != "/":
            parent = parent_of(group)
            children = self._subgroups[parent]
            children[group] -= 1
            if not children[group]:
                del children[group]
                if not children:
                    del self._subgroups[parent]
            group = parent

    def own_apps(self, group_id: str) -> list[str]:
        return sorted(self._apps.get(group_id, ()))

    def apps_under(self, group_id: str) -> list[str]:
        """Every app inside the group, at any depth."""
        found: list[str] = []
        stack = [group_id]
        while stack:
            group = stack.pop()
            found.extend(self._apps.get(group, ()))
            stack.extend(self._subgroups.get(group, {}))
        return found

    def child_groups(self, group_id: str) -> list[str]:
        """Groups directly inside: those holding apps, and those created explicitly."""
        prefix = prefix_of(group_id)
        children = set(self._subgroups.get(group_id, {}))
        children |= {g for g in self.explicit if g.startswith(prefix) and g != group_id and "/" not in g[len(prefix):]}
        return sorted(children)

    def exists(self, group_id: str) -> bool:
        return group_id == "/" or group_id in self.explicit or group_id in self._apps or group_id in self._subgroups

    def count(self) -> int:
        """Every group: the root, those created explicitly, and each parent path of an app."""
        ids = {"/", *self.explicit, *self._apps}
        for children in self._subgroups.values():
            ids.update(children)
        return len(ids)

    def explicit_under(self, group_id: str) -> list[str]:
        """The group itself and every explicitly created group inside it."""
        prefix = prefix_of(group_id)
        return [g for g in self.explicit if g == group_id or g.startswith(prefix)]


def flatten(group: Any, parent: str = "/", where: str = "") -> tuple[list[tuple[JSON, str]], list[Group]]:
    """A posted group -> (app definitions with absolute ids, the groups with absolute ids).
    Raises InvalidApp naming the field (`where` is the group's JSON path) when a part of the
    group has the wrong JSON type, before anything of it is used."""
    if not isinstance(group, dict):
        raise InvalidApp([(where or "/", "a group must be a JSON object")])
    _check_types(group, where)
    gid = canonical_id(group["id"], parent) if group.get("id") else parent
    problems = [] if gid == "/" else id_problems(gid)
    if problems:
        raise InvalidApp([(f"{where}/id", p) for p in problems])
    deps = [canonical_id(d, gid) for d in group.get("dependencies") or []]
    apps: list[tuple[JSON, str]] = []
    groups = [Group(gid, deps)]
    for i, raw in enumerate(group.get("apps") or []):
        if not isinstance(raw, dict) or "id" not in raw:
            raise InvalidApp([(f"{where}/apps({i})/id", "is required")])
        if not isinstance(raw["id"], str) or not _strings(raw.get("dependencies") or []):
            field = "id" if not isinstance(raw["id"], str) else "dependencies"
            raise InvalidApp([(f"{where}/apps({i})/{field}", "must be a string" if field == "id"
                               else "must be an array of strings")])
        app = dict(raw)
        app["id"] = canonical_id(raw["id"], gid)
        app["dependencies"] = [canonical_id(d, gid) for d in raw.get("dependencies") or []] + deps
        apps.append((app, app["id"]))
    for i, sub in enumerate(group.get("groups") or []):
        sub_apps, sub_groups = flatten(sub, gid, f"{where}/groups({i})")
        for app, _ in sub_apps:
            inherited = [d for d in deps if d not in app.get("dependencies", [])]
            app["dependencies"] = app.get("dependencies", []) + inherited
        apps.extend(sub_apps)
        groups.extend(sub_groups)
    return apps, groups


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_types(group: JSON, where: str) -> None:
    """Marathon reads a group with typed fields: `id` a string, `apps` and `groups` arrays of
    objects, `dependencies` an array of strings (null is as absent)."""
    wrong: list[tuple[str, str]] = []
    if group.get("id") is not None and not isinstance(group["id"], str):
        wrong.append((f"{where}/id", "must be a string"))
    for field in ("apps", "groups"):
        value = group.get(field)
        if value is not None and not isinstance(value, list):
            wrong.append((f"{where}/{field}", "must be an array"))
    dependencies = group.get("dependencies")
    if dependencies is not None and not _strings(dependencies):
        wrong.append((f"{where}/dependencies", "must be an array of strings"))
    if wrong:
        raise InvalidApp(wrong)
