"""The verify report as data: a source x destination grid, JSON, Markdown and an SVG heat map.

One cell per (source, destination) sums up its probes (every port): the worst status wins, so a
single mismatch colours the cell. Pure text out; the task writes it and the rich table is the
terminal's view of :func:`grid`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal

from packetwalk.verify.compare import Result

Cell = Literal["allow", "deny", "unexpected-allow", "unexpected-deny", "error", "none"]
"""allow/deny: as expected; unexpected-*: a mismatch; error: not probed; none: no probe."""

_RANK: dict[Cell, int] = {
    "none": 0,
    "deny": 1,
    "allow": 2,
    "error": 3,
    "unexpected-deny": 4,
    "unexpected-allow": 5,
}
COLOURS: dict[Cell, str] = {
    "allow": "#4caf50",
    "deny": "#d0d0d0",
    "unexpected-allow": "#d32f2f",
    "unexpected-deny": "#ff9800",
    "error": "#fff176",
    "none": "#ffffff",
}
LEGEND: dict[Cell, str] = {
    "allow": "allowed, connected",
    "deny": "denied, blocked",
    "unexpected-allow": "denied but connected",
    "unexpected-deny": "allowed but blocked",
    "error": "not probed",
}
SYMBOLS: dict[Cell, str] = {
    "allow": "ok",
    "deny": "-",
    "unexpected-allow": "LEAK",
    "unexpected-deny": "BLOCKED",
    "error": "?",
    "none": "",
}


def cell_of(result: Result) -> Cell:
    if result.status == "ok":
        return "allow" if result.probe.expected else "deny"
    return result.status


@dataclass(frozen=True)
class Grid:
    sources: list[str]
    targets: list[str]
    cells: dict[tuple[str, str], Cell]
    ports: dict[tuple[str, str], list[str]]
    """Per cell: ``80/TCP ok`` lines, one per probe."""


def grid(results: Sequence[Result]) -> Grid:
    sources: dict[str, None] = {}
    targets: dict[str, None] = {}
    cells: dict[tuple[str, str], Cell] = {}
    ports: dict[tuple[str, str], list[str]] = {}
    for result in results:
        src, dst = result.probe.source.endpoint.label, result.probe.target.label
        sources.setdefault(src)
        targets.setdefault(dst)
        cell = cell_of(result)
        if _RANK[cell] > _RANK[cells.get((src, dst), "none")]:
            cells[(src, dst)] = cell
        ports.setdefault((src, dst), []).append(
            f"{result.probe.port}/{result.probe.protocol} {SYMBOLS[cell]}"
        )
    return Grid(list(sources), list(targets), cells, ports)


def to_json(results: Sequence[Result], causes: Sequence[str], problems: Sequence[str]) -> str:
    probes = [
        {
            "source": r.probe.source.endpoint.label,
            "target": r.probe.target.label,
            "address": r.probe.target.ip,
            "port": r.probe.port,
            "protocol": r.probe.protocol,
            "declared": r.probe.declared,
            "expected": "allow" if r.probe.expected else "deny",
            "observed": r.observed,
            "status": r.status,
            **({"reason": r.reason} if r.reason else {}),
        }
        for r in results
    ]
    mismatches = sum(1 for r in results if r.mismatch)
    body = {
        "mismatches": mismatches,
        "probes": probes,
        "causes": list(causes),
        "problems": list(problems),
    }
    return json.dumps(body, indent=2) + "\n"


def to_markdown(results: Sequence[Result], causes: Sequence[str], problems: Sequence[str]) -> str:
    g = grid(results)
    lines = ["| from \\ to | " + " | ".join(g.targets) + " |"]
    lines.append("|---" * (len(g.targets) + 1) + "|")
    for src in g.sources:
        row = [
            ", ".join(g.ports.get((src, dst), [])) if (src, dst) in g.cells else ""
            for dst in g.targets
        ]
        lines.append(f"| {src} | " + " | ".join(row) + " |")
    mismatches = [r for r in results if r.mismatch]
    lines.append("")
    lines.append(f"**{len(mismatches)} mismatches**" if mismatches else "**No mismatches.**")
    for r in mismatches:
        lines.append(f"- {r.describe()}")
    for cause in causes:
        lines.append(f"- likely cause: {cause}")
    for problem in problems:
        lines.append(f"- not probed: {problem}")
    return "\n".join(lines) + "\n"


CELL = 28
LABEL = 220


def to_svg(results: Sequence[Result], title: str = "expected vs observed") -> str:
    """A heat map: rows sources, columns destinations, coloured by :data:`COLOURS`."""
    g = grid(results)
    width = LABEL + CELL * len(g.targets) + 20
    height = LABEL + CELL * len(g.sources) + 40 + 18 * len(LEGEND)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<text x="10" y="16" font-size="14">{escape(title)}</text>',
    ]
    for j, dst in enumerate(g.targets):
        x = LABEL + CELL * j + CELL // 2
        out.append(f'<text transform="translate({x},{LABEL - 6}) rotate(-60)">{escape(dst)}</text>')
    for i, src in enumerate(g.sources):
        y = LABEL + CELL * i
        out.append(f'<text x="{LABEL - 6}" y="{y + 18}" text-anchor="end">{escape(src)}</text>')
        for j, dst in enumerate(g.targets):
            cell = g.cells.get((src, dst), "none")
            tip = "; ".join(g.ports.get((src, dst), [])) or "not probed"
            out.append(
                f'<rect x="{LABEL + CELL * j}" y="{y}" width="{CELL}" height="{CELL}" '
                f'fill="{COLOURS[cell]}" stroke="#ffffff" data-cell="{cell}">'
                f"<title>{escape(f'{src} -> {dst}: {tip}')}</title></rect>"
            )
    y = LABEL + CELL * len(g.sources) + 20
    for k, (cell, words) in enumerate(LEGEND.items()):
        out.append(
            f'<rect x="10" y="{y + 18 * k}" width="12" height="12" fill="{COLOURS[cell]}"/>'
            f'<text x="28" y="{y + 18 * k + 10}">{escape(words)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
