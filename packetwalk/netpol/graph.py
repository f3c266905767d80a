"""Who may talk to whom, as a picture: Graphviz ``dot`` text and a Mermaid flowchart.

Workloads are grouped by namespace, External ranges stand apart, every edge carries its ports.
Turning dot text into SVG/PNG needs the ``dot`` binary; that happens at the edge
(``packetwalk.cli.matrix_views.render_dot``), so this module stays pure.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

from packetwalk.netpol.evaluator import Analysis, External, Node, Workload
from packetwalk.netpol.ports import ConnSet

Edge = tuple[Node, Node, ConnSet]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _edges(analysis: Analysis, edges: Iterable[Edge] | None) -> list[Edge]:
    return sorted(
        edges if edges is not None else analysis.edges(), key=lambda e: (e[0].label, e[1].label)
    )


def _used(edges: list[Edge], analysis: Analysis) -> tuple[list[Workload], list[External]]:
    externals: dict[str, External] = {}
    for src, dst, _ in edges:
        for node in (src, dst):
            if isinstance(node, External):
                externals[node.label] = node
    return analysis.workloads, [externals[k] for k in sorted(externals)]


def to_dot(
    analysis: Analysis,
    edges: Iterable[Edge] | None = None,
    *,
    title: str = "NetworkPolicy connectivity",
) -> str:
    items = _edges(analysis, edges)
    workloads, externals = _used(items, analysis)
    by_ns: dict[str, list[Workload]] = defaultdict(list)
    for w in workloads:
        by_ns[w.namespace].append(w)
    out = [
        "digraph connectivity {",
        f"  label={_quote(title)}; labelloc=t; fontname=Helvetica; rankdir=LR;",
        "  node [fontname=Helvetica, fontsize=11]; edge [fontname=Helvetica, fontsize=9];",
    ]
    for index, ns in enumerate(sorted(by_ns)):
        out.append(f"  subgraph cluster_{index} {{")
        out.append(f"    label={_quote('namespace ' + ns)}; style=rounded; color=grey60;")
        for w in by_ns[ns]:
            text = _quote(w.name + "\n" + w.kind)
            out.append(
                f"    {_quote(w.label)} [label={text}, "
                "shape=box, style=filled, fillcolor=lightblue];"
            )
        out.append("  }")
    for ext in externals:
        body = ext.label.removesuffix("[External]")
        text = _quote(body + "\nExternal")
        out.append(
            f"  {_quote(ext.label)} [label={text}, shape=ellipse, style=filled, fillcolor=khaki];"
        )
    for src, dst, conn in items:
        color = "red" if conn.is_all else "darkgreen"
        out.append(
            f"  {_quote(src.label)} -> {_quote(dst.label)} "
            f"[label={_quote(str(conn))}, color={color}];"
        )
    out.append("}")
    return "\n".join(out) + "\n"


def _mermaid_id(label: str, ids: dict[str, str]) -> str:
    if label not in ids:
        ids[label] = f"n{len(ids)}_" + re.sub(r"[^A-Za-z0-9_]", "_", label)[:40]
    return ids[label]


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def to_mermaid(analysis: Analysis, edges: Iterable[Edge] | None = None) -> str:
    items = _edges(analysis, edges)
    workloads, externals = _used(items, analysis)
    ids: dict[str, str] = {}
    out = ["flowchart LR"]
    by_ns: dict[str, list[Workload]] = defaultdict(list)
    for w in workloads:
        by_ns[w.namespace].append(w)
    for index, ns in enumerate(sorted(by_ns)):
        out.append(f'  subgraph ns{index}["namespace {_mermaid_text(ns)}"]')
        for w in by_ns[ns]:
            out.append(f'    {_mermaid_id(w.label, ids)}["{_mermaid_text(w.name)}<br/>{w.kind}"]')
        out.append("  end")
    for ext in externals:
        body = ext.label.removesuffix("[External]")
        out.append(f'  {_mermaid_id(ext.label, ids)}(["{body}<br/>External"])')
    for src, dst, conn in items:
        out.append(
            f'  {_mermaid_id(src.label, ids)} -->|"{_mermaid_text(str(conn))}"| '
            f"{_mermaid_id(dst.label, ids)}"
        )
    return "\n".join(out) + "\n"
