"""Developer tasks: the test suite and the static checks."""

from __future__ import annotations

import sys
from pathlib import Path

from invoke.context import Context
from invoke.tasks import task


@task(
    help={
        "k": "only run tests matching this pytest -k expression",
        "checks": "also run ruff (lint and format), mypy and the import-linter contracts "
        "(default: yes)",
    }
)
def test(c: Context, k: str = "", checks: bool = True) -> None:
    """Run the test suite, then ruff (lint, format), mypy strict and the layer contracts.

    Tests that need root or tools skip with a reason; the layer contracts are ``.importlinter``.
    """
    selector = f" -k {k!r}" if k else ""
    c.run(f"{sys.executable} -m pytest{selector}", pty=False)
    if checks:
        c.run(f"{sys.executable} -m ruff check .", pty=False)
        c.run(f"{sys.executable} -m ruff format --check .", pty=False)
        c.run(f"{sys.executable} -m mypy", pty=False)
        lint_imports = Path(sys.executable).with_name("lint-imports")
        c.run(f"{lint_imports} --no-cache", pty=False)
