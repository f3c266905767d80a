"""Running a command to completion, the one way every adapter does it.

A hung Docker daemon or API server must not hang a task, and a missing executable is an answer,
not a crash: a timeout comes back as exit code 124 (as coreutils ``timeout`` reports it) with the
output so far, an executable that is not there as 127 (as a shell reports it).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Mapping, Sequence
from typing import IO, BinaryIO, Protocol

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


# -- binary streams (captures) ------------------------------------------------------------


class PopenFactory(Protocol):
    def __call__(self, argv: Sequence[str]) -> subprocess.Popen[bytes]: ...


def popen_binary(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    """The default :class:`PopenFactory`: stdout as a binary pipe, no stdin, no TTY."""
    return subprocess.Popen(
        list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


class ProcessStream:
    """A subprocess whose stdout a thread copies into a sink; stderr is kept for error messages."""

    def __init__(self, process: subprocess.Popen[bytes], sink: BinaryIO) -> None:
        self._process = process
        self._sink = sink
        self.stderr = b""
        self._copier = threading.Thread(target=self._copy, daemon=True)
        self._copier.start()

    def _copy(self) -> None:
        out: IO[bytes] | None = self._process.stdout
        if out is None:
            return
        read = getattr(out, "read1", out.read)  # read1: hand over what arrived, do not wait for 64k
        while chunk := read(65536):
            self._sink.write(chunk)

    def poll(self) -> int | None:
        return self._process.poll()

    def stop(self, timeout: float = 10.0) -> int:
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._copier.join(timeout=5)
        if self._process.stderr is not None:
            self.stderr = self._process.stderr.read() or b""
        self._sink.flush()
        return self._process.returncode
