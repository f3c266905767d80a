"""Connectivity diff between two manifest sets, in netpol-analyzer's ``diff`` text format.

``ref1`` is the original, ``ref2`` the changed set. Both sides are compared on a common cut of
the External space (the union of both sides' ipBlock boundaries), so a range that one side
splits and the other does not still compares address for address.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from packetwalk.netpol.evaluator import Analysis, External, Node, Workload
from packetwalk.netpol.ipblocks import IPV4_MAX
from packetwalk.netpol.ports import NONE, ConnSet

DIFF_TYPES = ("changed", "added", "removed")
FORMATS = ("txt", "json", "csv", "md")


@dataclass(frozen=True)
class DiffLine:
    kind: str
    src: str
    dst: str
    ref1: ConnSet
    ref2: ConnSet
    info: str = ""

    def text(self) -> str:
        line = (
            f"diff-type: {self.kind}, source: {self.src}, destination: {self.dst}, "
            f"ref1: {self.ref1}, ref2: {self.ref2}"
        )
        if self.info:
            line += f", workloads-diff-info: {self.info}"
        return line


def _cuts(atoms: list[External]) -> set[int]:
    return {a.lo for a in atoms} | {IPV4_MAX + 1}


def _common(a1: list[External], a2: list[External]) -> list[tuple[int, int]]:
    points = sorted(_cuts(a1) | _cuts(a2) | {0})
    return [(points[i], points[i + 1] - 1) for i in range(len(points) - 1)]


def _locate(atoms: list[External], lo: int) -> External:
    left, right = 0, len(atoms) - 1
    while left < right:
        mid = (left + right + 1) // 2
        if atoms[mid].lo <= lo:
            left = mid
        else:
            right = mid - 1
    return atoms[left]


Verdicts = tuple[ConnSet, ConnSet]


def _merge(runs: list[tuple[int, int, Verdicts]]) -> list[tuple[int, int, Verdicts]]:
    """Join neighbouring ranges with the same pair of verdicts (netpol-analyzer does the same),
    so a cut that only one side needs does not split a line the other side never had."""
    out: list[tuple[int, int, Verdicts]] = []
    for lo, hi, both in runs:
        if out and out[-1][2] == both and out[-1][1] + 1 == lo:
            out[-1] = (out[-1][0], hi, both)
        else:
            out.append((lo, hi, both))
    return out


def connectivity_diff(ref1: Analysis, ref2: Analysis) -> list[DiffLine]:
    w1 = {w.label: w for w in ref1.workloads}
    w2 = {w.label: w for w in ref2.workloads}
    labels = sorted(set(w1) | set(w2))
    pairs: dict[tuple[str, str], tuple[ConnSet, ConnSet]] = {}

    def conn(
        analysis: Analysis, side: dict[str, Workload], src: str | External, dst: str | External
    ) -> ConnSet:
        s: Node | None = side.get(src) if isinstance(src, str) else src
        d: Node | None = side.get(dst) if isinstance(dst, str) else dst
        if s is None or d is None:
            return NONE
        return analysis.conn(s, d)

    common_in = [
        (lo, hi, _locate(ref1.sources, lo), _locate(ref2.sources, lo))
        for lo, hi in _common(ref1.sources, ref2.sources)
    ]
    common_out = [
        (lo, hi, _locate(ref1.destinations, lo), _locate(ref2.destinations, lo))
        for lo, hi in _common(ref1.destinations, ref2.destinations)
    ]
    for dst in labels:
        runs = [
            (lo, hi, (conn(ref1, w1, e1, dst), conn(ref2, w2, e2, dst)))
            for lo, hi, e1, e2 in common_in
        ]
        for lo, hi, both in _merge(runs):
            pairs[(External(lo, hi, -1).label, dst)] = both
    for src in labels:
        for dst in labels:
            if src != dst:
                pairs[(src, dst)] = (conn(ref1, w1, src, dst), conn(ref2, w2, src, dst))
        runs = [
            (lo, hi, (conn(ref1, w1, src, e1), conn(ref2, w2, src, e2)))
            for lo, hi, e1, e2 in common_out
        ]
        for lo, hi, both in _merge(runs):
            pairs[(src, External(lo, hi, -1).label)] = both

    out: list[DiffLine] = []
    for (src, dst), (c1, c2) in pairs.items():
        if c1 == c2:
            continue
        kind = "added" if c1.is_empty else "removed" if c2.is_empty else "changed"
        info = _workload_info(src, dst, w1, w2, kind)
        out.append(DiffLine(kind, src, dst, c1, c2, info))
    out.sort(key=lambda d: (DIFF_TYPES.index(d.kind), d.text()))
    return out


def _workload_info(
    src: str, dst: str, w1: dict[str, Workload], w2: dict[str, Workload], kind: str
) -> str:
    if kind == "added":
        new = [p for p in (src, dst) if p in w2 and p not in w1]
        verb = "added"
    elif kind == "removed":
        new = [p for p in (src, dst) if p in w1 and p not in w2]
        verb = "removed"
    else:
        return ""
    if not new:
        return ""
    return f"workload {' and '.join(new)} {verb}"


def render(lines: list[DiffLine], fmt: str = "txt") -> str:
    if fmt == "txt":
        if not lines:
            return ""
        return "Connectivity diff:\n" + "".join(d.text() + "\n" for d in lines)
    records = [
        {
            "diff-type": d.kind,
            "src": d.src,
            "dst": d.dst,
            "ref1": str(d.ref1),
            "ref2": str(d.ref2),
            "workloads-diff-info": d.info,
        }
        for d in lines
    ]
    if fmt == "json":
        return json.dumps(records, indent=2)
    header = ["diff-type", "source", "destination", "ref1", "ref2", "workloads-diff-info"]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(list(r.values()) for r in records)
        return buf.getvalue()
    if fmt == "md":
        rows = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        rows.extend("| " + " | ".join(str(v) for v in r.values()) + " |" for r in records)
        return "\n".join(rows) + "\n"
    raise ValueError(f"unknown diff format {fmt!r} (valid: {', '.join(FORMATS)})")
