"""Running a command to completion, the one way every adapter does it.

A hung Docker daemon or API server must not hang a task, and a missing executable is an answer,
not a crash: a timeout comes back as exit code 124 (as coreutils ``timeout`` reports it) with the
output so far, an executable that is not there as 127 (as a shell reports it).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence

TIMEOUT_EXIT_CODE = 124
"""Exit code reported when a command outlives its timeout (as coreutils ``timeout`` does)."""

NOT_FOUND_EXIT_CODE = 127
"""Exit code reported when the executable does not exist (as a shell does)."""


def run_process(
    argv: Sequence[str],
    *,
    stdin: str | None = None,
    timeout: float,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[int, str, str]:
    """``subprocess.run`` with text output and a timeout: ``(exit_code, stdout, stderr)``.

    ``cwd`` (bind it with ``functools.partial``) makes relative paths in commands, such as
    ``kubectl apply -f labs/manifests/x.yaml``, independent of where invoke was started.
    """
    try:
        done = subprocess.run(
            list(argv),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=cwd,
            env=dict(env) if env is not None else None,
        )
    except subprocess.TimeoutExpired as expired:
        command = " ".join(argv)
        return (
            TIMEOUT_EXIT_CODE,
            _text(expired.stdout),
            f"`{command}` did not answer: timed out after {timeout:g}s",
        )
    except FileNotFoundError:
        return NOT_FOUND_EXIT_CODE, "", f"{argv[0]}: command not found"
    return done.returncode, done.stdout, done.stderr


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
