"""Task commands: the capture and probe command lines run for real where the tools exist.

The commands run inside netshoot on a cluster; here the same argv runs on this machine (a
loopback capture needs root and tcpdump, a probe needs nc), through the real subprocess stream,
so the pcap framing, the ``timeout -s INT`` ending and the probe's exit-code marker are proven
on real tools rather than assumed.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Sequence

import pytest

from packetwalk.kube.kubectl import KubectlCluster
from packetwalk.playbook.actions import (
    capture_command,
    count_pcap_packets,
    display_join,
    node_debug_name,
    probe_command,
    wait_args,
)
from packetwalk.playbook.model import CaptureAction, WaitAction


def test_capture_command_is_bounded_and_unbuffered() -> None:
    action = CaptureAction.model_validate(
        {
            "name": "x",
            "node": "n",
            "interface": "any",
            "filter": "tcp port 80",
            "duration": 7,
            "count": 5,
        }
    )
    assert capture_command(action) == [
        "timeout",
        "-s",
        "INT",
        "7",
        "tcpdump",
        "-U",
        "-n",
        "-i",
        "any",
        "-w",
        "-",
        "-c",
        "5",
        "tcp port 80",
    ]


def test_wait_args_and_names() -> None:
    wait = WaitAction.model_validate(
        {
            "resource": "deployment",
            "name": "vote",
            "namespace": "vote",
            "for": "condition=Available",
            "timeout": 90,
        }
    )
    assert wait_args(wait) == [
        "wait",
        "--for=condition=Available",
        "-n",
        "vote",
        "deployment/vote",
        "--timeout=90s",
    ]
    assert node_debug_name("x" * 80) == "pw-node-" + "x" * 55
    assert display_join(["echo", "{{ a.b }}", "<pod app=x>", "two words"]) == (
        "echo {{ a.b }} <pod app=x> 'two words'"
    )


def test_count_pcap_packets() -> None:
    import struct

    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    record = struct.pack("<IIII", 1, 2, 10, 10) + b"x" * 10
    assert count_pcap_packets(header + record * 2) == 2
    assert count_pcap_packets(header + record + record[:12]) == 1  # cut short by the stop
    assert count_pcap_packets(header) == 0
    assert count_pcap_packets(b"") is None
    assert count_pcap_packets(b"NAME READY\n" * 4) is None
    big = struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    assert count_pcap_packets(big + struct.pack(">IIII", 1, 2, 4, 4) + b"abcd") == 1


def _local(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    """Run what ``kubectl exec ... --`` would run in the pod, here."""
    command = list(argv)[list(argv).index("--") + 1 :]
    return subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


@pytest.mark.root
def test_capture_streams_a_real_pcap_through_the_kubectl_stream(tmp_path: object) -> None:
    if os.geteuid() != 0:
        pytest.skip("capturing on lo needs root")
    if not shutil.which("tcpdump") or not shutil.which("timeout"):
        pytest.skip("needs tcpdump and timeout")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    action = CaptureAction.model_validate(
        {"name": "lo", "node": "n", "interface": "lo", "filter": f"tcp port {port}", "duration": 3}
    )
    sink = io.BytesIO()
    handle = KubectlCluster(popen=_local).stream(
        "ns", "pod", capture_command(action), sink, container="pw-cap-lo"
    )
    time.sleep(1.0)  # tcpdump attaches

    def connect() -> None:
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port), timeout=2):
                pass

    worker = threading.Thread(target=connect)
    worker.start()
    worker.join()
    code = handle.stop(timeout=10)  # timeout -s INT ends tcpdump by itself
    server.close()
    assert code == 124 or code == 0, handle.stderr
    packets = count_pcap_packets(sink.getvalue())
    assert packets is not None and packets >= 6  # 3 handshakes at least


def test_probe_command_tells_allow_from_deny_with_real_nc() -> None:
    if not shutil.which("nc"):
        pytest.skip("needs nc (netcat-openbsd)")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    open_port = server.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        allowed = subprocess.run(
            probe_command("127.0.0.1", open_port, 2),
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        denied = subprocess.run(
            probe_command("127.0.0.1", closed_port, 2),
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    finally:
        server.close()
    assert allowed.stdout.strip().endswith("pw-probe-rc=0")
    assert denied.stdout.strip().endswith("pw-probe-rc=1")
