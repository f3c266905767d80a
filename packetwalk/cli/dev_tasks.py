"""Developer tasks: the test suite and the static checks."""

from __future__ import annotations

import sys

from invoke.context import Context
from invoke.tasks import task


@task(
    help={
        "k": "only run tests matching this pytest -k expression",
        "checks": "also run ruff and mypy (default: yes)",
    }
)
def test(c: Context, k: str = "", checks: bool = True) -> None:
    """Run the test suite (tests that need root or tools skip with a reason), then ruff and mypy."""
    selector = f" -k {k!r}" if k else ""
    c.run(f"{sys.executable} -m pytest{selector}", pty=False)
    if checks:
        c.run(f"{sys.executable} -m ruff check .", pty=False)
        c.run(f"{sys.executable} -m mypy", pty=False)
