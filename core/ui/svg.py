"""Pictures drawn on the server as SVG: a dependency graph (Graphviz' `dot` when installed, else a
simple layered layout) and a bar chart of run durations.

Rules:
- Every text put into SVG is escaped; node links point only to UI pages built from the name.
- `dot` runs with a time limit; if it is missing, fails or takes too long, the layered layout
  is drawn instead, so the picture never depends on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

DOT_SECONDS = 5.0
FILL = {"success": "#dff3e4", "failure": "#fde2e1", "fresh": "#ffffff"}
STROKE = {"running": "#0a58ca", "queued": "#8a5a00"}


@dataclass(frozen=True)
class Node:
    name: str
    status: str = "fresh"  # Chronos' last outcome: fresh, success, failure
    state: str = "idle"  # idle, queued, running


def parse_graph_csv(text: str) -> tuple[list[Node], list[tuple[str, str]]]:
    """Chronos' `/scheduler/graph/csv`: `node,NAME,STATUS,STATE` and `link,PARENT,CHILD` lines."""
    nodes: list[Node] = []
    links: list[tuple[str, str]] = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if parts[0] == "node" and len(parts) >= 2:
            status = parts[2] if len(parts) > 2 else "fresh"
            nodes.append(Node(parts[1], status, parts[3] if len(parts) > 3 else "idle"))
        elif parts[0] == "link" and len(parts) >= 3:
            links.append((parts[1], parts[2]))
    return nodes, links


def layers(nodes: list[Node], links: list[tuple[str, str]]) -> list[list[str]]:
    """Nodes by layer: a node sits one layer below its deepest parent (roots in layer 0). A cycle,
    which Chronos refuses anyway, is cut where it is found."""
    parents: dict[str, list[str]] = {n.name: [] for n in nodes}
    for parent, child in links:
        if parent in parents and child in parents:
            parents[child].append(parent)
    depth: dict[str, int] = {}

    def depth_of(name: str, path: frozenset[str]) -> int:
        if name in depth:
            return depth[name]
        ups = [p for p in parents[name] if p not in path]
        value = 1 + max((depth_of(p, path | {name}) for p in ups), default=-1)
        depth[name] = value
        return value

    for node in nodes:
        depth_of(node.name, frozenset())
    out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node in sorted(nodes, key=lambda n: n.name):
        out[depth[node.name]].append(node.name)
    return out


def layered_svg(nodes: list[Node], links: list[tuple[str, str]], href: Callable[[str], str]) -> str:
    """The graph top to bottom, one row per layer, edges as arrows."""
    rows = layers(nodes, links)
    by_name = {n.name: n for n in nodes}
    box_w, box_h, gap_x, gap_y = 150, 34, 24, 56
    width = max((len(r) for r in rows), default=1) * (box_w + gap_x) + gap_x
    height = len(rows) * (box_h + gap_y) + gap_y // 2
    where: dict[str, tuple[int, int]] = {}
    for y, row in enumerate(rows):
        offset = (width - len(row) * (box_w + gap_x) + gap_x) // 2
        for x, name in enumerate(row):
            where[name] = (offset + x * (box_w + gap_x), gap_y // 2 + y * (box_h + gap_y))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {max(height, box_h + gap_y)}" '
             f'width="{width}" height="{max(height, box_h + gap_y)}" role="img" aria-label="Job dependencies">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#39414d"/></marker></defs>']
    for parent, child in links:
        if parent in where and child in where:
            (px, py), (cx, cy) = where[parent], where[child]
            parts.append(f'<line x1="{px + box_w // 2}" y1="{py + box_h}" x2="{cx + box_w // 2}" y2="{cy}" '
                         'stroke="#39414d" stroke-width="1.5" marker-end="url(#arrow)"/>')
    for name, (x, y) in where.items():
        node = by_name[name]
        label = name if len(name) <= 20 else name[:19] + "…"
        parts.append(f'<a href="{escape(href(name))}"><g class="node" data-job="{escape(name)}">'
                     f'<title>{escape(name)}: {escape(node.status)}, {escape(node.state)}</title>'
                     f'<rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" rx="5" '
                     f'fill="{FILL.get(node.status, "#ffffff")}" stroke="{STROKE.get(node.state, "#39414d")}" '
                     f'stroke-width="{3 if node.state in STROKE else 1.5}"/>'
                     f'<text x="{x + box_w // 2}" y="{y + box_h // 2 + 5}" text-anchor="middle" '
                     f'font-family="sans-serif" font-size="13" fill="#1b1f24">{escape(label)}</text></g></a>')
    parts.append("</svg>")
    return "".join(parts)


def to_dot(nodes: list[Node], links: list[tuple[str, str]], href: Callable[[str], str]) -> str:
    def q(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["digraph jobs {", "  node [shape=box, style=\"rounded,filled\", fontname=\"sans-serif\", fontsize=12];",
             "  rankdir=TB;"]
    for n in nodes:
        lines.append(f"  {q(n.name)} [fillcolor={q(FILL.get(n.status, '#ffffff'))}, "
                     f"color={q(STROKE.get(n.state, '#39414d'))}, penwidth={2.5 if n.state in STROKE else 1}, "
                     f"URL={q(href(n.name))}, tooltip={q(f'{n.name}: {n.status}, {n.state}')}];")
    for parent, child in links:
        lines.append(f"  {q(parent)} -> {q(child)};")
    lines.append("}")
    return "\n".join(lines)


_drawn: dict[str, str] = {}  # the latest graphs Graphviz drew, by their DOT text
DRAWN_KEPT = 16


async def graphviz_svg(dot: str) -> str | None:
    """`dot -Tsvg` of `dot`, or None when Graphviz is missing or fails. A graph drawn before is not
    drawn again (pages are redrawn on every event, the graph seldom changes)."""
    if dot in _drawn:
        return _drawn[dot]
    program = shutil.which("dot")
    if program is None:
        return None
    proc = await asyncio.create_subprocess_exec(program, "-Tsvg", stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(dot.encode()), DOT_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return None
    text = out.decode("utf-8", "replace")
    start = text.find("<svg")
    if proc.returncode != 0 or start < 0:
        return None
    if len(_drawn) >= DRAWN_KEPT:
        _drawn.pop(next(iter(_drawn)))
    _drawn[dot] = text[start:]
    return _drawn[dot]


async def dependency_graph(nodes: list[Node], links: list[tuple[str, str]], href: Callable[[str], str],
                           use_graphviz: bool = True) -> tuple[str, str]:
    """The graph as SVG, and what drew it ("graphviz" or "layered")."""
    if use_graphviz and nodes:
        svg = await graphviz_svg(to_dot(nodes, links, href))
        if svg is not None:
            return svg, "graphviz"
    return layered_svg(nodes, links, href), "layered"


def job_href(name: str) -> str:
    return "/ui/chronos/jobs/" + quote(name, safe="")


def duration_chart(runs: list[tuple[str, float, str]], height: int = 140) -> str:
    """Bars of run durations, oldest first: (label, seconds, outcome) each; failures in red."""
    if not runs:
        return ""
    bar_w, gap, top, bottom, left = 14, 4, 10, 20, 52
    longest = max(seconds for _, seconds, _ in runs) or 1.0
    width = left + len(runs) * (bar_w + gap) + gap
    plot = height - top - bottom
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="Durations of the last {len(runs)} runs">',
             f'<text x="{left - 6}" y="{top + 10}" text-anchor="end" font-size="11" fill="#1b1f24" '
             f'font-family="sans-serif">{escape(_short(longest))}</text>',
             f'<text x="{left - 6}" y="{top + plot}" text-anchor="end" font-size="11" fill="#1b1f24" '
             'font-family="sans-serif">0</text>',
             f'<line x1="{left}" y1="{top + plot}" x2="{width}" y2="{top + plot}" stroke="#39414d"/>']
    for i, (label, seconds, outcome) in enumerate(runs):
        h = max(1, round(plot * seconds / longest))
        x = left + gap + i * (bar_w + gap)
        colour = "#b42318" if outcome == "failure" else "#2f6fdb"
        parts.append(f'<rect x="{x}" y="{top + plot - h}" width="{bar_w}" height="{h}" fill="{colour}">'
                     f'<title>{escape(label)}: {escape(_short(seconds))} ({escape(outcome)})</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def _short(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"
