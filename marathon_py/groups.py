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


def flatten(group: Any, parent: str = "/") -> tuple[list[tuple[JSON, str]], list[Group]]:
    """A posted group -> (app definitions with absolute ids, the groups with absolute ids)."""
    if not isinstance(group, dict):
        raise InvalidApp([("/", "a group must be a JSON object")])
    gid = canonical_id(str(group.get("id", "")), parent) if group.get("id") else parent
    problems = [] if gid == "/" else id_problems(gid)
    if problems:
        raise InvalidApp([("/id", p) for p in problems])
    deps = [canonical_id(d, gid) for d in _listed(group, "dependencies", str, "/dependencies")]
    apps: list[tuple[JSON, str]] = []
    groups = [Group(gid, deps)]
    for i, raw in enumerate(_listed(group, "apps", dict, "/apps")):
        if "id" not in raw:
            raise InvalidApp([(f"/apps({i})/id", "is required")])
        app = dict(raw)
        app["id"] = canonical_id(str(raw["id"]), gid)
        own = _listed(raw, "dependencies", str, f"/apps({i})/dependencies")
        app["dependencies"] = [canonical_id(d, gid) for d in own] + deps
        apps.append((app, app["id"]))
    for sub in _listed(group, "groups", dict, "/groups"):
        sub_apps, sub_groups = flatten(sub, gid)
        for app, _ in sub_apps:
            inherited = [d for d in deps if d not in app.get("dependencies", [])]
            app["dependencies"] = app.get("dependencies", []) + inherited
        apps.extend(sub_apps)
        groups.extend(sub_groups)
    return apps, groups


def _listed(group: JSON, key: str, kind: type, path: str) -> list[Any]:
    """`group[key]` as a list of `kind` (missing or null: none), else InvalidApp naming the path."""
    value = group.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, kind) for item in value):
        what = "strings" if kind is str else "objects"
        raise InvalidApp([(path, f"must be an array of {what}")])
    return value
