"""Running a walk against the in-memory cluster: captures, request order, walk.yaml, clean-up.

The captures are real pcap bytes (written with dpkt below) of one request through the kind lab
in tests/data/walk/kind-lab.yaml: host -> MetalLB address on the L2 leader (DNAT + masquerade)
-> Traefik pod -> new connection to the vote pod, so the analysis has NAT to find.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

import dpkt
import pytest
import yaml

from packetwalk.capture import analyze_folder, load_walk
from packetwalk.capture.pcapread import parse_ip_link
from packetwalk.cluster.state import Snapshot
from packetwalk.errors import PacketwalkError
from packetwalk.host.runfolders import new_run_folder
from packetwalk.kube.access import CommandResult
from packetwalk.kube.fake import Call, FakeCluster
from packetwalk.walk.orchestrate import (
    PCAP_HEADER_BYTES,
    WalkRunner,
    gather_facts,
)
from packetwalk.walk.plan import WalkPlan, WalkRequest, plan_walk
from packetwalk.walk.snapshot import facts_from_objects, load_objects

LAB = Path(__file__).parent / "data" / "walk" / "kind-lab.yaml"
HOST_IP = "172.18.0.1"
LEADER, TRAEFIK_NODE = "packetwalk-worker", "packetwalk-worker2"
TRAEFIK_POD, VOTE_POD = "traefik-5f9c6d8b47-k8s2d", "vote-6d8c7b9f5d-x2k4q"
TRAEFIK_CAP, VOTE_CAP = f"pw-cap-{TRAEFIK_POD}", f"pw-cap-{VOTE_POD}"

# -- pcaps -------------------------------------------------------------------------------------

Addr = tuple[str, int]


def tcp_ip(
    src: Addr, dst: Addr, flags: int, seq: int, ack: int, payload: bytes = b"", ip_id: int = 1
) -> bytes:
    tcp = dpkt.tcp.TCP(sport=src[1], dport=dst[1], seq=seq, ack=ack, flags=flags, data=payload)
    ip = dpkt.ip.IP(
        src=socket.inet_aton(src[0]), dst=socket.inet_aton(dst[0]), p=6, id=ip_id, ttl=64, data=tcp
    )
    return bytes(ip)


def connection(
    client: Addr, server: Addr, cseq: int, sseq: int, request: bytes, ip_id: int
) -> list[tuple[bool, bytes]]:
    """A handshake and one request segment as ``(is_request, ip bytes)`` at one view."""
    syn, ack, psh = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_PUSH
    return [
        (True, tcp_ip(client, server, syn, cseq, 0, ip_id=ip_id)),
        (False, tcp_ip(server, client, syn | ack, sseq, cseq + 1, ip_id=ip_id + 100)),
        (True, tcp_ip(client, server, ack, cseq + 1, sseq + 1, ip_id=ip_id + 1)),
        (True, tcp_ip(client, server, ack | psh, cseq + 1, sseq + 1, request, ip_id=ip_id + 2)),
    ]


def ether_pcap(frames: Sequence[tuple[float, bytes]]) -> bytes:
    out = io.BytesIO()
    writer = dpkt.pcap.Writer(out, linktype=dpkt.pcap.DLT_EN10MB)
    for ts, ip in frames:
        writer.writepkt(b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip, ts=ts)
    return out.getvalue()


def sll2_pcap(frames: Sequence[tuple[float, int, bool, bytes]]) -> bytes:
    """Linux cooked v2 (``tcpdump -i any``): interface index and direction per packet."""
    out = io.BytesIO()
    writer = dpkt.pcap.Writer(out, linktype=276)
    for ts, ifindex, outgoing, ip in frames:
        header = struct.pack(
            "!HHIHBB8s", 0x0800, 0, ifindex, 1, 4 if outgoing else 0, 6, b"\x02" * 6 + b"\0\0"
        )
        writer.writepkt(header + ip, ts=ts)
    return out.getvalue()


T0 = 1_764_200_000.0
A_PRE = ((HOST_IP, 40000), ("172.18.255.200", 80))
A_POST = (("172.18.0.3", 40000), ("10.244.2.10", 8000))
B = (("10.244.2.10", 51000), ("10.244.1.5", 80))
GET_A = b"GET / HTTP/1.1\r\nHost: vote.localhost\r\n\r\n"
GET_B = b"GET / HTTP/1.1\r\nHost: vote.localhost\r\nX-Forwarded-For: 172.18.0.3\r\n\r\n"


def _view(
    pre: tuple[Addr, Addr],
    cseq: int,
    sseq: int,
    req: bytes,
    ip_id: int,
) -> list[tuple[bool, bytes]]:
    return connection(pre[0], pre[1], cseq, sseq, req, ip_id)


def lab_pcaps() -> dict[str, bytes]:
    """The captures each point of the ingress walk would produce."""
    a_pre = _view(A_PRE, 1000, 5000, GET_A, 10)
    a_post = _view(A_POST, 1000, 5000, GET_A, 10)
    b = _view(B, 7000, 9000, GET_B, 30)

    def at(view: list[tuple[bool, bytes]], t: float) -> list[tuple[float, bytes]]:
        return [(T0 + t + i * 0.01, ip) for i, (_, ip) in enumerate(view)]

    leader: list[tuple[float, int, bool, bytes]] = []
    for i, ((req, pre), (_, post)) in enumerate(zip(a_pre, a_post, strict=True)):
        t = T0 + 0.001 + i * 0.01
        if req:  # in on eth0 before NAT, out on eth0 after DNAT + masquerade
            leader += [(t, 2, False, pre), (t + 0.0001, 2, True, post)]
        else:
            leader += [(t, 2, False, post), (t + 0.0001, 2, True, pre)]
    for i, (req, ip) in enumerate(b):
        leader.append((T0 + 0.2 + i * 0.01, 2 if req else 5, not req, ip))
        leader.append((T0 + 0.2 + i * 0.01 + 0.0001, 5 if req else 2, req, ip))
    second: list[tuple[float, int, bool, bytes]] = []
    for i, (req, ip) in enumerate(a_post):
        second.append((T0 + 0.002 + i * 0.01, 2 if req else 7, False, ip))
        second.append((T0 + 0.002 + i * 0.01 + 0.0001, 7 if req else 2, True, ip))
    for i, (req, ip) in enumerate(b):
        second.append((T0 + 0.19 + i * 0.01, 7 if req else 2, False, ip))
        second.append((T0 + 0.19 + i * 0.01 + 0.0001, 2 if req else 7, True, ip))
    return {
        "host": ether_pcap(at(a_pre, 0)),
        LEADER: sll2_pcap(sorted(leader)),
        TRAEFIK_NODE: sll2_pcap(sorted(second)),
        TRAEFIK_POD: ether_pcap(at(a_post, 0.003) + at(b, 0.18)),
        VOTE_POD: ether_pcap(at(b, 0.21)),
    }


IP_LINK = {
    LEADER: "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN\n"
    "2: eth0@if9: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP\n"
    "5: veth1a2b3c4d@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue\n",
    TRAEFIK_NODE: "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN\n"
    "2: eth0@if11: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue\n"
    "7: vethe5f6a7b8@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue\n",
}

# -- the lab in the fake -----------------------------------------------------------------------


def lab_objects() -> list[Mapping[str, Any]]:
    return load_objects(LAB)


def lab_cluster(
    objects: Sequence[Mapping[str, Any]] | None = None, cls: type[FakeCluster] = FakeCluster
) -> FakeCluster:
    """The kind lab as a FakeCluster, with the answers a real one gives to the walk."""
    objects = list(objects if objects is not None else lab_objects())
    by_resource: dict[str, list[Mapping[str, Any]]] = {}
    resources = {
        "Service": "services",
        "Ingress": "ingresses",
        "ConfigMap": "configmaps",
        "ServiceL2Status": "servicel2statuses.metallb.io",
        "Pod": "pods",
        "Node": "nodes",
    }
    for obj in objects:
        by_resource.setdefault(resources.get(str(obj["kind"]), str(obj["kind"])), []).append(obj)
    snapshot = Snapshot(objects)
    fake = cls(pods=snapshot.pods(), nodes=snapshot.nodes(), objects=by_resource)
    fake.on_shell(r"docker network inspect kind", f"{HOST_IP} fc00:f853:ccd:e793::1 \n")
    fake.on_shell(r"^sh -c 'ip -o link'$", "1: lo: <LOOPBACK>\n3: br-5e1c0d2a: <BROADCAST>\n")
    fake.on_shell(r"curl .*vote\.localhost", "200\n")
    for node, text in IP_LINK.items():

        def lists_links(call: Any, node: str = node) -> bool:
            return bool(call.pod == f"pw-node-{node}" and call.command == ("ip", "-o", "link"))

        fake.on_exec(lists_links, text)
    fake.on_exec(r"kill -INT", "")
    for obj in by_resource.get("pods", []):  # Traefik's pod says runAsNonRoot, as the chart's
        security = obj["spec"].get("securityContext") or {}
        if security.get("runAsNonRoot"):
            fake.non_root_pods.add((obj["metadata"]["namespace"], obj["metadata"]["name"]))
    pcaps = lab_pcaps()
    for node in (LEADER, TRAEFIK_NODE):
        fake.stream_payloads[("default", f"pw-node-{node}", "debug")] = pcaps[node]
    fake.stream_payloads[("traefik", TRAEFIK_POD, TRAEFIK_CAP)] = pcaps[TRAEFIK_POD]
    fake.stream_payloads[("vote", VOTE_POD, VOTE_CAP)] = pcaps[VOTE_POD]
    return fake


class FakeHostCapture:
    """The participant's machine: tcpdump there writes the host's view."""

    def __init__(self, payload: bytes | None, fail: str | None = None) -> None:
        self.payload, self.fail = payload, fail
        self.started: list[tuple[str, ...]] = []
        self.stopped = 0

    def start(self, command: Sequence[str], sink: BinaryIO) -> Any:
        if self.fail:
            raise PacketwalkError(self.fail)
        self.started.append(tuple(command))
        sink.write(self.payload or b"")
        return _Handle()

    def stop_command(self, handle: Any) -> None:
        self.stopped += 1


class _Handle:
    def poll(self) -> int | None:
        return None

    def stop(self, timeout: float = 10.0) -> int:
        return 0


def runner(fake: FakeCluster, host: FakeHostCapture | None = None, **kwargs: Any) -> WalkRunner:
    options: dict[str, Any] = {"settle": 0, "ready_timeout": 2, "sleep": lambda _: None}
    options.update(kwargs)
    return WalkRunner(fake, host_capture=host or FakeHostCapture(lab_pcaps()["host"]), **options)


def ingress_plan(fake: FakeCluster) -> WalkPlan:
    return plan_walk(WalkRequest(), gather_facts(fake, app_namespace="vote"))


def index_of(calls: list[Call], predicate: Any) -> list[int]:
    return [i for i, call in enumerate(calls) if predicate(call)]


# -- tests -------------------------------------------------------------------------------------


def test_gather_facts_reads_the_same_as_a_snapshot() -> None:
    fake = lab_cluster()
    live = gather_facts(fake)
    saved = facts_from_objects(lab_objects(), host_ip=HOST_IP)
    # the API lists pods sorted by namespace and name; the snapshot keeps file order
    assert replace(live, pods=()) == replace(saved, pods=())
    assert sorted(live.pods, key=lambda p: (p.namespace, p.name)) == sorted(
        saved.pods, key=lambda p: (p.namespace, p.name)
    )
    assert live.cni == "kindnet" and live.kube_proxy_mode == "iptables"
    assert live.l2_leaders == {"traefik/traefik": LEADER}
    assert live.host_ip == HOST_IP


def test_ingress_walk_captures_everywhere_then_writes_an_analysable_folder(tmp_path: Path) -> None:
    fake = lab_cluster()
    host = FakeHostCapture(lab_pcaps()["host"])
    plan = ingress_plan(fake)
    run = runner(fake, host).run(plan, tmp_path, analyze=analyze_folder)

    assert run.errors == [] and run.warnings == []
    assert [r.state for r in run.points] == ["stopped"] * 5
    walk = yaml.safe_load((tmp_path / "walk.yaml").read_text())
    assert set(walk) == {"captures", "inventory", "path"}
    assert [(c["point"], c["kind"], c["file"]) for c in walk["captures"]] == [
        ("host", "host", "host.pcap"),
        (LEADER, "node", f"{LEADER}.pcap"),
        (TRAEFIK_NODE, "node", f"{TRAEFIK_NODE}.pcap"),
        (TRAEFIK_POD, "pod", f"{TRAEFIK_POD}.pcap"),
        (VOTE_POD, "pod", f"{VOTE_POD}.pcap"),
    ]
    leader = walk["captures"][1]
    assert leader["interfaces"] == {1: "lo", 2: "eth0", 5: "veth1a2b3c4d"}
    assert walk["inventory"]["pods"][VOTE_POD] == "10.244.1.5"
    assert walk["inventory"]["nodes"][LEADER] == "172.18.0.3"
    assert walk["inventory"]["services"]["traefik LB"] == "172.18.255.200"
    # the leader also hosts the backend: on two hops, so no single place in the order hint
    assert walk["path"] == ["host", TRAEFIK_NODE, TRAEFIK_POD, VOTE_POD]
    for name, payload in lab_pcaps().items():
        assert (tmp_path / f"{name}.pcap").read_bytes() == payload
    assert (tmp_path / f"{LEADER}.links.txt").read_text() == IP_LINK[LEADER]

    # the analysis accepts the folder and finds the DNAT of the MetalLB address on the leader
    spec = load_walk(tmp_path)
    assert [c.point for c in spec.captures] == [c["point"] for c in walk["captures"]]
    assert spec.path == tuple(walk["path"])
    analysis = run.analysis
    assert analysis is not None and analysis.flows
    dnat = [t for f in analysis.flows for t in f.translations if t.kind == "DNAT"]
    assert any(
        str(t.before) == "172.18.255.200:80" and str(t.after) == "10.244.2.10:8000" for t in dnat
    ), dnat
    # Traefik's own connection to the backend, in request order: Traefik, out of its node,
    # into the backend's node, the backend
    to_backend = next(f for f in analysis.flows if str(f.server) == "10.244.1.5:80")
    assert [h.point for h in to_backend.hops] == [
        TRAEFIK_POD,
        TRAEFIK_NODE,
        TRAEFIK_NODE,
        LEADER,
        LEADER,
        VOTE_POD,
    ]

    plan_yaml = yaml.safe_load((tmp_path / "plan.yaml").read_text())
    assert plan_yaml["request"]["exitCode"] == 0 and plan_yaml["request"]["output"] == "200"
    assert [p["state"] for p in plan_yaml["points"]] == ["stopped"] * 5


def test_request_is_sent_after_every_capture_is_ready_and_captures_stop_after(
    tmp_path: Path,
) -> None:
    fake = lab_cluster()
    runner(fake).run(ingress_plan(fake), tmp_path)
    calls = fake.calls
    streams = index_of(calls, lambda c: c.kind == "stream")
    curl = index_of(calls, lambda c: c.kind == "shell" and "curl" in c.line)
    stops = index_of(calls, lambda c: c.kind == "exec" and "kill -INT" in c.line)
    assert len(streams) == 4 and len(curl) == 1 and len(stops) == 4
    assert max(streams) < curl[0] < min(stops)
    # tcpdump streams pcap to stdout with the plan's filter, wrapped to be stoppable by pid
    backend = next(c for c in calls if c.kind == "stream" and c.pod == VOTE_POD)
    assert backend.container == VOTE_CAP
    assert backend.command[:2] == ("sh", "-c")
    assert "exec tcpdump --immediate-mode -U -n -s 0 -Z root -i eth0 -w - " in backend.command[2]
    assert "(host 10.244.1.5 and tcp port 80)" in backend.command[2]
    assert f"echo $$ > /tmp/{VOTE_CAP}.pid" in backend.command[2]


def test_ephemeral_containers_are_netshoot_named_and_target_the_app(tmp_path: Path) -> None:
    fake = lab_cluster()
    runner(fake).run(ingress_plan(fake), tmp_path)
    spec = fake.ephemeral_specs[("vote", VOTE_POD, VOTE_CAP)]
    assert spec.image == "nicolaka/netshoot:v0.16"
    assert set(spec.capabilities) == {"NET_ADMIN", "NET_RAW"}
    assert spec.target_container == "vote"
    assert spec.command == ("tail", "-f", "/dev/null")


def test_existing_capture_container_is_reused_not_added_again(tmp_path: Path) -> None:
    fake = lab_cluster()
    first = runner(fake, keep=True).run(ingress_plan(fake), tmp_path / "one")
    assert not any(r.reused for r in first.points)
    adds_before = len(fake.calls_of("add_ephemeral_container"))

    second = runner(fake).run(ingress_plan(fake), tmp_path / "two")
    assert second.errors == []
    pods = {r.point.name: r for r in second.points if r.point.kind == "pod"}
    assert pods[VOTE_POD].reused and pods[TRAEFIK_POD].reused
    # the API was asked, said "exists", and the capture still ran in the same container
    assert len(fake.calls_of("add_ephemeral_container")) == adds_before + 2
    pod = next(p for p in fake.pods("vote") if p.name == VOTE_POD)
    assert pod.ephemeral_containers.count(VOTE_CAP) == 1
    assert (tmp_path / "two" / f"{VOTE_POD}.pcap").stat().st_size > PCAP_HEADER_BYTES
    # the kept debug pods are reused and, since this run did not create them, not deleted
    assert all(r.reused for r in second.points if r.point.kind == "node")
    assert not [c for c in fake.calls_of("kubectl") if c.command[1:2] == ("delete",)]


def test_node_debug_pods_created_by_the_walk_are_deleted_unless_keep(tmp_path: Path) -> None:
    fake = lab_cluster()
    runner(fake).run(ingress_plan(fake), tmp_path / "one")
    deletes = [c.line for c in fake.calls_of("kubectl") if c.command[1:2] == ("delete",)]
    assert deletes == [
        f"kubectl delete pod -n default pw-node-{n} --wait=false" for n in (LEADER, TRAEFIK_NODE)
    ]

    kept = lab_cluster()
    runner(kept, keep=True).run(ingress_plan(kept), tmp_path / "two")
    assert not [c for c in kept.calls_of("kubectl") if c.command[1:2] == ("delete",)]


def test_ended_reused_container_fails_that_point_with_a_way_out(tmp_path: Path) -> None:
    fake = lab_cluster()
    runner(fake).run(ingress_plan(fake), tmp_path / "one")
    fake.unstartable_containers.add(("vote", VOTE_POD, VOTE_CAP))
    run = runner(fake).run(ingress_plan(fake), tmp_path / "two")
    backend = next(r for r in run.points if r.point.name == VOTE_POD)
    assert backend.state == "failed"
    assert VOTE_CAP in (backend.error or "") and "delete the pod" in (backend.error or "")
    assert any(e.startswith(f"{VOTE_POD}: ") for e in run.errors)
    walk = yaml.safe_load((tmp_path / "two" / "walk.yaml").read_text())
    assert [c["point"] for c in walk["captures"]] == ["host", LEADER, TRAEFIK_NODE, TRAEFIK_POD]


def test_failing_capture_stream_names_the_point_and_the_rest_is_written(tmp_path: Path) -> None:
    fake = lab_cluster()
    key = ("vote", VOTE_POD, VOTE_CAP)
    fake.stream_payloads[key] = b""
    fake.stream_exit_codes[key] = 1
    run = runner(fake).run(ingress_plan(fake), tmp_path, analyze=analyze_folder)
    assert run.errors == [f"{VOTE_POD}: tcpdump ended before capturing (exit code 1)"]
    assert run.request is not None and run.request.ok  # the other points still saw the request
    walk = yaml.safe_load((tmp_path / "walk.yaml").read_text())
    assert VOTE_POD not in [c["point"] for c in walk["captures"]]
    assert len(walk["captures"]) == 4
    assert run.analysis is not None and run.analysis.flows
    plan_yaml = yaml.safe_load((tmp_path / "plan.yaml").read_text())
    backend = next(p for p in plan_yaml["points"] if p["name"] == VOTE_POD)
    assert backend["state"] == "failed" and "exit code 1" in backend["error"]


def test_traefik_pod_is_captured_as_root_in_its_non_root_pod(tmp_path: Path) -> None:
    fake = lab_cluster()
    assert ("traefik", TRAEFIK_POD) in fake.non_root_pods
    run = runner(fake).run(ingress_plan(fake), tmp_path)
    assert run.errors == [] and run.warnings == []
    spec = fake.ephemeral_specs[("traefik", TRAEFIK_POD, TRAEFIK_CAP)]
    assert spec.run_as_root and set(spec.capabilities) == {"NET_ADMIN", "NET_RAW"}
    traefik = next(r for r in run.points if r.point.name == TRAEFIK_POD)
    assert traefik.state == "stopped" and traefik.bytes > PCAP_HEADER_BYTES


def test_traefik_tcpdump_failing_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    fake = lab_cluster()
    key = ("traefik", TRAEFIK_POD, TRAEFIK_CAP)
    fake.stream_payloads[key] = b""
    fake.stream_exit_codes[key] = 1
    run = runner(fake).run(ingress_plan(fake), tmp_path)
    assert run.warnings == []
    assert run.errors == [f"{TRAEFIK_POD}: tcpdump ended before capturing (exit code 1)"]


def test_traefik_capture_refused_by_the_api_falls_back_to_its_node(tmp_path: Path) -> None:
    fake = lab_cluster()
    refusal = (
        'pods "x" is forbidden: violates PodSecurity "baseline:latest": non-default '
        'capabilities (container "pw-cap" must not include "NET_ADMIN", "NET_RAW")'
    )
    fake.refusals[("traefik", TRAEFIK_POD)] = refusal
    run = runner(fake).run(ingress_plan(fake), tmp_path)
    assert run.errors == []
    assert run.warnings == [
        f"{TRAEFIK_POD}: skipped: the API server refused ephemeral container {TRAEFIK_CAP} in pod "
        f"traefik/{TRAEFIK_POD}: {refusal} (node capture {TRAEFIK_NODE} sees its packets)"
    ]
    walk = yaml.safe_load((tmp_path / "walk.yaml").read_text())
    assert TRAEFIK_POD not in [c["point"] for c in walk["captures"]]
    assert TRAEFIK_NODE in [c["point"] for c in walk["captures"]]


def test_traefik_refusal_without_its_node_captured_is_an_error(tmp_path: Path) -> None:
    fake = lab_cluster()
    fake.refusals[("traefik", TRAEFIK_POD)] = "forbidden"
    fake._nodes.pop(TRAEFIK_NODE)  # its debug pod cannot start, so nothing stands in
    run = runner(fake).run(ingress_plan(lab_cluster()), tmp_path)
    assert [e.split(": ", 1)[0] for e in run.errors] == [TRAEFIK_NODE, TRAEFIK_POD]
    assert f'nodes "{TRAEFIK_NODE}" not found' in run.errors[0]
    assert run.errors[1].endswith(f"traefik/{TRAEFIK_POD}: forbidden")


def test_refused_backend_capture_is_an_error(tmp_path: Path) -> None:
    fake = lab_cluster()
    fake.refusals[("vote", VOTE_POD)] = "forbidden"
    run = runner(fake).run(ingress_plan(fake), tmp_path)
    assert run.errors == [
        f"{VOTE_POD}: the API server refused ephemeral container {VOTE_CAP} in "
        f"pod vote/{VOTE_POD}: forbidden"
    ]


def test_host_capture_unavailable_is_skipped_with_a_warning(tmp_path: Path) -> None:
    fake = lab_cluster()
    host = FakeHostCapture(None, fail="capturing here needs root (or sudo)")
    run = runner(fake, host).run(ingress_plan(fake), tmp_path)
    assert run.errors == []
    assert run.warnings == ["host: skipped: capturing here needs root (or sudo)"]
    assert run.request is not None and run.request.ok


def test_no_capture_at_all_means_no_request(tmp_path: Path) -> None:
    fake = lab_cluster()
    for key in list(fake.stream_payloads):
        fake.stream_payloads[key] = b""
        fake.stream_exit_codes[key] = 2
    run = runner(fake, FakeHostCapture(None, fail="no tcpdump")).run(ingress_plan(fake), tmp_path)
    assert run.request is None
    assert "no capture could start, so the request was not sent" in run.errors
    assert yaml.safe_load((tmp_path / "walk.yaml").read_text())["captures"] == []


def test_capture_that_never_becomes_ready_times_out(tmp_path: Path) -> None:
    fake = lab_cluster()
    fake.stream_payloads[("vote", VOTE_POD, VOTE_CAP)] = b""
    fake.stream_exit_codes[("vote", VOTE_POD, VOTE_CAP)] = None  # type: ignore[assignment]
    clock = iter(float(i) for i in range(1000))
    run = runner(fake, clock=lambda: next(clock)).run(ingress_plan(fake), tmp_path)
    assert run.errors == [f"{VOTE_POD}: no capture header after 2s"]


def test_request_from_a_pod_runs_in_its_capture_container(tmp_path: Path) -> None:
    fake = lab_cluster()
    fake.on_exec(r"^nc -z", CommandResult((), 0, "", "redis (10.96.33.4:6379) open"))
    worker = "worker-7c5d9b8f6c-q4w2e"
    plan = plan_walk(WalkRequest(to="redis", source="worker"), gather_facts(fake))
    run = runner(fake).run(plan, tmp_path)
    sent = [c for c in fake.calls_of("exec") if c.command[:1] == ("nc",)]
    assert len(sent) == 1
    assert (sent[0].namespace, sent[0].pod, sent[0].container) == (
        "vote",
        worker,
        f"pw-cap-{worker}",
    )
    assert sent[0].command == ("nc", "-z", "-v", "-w", "5", "redis.vote.svc.cluster.local", "6379")
    assert run.request is not None and run.request.ok
    assert not fake.calls_of("shell") or all("curl" not in c.line for c in fake.calls_of("shell"))


def test_ctrl_c_still_stops_captures_writes_and_cleans_up(tmp_path: Path) -> None:
    fake = lab_cluster()

    def interrupted(call: Call) -> str:
        raise KeyboardInterrupt

    fake.on_shell(r"curl ", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner(fake).run(ingress_plan(fake), tmp_path)
    assert len([c for c in fake.calls_of("exec") if "kill -INT" in c.line]) == 4
    assert (tmp_path / "walk.yaml").is_file()
    assert len([c for c in fake.calls_of("kubectl") if c.command[1:2] == ("delete",)]) == 2


def test_run_folders_are_never_reused(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 26, 22, 30, 5, tzinfo=UTC)
    first = new_run_folder(tmp_path, now)
    second = new_run_folder(tmp_path, now)
    assert first.name == "20261126T223005Z" and second.name == "20261126T223005Z-2"


def test_parse_ip_link_keeps_index_and_name() -> None:
    assert parse_ip_link(IP_LINK[TRAEFIK_NODE]) == {1: "lo", 2: "eth0", 7: "vethe5f6a7b8"}
    assert parse_ip_link("garbage\n") == {}


def test_stop_failure_is_reported_not_raised(tmp_path: Path) -> None:
    fake = lab_cluster()

    class Broken(_Handle):
        def stop(self, timeout: float = 10.0) -> int:
            raise PacketwalkError("stream lost")

    class BrokenHost(FakeHostCapture):
        def start(self, command: Sequence[str], sink: BinaryIO) -> Any:
            sink.write(lab_pcaps()["host"])
            return Broken()

    run = runner(fake, BrokenHost(None)).run(ingress_plan(fake), tmp_path)
    assert "host: stopping the capture: stream lost" in run.errors
    assert (tmp_path / "walk.yaml").is_file()


def test_a_non_empty_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    fake = lab_cluster()
    with pytest.raises(PacketwalkError, match="is not empty"):
        runner(fake).run(ingress_plan(fake), tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert not fake.calls_of("add_ephemeral_container")


def test_capture_container_that_cannot_start_in_traefik_is_an_error(tmp_path: Path) -> None:
    fake = lab_cluster()
    fake.unstartable_containers.add(("traefik", TRAEFIK_POD, TRAEFIK_CAP))
    run = runner(fake).run(ingress_plan(fake), tmp_path)
    assert run.warnings == []
    assert run.errors == [
        f"{TRAEFIK_POD}: container {TRAEFIK_CAP} in pod traefik/{TRAEFIK_POD} "
        f"is not running (image pull or start error: see kubectl describe pod "
        f"-n traefik {TRAEFIK_POD})"
    ]


def test_a_capture_container_without_root_would_not_start_in_traefik(tmp_path: Path) -> None:
    """What the fix is for: the pod's runAsNonRoot applies unless the container overrides it."""
    from packetwalk.kube.access import EphemeralContainer

    fake = lab_cluster()
    plain = EphemeralContainer(
        "pw-cap-plain", "nicolaka/netshoot:v0.16", ("sleep", "1"), run_as_root=False
    )
    assert fake.add_ephemeral_container("traefik", TRAEFIK_POD, plain)
    assert not fake.wait_container_running("traefik", TRAEFIK_POD, "pw-cap-plain")
    assert fake.add_ephemeral_container("vote", VOTE_POD, plain)
    assert fake.wait_container_running("vote", VOTE_POD, "pw-cap-plain")


# -- the real thing, in network namespaces -----------------------------------------------------


class NetnsCluster(FakeCluster):
    """A ClusterAccess whose pods and nodes are network namespaces of a :class:`netns.Lab`.

    exec and stream really run (``ip netns exec``), so tcpdump, the pid-file stop, curl and the
    pcap stream are the real ones; only the API bookkeeping comes from the fake.
    """

    def __init__(self, lab: Any, netns_of: Mapping[tuple[str, str], str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lab, self.netns_of = lab, dict(netns_of)

    def _argv(self, namespace: str, pod: str, command: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.lab.full(self.netns_of[(namespace, pod)]), *command]

    def exec(
        self,
        namespace: str,
        pod: str,
        command: Sequence[str],
        *,
        container: str | None = None,
        timeout: float = 60.0,
    ) -> CommandResult:
        import subprocess

        self.calls.append(Call("exec", tuple(command), namespace, pod, container))
        done = subprocess.run(
            self._argv(namespace, pod, command),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return CommandResult(tuple(command), done.returncode, done.stdout, done.stderr)

    def shell(self, command: str, *, timeout: float = 60.0) -> CommandResult:
        return self.exec("host", "host", ["sh", "-c", command], timeout=timeout)

    def stream(
        self,
        namespace: str,
        pod: str,
        command: Sequence[str],
        sink: BinaryIO,
        *,
        container: str | None = None,
    ) -> Any:
        from packetwalk.host.process import ProcessStream, popen_binary

        self.calls.append(Call("stream", tuple(command), namespace, pod, container))
        return ProcessStream(popen_binary(self._argv(namespace, pod, command)), sink)


class NetnsHostCapture:
    def __init__(self, cluster: NetnsCluster) -> None:
        self.cluster = cluster

    def start(self, command: Sequence[str], sink: BinaryIO) -> Any:
        return self.cluster.stream("host", "host", command, sink)

    def stop_command(self, handle: Any) -> None:
        import signal

        handle._process.send_signal(signal.SIGINT)  # ip netns exec passes it to tcpdump


@pytest.mark.root
def test_real_nodeport_walk_in_network_namespaces(tmp_path: Path) -> None:
    netns = pytest.importorskip("netns")
    why = netns.missing_prerequisites()
    if why or shutil.which("curl") is None:
        pytest.skip(why or "needs curl")
    from packetwalk.cluster.model import NodeInfo, Origin, PodInfo
    from packetwalk.cluster.services import read_service
    from packetwalk.walk.facts import ClusterFacts

    with netns.Lab(tmp_path / "lab") as lab:
        netns.nodeport(lab)  # host -> node 172.18.0.2:31000 -> DNAT + masquerade -> pod-b:8080
        lab.serve_http("pod-b", netns.POD_B, 8080)
        pod_b = PodInfo("default", "pod-b", netns.POD_B, "node", {"app": "web"}, ("web",))
        node = NodeInfo("node", netns.NODE)
        cluster = NetnsCluster(
            lab,
            {
                ("default", "pod-b"): "pod-b",
                ("host", "host"): "host",
                ("default", "pw-node-node"): "node",
            },
            pods=[pod_b],
            nodes=[node],
        )
        cluster.on_kubectl(r"delete pod", "deleted")
        service = read_service(
            {
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {
                    "type": "NodePort",
                    "clusterIP": "10.96.0.10",
                    "selector": {"app": "web"},
                    "ports": [{"port": 80, "targetPort": 8080, "nodePort": 31000}],
                },
            },
            Origin("test"),
        )
        facts = ClusterFacts(
            pods=(pod_b,),
            nodes=(node,),
            services=(service,),
            app_namespace="default",
            host_ip=netns.HOST,
        )
        plan = plan_walk(WalkRequest(to="web", via="nodeport"), facts)
        assert [p.name for p in plan.points] == ["host", "node", "pod-b"]
        runner = WalkRunner(
            cluster, host_capture=NetnsHostCapture(cluster), settle=0.5, ready_timeout=10
        )
        folder = tmp_path / "walk"
        run = runner.run(plan, folder, analyze=analyze_folder)

    assert run.errors == [] and run.warnings == [], (run.errors, run.warnings)
    assert run.request is not None and run.request.stdout.strip() == "200"
    assert [r.state for r in run.points] == ["stopped"] * 3
    sizes = {r.point.name: r.bytes for r in run.points}
    assert all(size > PCAP_HEADER_BYTES for size in sizes.values()), sizes
    walk = yaml.safe_load((folder / "walk.yaml").read_text())
    node_capture = walk["captures"][1]
    assert node_capture["point"] == "node" and "veth-b" in node_capture["interfaces"].values()
    flows = run.analysis.flows
    dnat = [t for f in flows for t in f.translations if t.kind == "DNAT"]
    snat = [t for f in flows for t in f.translations if t.kind == "SNAT"]
    assert any(
        str(t.before) == f"{netns.NODE}:31000"
        and str(t.after) == f"{netns.POD_B}:8080"
        and t.point == "node"
        for t in dnat
    ), dnat
    assert any(t.before.ip == netns.HOST and t.after.ip == netns.NODE for t in snat), snat
    # every tcpdump was stopped through its pid file, none left running
    assert not list(Path("/tmp").glob("pw-cap-node.pid"))
    assert not list(Path("/tmp").glob("pw-cap-pod-b.pid"))


@pytest.mark.root
def test_local_tcpdump_streams_a_live_pcap_and_stops_cleanly(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    if os.geteuid() != 0 or shutil.which("tcpdump") is None:
        pytest.skip("needs root and tcpdump")
    import socket

    from packetwalk.host.tcpdump import LocalTcpdump
    from packetwalk.walk.orchestrate import CountingSink

    with socket.socket() as probe:  # a free port: parallel runs must not share the server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        point = next(
            p
            for p in plan_walk(
                WalkRequest(via="nodeport"), facts_from_objects(lab_objects())
            ).points
            if p.kind == "host"
        )
        command = [*point.tcpdump_command()[:-1], f"tcp port {port}"]
        sink = CountingSink(tmp_path / "host.pcap")
        capture = LocalTcpdump()
        handle = capture.start(command, sink)
        deadline = time.monotonic() + 30  # the pcap header arrives once the capture is open
        while sink.count < PCAP_HEADER_BYTES and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sink.count == PCAP_HEADER_BYTES
        for _ in range(50):
            done = subprocess.run(
                ["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{port}/"], check=False
            )
            if done.returncode == 0:
                break
            time.sleep(0.1)
        capture.stop_command(handle)
        assert handle.stop(timeout=5) == 0
        sink.close()
    finally:
        server.kill()
        server.wait()
    with (tmp_path / "host.pcap").open("rb") as fh:
        packets = list(dpkt.pcap.Reader(fh))
    assert len(packets) >= 6  # handshake, request, response, teardown: none lost on stop


def test_api_refusing_a_capture_container_fails_only_that_point(tmp_path: Path) -> None:
    from kubernetes.client.exceptions import ApiException

    fake = lab_cluster()
    real_add = fake.add_ephemeral_container

    def add(namespace: str, pod: str, spec: Any) -> bool:
        if pod == VOTE_POD:
            error = ApiException(status=403, reason="Forbidden")
            error.body = json.dumps(
                {
                    "kind": "Status",
                    "message": (
                        f'pods "{VOTE_POD}" is forbidden: violates PodSecurity "baseline:latest": '
                        'non-default capabilities (container "pw-cap" must not include "NET_ADMIN")'
                    ),
                }
            )
            raise error
        return real_add(namespace, pod, spec)

    fake.add_ephemeral_container = add  # type: ignore[method-assign]
    # as the real adapter does: its client's refusals are the cluster's answer, not a bug
    fake.client_errors = (ApiException,)  # type: ignore[attr-defined]
    run = runner(fake).run(ingress_plan(fake), tmp_path)
    assert len(run.errors) == 1
    assert run.errors[0].startswith(
        f'{VOTE_POD}: Forbidden: pods "{VOTE_POD}" is forbidden: '
        'violates PodSecurity "baseline:latest"'
    )
    assert run.request is not None and run.request.ok
    assert len(yaml.safe_load((tmp_path / "walk.yaml").read_text())["captures"]) == 4


def test_tcpdump_complaint_is_in_the_error(tmp_path: Path) -> None:
    from packetwalk.host.process import ProcessStream, popen_binary

    class Complaining(FakeCluster):
        def stream(
            self,
            namespace: str,
            pod: str,
            command: Sequence[str],
            sink: BinaryIO,
            *,
            container: str | None = None,
        ) -> Any:
            if pod != VOTE_POD:
                return super().stream(namespace, pod, command, sink, container=container)
            self.calls.append(Call("stream", tuple(command), namespace, pod, container))
            script = (
                "echo \"tcpdump: eth0: You don't have permission to perform this capture "
                'on that device" >&2; exit 1'
            )
            return ProcessStream(popen_binary(["sh", "-c", script]), sink)

    fake = lab_cluster(cls=Complaining)
    run = runner(fake, sleep=time.sleep).run(ingress_plan(fake), tmp_path)
    assert run.errors == [
        f"{VOTE_POD}: tcpdump ended before capturing (exit code 1): tcpdump: "
        "eth0: You don't have permission to perform this capture on that device"
    ]
