"""tcpdump on the participant's own machine: the ``host`` point of a packet walk."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Sequence
from typing import BinaryIO

from packetwalk.errors import PacketwalkError
from packetwalk.host.process import ProcessStream, popen_binary


class LocalTcpdump:
    """``tcpdump`` on this machine: as root directly, otherwise through ``sudo -n`` if allowed."""

    def start(self, command: Sequence[str], sink: BinaryIO) -> ProcessStream:
        if shutil.which(command[0]) is None:
            raise PacketwalkError(f"{command[0]} is not installed on this machine")
        argv = list(command)
        if os.geteuid() != 0:
            if shutil.which("sudo") is None:
                raise PacketwalkError("capturing here needs root (or sudo)")
            argv = ["sudo", "-n", *argv]
        return ProcessStream(popen_binary(argv), sink)

    def stop_command(self, handle: object) -> None:
        process = getattr(handle, "_process", None)
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
