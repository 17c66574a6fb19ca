"""Groups: a tree derived from app ids (every path prefix is a group), plus explicitly created
groups and their dependencies. A group's dependencies apply to every app inside it."""

from __future__ import annotations

from typing import Any

from marathon_py.appdef import App, InvalidApp, canonical_id, id_problems


def flatten(group: Any, parent: str = "/") -> tuple[list[tuple[dict[str, Any], str]], list[dict[str, Any]]]:
    """A posted group → (app definitions with absolute ids, the groups with absolute ids)."""
    if not isinstance(group, dict):
        raise InvalidApp([("/", "a group must be a JSON object")])
    gid = canonical_id(str(group.get("id", "")), parent) if group.get("id") else parent
    problems = [] if gid == "/" else id_problems(gid)
    if problems:
        raise InvalidApp([("/id", p) for p in problems])
    deps = [canonical_id(d, gid) for d in group.get("dependencies", [])]
    apps: list[tuple[dict[str, Any], str]] = []
    groups = [{"id": gid, "dependencies": deps}]
    for i, raw in enumerate(group.get("apps", []) or []):
        if not isinstance(raw, dict) or "id" not in raw:
            raise InvalidApp([(f"/apps({i})/id", "is required")])
        app = dict(raw)
        app["id"] = canonical_id(str(raw["id"]), gid)
        app["dependencies"] = [canonical_id(d, gid) for d in raw.get("dependencies", [])] + deps
        apps.append((app, app["id"]))
    for sub in group.get("groups", []) or []:
        sub_apps, sub_groups = flatten(sub, gid)
        for app, _ in sub_apps:
            inherited = [d for d in deps if d not in app.get("dependencies", [])]
            app["dependencies"] = app.get("dependencies", []) + inherited
        apps.extend(sub_apps)
        groups.extend(sub_groups)
    return apps, groups


def dependency_order(apps: list[App]) -> list[list[str]]:
    """App ids in waves: each wave depends only on earlier ones. Raises InvalidApp on a cycle."""
    ids = {a["id"] for a in apps}
    needs = {a["id"]: {i for d in a["dependencies"] for i in ids if i == d or i.startswith(d.rstrip("/") + "/")}
             - {a["id"]} for a in apps}
    waves: list[list[str]] = []
    done: set[str] = set()
    while len(done) < len(ids):
        wave = sorted(i for i in ids - done if needs[i] <= done)
        if not wave:
            cycle = sorted(ids - done)
            raise InvalidApp([("/dependencies", f"Dependency graph has a cycle: {', '.join(cycle)}")])
        waves.append(wave)
        done.update(wave)
    return waves


def tree(group_id: str, apps: list[dict[str, Any]], explicit: dict[str, dict[str, Any]],
         version: str) -> dict[str, Any]:
    """Render group `group_id` as Marathon does: its apps, nested groups, dependencies."""
    prefix = "/" if group_id == "/" else group_id + "/"
    own = [a for a in apps if a["id"].startswith(prefix) and "/" not in a["id"][len(prefix):]]
    children = {prefix + rest.split("/", 1)[0] for rest in
                (a["id"][len(prefix):] for a in apps if a["id"].startswith(prefix)) if "/" in rest}
    children |= {g for g in explicit if g.startswith(prefix) and g != group_id and "/" not in g[len(prefix):]}
    return {
        "id": group_id, "apps": sorted(own, key=lambda a: a["id"]),
        "groups": [tree(c, apps, explicit, version) for c in sorted(children)],
        "pods": [], "dependencies": explicit.get(group_id, {}).get("dependencies", []),
        "version": explicit.get(group_id, {}).get("version", version),
    }
