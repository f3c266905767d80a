"""The verify report as a grid, Markdown and SVG: one cell per pair, the worst status wins."""

from __future__ import annotations

from test_verify_compare import probe

from packetwalk.verify.compare import compare
from packetwalk.verify.render import grid, to_markdown, to_svg


def test_the_worst_status_of_a_pair_colours_its_cell() -> None:
    results = compare([probe(0, True), probe(1, False, declared=False)], {0: "open", 1: "open"})
    g = grid(results)
    assert g.sources == ["vote/vote-0"] and g.targets == ["vote/redis-0"]
    assert g.cells[("vote/vote-0", "vote/redis-0")] == "unexpected-allow"
    assert g.ports[("vote/vote-0", "vote/redis-0")] == ["6379/TCP ok", "6379/TCP LEAK"]
    fine = grid(compare([probe(0, True), probe(1, False)], {0: "open", 1: "filtered"}))
    assert fine.cells[("vote/vote-0", "vote/redis-0")] == "allow"


def test_markdown_and_svg_name_the_pairs() -> None:
    results = compare([probe(0, True)], {0: "filtered"})
    md = to_markdown(results, ["a cause"], [])
    assert "| vote/vote-0 | 6379/TCP BLOCKED |" in md and "- likely cause: a cause" in md
    svg = to_svg(results, "t <&>")
    assert "t &lt;&amp;&gt;" in svg and 'data-cell="unexpected-deny"' in svg
