"""A tiny cluster in network namespaces for the mapper: real SYNs, DNAT, conntrack and DNS.

Built on :mod:`tests.netns` (``Lab``: namespaces, veths, cleanup). One "node" namespace routes
between five pod namespaces and does kube-proxy's job with nft DNAT for four ClusterIPs; the
capture and the two ``conntrack -L`` listings run in it, as ``invoke map`` runs them in a node's
debug pod. Traffic, one case each:

- vote/client (Deployment client, through a ReplicaSet object) -> api ClusterIP 10.96.0.20:80,
  DNAT to the pod's 8080 (port differs from targetPort);
- tools/report (Job -> CronJob) -> api-metrics 10.96.0.21:9000, targetPort named ``metrics``
  (9090): cross-namespace and a named port;
- client -> api-metrics over a connection opened before the capture (conntrack only);
- client -> kube-dns 10.96.0.10:53/UDP (dropped), -> api-udp 10.96.0.30:5000/UDP (UDP,
  conntrack), -> 198.51.100.7:443 (internet), -> 10.244.2.20:7777 (refused: attempted);
- 10.244.5.10, whose pod in the inventory was created after the flow (IP reused: dropped);
- the node's own 172.18.0.2 -> the api pod on that node (a kubelet probe: dropped) and ->
  198.51.100.7:443 (a host-network client: unattributed).

Remake the committed golden folder (as root)::

    sudo PYTHONPATH=tests .venv/bin/python -m tests.mapnet tests/data/mapper/lab

(``--inventory DIR`` rewrites only the inventory, from the folder's map.yaml times.)
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import netns  # tests/ is on the path (pytest; PYTHONPATH=tests as a script)
import yaml

from packetwalk.kube.captures import CONNTRACK_COMMAND, MAP_CAPTURE_FILTER
from packetwalk.mapper.folder import INVENTORY_FILE, MAP_FILE, conntrack_file

NODE_IP = "172.18.0.2"
CLIENT, REPORT, OLD = "10.244.1.10", "10.244.4.10", "10.244.5.10"
API, DNS, EXTERNAL = "10.244.2.20", "10.244.3.53", "198.51.100.7"
API_VIP, METRICS_VIP, DNS_VIP, UDP_VIP = "10.96.0.20", "10.96.0.21", "10.96.0.10", "10.96.0.30"

API_PORTS = (("http", 8080, "TCP"), ("metrics", 9090, "TCP"), ("echo", 5353, "UDP"))

PODS = {  # namespace name -> (address, gateway)
    "client": (CLIENT, "10.244.1.1"),
    "report": (REPORT, "10.244.4.1"),
    "old": (OLD, "10.244.5.1"),
    "api": (API, "10.244.2.1"),
    "dns": (DNS, "10.244.3.1"),
    "ext": (EXTERNAL, "198.51.100.1"),
}

NFT_RULES = f"""
table ip kube {{
  chain pre {{
    type nat hook prerouting priority -100;
    ip daddr {API_VIP} tcp dport 80 dnat to {API}:8080
    ip daddr {METRICS_VIP} tcp dport 9000 dnat to {API}:9090
    ip daddr {DNS_VIP} udp dport 53 dnat to {DNS}:53
    ip daddr {UDP_VIP} udp dport 5000 dnat to {API}:5353
  }}
}}
"""

SERVER_CODE = """
import socket, sys, threading
def tcp(host, port):
    server = socket.create_server((host, port))
    while True:
        conn, _ = server.accept()
        def talk(c):
            with c:
                try:
                    c.sendall(b"ok\\n")
                    while c.recv(4096):
                        pass
                except OSError:
                    pass
        threading.Thread(target=talk, args=(conn,), daemon=True).start()
def udp(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, port))
    while True:
        data, peer = s.recvfrom(2048)
        if port == 53 and len(data) >= 12:  # a DNS answer: the query with QR set, no records
            data = data[:2] + bytes([data[2] | 0x80, data[3]]) + data[4:]
        s.sendto(data, peer)
host = sys.argv[1]
for spec in sys.argv[2:]:
    proto, port = spec.split(":")
    target = tcp if proto == "tcp" else udp
    threading.Thread(target=target, args=(host, int(port)), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""

CLIENT_CODE = """
import socket, sys
source = sys.argv[1]
for spec in sys.argv[2:]:
    proto, host, port = spec.split(":")
    if proto == "tcp":
        s = socket.socket()
        s.bind((source, 0))
        s.settimeout(3)
        try:
            s.connect((host, int(port)))
            s.recv(16)
        except OSError:
            pass
        s.close()
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((source, 0))
        s.settimeout(3)
        query = b"\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00" + (
            b"\\x03api\\x04vote\\x00\\x00\\x01\\x00\\x01")
        s.sendto(query, (host, int(port)))
        try:
            s.recv(2048)
        except OSError:
            pass
        s.close()
"""

HOLD_CODE = """
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 5)
s.recv(16)
print("connected", flush=True)
time.sleep(60)
"""


def stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build(lab: netns.Lab) -> None:
    lab.ns("node")
    lab.run("node", "sysctl", "-qw", "net.ipv4.ip_forward=1")
    lab.run("node", "ip", "addr", "add", f"{NODE_IP}/32", "dev", "lo")
    for name, (address, gateway) in PODS.items():
        lab.ns(name)
        lab.veth(name, "eth0", "node", f"v-{name}")
        prefix = gateway.rsplit(".", 1)[0]
        lab.run(name, "ip", "addr", "add", f"{address}/24", "dev", "eth0")
        lab.run("node", "ip", "addr", "add", f"{prefix}.1/24", "dev", f"v-{name}")
        lab.run(name, "ip", "route", "add", "default", "via", gateway)
    proc = subprocess.run(
        ["ip", "netns", "exec", lab.full("node"), "nft", "-f", "-"],
        input=NFT_RULES,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"nft failed: {proc.stderr}")
    code = textwrap.dedent(SERVER_CODE)
    for name, host, ports in (
        ("api", API, ("tcp:8080", "tcp:9090", "udp:5353")),
        ("dns", DNS, ("udp:53",)),
        ("ext", EXTERNAL, ("tcp:443",)),
    ):
        lab.popen(name, sys.executable, "-c", code, host, *ports)
    lab.wait_port("api", API, 8080)
    lab.wait_port("api", API, 9090)
    lab.wait_port("ext", EXTERNAL, 443)


def clients(lab: netns.Lab, *specs: tuple[str, str, tuple[str, ...]]) -> None:
    code = textwrap.dedent(CLIENT_CODE)
    for ns, source, targets in specs:
        lab.run(ns, sys.executable, "-c", code, source, *targets)


def conntrack(lab: netns.Lab) -> str:
    return lab.run("node", *CONNTRACK_COMMAND, check=False).stdout


def make(folder: Path) -> Path:
    """Build the lab, run the traffic, write the map folder; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    with netns.Lab(folder) as lab:
        build(lab)
        hold = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                lab.full("client"),
                sys.executable,
                "-c",
                textwrap.dedent(HOLD_CODE),
                METRICS_VIP,
                "9000",
            ],
            stdout=subprocess.PIPE,
        )
        lab.processes.append(hold)
        assert hold.stdout is not None
        hold.stdout.readline()  # connected: its SYN is before the capture
        started = time.time()
        command = ["tcpdump", *netns_flags(), "-i", "any", "-w", str(folder / "node-a.pcap")]
        proc = lab.popen("node", *command, MAP_CAPTURE_FILTER)
        netns._wait_listening(proc)
        lab.captures.append(netns.Capture("node-a", "node", "node-a.pcap", proc))
        (folder / conntrack_file("node-a", "before")).write_text(conntrack(lab))
        clients(
            lab,
            (
                "client",
                CLIENT,
                (
                    f"tcp:{API_VIP}:80",
                    f"udp:{DNS_VIP}:53",
                    f"udp:{UDP_VIP}:5000",
                    f"tcp:{EXTERNAL}:443",
                    f"tcp:{API}:7777",
                ),
            ),
            ("report", REPORT, (f"tcp:{METRICS_VIP}:9000",)),
            ("old", OLD, (f"tcp:{API_VIP}:80",)),
            ("node", NODE_IP, (f"tcp:{API}:8080", f"tcp:{EXTERNAL}:443")),
        )
        lab.stop_captures()
        (folder / conntrack_file("node-a", "after")).write_text(conntrack(lab))
        ended = time.time()
    (folder / "walk.yaml").write_text(
        yaml.safe_dump(
            {"captures": [{"file": "node-a.pcap", "point": "node-a", "kind": "node"}]},
            sort_keys=False,
        )
    )
    (folder / MAP_FILE).write_text(
        yaml.safe_dump({"started": round(started, 3), "ended": round(ended, 3)})
    )
    (folder / INVENTORY_FILE).write_text(
        yaml.safe_dump_all(inventory(started, ended), sort_keys=False)
    )
    return folder


def netns_flags() -> list[str]:
    return ["-U", "--immediate-mode", "-n", "-Z", "root"]


def _meta(
    kind: str,
    ns: str,
    name: str,
    created: float,
    owner: tuple[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "creationTimestamp": stamp(created)}
    if owner:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "controller": True}
        ]
    meta.update(extra)
    return meta


def _pod(
    ns: str,
    name: str,
    ip: str,
    labels: dict[str, str],
    created: float,
    owner: tuple[str, str] | None = None,
    ports: tuple[tuple[str, int, str], ...] = (),
    host_network: bool = False,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "busybox"}
    if ports:
        container["ports"] = [
            {"name": n, "containerPort": p, "protocol": proto} for n, p, proto in ports
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _meta("Pod", ns, name, created, owner, labels=labels),
        "spec": {"nodeName": "node-a", "containers": [container], "hostNetwork": host_network},
        "status": {"phase": "Running", "podIP": ip},
    }


def _deployment(
    ns: str,
    name: str,
    labels: dict[str, str],
    created: float,
    ports: tuple[tuple[str, int, str], ...] = (),
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "busybox"}
    if ports:
        container["ports"] = [
            {"name": n, "containerPort": p, "protocol": proto} for n, p, proto in ports
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta("Deployment", ns, name, created),
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [container]},
            },
        },
    }


def _service(
    ns: str, name: str, ip: str, selector: dict[str, str], ports: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"clusterIP": ip, "clusterIPs": [ip], "selector": selector, "ports": ports},
    }


def inventory(started: float, ended: float) -> list[dict[str, Any]]:
    """The cluster's objects as ``invoke map`` would list them when the capture ends."""
    old = started - 3600
    client_labels = {"app": "client", "pod-template-hash": "5d8f7"}
    api_labels = {"app": "api", "pod-template-hash": "6c9b4"}
    report_job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta("Job", "tools", "report-29000000", old, ("CronJob", "report")),
        "spec": {"template": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}},
    }
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _meta("CronJob", "tools", "report", old),
        "spec": {
            "schedule": "@hourly",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "metadata": {"labels": {"app": "report"}},
                        "spec": {"containers": [{"name": "main", "image": "busybox"}]},
                    }
                }
            },
        },
    }
    return [
        *(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            for ns in ("vote", "tools", "kube-system", "default")
        ),
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "node-a"},
            "status": {"addresses": [{"type": "InternalIP", "address": NODE_IP}]},
        },
        _deployment("vote", "client", {"app": "client"}, old),
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": _meta("ReplicaSet", "vote", "client-5d8f7", old, ("Deployment", "client")),
            "spec": {"selector": {"matchLabels": client_labels}},
        },
        _pod(
            "vote", "client-5d8f7-abcde", CLIENT, client_labels, old, ("ReplicaSet", "client-5d8f7")
        ),
        _deployment("vote", "api", {"app": "api"}, old, API_PORTS),
        # no ReplicaSet object for api: named from pod-template-hash
        _pod(
            "vote",
            "api-6c9b4-fghij",
            API,
            api_labels,
            old,
            ("ReplicaSet", "api-6c9b4"),
            API_PORTS,
        ),
        # a pod created after the capture ended holds the address the old client used
        _pod("vote", "fresh", OLD, {"app": "fresh"}, ended + 60),
        cronjob,
        report_job,
        _pod(
            "tools",
            "report-29000000-xyz",
            REPORT,
            {"app": "report"},
            old,
            ("Job", "report-29000000"),
        ),
        _pod(
            "kube-system",
            "coredns-1",
            DNS,
            {"k8s-app": "kube-dns"},
            old,
            ports=(("dns", 53, "UDP"),),
        ),
        _pod(
            "kube-system",
            "kube-proxy-a",
            NODE_IP,
            {"k8s-app": "kube-proxy"},
            old,
            host_network=True,
        ),
        _service("vote", "api", API_VIP, {"app": "api"}, [{"port": 80, "targetPort": 8080}]),
        _service(
            "vote",
            "api-metrics",
            METRICS_VIP,
            {"app": "api"},
            [{"port": 9000, "targetPort": "metrics"}],
        ),
        _service(
            "vote",
            "api-udp",
            UDP_VIP,
            {"app": "api"},
            [{"port": 5000, "targetPort": 5353, "protocol": "UDP"}],
        ),
        _service(
            "kube-system",
            "kube-dns",
            DNS_VIP,
            {"k8s-app": "kube-dns"},
            [{"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"}],
        ),
    ]


def rewrite_inventory(folder: Path) -> None:
    """Only the inventory of an existing folder, from its map.yaml times (no new capture)."""
    times = yaml.safe_load((folder / MAP_FILE).read_text())
    (folder / INVENTORY_FILE).write_text(
        yaml.safe_dump_all(inventory(times["started"], times["ended"]), sort_keys=False)
    )


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:2] == ["--inventory"]:
        rewrite_inventory(Path(sys.argv[2]))
        sys.exit(0)
    reason = netns.missing_prerequisites("nft")
    if reason:
        sys.exit(reason)
    print(make(Path(sys.argv[1])))
