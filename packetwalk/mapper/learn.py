"""The mapping rules: connections plus the inventory in, one ClientIntents per client workload out.

Rule by rule (issue 11), each connection is:

1. dropped when it is loopback, or a DNS lookup to kube-dns (its Service or its pods, port 53);
2. given a target: the first destination that is a Service's ClusterIP:port (what the client
   addressed, or conntrack's original tuple) is a ``service`` target; else a pod's IP a
   ``kubernetes`` target named after the pod's root owner, with its kind; a node or a
   host-network pod is not a workload (reported as unattributed); anything else an ``internet``
   target (/32 or /128, with the port);
3. given a client: its source IP must be exactly one (non host-network) pod's at capture time,
   grouped under the pod's root owner. A node's address talking to a pod on that node is a
   kubelet probe (dropped); any other node or host-network source, an address no pod has, or
   several pods, is unattributed: reported, never guessed. A pod created after the flow was
   first seen is not the client (its IP was reused): the flow is dropped;
4. listed as attempted, not as an intent, when no reply was seen.

Service ports are mapped back to their targetPort (numbers, or names resolved on the backend
pod's container ports) for the evidence, which says how many connections, first and last seen,
and which ports.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from packetwalk.mapper.inventory import MapInventory, MapPod
from packetwalk.mapper.observe import Connection

TARGET_ORDER = {"service": 0, "kubernetes": 1, "internet": 2}


@dataclass
class Evidence:
    connections: int = 0
    first: float | None = None
    last: float | None = None
    ports: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)

    def add(self, conn: Connection, port_text: str) -> None:
        self.connections += 1
        self.ports.add(port_text)
        self.sources.add(conn.source)
        if conn.first is not None:
            self.first = conn.first if self.first is None else min(self.first, conn.first)
        last = conn.last if conn.last is not None else conn.first
        if last is not None:
            self.last = last if self.last is None else max(self.last, last)

    def comment(self) -> str:
        seen = "connection" if self.connections == 1 else "connections"
        text = f"{self.connections} {seen}"
        if self.first is not None:
            text += f", first seen {stamp(self.first)}"
        if self.last is not None:
            text += f", last seen {stamp(self.last)}"
        text += f", ports {', '.join(sorted(self.ports))}"
        if self.sources == {"conntrack"}:
            text += " (conntrack only: no SYN captured)"
        return text


def stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class LearnedTarget:
    kind: str  # service | kubernetes | internet
    name: str = ""
    namespace: str = ""
    workload_kind: str | None = None
    ip: str = ""
    ports: set[int] = field(default_factory=set)
    evidence: Evidence = field(default_factory=Evidence)

    def name_for(self, client_namespace: str) -> str:
        return self.name if self.namespace == client_namespace else f"{self.name}.{self.namespace}"

    def sort_key(self) -> tuple[int, str, str]:
        return (TARGET_ORDER[self.kind], self.namespace, self.name or self.ip)

    def describe(self, client_namespace: str) -> str:
        if self.kind == "internet":
            return f"internet {self.cidr} ports {', '.join(map(str, sorted(self.ports)))}"
        kind = f" ({self.workload_kind})" if self.workload_kind else ""
        return f"{self.kind} {self.name_for(client_namespace)}{kind}"

    @property
    def cidr(self) -> str:
        return f"{self.ip}/{'128' if ':' in self.ip else '32'}"


@dataclass
class LearnedIntents:
    namespace: str
    workload: str
    workload_kind: str
    targets: dict[tuple[str, str, str, str], LearnedTarget] = field(default_factory=dict)

    def sorted_targets(self) -> list[LearnedTarget]:
        return sorted(self.targets.values(), key=LearnedTarget.sort_key)


@dataclass
class MapResult:
    intents: list[LearnedIntents]
    attempted: list[str]
    unattributed: list[str]
    dropped: Counter[str]
    connections: int

    def clients(self) -> list[str]:
        return [f"{i.namespace}/{i.workload}" for i in self.intents]


def _loopback(address: str) -> bool:
    if address.startswith("127."):
        return True
    if ":" not in address:
        return False
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class _Target:
    kind: str
    name: str = ""
    namespace: str = ""
    workload_kind: str | None = None
    ip: str = ""
    port: int = 0
    port_text: str = ""


def _target(conn: Connection, inv: MapInventory) -> _Target | str:
    """The target, or why the connection is dropped (``drop:``) or unattributed."""
    for address, port in conn.destinations:
        hit = inv.service_at(address, port, conn.protocol)
        if hit is None:
            continue
        svc, sport = hit
        if inv.is_kube_dns(svc) and port == 53:
            return "drop:dns"
        backend = next(
            (
                p
                for a, _ in conn.destinations
                for p in inv.pods_at(a)
                if svc.selects_labels(p.namespace, p.labels)
            ),
            None,
        )
        target = inv.target_port(svc, sport, backend)
        named = f" ({sport.target_port})" if isinstance(sport.target_port, str) else ""
        to = f"->{target}{named}" if target is not None else f"->{sport.target_port}"
        if target == port and not named:
            to = ""
        return _Target(
            "service",
            svc.name,
            svc.namespace,
            port=port,
            port_text=f"{port}/{conn.protocol}{to}",
        )
    address, port = conn.destinations[0]
    port_text = f"{port}/{conn.protocol}"
    pods = [p for p in inv.pods_at(address) if not p.host_network]
    if len(pods) == 1:
        pod = pods[0]
        if inv.is_kube_dns_pod(pod) and port == 53:
            return "drop:dns"
        return _Target(
            "kubernetes",
            pod.owner_name,
            pod.namespace,
            pod.owner_kind,
            port=port,
            port_text=port_text,
        )
    if len(pods) > 1:
        return f"destination {address} belongs to several pods ({_names(pods)})"
    if inv.is_node(address) or inv.pods_at(address):
        return f"destination {address}:{port} is a node or host-network address"
    return _Target("internet", ip=address, port=port, port_text=port_text)


def _names(pods: Iterable[MapPod]) -> str:
    return ", ".join(p.ref for p in pods)


def _client(conn: Connection, inv: MapInventory, target: _Target) -> MapPod | str:
    address = conn.client
    if address in inv.node_ips:
        node = inv.node_ips[address].name
        if target.kind in ("kubernetes", "service") and any(
            p.node == node and not p.host_network
            for a, _ in conn.destinations
            for p in inv.pods_at(a)
        ):
            return "drop:kubelet-probe"
        return f"source {address} is node {node} (host network)"
    pods = inv.pods_at(address)
    if not pods:
        return f"source {address} is no pod's address at capture time"
    if any(p.host_network for p in pods):
        return f"source {address} is a host-network address ({_names(pods)})"
    if len(pods) > 1:
        return f"source {address} belongs to several pods ({_names(pods)})"
    return pods[0]  # whether it existed when the flow started is decided per connection


def learn(connections: Iterable[Connection], inv: MapInventory) -> MapResult:
    by_client: dict[tuple[str, str, str], LearnedIntents] = {}
    attempted: list[str] = []
    unattributed: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    total = 0
    # many connections repeat a client and a destination: decide each pair once
    targets: dict[tuple[str, tuple[tuple[str, int], ...]], _Target | str] = {}
    clients: dict[tuple[str, _Target, tuple[tuple[str, int], ...]], MapPod | str] = {}
    for conn in connections:
        total += 1
        if _loopback(conn.client) or _loopback(conn.server[0]) or conn.client == conn.server[0]:
            dropped["loopback"] += 1
            continue
        dests = tuple(conn.destinations)
        tkey = (conn.protocol, dests)
        target = targets.get(tkey)
        if target is None:
            target = targets[tkey] = _target(conn, inv)
        if isinstance(target, str):
            if target.startswith("drop:"):
                dropped[target[5:]] += 1
            else:
                unattributed[f"{conn.client} -> {target}"] += 1
            continue
        ckey = (conn.client, target, dests if target.kind != "internet" else ())
        client = clients.get(ckey)
        if client is None:
            client = clients[ckey] = _client(conn, inv, target)
        if (
            isinstance(client, MapPod)
            and client.created is not None
            and conn.first is not None
            and client.created > conn.first
        ):
            client = "drop:pod-newer-than-flow"  # its IP was someone else's then
        if isinstance(client, str):
            if client.startswith("drop:"):
                dropped[client[5:]] += 1
            else:
                unattributed[f"{client} -> {_plain(target)}"] += 1
            continue
        ref = f"{client.namespace}/{client.owner_name} ({client.owner_kind})"
        if not conn.replied:
            attempted.append(
                f"{ref} -> {_plain(target)} {target.port_text}: no reply seen ({conn.source})"
            )
            continue
        key = (client.namespace, client.owner_name, client.owner_kind)
        intents = by_client.get(key)
        if intents is None:
            intents = by_client[key] = LearnedIntents(*key)
        lkey = (target.kind, target.namespace, target.name, target.ip)
        learned = intents.targets.get(lkey)
        if learned is None:
            learned = intents.targets[lkey] = LearnedTarget(
                target.kind, target.name, target.namespace, target.workload_kind, target.ip
            )
        learned.ports.add(target.port)
        learned.evidence.add(conn, target.port_text)
    return MapResult(
        intents=[by_client[k] for k in sorted(by_client)],
        attempted=sorted(set(attempted)),
        unattributed=[f"{text} ({n}x)" for text, n in sorted(unattributed.items())],
        dropped=dropped,
        connections=total,
    )


def _plain(target: _Target) -> str:
    if target.kind == "internet":
        return f"internet {target.ip}"
    return f"{target.kind} {target.namespace}/{target.name}"
