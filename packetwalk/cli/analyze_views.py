"""How an analysed walk looks in the terminal: one table per flow, sentences for each NAT."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console, Group
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from packetwalk.capture.model import WalkAnalysis
from packetwalk.capture.render import translation_sentence

console = Console(highlight=False)


def walk_view(analysis: WalkAnalysis) -> Group:
    inv = analysis.inventory
    kinds = {hop.point: hop.kind for flow in analysis.flows for hop in flow.hops}
    parts: list[Table | Text] = []
    if not analysis.flows:
        parts.append(Text("No TCP or UDP flows in the captures.", style="yellow"))
    for number, flow in enumerate(analysis.flows, 1):
        reply = "[green]reply seen[/]" if flow.reply_seen else "[red]no reply seen[/]"
        table = Table(
            title=(
                f"flow {number}: {flow.protocol} {escape(inv.describe(flow.client))} -> "
                f"{escape(inv.describe(flow.server))}  ({reply}, order by {flow.ordered_by})"
            ),
            title_justify="left",
        )
        for name in ("#", "point", "interface", "dir", "source", "destination", "+ms", "pkts"):
            fold = name in ("source", "destination")
            table.add_column(
                name,
                justify="right" if name in ("#", "+ms", "pkts") else "left",
                overflow="fold" if fold else "ellipsis",
                min_width=17 if fold else None,
            )
        changed: set[int] = set()
        for i in range(1, len(flow.hops)):
            before, after = flow.hops[i - 1], flow.hops[i]
            if (before.src, before.dst) != (after.src, after.dst):
                changed.add(i)
        for i, hop in enumerate(flow.hops):
            style = "bold" if i in changed else ""
            table.add_row(
                str(i + 1), escape(hop.point), escape(hop.interface or "-"), hop.direction or "-",
                escape(inv.describe(hop.src)), escape(inv.describe(hop.dst)),
                f"{(hop.time - flow.start) * 1000:.3f}", str(hop.packets), style=style,
            )  # fmt: skip
        parts.append(table)
        for t in flow.translations:
            parts.append(Text(f"  {t.kind}: {translation_sentence(t, inv, kinds)}", style="cyan"))
        if len(flow.hops) > 1 and not flow.translations:
            parts.append(Text("  no address was rewritten along this path", style="dim"))
    for link in analysis.links:
        found = inv.lookup(link.proxy)
        proxy = f"{found[0]} {found[1]} ({link.proxy})" if found else link.proxy
        parts.append(Text(
            f"flow {link.outbound + 1} was opened by {proxy} while it served flow "
            f"{link.inbound + 1}: a proxy's own connection to the backend, not NAT",
            style="magenta",
        ))  # fmt: skip
    for warning in analysis.warnings:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    return Group(*parts)


@contextmanager
def reading_progress(out: Console) -> Iterator[Progress]:
    """A bar over the captures while they are read (big captures take seconds)."""
    progress = Progress(
        TextColumn("reading {task.description}"), BarColumn(), MofNCompleteColumn(),
        console=out, transient=True,
    )  # fmt: skip
    with progress:
        yield progress
