"""Run folders named by their UTC start time, never reused.

Lab module runs (``runs/<stamp>-<module>/``) and packet walks (``walks/<stamp>/``) keep what a run
wrote in a folder of its own, so a second run cannot overwrite the first one's evidence; two runs
that start in the same second get ``-2``, ``-3``...
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path


def new_run_folder(parent: Path, moment: datetime | None = None, *, label: str = "") -> Path:
    """Create and return ``<parent>/<UTC timestamp>[-<label>]``, never an existing folder."""
    stamp = (moment or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    name = f"{stamp}-{label}" if label else stamp
    folder = parent / name
    counter = 2
    while folder.exists():
        folder = parent / f"{name}-{counter}"
        counter += 1
    folder.mkdir(parents=True)
    return folder
