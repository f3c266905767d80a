"""Show a walk: a text hop table with one sentence per translation, JSON, Mermaid and SVG.

All pure: SVG is written directly (a sequence diagram is lifelines, arrows and notes on a grid),
so pictures need no external renderer and are byte-for-byte reproducible.
"""

from __future__ import annotations

import html
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from packetwalk.capture.model import Hop, Inventory, Translation, WalkAnalysis

FORMATS = ("text", "json", "mermaid", "svg")


def render(analysis: WalkAnalysis, fmt: str) -> str:
    renderers: dict[str, Callable[[WalkAnalysis], str]] = {
        "text": render_text,
        "json": render_json,
        "mermaid": render_mermaid,
        "svg": render_svg,
    }
    return renderers[fmt](analysis)


# --- JSON -------------------------------------------------------------------------------------


def to_json(analysis: WalkAnalysis) -> dict[str, Any]:
    """The stable, documented shape; ``links`` and ``warnings`` sit beside ``flows``."""
    return {
        "flows": [
            {
                "protocol": flow.protocol,
                "client": str(flow.client),
                "server": str(flow.server),
                "hops": [
                    {
                        "point": hop.point,
                        "src": str(hop.src),
                        "dst": str(hop.dst),
                        "interface": hop.interface,
                        "time": round(hop.time, 6),
                    }
                    for hop in flow.hops
                ],
                "translations": [
                    {
                        "kind": t.kind,
                        "point": t.point,
                        "before": str(t.before),
                        "after": str(t.after),
                    }
                    for t in flow.translations
                ],
                "reply_seen": flow.reply_seen,
            }
            for flow in analysis.flows
        ],
        "links": [
            {
                "inbound": link.inbound,
                "outbound": link.outbound,
                "proxy": link.proxy,
                "point": link.point,
            }
            for link in analysis.links
        ],
        "warnings": list(analysis.warnings),
    }


def render_json(analysis: WalkAnalysis) -> str:
    return json.dumps(to_json(analysis), indent=2) + "\n"


# --- text -------------------------------------------------------------------------------------


def translation_sentence(t: Translation, inventory: Inventory, kinds: dict[str, str]) -> str:
    """One plain sentence, e.g. "the node rewrote the destination ... : kube-proxy's DNAT"."""
    who = _point_phrase(t.point, kinds.get(t.point))
    before, after = inventory.describe(t.before), inventory.describe(t.after)
    before_role = inventory.lookup(t.before.ip)
    after_role = inventory.lookup(t.after.ip)
    if t.kind == "DNAT":
        if before_role and before_role[0] == "service":
            why = "kube-proxy's DNAT (Service address to an endpoint)"
        elif before_role and before_role[0] == "node":
            why = "kube-proxy's NodePort DNAT"
        elif after_role and after_role[0] == "pod":
            why = "a DNAT to a pod (kube-proxy or a load balancer rule)"
        else:
            why = "a DNAT rule"
        text = f"{who} rewrote the destination {before} to {after}: {why}"
    else:
        if after_role and after_role[0] == "node":
            why = "masquerade (SNAT) to the node's address, so the reply comes back through it"
        else:
            why = "SNAT (masquerade), so the reply comes back through the translating host"
        text = f"{who} rewrote the source {before} to {after}: {why}"
    if t.reversed:
        text += "; the reply was translated back by conntrack"
    return text + "."


def _point_phrase(point: str, kind: str | None) -> str:
    if point.startswith("between "):
        return f"something {point}"
    if kind and point == kind:
        return f"the {kind}"
    return f"{kind} {point}" if kind else point


def render_text(analysis: WalkAnalysis) -> str:
    inv = analysis.inventory
    kinds = {hop.point: hop.kind for flow in analysis.flows for hop in flow.hops}
    out: list[str] = []
    if not analysis.flows:
        out.append("No TCP or UDP flows in the captures.")
    for number, flow in enumerate(analysis.flows, 1):
        reply = "reply seen" if flow.reply_seen else "NO reply seen"
        out.append(
            f"Flow {number}: {flow.protocol} {inv.describe(flow.client)} -> "
            f"{inv.describe(flow.server)} ({reply}; hops ordered by {flow.ordered_by})"
        )
        rows: list[tuple[str, ...]] = [
            ("#", "point", "interface", "dir", "source", "destination", "+ms", "pkts")
        ]
        start = flow.start
        for i, hop in enumerate(flow.hops, 1):
            rows.append(_hop_row(i, hop, inv, start))
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        for row in rows:
            out.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        for t in flow.translations:
            out.append(f"  - {translation_sentence(t, inv, kinds)}")
        if len(flow.hops) > 1 and not flow.translations:
            out.append("  - no address was rewritten along this path.")
        out.append("")
    for link in analysis.links:
        name = inv.lookup(link.proxy)
        proxy = f"{name[0]} {name[1]} ({link.proxy})" if name else link.proxy
        seen = f", seen at {link.point}" if link.point else ""
        out.append(
            f"Flow {link.outbound + 1} was opened by {proxy} while it served flow "
            f"{link.inbound + 1}{seen}: a proxy making its own connection to the backend, not NAT."
        )
    if analysis.links:
        out.append("")
    if analysis.warnings:
        out.append("Warnings:")
        out.extend(f"  ! {w}" for w in analysis.warnings)
    return "\n".join(out).rstrip("\n") + "\n"


def _hop_row(i: int, hop: Hop, inv: Inventory, start: float) -> tuple[str, ...]:
    return (
        str(i),
        hop.point,
        hop.interface or "-",
        hop.direction or "-",
        inv.describe(hop.src),
        inv.describe(hop.dst),
        f"{(hop.time - start) * 1000:.3f}",
        str(hop.packets),
    )


# --- sequence diagrams (Mermaid and SVG share one script) -------------------------------------


@dataclass(frozen=True)
class _Event:
    kind: str  # "msg" | "reply" | "note"
    left: str
    right: str
    text: str


def _script(analysis: WalkAnalysis) -> tuple[list[str], list[_Event]]:
    """Participants and events; a proxy's outbound flow is told inside its inbound flow, between
    the request reaching the proxy and the reply leaving it, as it happened."""
    participants: list[str] = []
    for flow in analysis.flows:
        for hop in flow.hops:
            if hop.point not in participants:
                participants.append(hop.point)
    events: list[_Event] = []
    outbound_of: dict[int, list[int]] = {}
    for link in analysis.links:
        outbound_of.setdefault(link.inbound, []).append(link.outbound)
    told: set[int] = set()

    def tell(index: int) -> None:
        told.add(index)
        flow = analysis.flows[index]
        first, last = flow.hops[0].point, flow.hops[-1].point
        title = f"flow {index + 1}: {flow.protocol} {flow.client} -> {flow.server}"
        events.append(_Event("note", first, last, title))
        pending = list(flow.translations)
        for prev, hop in itertools.pairwise(flow.hops):
            if (prev.src, prev.dst) != (hop.src, hop.dst):
                for t in _take(pending, prev, hop):
                    where = t.point if t.point in participants else prev.point
                    events.append(_Event("note", where, where, f"{t.kind} {t.before} -> {t.after}"))
            if prev.point != hop.point:
                events.append(_Event("msg", prev.point, hop.point, f"{hop.src} -> {hop.dst}"))
        if len(flow.hops) == 1:
            events.append(_Event("note", first, first, f"{first}: {flow.client} -> {flow.server}"))
        for other in outbound_of.get(index, []):
            if other not in told:
                proxy = analysis.flows[other].hops[0].point
                text = f"proxy opens a new connection: flow {other + 1}"
                events.append(_Event("note", proxy, proxy, text))
                tell(other)
        if flow.reply_seen:
            seen = [h for h in flow.hops if h.reply_seen]
            undo = [t for t in flow.translations if t.reversed]
            for later, earlier in itertools.pairwise(seen[::-1]):
                if (later.src, later.dst) != (earlier.src, earlier.dst):
                    for t in _take(undo, earlier, later):
                        where = t.point if t.point in participants else later.point
                        text = f"reply un-{t.kind}: {t.after} -> {t.before}"
                        events.append(_Event("note", where, where, text))
                if later.point != earlier.point:
                    text = f"{earlier.dst} -> {earlier.src}"
                    events.append(_Event("reply", later.point, earlier.point, text))

    for index in range(len(analysis.flows)):
        if index not in told:
            tell(index)
    return participants, events


def _take(pending: list[Translation], prev: Hop, hop: Hop) -> list[Translation]:
    taken = [
        t
        for t in pending
        if (t.kind == "DNAT" and t.before == prev.dst and t.after == hop.dst)
        or (t.kind == "SNAT" and t.before == prev.src and t.after == hop.src)
    ]
    for t in taken:
        pending.remove(t)
    return taken


def render_mermaid(analysis: WalkAnalysis) -> str:
    participants, events = _script(analysis)
    ids = {name: f"p{i}" for i, name in enumerate(participants, 1)}
    lines = ["sequenceDiagram"]
    lines += [f"    participant {ids[p]} as {_mermaid_text(p)}" for p in participants]
    for e in events:
        text = _mermaid_text(e.text)
        if e.kind == "note":
            over = ids[e.left] if e.left == e.right else f"{ids[e.left]},{ids[e.right]}"
            lines.append(f"    Note over {over}: {text}")
        else:
            arrow = "->>" if e.kind == "msg" else "-->>"
            lines.append(f"    {ids[e.left]}{arrow}{ids[e.right]}: {text}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    # ';' ends a statement and '#' starts an entity code in Mermaid
    return text.replace(";", ",").replace("#", "no. ")


_COL, _ROW, _TOP, _MARGIN, _CHAR = 230, 30, 60, 30, 6.6


def render_svg(analysis: WalkAnalysis) -> str:
    participants, events = _script(analysis)
    x = {p: _MARGIN + _COL // 2 + i * _COL for i, p in enumerate(participants)}
    widest = max((len(e.text) * _CHAR + 40 for e in events), default=0)
    width = int(max(_MARGIN * 2 + _COL * max(len(participants), 1), 400, widest))
    height = _TOP + _ROW * (len(events) + 1) + _MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans Mono, monospace" font-size="11">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker>'
        "</defs>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for p, px in x.items():
        parts.append(
            f'<rect x="{px - _COL // 2 + 10}" y="10" width="{_COL - 20}" height="28" rx="4" '
            f'fill="#e8f0fe" stroke="#4a6fa5"/>'
            f'<text x="{px}" y="28" text-anchor="middle" font-weight="bold">{_esc(p)}</text>'
            f'<line x1="{px}" y1="38" x2="{px}" y2="{height - _MARGIN}" stroke="#999" '
            f'stroke-dasharray="4,3"/>'
        )
    for row, e in enumerate(events):
        y = _TOP + row * _ROW
        left, right = x[e.left], x[e.right]
        if e.kind == "note":
            lo, hi = min(left, right) - _COL // 2 + 15, max(left, right) + _COL // 2 - 15
            text_width = len(e.text) * _CHAR + 12
            if hi - lo < text_width:
                mid = (lo + hi) / 2
                lo, hi = int(mid - text_width / 2), int(mid + text_width / 2)
            if lo < 2:  # keep wide notes inside the picture
                lo, hi = 2, hi + 2 - lo
            parts.append(
                f'<rect x="{lo}" y="{y}" width="{hi - lo}" height="{_ROW - 6}" fill="#fff8c4" '
                f'stroke="#b59f00"/><text x="{(lo + hi) // 2}" y="{y + 16}" '
                f'text-anchor="middle">{_esc(e.text)}</text>'
            )
        else:
            dash = ' stroke-dasharray="6,4"' if e.kind == "reply" else ""
            parts.append(
                f'<line x1="{left}" y1="{y + 18}" x2="{right}" y2="{y + 18}" stroke="#333"{dash} '
                f'marker-end="url(#arrow)"/><text x="{(left + right) // 2}" y="{y + 12}" '
                f'text-anchor="middle">{_esc(e.text)}</text>'
            )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)
