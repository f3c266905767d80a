"""Task commands: the capture and probe command lines run for real where the tools exist.

The commands run inside netshoot on a cluster; here the same argv runs on this machine (a
loopback capture needs root and tcpdump, a probe needs nc), through the real subprocess stream,
so the pcap framing, the ``timeout -s INT`` ending and the probe's exit-code marker are proven
on real tools rather than assumed.
"""

from __future__ import annotations

import io
import os
import shlex
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import kubernetes_validate
import pytest
from kubectl_debug import FORBIDDEN_CUSTOM, debug_container, load_custom

from packetwalk.kube.access import IDLE_COMMAND, EphemeralContainer, PodInfo
from packetwalk.kube.captures import ROOT_PROFILE, debug_command, node_debug_pod_name
from packetwalk.kube.fake import FakeCluster
from packetwalk.kube.kubectl import KubectlCluster
from packetwalk.kube.specs import ephemeral_container_body
from packetwalk.lab import versions
from packetwalk.playbook.actions import (
    Executor,
    capture_command,
    count_pcap_packets,
    display_join,
    probe_command,
    wait_args,
)
from packetwalk.playbook.model import CaptureAction, Task, WaitAction

REPO = Path(__file__).resolve().parent.parent
SENT_FIELDS = ("name", "image", "command", "targetContainerName", "securityContext")


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
        "--immediate-mode",
        "-U",
        "-n",
        "-s",
        "0",
        "-Z",
        "root",
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
    assert node_debug_pod_name("x" * 80) == "pw-node-" + "x" * 55
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


def test_the_debug_line_adds_the_container_the_api_call_adds() -> None:
    """Typed by hand, the line shown gives the same container (root included) as the code's
    API call: kubectl's netadmin profile plus the committed ``--custom`` file."""
    spec = EphemeralContainer(
        "pw-cap-hop", versions.NETSHOOT_IMAGE, IDLE_COMMAND, target_container="traefik"
    )
    argv = debug_command("traefik", "traefik-8f", spec)
    assert f"--custom={ROOT_PROFILE}" in argv and "--profile=netadmin" in argv
    namespace, pod, typed = debug_container(argv, cwd=REPO)
    sent = ephemeral_container_body(spec)
    assert (namespace, pod) == ("traefik", "traefik-8f")
    assert {k: typed[k] for k in SENT_FIELDS} == {k: sent[k] for k in SENT_FIELDS}
    assert typed["securityContext"]["runAsUser"] == 0
    assert typed["securityContext"]["runAsNonRoot"] is False


def test_without_root_the_line_is_plain_netadmin() -> None:
    """Guards the test above: plain netadmin leaves the user to the pod (no runAsUser)."""
    spec = EphemeralContainer("pw-probe", "img:1", IDLE_COMMAND, run_as_root=False)
    argv = debug_command("vote", "vote-7d", spec)
    assert not any(a.startswith("--custom") for a in argv)
    _, _, typed = debug_container(argv, cwd=REPO)
    assert typed["securityContext"] == ephemeral_container_body(spec)["securityContext"]
    assert "runAsUser" not in typed["securityContext"]


def test_the_root_profile_is_a_valid_container_fragment(tmp_path: Path) -> None:
    """kubectl rejects these fields in a custom profile; the rest must be a valid container."""
    custom = load_custom(REPO / ROOT_PROFILE)
    assert not set(custom) & set(FORBIDDEN_CUSTOM)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "traefik"},
        "spec": {
            "containers": [{"name": "traefik", "image": "traefik:v3"}],
            "ephemeralContainers": [
                {"name": "pw-cap-x", "image": versions.NETSHOOT_IMAGE, **custom}
            ],
        },
    }
    kubernetes_validate.validate(pod, versions.KUBERNETES_VERSION, strict=True)
    bad = tmp_path / "custom-with-image.json"
    bad.write_text('{"image": "x"}')
    with pytest.raises(ValueError, match="not modifiable"):
        load_custom(bad)


def test_capture_in_a_non_root_pod_announces_the_root_container_it_adds(
    tmp_path: Path,
) -> None:
    pod = PodInfo(
        "traefik",
        "traefik-8f",
        "10.244.2.10",
        "w2",
        {"app.kubernetes.io/name": "traefik"},
        ("traefik",),
    )
    fake = FakeCluster(pods=[pod])
    fake.non_root_pods.add(("traefik", "traefik-8f"))
    fake.stream_default = b""
    shown: list[str] = []
    executor = Executor(fake, run_dir=tmp_path, announce=shown.append)
    task = Task.model_validate(
        {
            "capture": {
                "name": "hop",
                "duration": 1,
                "pod": {"namespace": "traefik", "selector": "app.kubernetes.io/name=traefik"},
            }
        }
    )
    executor.run(task)  # no ActionError: the container runs although the pod is non-root
    debug_lines = [line for line in shown if line.startswith("kubectl debug")]
    assert len(debug_lines) == 1
    namespace, name, typed = debug_container(shlex.split(debug_lines[0]), cwd=REPO)
    sent = ephemeral_container_body(fake.ephemeral_specs[("traefik", "traefik-8f", "pw-cap-hop")])
    assert (namespace, name) == ("traefik", "traefik-8f")
    assert {k: typed[k] for k in SENT_FIELDS} == {k: sent[k] for k in SENT_FIELDS}
    assert Executor.describe(task)[0].startswith(
        "kubectl debug -n traefik <pod app.kubernetes.io/name=traefik> -c pw-cap-hop"
    )


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
