"""Fixtures shared by several test modules.

Stand-in executables: a test that drives a shell script or a subprocess (kind, kubectl, curl,
docker, ...) puts small scripts of the same name first on PATH instead of the real tools.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest


def write_executable(folder: Path, name: str, body: str = "exit 0\n") -> Path:
    """A ``/bin/sh`` script ``folder/name`` running ``body``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def run_sh(
    script: str,
    bin_dir: Path,
    *,
    stdin: str = "",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with ``bin_dir`` first on PATH."""
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        **(env or {}),
    }
    return subprocess.run(
        ["/bin/sh", "-c", script],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """An empty folder for stand-in executables."""
    path = tmp_path / "bin"
    path.mkdir()
    return path
