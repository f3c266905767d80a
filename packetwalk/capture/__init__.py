"""Packet walk analysis: captures from several points in, hop-by-hop flows with every NAT out.

``analyze_folder(folder)`` reads ``walk.yaml`` and its captures; the ``render_*`` functions turn
the result into text, JSON, Mermaid or SVG.
"""

from packetwalk.capture.analysis import analyze_folder, analyze_walk
from packetwalk.capture.contract import load_walk, parse_walk
from packetwalk.capture.model import (
    CaptureSpec,
    CaptureSummary,
    Endpoint,
    Flow,
    FlowLink,
    Hop,
    Inventory,
    Translation,
    WalkAnalysis,
    WalkSpec,
)
from packetwalk.capture.render import (
    render,
    render_json,
    render_mermaid,
    render_svg,
    render_text,
    to_json,
)

__all__ = [
    "CaptureSpec",
    "CaptureSummary",
    "Endpoint",
    "Flow",
    "FlowLink",
    "Hop",
    "Inventory",
    "Translation",
    "WalkAnalysis",
    "WalkSpec",
    "analyze_folder",
    "analyze_walk",
    "load_walk",
    "parse_walk",
    "render",
    "render_json",
    "render_mermaid",
    "render_svg",
    "render_text",
    "to_json",
]
