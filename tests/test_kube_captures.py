"""The capture toolkit both lab modules and packet walks build their captures with.

Names, tcpdump argv and container specs are checked as data; where tcpdump is installed and the
tests run as root, the command the toolkit builds is run for real on loopback, stopped right after
traffic, to prove no packet is lost on the stop (the lab command used to lose them).
"""

from __future__ import annotations

import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from packetwalk.kube import captures
from packetwalk.kube.access import (
    DEBUG_CONTAINER,
    IDLE_COMMAND,
    EphemeralContainer,
    NodeInfo,
    PodInfo,
)
from packetwalk.kube.fake import FakeCluster
from packetwalk.kube.specs import ephemeral_container_body
from packetwalk.playbook.actions import Executor, capture_command, count_pcap_packets
from packetwalk.playbook.model import CaptureAction, Task
from packetwalk.walk.orchestrate import WalkRunner
from packetwalk.walk.plan import CapturePoint, ClientRequest, WalkPlan
from packetwalk.walk.plandata import capture_container, equivalent_commands

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LOSSLESS = ("tcpdump", "--immediate-mode", "-U", "-n", "-s", "0", "-Z", "root")
PCAP_HEADER = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")


def _node_point(node: str, capture_filter: str = "tcp") -> CapturePoint:
    return CapturePoint(
        name=node,
        kind="node",
        role="node",
        interface="any",
        filter=capture_filter,
        why=(),
        node=node,
    )


def _pod_point(name: str, namespace: str, pod: str, target: str | None = None) -> CapturePoint:
    return CapturePoint(
        name=name,
        kind="pod",
        role="backend",
        interface="eth0",
        filter="tcp",
        why=(),
        namespace=namespace,
        pod=pod,
        target_container=target,
    )


def _plan(point: CapturePoint) -> WalkPlan:
    """A walk of one point, sent from this machine."""
    return WalkPlan(
        to="vote/vote",
        source="user",
        via="ingress",
        points=(point,),
        request=ClientRequest("http://10.0.0.1/", None, "host"),
        path=(),
        notes=(),
    )


# -- tcpdump -----------------------------------------------------------------------------------


def test_tcpdump_command_streams_whole_packets_without_holding_any_back() -> None:
    assert captures.tcpdump_command("eth0", "tcp port 80") == (
        *LOSSLESS,
        "-i",
        "eth0",
        "-w",
        "-",
        "tcp port 80",
    )
    assert captures.tcpdump_command("any") == (*LOSSLESS, "-i", "any", "-w", "-")
    # options before the filter expression, which tcpdump takes as the last arguments
    assert captures.tcpdump_command("lo", "udp", count=5)[-3:] == ("-c", "5", "udp")
    assert captures.tcpdump_command("lo", count="{{ n }}")[-2:] == ("-c", "{{ n }}")


def test_labs_and_walks_run_the_same_tcpdump() -> None:
    """A lab capture is the walk's tcpdump inside ``timeout -s INT``: same flags, same order."""
    action = CaptureAction.model_validate(
        {"name": "hop", "node": "n", "interface": "any", "filter": "tcp port 80", "duration": 4}
    )
    point = _node_point("n", "tcp port 80")
    lab = capture_command(action)
    assert lab[:4] == ["timeout", "-s", "INT", "4"]
    assert tuple(lab[4:]) == point.tcpdump_command()
    assert tuple(lab) == captures.timed_command(4, captures.tcpdump_command("any", "tcp port 80"))


def test_a_walk_capture_is_stopped_through_its_own_pid_file() -> None:
    command = captures.stoppable_command("vote-1", captures.tcpdump_command("eth0", "tcp"))
    pid = captures.pid_file("vote-1")
    assert pid == "/tmp/pw-cap-vote-1.pid"
    assert command == ("sh", "-c", f"echo $$ > {pid}; exec {shlex.join(LOSSLESS)} -i eth0 -w - tcp")
    stop = captures.stop_command("vote-1")
    assert stop[:2] == ("sh", "-c") and f"kill -INT $(cat {pid})" in stop[2]
    assert captures.pid_file("vote-2") not in stop[2]


# -- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "node",
    [
        "kind-worker",
        "x" * 80,
        "n" * 54 + ".eu-west-1.compute.internal",  # the cut lands right after a dot
        "n" * 54 + "-a.compute.internal",  # ... or right after a dash
        "ip-10-0-1-2.ec2.internal",
    ],
)
def test_node_debug_pod_names_are_valid_and_shared_by_labs_and_walks(node: str) -> None:
    name = captures.node_debug_pod_name(node)
    assert name.startswith("pw-node-") and len(name) <= 63
    assert DNS_SUBDOMAIN.match(name), name
    task = Task.model_validate({"exec": {"node": node, "command": ["ip", "route"]}})
    entered = " ".join(captures.NODE_ENTER)
    assert f"kubectl exec -n default {name} -c {DEBUG_CONTAINER} -- {entered} ip route" in (
        Executor.describe(task)
    )


def test_the_lab_and_the_walk_reuse_one_debug_pod_on_a_long_dotted_node(tmp_path: Path) -> None:
    """The lab used to keep a trailing '.' where the walk stripped it: two names, one of them
    invalid, for the same node. Now the walk finds the pod the lab made."""
    node = "n" * 54 + ".eu-west-1.compute.internal"
    fake = FakeCluster(nodes=[NodeInfo(node, "172.18.0.3")])
    fake.on_exec(r"", "")  # scripts are tried newest first
    fake.on_exec(r"^ip -o link$", "1: lo: <LOOPBACK>\n")
    fake.stream_default = PCAP_HEADER
    lab = Executor(fake, run_dir=tmp_path / "lab", announce=lambda line: None)
    lab.run(Task.model_validate({"exec": {"node": node, "command": ["true"]}}))
    plan = _plan(_node_point(node))
    run = WalkRunner(fake, keep=True, sleep=lambda _: None, settle=0).run(plan, tmp_path / "walk")
    made = fake.calls_of("node_debug_pod")
    assert len(made) == 2 and made[0].pod == made[1].pod == captures.node_debug_pod_name(node)
    assert not made[0].pod.endswith(".")
    assert run.points[0].reused and run.points[0].target == ("default", made[0].pod, "debug")


@pytest.mark.parametrize("name", ["vote", "vote-6d8c7b9f5d-x2k4q", "a" * 70, "a" * 55 + "-b"])
def test_capture_container_names_are_dns_labels(name: str) -> None:
    container = captures.capture_container_name(name)
    assert container.startswith("pw-cap-") and len(container) <= 63
    assert DNS_LABEL.match(container), container


def test_lab_tasks_and_walk_points_name_capture_containers_alike() -> None:
    task = Task.model_validate(
        {"capture": {"name": "hop", "pod": {"namespace": "vote", "selector": "app=vote"}}}
    )
    assert "-c pw-cap-hop" in Executor.describe(task)[0]
    point = _pod_point("hop", "vote", "hop")
    assert point.container == captures.capture_container_name("hop") == "pw-cap-hop"
    assert captures.links_file_name("hop") == "hop.links.txt"


# -- containers --------------------------------------------------------------------------------


def test_tool_containers_idle_as_root_with_netadmin() -> None:
    spec = captures.tool_container("pw-probe", "img:1", "vote")
    assert (spec.command, spec.target_container, spec.run_as_root) == (IDLE_COMMAND, "vote", True)
    assert set(spec.capabilities) == {"NET_ADMIN", "NET_RAW"}
    assert ephemeral_container_body(spec)["securityContext"]["runAsUser"] == 0


def test_the_walk_and_the_lab_attach_the_same_capture_container(tmp_path: Path) -> None:
    fake = FakeCluster(
        pods=[PodInfo("traefik", "traefik-8f", "10.244.2.10", "w2", {}, ("traefik",))]
    )
    shown: list[str] = []
    Executor(fake, run_dir=tmp_path, announce=shown.append).run(
        Task.model_validate(
            {
                "capture": {
                    "name": "hop",
                    "duration": 1,
                    "pod": {"namespace": "traefik", "name": "traefik-8f"},
                }
            }
        )
    )
    lab = fake.ephemeral_specs[("traefik", "traefik-8f", "pw-cap-hop")]
    point = _pod_point("hop", "traefik", "traefik-8f", "traefik")
    assert capture_container(point, lab.image) == lab
    debug_line = next(line for line in shown if line.startswith("kubectl debug"))
    plan = _plan(point)
    assert (point.name, debug_line) in equivalent_commands(plan, lab.image)


def test_debug_command_carries_root_only_when_the_spec_does() -> None:
    root = captures.debug_command("vote", "p", captures.tool_container("c", "img", "vote"))
    assert root == [
        "kubectl",
        "debug",
        "-n",
        "vote",
        "p",
        "-c",
        "c",
        "--image=img",
        "--profile=netadmin",
        f"--custom={captures.ROOT_PROFILE}",
        "--target=vote",
        "--",
        *IDLE_COMMAND,
    ]
    plain = EphemeralContainer("c", "img", ("sleep", "1"), run_as_root=False)
    assert captures.debug_command("vote", "p", plain)[-4:] == [
        "--profile=netadmin",
        "--",
        "sleep",
        "1",
    ]


# -- real tcpdump (root) -----------------------------------------------------------------------


def _needs_capture_rights() -> None:
    if os.geteuid() != 0:
        pytest.skip("capturing on lo needs root")
    if shutil.which("tcpdump") is None or shutil.which("timeout") is None:
        pytest.skip("needs tcpdump and timeout")


def _start(argv: tuple[str, ...] | list[str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    seen, deadline = b"", time.monotonic() + 10
    while b"listening on" not in seen and time.monotonic() < deadline:
        if select.select([proc.stderr], [], [], 0.2)[0]:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
    if b"listening on" not in seen:
        proc.kill()
        pytest.fail(f"tcpdump did not start: {seen.decode(errors='replace')}")
    return proc


def _send(port: int, count: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for _ in range(count):
            sender.sendto(b"packetwalk", ("127.0.0.1", port))


@pytest.fixture
def udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.root
def test_a_walk_capture_stopped_right_after_the_traffic_keeps_every_packet(udp_port: int) -> None:
    """Without --immediate-mode libpcap holds packets in the kernel ring for up to a second;
    SIGINT then ends tcpdump before they reach the pcap (tcpdump -U -n alone kept none here)."""
    _needs_capture_rights()
    proc = _start(captures.tcpdump_command("lo", f"udp port {udp_port}"))
    _send(udp_port, 5)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert count_pcap_packets(out) == 5, err.decode(errors="replace")


@pytest.mark.root
def test_a_lab_capture_keeps_the_packets_of_its_last_moment(udp_port: int) -> None:
    """The lab's ``timeout -s INT`` ends tcpdump by itself; traffic just before that is kept."""
    _needs_capture_rights()
    action = CaptureAction.model_validate(
        {
            "name": "lo",
            "node": "n",
            "interface": "lo",
            "filter": f"udp port {udp_port}",
            "duration": 2,
        }
    )
    started = time.monotonic()
    proc = _start(capture_command(action))
    time.sleep(max(0.0, started + 2 - 0.4 - time.monotonic()))
    _send(udp_port, 5)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 124  # timeout's own code: the capture ran until its duration
    assert count_pcap_packets(out) == 5, err.decode(errors="replace")


def test_node_enter_runs_a_command_in_another_process_namespaces() -> None:
    """The nsenter prefix of node commands, run for real: a process in its own network, UTS,
    IPC and mount namespaces stands in for the node's PID 1; the command sees that process's
    network namespace (only ``lo``), not this machine's."""
    if os.geteuid() != 0 or shutil.which("nsenter") is None or shutil.which("unshare") is None:
        pytest.skip("needs root, nsenter and unshare")
    node = subprocess.Popen(
        ["unshare", "--net", "--uts", "--ipc", "--mount", "--pid", "--fork", "sleep", "30"]
    )
    try:
        inner = None
        for _ in range(50):
            children = Path(f"/proc/{node.pid}/task/{node.pid}/children")
            found = children.read_text().split() if children.exists() else []
            if found:
                inner = found[0]
                break
            time.sleep(0.05)
        if inner is None:
            pytest.skip("unshare made no child here (no namespace rights)")
        prefix = [inner if part == "1" else part for part in captures.NODE_ENTER]
        done = subprocess.run(
            [*prefix, "ip", "-o", "link"], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert [line.split(":")[1].strip() for line in done.stdout.splitlines()] == ["lo"]
    finally:
        node.kill()
        node.wait()
