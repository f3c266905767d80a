"""``invoke analyze FOLDER``: show the packet walk recorded in a capture folder."""

from __future__ import annotations

import sys
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console

from packetwalk.capture import analyze_folder, render
from packetwalk.capture.render import FORMATS
from packetwalk.cli import analyze_views
from packetwalk.errors import InputError, PacketwalkError


@task(
    help={
        "folder": "capture folder with walk.yaml and the pcap/pcapng files it lists",
        "format": "text (tables, default), json (stable, for tools), mermaid or svg "
        "(sequence diagrams)",
        "output": "write the result to this file (refuses to overwrite an existing one)",
    },
)
def analyze(c: Context, folder: str, format: str = "text", output: str = "") -> None:
    """Reconstruct the hop-by-hop walk from a capture folder: hops, every NAT, the replies.

    Reads walk.yaml and each capture (pcap, pcapng, Linux cooked v1/v2 from `-i any`), matches
    the same packets across points by TCP sequence numbers, IP ID and payload, orders the points
    along the request and names each DNAT/SNAT. Unreadable captures are reported by name and the
    walk is built from the rest (exit code 1 then).
    """
    run_analyze(folder, format, output, analyze_views.console)


def run_analyze(folder: str, fmt: str, output: str, out: Console) -> None:
    try:
        if fmt not in FORMATS:
            raise InputError(f"unknown format {fmt!r}", location="--format", choices=FORMATS)
        target = Path(output) if output else None
        if target is not None and target.exists():
            raise InputError("already exists; choose another --output or remove it",
                             source=str(target))  # fmt: skip
        with analyze_views.reading_progress(out) as progress:
            bar = progress.add_task("captures", total=None)

            def step(point: str, index: int, total: int) -> None:
                progress.update(bar, description=point, completed=index, total=total)

            analysis = analyze_folder(Path(folder), progress=step)
    except PacketwalkError as err:
        raise Exit(str(err), code=1) from err
    if target is not None:
        target.write_text(render(analysis, fmt), encoding="utf-8")
        out.print(f"wrote {fmt} to {target}")
    elif fmt == "text":
        out.print(analyze_views.walk_view(analysis))
    else:
        sys.stdout.write(render(analysis, fmt))
        sys.stdout.flush()
    failed = analysis.failed_captures
    if failed:
        raise Exit(
            f"{len(failed)} capture(s) could not be read: "
            + ", ".join(f"{c.file} ({c.problem})" for c in failed)
            + "; the walk above is built from the rest",
            code=1,
        )
