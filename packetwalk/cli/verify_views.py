"""Rich views of a verify report: the source x destination matrix and the mismatch summary."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from packetwalk.verify.render import SYMBOLS, grid
from packetwalk.verify.run import VerifyReport

STYLES = {
    "allow": "green",
    "deny": "dim",
    "unexpected-allow": "bold red",
    "unexpected-deny": "bold dark_orange",
    "error": "yellow",
    "none": "",
}


def matrix_table(report: VerifyReport) -> Table:
    g = grid(report.results)
    table = Table(title=f"expected vs observed, namespace {report.namespace}", show_lines=False)
    table.add_column("from \\ to")
    for target in g.targets:
        table.add_column(target, overflow="fold")
    for src in g.sources:
        cells = []
        for dst in g.targets:
            cell = g.cells.get((src, dst), "none")
            cells.append(Text(SYMBOLS[cell], style=STYLES[cell]))
        table.add_row(src, *cells)
    return table


def summary_lines(report: VerifyReport) -> list[str]:
    """Every mismatch with the reason of the expected verdict, the causes, the problems."""
    lines: list[str] = []
    mismatches = report.mismatches
    probed = len(report.results)
    if not mismatches:
        lines.append(f"[green]no mismatches[/] in {probed} probes")
    else:
        lines.append(f"[bold red]{len(mismatches)} mismatches[/] in {probed} probes:")
    for result in mismatches:
        lines.append(f"[red]mismatch:[/] {escape(result.describe())}")
        lines.extend(f"    {escape(line)}" for line in result.reason.splitlines())
    for cause in report.causes:
        lines.append(f"[cyan]likely cause:[/] {escape(cause)}")
    for problem in report.problems:
        lines.append(f"[yellow]not probed:[/] {escape(problem)}")
    return lines
