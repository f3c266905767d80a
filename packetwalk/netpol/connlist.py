"""netpol-analyzer compatible connectivity lists: ``txt`` (byte-compatible), json, csv, md.

One line per ordered pair of distinct peers with at least one allowed connection, sorted as plain
strings; see docs/design/netpol-semantics.md section 3 for the grammar.
"""

from __future__ import annotations

import csv
import io
import json

from packetwalk.netpol.evaluator import Analysis
from packetwalk.netpol.ports import ALL, ConnSet

FORMATS = ("txt", "json", "csv", "md")

Row = tuple[str, str, str]


def rows(analysis: Analysis) -> list[Row]:
    """(src, dst, conn) for every allowed pair, in netpol-analyzer's order."""
    out = [(src.label, dst.label, str(conn)) for src, dst, conn in analysis.edges()]
    out.sort(key=lambda r: f"{r[0]} => {r[1]} : {r[2]}")
    return out


def render_rows(data: list[Row], fmt: str) -> str:
    if fmt == "txt":
        return "".join(f"{s} => {d} : {c}\n" for s, d, c in data)
    if fmt == "json":
        return json.dumps([{"src": s, "dst": d, "conn": c} for s, d, c in data], indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["src", "dst", "conn"])
        writer.writerows(data)
        return buf.getvalue()
    if fmt == "md":
        lines = ["| src | dst | conn |", "|-----|-----|------|"]
        lines.extend(f"| {s} | {d} | {c} |" for s, d, c in data)
        return "\n".join(lines) + "\n"
    raise ValueError(f"unknown connlist format {fmt!r} (valid: {', '.join(FORMATS)})")


def render(analysis: Analysis, fmt: str = "txt") -> str:
    return render_rows(rows(analysis), fmt)


def pod_matrix(analysis: Analysis, *, as_bool: bool = False) -> str:
    """netpol-analyzer's full pod x pod matrix, self and denied pairs included.

    ``as_bool`` is its ``_bool`` variant: ``true`` only where every connection is allowed.
    """
    pods = sorted(analysis.cluster.pods, key=lambda p: (p.namespace, p.name))
    lines = []
    for src in pods:
        for dst in pods:
            conn: ConnSet = ALL if src is dst else analysis.pod_conn(src, dst)
            value = str(conn.is_all).lower() if as_bool else str(conn)
            lines.append(
                f"src: {src.namespace}/{src.name}, dest: {dst.namespace}/{dst.name}, "
                f"allowed conns: {value}"
            )
    lines.sort()
    return "\n".join(lines) + "\n"
