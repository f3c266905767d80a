"""Rich views of an evaluated policy set, and the Graphviz adapter for pictures.

A grid (rows = sources, columns = destinations, like docs/design/voting-app.md section 3) when it
fits a terminal, a list of allowed pairs otherwise.
"""

from __future__ import annotations

import shutil
import subprocess

from rich.table import Table
from rich.text import Text

from packetwalk.errors import PacketwalkError
from packetwalk.netpol.diff import DiffLine
from packetwalk.netpol.evaluator import Analysis, External, Node
from packetwalk.netpol.ports import ConnSet

GRID_LIMIT = 12


class GraphvizMissing(PacketwalkError):
    """``dot`` is needed for svg/png output."""


def render_dot(dot_text: str, fmt: str, *, binary: str = "dot") -> bytes:
    """Run Graphviz ``dot -T<fmt>`` on the text; a clear error when it is not installed."""
    path = shutil.which(binary)
    if path is None:
        raise GraphvizMissing(
            f"'{binary}' (Graphviz) is not installed, so {fmt} cannot be drawn. Install it "
            "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz) or use "
            "--format dot / mermaid and render elsewhere."
        )
    result = subprocess.run(
        [path, f"-T{fmt}"], input=dot_text.encode(), capture_output=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise PacketwalkError(f"dot -T{fmt} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout


def _short(node: Node) -> str:
    if isinstance(node, External):
        return node.label
    return f"{node.namespace}/{node.name}"


def _range(node: Node) -> str:
    body = node.label.removesuffix("[External]")
    return "anywhere" if body == "0.0.0.0-255.255.255.255" else body


def _conn_text(conn: ConnSet) -> str:
    return "all" if conn.is_all else str(conn).replace(",", ", ")


def _cell(conn: ConnSet) -> Text:
    if conn.is_empty:
        return Text("-", style="dim")
    return Text(_conn_text(conn), style="bold red" if conn.is_all else "green")


def matrix_table(
    analysis: Analysis, edges: list[tuple[Node, Node, ConnSet]], *, title: str
) -> Table:
    workloads = analysis.workloads
    if len(workloads) <= GRID_LIMIT:
        table = Table(title=title, show_lines=True)
        table.add_column("from \\ to", style="bold")
        for w in workloads:
            table.add_column(w.name, overflow="fold")
        has_external = {dst.label for _, dst, _ in edges if isinstance(dst, External)}
        if has_external:
            table.add_column("External")
        for src in workloads:
            cells = [Text(_short(src))]
            for dst in workloads:
                if src is dst:
                    cells.append(Text("self", style="dim"))
                else:
                    cells.append(_cell(analysis.conn(src, dst)))
            if has_external:
                ext = [
                    f"{_range(d)}: {_conn_text(c)}"
                    for s, d, c in edges
                    if s is src and isinstance(d, External)
                ]
                cells.append(Text("\n".join(ext) or "-", style="yellow" if ext else "dim"))
            table.add_row(*cells)
        inbound = [(s, d, c) for s, d, c in edges if isinstance(s, External)]
        if inbound:
            cells = [Text("External")]
            for column in workloads:
                parts = [f"{_range(s)}: {_conn_text(c)}" for s, d, c in inbound if d is column]
                cells.append(Text("\n".join(parts) or "-", style="yellow" if parts else "dim"))
            if has_external:
                cells.append(Text(""))
            table.add_row(*cells)
        return table
    table = Table(title=title)
    table.add_column("source")
    table.add_column("destination")
    table.add_column("allowed")
    for source, target, conn in edges:
        table.add_row(source.label, target.label, _cell(conn))
    return table


def self_table(pairs: list[tuple[str, ConnSet]]) -> Table:
    table = Table(
        title="Between pods of one workload (replicas; a pod to itself is not blocked by most CNIs)"
    )
    table.add_column("workload")
    table.add_column("allowed between its own pods")
    for label, conn in pairs:
        table.add_row(label, _cell(conn))
    return table


def diff_table(lines: list[DiffLine], *, title: str) -> Table:
    table = Table(title=title)
    for col in ("change", "source", "destination", "before", "after"):
        table.add_column(col)
    styles = {"added": "green", "removed": "red", "changed": "yellow"}
    for d in lines:
        table.add_row(Text(d.kind, style=styles[d.kind]), d.src, d.dst, str(d.ref1), str(d.ref2))
    return table
