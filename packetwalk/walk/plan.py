"""Plan a packet walk: where to capture, with which filter, what request to send, and why.

Pure: :func:`plan_walk` reads a :class:`~packetwalk.walk.facts.ClusterFacts` snapshot and a
:class:`WalkRequest` and returns a :class:`WalkPlan`; the orchestrator executes it. The hop facts
come from docs/design/packet-walk-and-capture.md and docs/design/ingress-and-gclb.md: kube-proxy
DNATs Service addresses on the node where the packet enters, NodePort/LoadBalancer traffic with
``externalTrafficPolicy: Cluster`` is masqueraded, MetalLB L2 sends every packet for an address to
one leader node, and Traefik dials backend pod IPs itself (no kube-proxy hop unless nativeLB).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from packetwalk.cluster.model import PodInfo, ServiceInfo, ServicePort
from packetwalk.errors import InputError
from packetwalk.kube.captures import capture_container_name, tcpdump_command
from packetwalk.lab.cni import PROFILES
from packetwalk.walk.facts import NATIVE_LB_ANNOTATION, ClusterFacts
from packetwalk.walk.lookup import (
    INGRESS_READY,
    USER,
    VIAS,
    endpoint_pods,
    find_pod,
    find_service,
    node_named,
    pick_entry_node,
    route_to,
    service_port,
    target_port,
    traefik_front,
)

_INSPECT = {
    "iptables": "iptables-save -t nat | grep KUBE- (KUBE-SERVICES, KUBE-SVC-*, KUBE-SEP-* DNAT, "
    "KUBE-MARK-MASQ) and conntrack -L",
    "nftables": "nft list table ip kube-proxy (map service-ips, chains service-*) and conntrack -L",
    "ipvs": "ipvsadm -Ln (every Service address sits on the kube-ipvs0 dummy interface; "
    "masquerade still comes from iptables KUBE-POSTROUTING) and conntrack -L",
}
"""Where a participant sees each kube-proxy mode's translation on a node (netshoot has all)."""


@dataclass(frozen=True)
class WalkRequest:
    """What the participant asked for (``invoke walk --to --from --via``)."""

    to: str = "vote"
    source: str = USER
    via: str | None = None
    """None picks ``ingress`` for the user and ``clusterip`` for a pod."""
    entry_node: str | None = None
    """The node to send NodePort traffic to; None picks one that does not host the backend."""


@dataclass(frozen=True)
class ServerAddress:
    """An address the request is sent to on its way to the server, before or after a NAT (a
    Service address, a Traefik or backend pod), and what it is."""

    ip: str
    port: int
    label: str

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class CapturePoint:
    name: str
    """The pod's or node's own name (``host`` for your machine), so walk.yaml's inventory names
    the point's address; the pcap is ``<name>.pcap``."""
    kind: str
    """``pod``, ``node`` or ``host``."""
    role: str
    """``client``, ``node``, ``traefik`` or ``backend``."""
    interface: str
    filter: str
    why: tuple[str, ...]
    namespace: str | None = None
    pod: str | None = None
    node: str | None = None
    address: str | None = None
    target_container: str | None = None
    roles: int = 1
    """How many hops of the walk this point is on (a node can be the entry, Traefik's node and
    the backend's node at once); such a point has no single place in the request order."""

    @property
    def container(self) -> str:
        """The ephemeral capture container: one per pod whatever its role, reused by every walk
        (ephemeral containers can never be removed, so each new name stays in the pod)."""
        return capture_container_name(self.name)

    def tcpdump_command(self) -> tuple[str, ...]:
        """The capture toolkit's tcpdump on this point's interface, with its filter."""
        return tcpdump_command(self.interface, self.filter)


HTTP_PORTS = frozenset({80, 443, 3000, 5000, 8000, 8080, 8081, 8443})


@dataclass(frozen=True)
class ClientRequest:
    """The request that makes the walk: HTTP with curl, or a bare TCP connect for other servers."""

    url: str
    """``http://host:port/path`` or ``tcp://host:port``."""
    host_header: str | None
    origin: str
    """``host`` (the participant's machine) or ``pod``."""
    point: str | None = None
    """The capture point whose container sends it (pod origin): netshoot has curl and nc, the
    app images may have neither."""

    @property
    def protocol(self) -> str:
        return self.url.split("://", 1)[0]

    def command(self) -> tuple[str, ...]:
        if self.protocol == "tcp":
            host, _, port = self.url.removeprefix("tcp://").rpartition(":")
            # A connect and nothing else: redis or postgres would answer HTTP with an error.
            return ("nc", "-z", "-v", "-w", "5", host, port)
        command = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}\\n", "--max-time", "10"]
        if self.host_header:
            command += ["-H", f"Host: {self.host_header}"]
        return (*command, self.url)


@dataclass(frozen=True)
class WalkPlan:
    to: str
    source: str
    via: str
    points: tuple[CapturePoint, ...]
    request: ClientRequest
    path: tuple[str, ...]
    """The expected hops, one sentence each, in request order."""
    notes: tuple[str, ...]
    inventory: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    cni: str = "unknown"
    kube_proxy_mode: str = "iptables"

    def point(self, name: str) -> CapturePoint:
        for point in self.points:
            if point.name == name:
                return point
        raise KeyError(name)


# -- filters -----------------------------------------------------------------------------------


def flow_filter(addresses: Sequence[ServerAddress], *, dns: bool = False) -> str:
    """A BPF filter for every server-side address the flow has, before and after NAT.

    Keying on the server side catches both directions and survives SNAT of the client side
    (the masqueraded source port is unknowable in advance).
    """
    seen: list[str] = []
    for address in addresses:
        term = f"(host {address.ip} and tcp port {address.port})"
        if term not in seen:
            seen.append(term)
    if dns:
        seen.append("(udp port 53)")
    return " or ".join(seen)


# -- the plan ----------------------------------------------------------------------------------

_ANY_WHY = (
    "captured on 'any' in the node's network namespace: every veth, tunnel and eth0 at "
    "once (ip -o link is saved to name the interfaces)"
)


def _pod_point(role: str, pod: PodInfo, flt: str, why: Sequence[str]) -> CapturePoint:
    return CapturePoint(
        name=pod.name,
        kind="pod",
        role=role,
        interface="eth0",
        filter=flt,
        why=tuple(why),
        namespace=pod.namespace,
        pod=pod.name,
        node=pod.node,
        address=pod.ip,
        target_container=pod.containers[0] if pod.containers else None,
    )


def _general_notes(facts: ClusterFacts) -> list[str]:
    notes: list[str] = []
    if facts.kube_proxy_mode == "none":
        notes.append(
            "No kube-proxy: Service translation happens in eBPF, so iptables-save and "
            "conntrack show nothing; with socket-LB the client's own capture may already "
            "show the backend pod address."
        )
    elif facts.kube_proxy_mode in _INSPECT:
        notes.append(
            f"To see the rules behind each DNAT on a node: {_INSPECT[facts.kube_proxy_mode]}."
        )
    if facts.platform == "gke":
        notes.append(
            "GKE nodes have their own clocks: the analysis orders hops by what each "
            "packet looks like before and after NAT, not by timestamps."
        )
    profile = PROFILES.get(facts.cni)  # type: ignore[call-overload]
    if profile is not None:
        notes.append(profile.datapath + ".")
    return notes


@dataclass
class _Walk:
    """One plan in the making: the hops are added in request order, the points at the end."""

    request: WalkRequest
    facts: ClusterFacts
    via: str
    client: PodInfo | None
    """None when the request starts on the participant's machine."""
    nat_by: str
    notes: list[str]
    path: list[str] = field(default_factory=list)
    addresses: list[ServerAddress] = field(default_factory=list)
    node_why: dict[str, list[str]] = field(default_factory=dict)
    sequence: list[str] = field(default_factory=list)
    """Point names in request order: nodes when first met, pods when the request reaches them."""

    @property
    def client_name(self) -> str:
        return "host" if self.client is None else self.client.name

    @property
    def client_label(self) -> str:
        if self.client is not None:
            return f"pod {self.client.name} ({self.client.ip})"
        host_ip = self.facts.host_ip
        return f"your machine ({host_ip})" if host_ip else "your machine"

    def on_node(self, node: str | None, why: str) -> None:
        if node is None:
            return
        if node not in self.node_why:
            self.node_why[node] = []
            self.sequence.append(node)
        if why not in self.node_why[node]:
            self.node_why[node].append(why)

    def reach(self, point: str) -> None:
        if point not in self.sequence:
            self.sequence.append(point)

    # -- how the request enters: the first address it is sent to ------------------------------

    def enter_cluster_ip(self, front: ServiceInfo, port: ServicePort) -> tuple[ServerAddress, str]:
        if not front.cluster_ip:
            raise InputError(
                f"Service {front.key} is headless (no ClusterIP)",
                location="--via",
                choices=["nodeport", "loadbalancer", "ingress"],
            )
        entry = ServerAddress(front.cluster_ip, port.port, f"ClusterIP of {front.name}")
        step = ""
        if self.client is not None:
            step = (
                f"on the client's node {self.client.node}, {self.nat_by} DNATs {entry} to a "
                f"{front.name} pod (no SNAT: the source stays the pod IP)"
            )
            self.on_node(
                self.client.node,
                f"client pod's node: {self.nat_by} translates {entry} "
                f"to a {front.name} pod on the way out (PREROUTING), before routing",
            )
        return entry, step

    def enter_node_port(
        self, front: ServiceInfo, port: ServicePort, avoid: set[str], host_header: str | None
    ) -> tuple[ServerAddress, str]:
        if not port.node_port and self.via == "ingress":
            raise InputError(
                f"Traefik's Service {front.key} is type {front.type}, without a LoadBalancer "
                "address or nodePort: its clients come through a cloud load balancer (GKE "
                "Ingress/Gateway with NEGs) that cannot be captured; walk --from a pod instead",
                location="--via",
                choices=["nodeport", "clusterip"],
            )
        if not port.node_port:
            raise InputError(
                f"Service {front.key} has no nodePort (type {front.type})",
                location="--via",
                choices=["clusterip", "loadbalancer", "ingress"],
            )
        node = pick_entry_node(
            self.facts, self.request.entry_node, avoid, ingress=self.via == "ingress"
        )
        if (
            self.via == "ingress"
            and self.client is None
            and node.labels.get(INGRESS_READY[0]) == INGRESS_READY[1]
        ):
            self.notes.append(
                f"A browser on http://{host_header or 'localhost'}/ takes the same "
                f"hop: kind publishes {node.name}:{port.node_port} on 127.0.0.1:80."
            )
        entry = ServerAddress(str(node.internal_ip), port.node_port, f"NodePort on {node.name}")
        if self.client is not None:
            self.on_node(
                self.client.node,
                "client pod's node: routes the request on to the entry "
                f"node {node.name} (a NodePort is translated where it is addressed)",
            )
        masq = (
            ""
            if front.external_traffic_policy == "Local"
            else f" and masquerades the source to {node.internal_ip}"
        )
        self.on_node(
            node.name,
            f"entry node: the request is sent to its NodePort {entry}; "
            f"{self.nat_by} DNATs it to a {front.name} pod{masq}"
            + (" (externalTrafficPolicy Cluster)" if masq else ""),
        )
        return entry, f"on {node.name}, {self.nat_by} DNATs {entry} to a {front.name} pod{masq}"

    def enter_load_balancer(
        self, front: ServiceInfo, port: ServicePort, front_pods: Sequence[PodInfo]
    ) -> tuple[ServerAddress, str]:
        if not front.lb_ips:
            with_lb = sorted(s.key for s in self.facts.services if s.lb_ips)
            raise InputError(
                f"Service {front.key} has no LoadBalancer address (type {front.type})",
                location="--to",
                choices=with_lb,
            )
        entry = ServerAddress(front.lb_ips[0], port.port, f"LoadBalancer address of {front.name}")
        if self.client is not None:
            self.on_node(
                self.client.node,
                f"client pod's node: {self.nat_by} matches the "
                f"LoadBalancer address {entry} for in-cluster clients and DNATs it right "
                "here (no MetalLB hop)",
            )
            return entry, (
                f"on the client's node {self.client.node}, {self.nat_by} DNATs {entry} "
                f"to a {front.name} pod without leaving the node first"
            )
        local = front.external_traffic_policy == "Local"
        masq = (
            ""
            if local
            else ("; externalTrafficPolicy Cluster masquerades the source to the node IP")
        )
        if self.facts.platform == "gke":
            # A passthrough Network LB: no leader, every healthy node may get the packets.
            with_pods = {p.node for p in front_pods}
            who = (
                f"nodes with a {front.name} pod (externalTrafficPolicy Local: the others fail "
                "the health check)"
                if local
                else "any node"
            )
            for node in self.facts.nodes:
                if node.internal_ip and (not local or node.name in with_pods):
                    self.on_node(
                        node.name,
                        f"may receive it: Google's passthrough load balancer "
                        f"delivers packets for {entry.ip} unchanged (client address kept, "
                        f"destination still the LB address) to {who}; {self.nat_by} "
                        f"DNATs there{masq}",
                    )
            return entry, (
                f"Google's passthrough load balancer hands it unchanged to a node; "
                f"{self.nat_by} there DNATs {entry} to a {front.name} pod{masq}"
            )
        leader = self.facts.l2_leaders.get(front.key)
        leader_node = node_named(self.facts, leader)
        if leader_node is not None:
            self.on_node(
                leader_node.name,
                f"MetalLB L2 leader for {entry.ip}: it answers ARP, so "
                f"every packet enters here; {self.nat_by} DNATs {entry} to a "
                f"{front.name} pod{masq}",
            )
        else:
            self.notes.append(
                f"The MetalLB L2 leader for {entry.ip} is unknown (no "
                "ServiceL2Status), so every node is captured; the one that sees the "
                "request is the leader."
            )
            for node in (n for n in self.facts.nodes if n.internal_ip):
                self.on_node(
                    node.name,
                    f"candidate MetalLB L2 leader for {entry.ip}: the leader "
                    f"answers ARP and {self.nat_by} DNATs there{masq}",
                )
        return entry, (
            f"the MetalLB L2 leader {leader or '(unknown)'} receives it; {self.nat_by} "
            f"there DNATs {entry} to a {front.name} pod{masq}"
        )

    # -- the rest of the way ------------------------------------------------------------------

    def through_traefik(
        self,
        pods: Sequence[PodInfo],
        front_port: ServicePort,
        service: ServiceInfo,
        backend_port: ServicePort,
        native_lb: bool,
    ) -> None:
        ports = [target_port(self.facts, p, front_port, True) for p in pods]
        for pod, port in zip(pods, ports, strict=True):
            self.addresses.append(ServerAddress(str(pod.ip), port, f"Traefik pod {pod.name}"))
            self.on_node(
                pod.node,
                f"hosts Traefik pod {pod.name}: the translated request arrives on its veth",
            )
        for pod in pods:
            self.reach(pod.name)
        at = ", ".join(f"{p.name} {p.ip}:{port}" for p, port in zip(pods, ports, strict=True))
        self.path.append(f"Traefik ({at}) receives it and terminates HTTP")
        if not native_lb:
            self.path.append(
                f"Traefik opens a new connection from its pod IP straight to a "
                f"{service.name} pod IP: it reads EndpointSlices, so kube-proxy is "
                "not on this hop"
            )
            return
        if not service.cluster_ip:
            raise InputError(f"nativeLB needs a ClusterIP on {service.key}", location="--to")
        self.addresses.append(
            ServerAddress(service.cluster_ip, backend_port.port, f"ClusterIP of {service.name}")
        )
        for pod in pods:
            self.on_node(
                pod.node,
                f"nativeLB: Traefik dials ClusterIP {service.cluster_ip}, so "
                f"{self.nat_by} on Traefik's node DNATs it to a {service.name} pod",
            )
        self.path.append(
            f"Traefik opens a new connection to ClusterIP {service.cluster_ip}:"
            f"{backend_port.port} (nativeLB); {self.nat_by} on its node DNATs it"
        )

    def to_backends(self, backends: Sequence[PodInfo], port: ServicePort, seen_src: str) -> None:
        ports = [target_port(self.facts, p, port, False) for p in backends]
        for pod, number in zip(backends, ports, strict=True):
            self.addresses.append(ServerAddress(str(pod.ip), number, f"pod {pod.name}"))
            self.on_node(pod.node, f"hosts backend pod {pod.name}: the request leaves on its veth")
        for pod in backends:
            self.reach(pod.name)
        at = ", ".join(f"{p.name} {p.ip}:{n}" for p, n in zip(backends, ports, strict=True))
        self.path.append(f"backend {at} answers; it sees source {seen_src}")
        self.path.append(
            "each reply retraces its connection; conntrack reverses every NAT on the way back"
        )

    def points(
        self,
        entry: ServerAddress,
        traefik_pods: Sequence[PodInfo],
        backends: Sequence[PodInfo],
        seen_src: str,
        dns: bool,
    ) -> list[CapturePoint]:
        flt = flow_filter(self.addresses)
        client_flt = flow_filter(self.addresses, dns=dns)
        client = self.client
        points: list[CapturePoint] = []
        if client is None:
            points.append(
                CapturePoint(
                    name="host",
                    kind="host",
                    role="client",
                    interface="any",
                    filter=flt,
                    why=(
                        "the request starts on your machine; this capture shows the address you "
                        "dialled, before any NAT (needs tcpdump and capture rights here; skipped "
                        "if "
                        "not)",
                    ),
                    address=self.facts.host_ip,
                )
            )
        else:
            points.append(
                _pod_point(
                    "client",
                    client,
                    client_flt,
                    [
                        f"the request starts in pod {client.name}: its eth0 shows the destination "
                        f"{entry} before any NAT"
                        + (" and the DNS lookup of the Service name" if dns else ""),
                    ],
                )
            )
        for node_name, why in self.node_why.items():
            info = node_named(self.facts, node_name)
            points.append(
                CapturePoint(
                    name=node_name,
                    kind="node",
                    role="node",
                    interface="any",
                    filter=client_flt if client is not None and node_name == client.node else flt,
                    why=(*why, _ANY_WHY),
                    node=node_name,
                    address=info.internal_ip if info else None,
                    roles=len(why),
                )
            )
        points.extend(
            _pod_point(
                "traefik",
                pod,
                flt,
                [
                    f"Traefik pod {pod.name}: terminates HTTP from the client and opens a new "
                    "connection to the backend, so two TCP flows meet here",
                    "Traefik's pod runs as non-root (runAsNonRoot, user 65532): its capture "
                    "container sets runAsUser 0 itself, so tcpdump keeps NET_RAW; only if the "
                    "API server refuses that container (a PodSecurity level stricter than "
                    f"privileged) does the capture on node {pod.node}, which sees the same "
                    "packets on the pod's veth, stand in for it",
                ],
            )
            for pod in traefik_pods
        )
        points.extend(
            _pod_point(
                "backend",
                pod,
                flt,
                [
                    f"backend pod {pod.name}: eth0 shows the request after every translation "
                    f"(destination its own IP); it sees source {seen_src}",
                ],
            )
            for pod in backends
            if client is None or pod.name != client.name or pod.namespace != client.namespace
        )
        rank = {name: i for i, name in enumerate(self.sequence)}
        return sorted(points, key=lambda point: rank.get(point.name, len(rank)))


def plan_walk(request: WalkRequest, facts: ClusterFacts) -> WalkPlan:
    """Turn ``request`` into capture points, filters, a request and explanations."""
    from_user = request.source == USER
    via = request.via or ("ingress" if from_user else "clusterip")
    if via not in VIAS:
        raise InputError(f"unknown path {via!r}", location="--via", choices=VIAS)
    service = find_service(facts, request.to)
    client = None if from_user else find_pod(facts, request.source)
    if client is not None and not client.ip:
        raise InputError(
            f"pod {client.namespace}/{client.name} has no IP (phase {client.phase})",
            location="--from",
        )
    if from_user and via == "clusterip":
        raise InputError(
            "a ClusterIP is reachable only from inside the cluster: pass --from POD, or pick a "
            "path that enters from outside",
            location="--via",
            choices=[v for v in VIAS if v != "clusterip"],
        )
    backends = endpoint_pods(facts, service)
    nat_by = (
        "Cilium's eBPF service load balancer (no kube-proxy, no KUBE-* chains)"
        if facts.kube_proxy_mode == "none"
        else f"kube-proxy ({facts.kube_proxy_mode} mode)"
    )
    walk = _Walk(request, facts, via, client, nat_by, _general_notes(facts))
    walk.reach(walk.client_name)

    # The Service the client addresses first: Traefik's for ingress, the target's otherwise.
    host_header: str | None = None
    url_path = "/"
    traefik_pods: list[PodInfo] = []
    native_lb = False
    if via == "ingress":
        route = route_to(facts, service)
        traefik_pods, front = traefik_front(facts)
        front_port = service_port(front)
        host_header, url_path = route.host, route.path or "/"
        native_lb = route.native_lb or service.annotations.get(NATIVE_LB_ANNOTATION) == "true"
        backend_port = service_port(service, route.service_port)
    else:
        front, front_port = service, service_port(service)
        backend_port = front_port
    front_pods = traefik_pods if via == "ingress" else backends
    avoid = {p.node for p in front_pods if p.node}

    if via == "clusterip" or (
        via == "ingress" and client is not None and not front.lb_ips and not front_port.node_port
    ):
        entry, step = walk.enter_cluster_ip(front, front_port)
    elif via == "nodeport" or (via == "ingress" and not front.lb_ips):
        entry, step = walk.enter_node_port(front, front_port, avoid, host_header)
    else:  # loadbalancer, or ingress through Traefik's LoadBalancer address
        entry, step = walk.enter_load_balancer(front, front_port, front_pods)
    http = (
        via == "ingress"
        or from_user
        or backend_port.target_port in HTTP_PORTS
        or any(word in (backend_port.name or "") for word in ("http", "web"))
    )
    walk.addresses.append(entry)
    walk.path.append(
        f"{walk.client_label} "
        + (f"sends GET {url_path} to" if http else "opens a TCP connection to")
        + f" {entry} ({entry.label})"
    )
    if step:
        walk.path.append(step)

    if via == "ingress":
        walk.through_traefik(traefik_pods, front_port, service, backend_port, native_lb)
    client_addr = facts.host_ip if client is None else client.ip
    seen_src = (
        "the Traefik pod IP (the user only in X-Forwarded-For)"
        if via == "ingress"
        else f"the client pod IP {client_addr}"
        if via == "clusterip" or (via == "loadbalancer" and client is not None)
        else f"the client address {client_addr or '(your machine)'}"
        if front.external_traffic_policy == "Local"
        else "the entry node's IP (masqueraded)"
    )
    walk.to_backends(backends, backend_port, seen_src)
    dns = via == "clusterip" and client is not None
    points = walk.points(entry, traefik_pods, backends, seen_src, dns)

    notes = walk.notes
    if client is not None and any(
        (p.namespace, p.name) == (client.namespace, client.name) for p in backends
    ):
        notes.append(
            "The client pod is also a backend: a connection to its own Service is "
            "hairpinned and masqueraded on its node."
        )
    if len(backends) > 1:
        notes.append(
            f"{service.name} has {len(backends)} ready pods; the one that serves is "
            "chosen per connection, so each is captured."
        )
    if from_user and facts.platform == "kind":
        notes.append(
            "kind on Linux: your machine reaches node and MetalLB addresses through the "
            "Docker bridge; Docker Desktop (macOS/Windows) does not route them."
        )

    scheme_host = f"{entry.ip}:{entry.port}"
    if dns:
        scheme_host = f"{service.name}.{service.namespace}.svc.cluster.local:{entry.port}"
    client_request = ClientRequest(
        url=f"http://{scheme_host}{url_path}" if http else f"tcp://{scheme_host}",
        host_header=host_header,
        origin="host" if from_user else "pod",
        point=None if from_user else walk.client_name,
    )
    return WalkPlan(
        to=service.key,
        source=request.source,
        via=via,
        points=tuple(points),
        request=client_request,
        path=tuple(walk.path),
        notes=tuple(notes),
        inventory=build_inventory(facts),
        cni=facts.cni,
        kube_proxy_mode=facts.kube_proxy_mode,
    )


def build_inventory(facts: ClusterFacts) -> dict[str, dict[str, str]]:
    """Names for addresses, in the walk.yaml ``inventory`` shape."""
    pods = {p.name: p.ip for p in facts.pods if p.ip and not p.host_network}
    nodes = {n.name: n.internal_ip for n in facts.nodes if n.internal_ip}
    services: dict[str, str] = {}
    for s in facts.services:
        if s.cluster_ip:
            services[s.name] = s.cluster_ip
        for i, ip in enumerate(s.lb_ips):
            services[f"{s.name} LB" + (f" {i + 1}" if i else "")] = ip
    inventory: dict[str, dict[str, str]] = {
        "pods": {k: str(v) for k, v in sorted(pods.items())},
        "nodes": {k: str(v) for k, v in sorted(nodes.items())},
        "services": dict(sorted(services.items())),
    }
    return inventory
