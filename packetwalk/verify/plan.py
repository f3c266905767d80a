"""Which probes to run, and what the NetworkPolicy evaluator expects of each.

Every ordered pair of distinct running pods in scope is probed on the destination's declared TCP
container ports and a small sample of undeclared ones; besides them: pods of another namespace
(Traefik's, when there is one) as sources and destinations, an outside client (a node's
host-network debug pod, probing only pods on *other* nodes: traffic between a node and its own
pods is always allowed, whatever the policies say), DNS (UDP 53 to a kube-dns pod) and one
external address. The verdicts come from :mod:`packetwalk.netpol` for the same objects, so the
comparison says whether the dataplane does what the evaluator reads in the policies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from packetwalk.cluster.model import Pod
from packetwalk.errors import InputError
from packetwalk.netpol.evaluator import Analysis

TargetKind = Literal["pod", "dns", "external"]
SourceKind = Literal["pod", "outside"]

UNDECLARED_SAMPLE: tuple[int, ...] = (81, 9999)
"""Ports probed on every destination besides its declared ones (those it declares are skipped):
nothing should listen there, so an allowed probe is refused and a denied one times out."""

DNS_PORT = 53
DNS_SELECTOR: Mapping[str, str] = {"k8s-app": "kube-dns"}
TRAEFIK_LABEL = ("app.kubernetes.io/name", "traefik")
DEFAULT_EXTERNAL = "1.1.1.1:443"
OUTSIDE = "outside"


@dataclass(frozen=True)
class Endpoint:
    """A probe's source or destination as the plan needs it."""

    label: str
    """``ns/pod``, ``outside (node N)``, ``dns``, or the external address."""
    ip: str
    namespace: str = ""
    name: str = ""
    node: str | None = None


@dataclass(frozen=True)
class SourceSpec:
    """Where probes start: a pod (exec in its probe container) or a node's debug pod."""

    kind: SourceKind
    endpoint: Endpoint


@dataclass(frozen=True)
class Probe:
    """One connection attempt and the evaluator's verdict for it."""

    id: int
    source: SourceSpec
    target: Endpoint
    target_kind: TargetKind
    port: int
    protocol: str
    declared: bool
    """The destination declares this container port (something should listen)."""
    expected: bool
    """The evaluator allows it."""

    @property
    def text(self) -> str:
        return f"{self.source.endpoint.label} -> {self.target.label}:{self.port}/{self.protocol}"


@dataclass(frozen=True)
class PortChoice:
    """``--ports``: ``declared``, ``all`` (declared + a sample of undeclared) or a list."""

    mode: Literal["declared", "all", "list"]
    ports: tuple[int, ...] = ()


ALL_PORTS = PortChoice("all")


def parse_ports(text: str) -> PortChoice:
    """``declared``, ``all`` or ``80,5432``; anything else is an :class:`InputError`."""
    if text in ("declared", "all"):
        return PortChoice(text)  # type: ignore[arg-type]
    ports: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= 65535:
            raise InputError(
                f"{part!r} is not a port (1-65535)",
                location="--ports",
                choices=("declared", "all", "PORT[,PORT...]"),
            )
        ports.append(int(part))
    return PortChoice("list", tuple(dict.fromkeys(ports)))


def parse_address(text: str) -> tuple[str, int]:
    """``IP:PORT`` of the external probe."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise InputError(f"{text!r} is not IP:PORT, e.g. {DEFAULT_EXTERNAL}", location="--external")
    return host, int(port)


def ports_for(pod: Pod, choice: PortChoice) -> list[tuple[int, bool]]:
    """(port, declared) to probe on ``pod``, TCP only."""
    declared = sorted({p.port for p in pod.ports if p.protocol == "TCP"})
    if choice.mode == "list":
        return [(port, port in declared) for port in choice.ports]
    out = [(port, True) for port in declared]
    if choice.mode == "all":
        out += [(port, False) for port in UNDECLARED_SAMPLE if port not in declared]
    return out


@dataclass(frozen=True)
class Scope:
    """What to probe: the pods in scope, the extra peers, the outside client and the external."""

    pods: Sequence[Pod]
    nodes: Mapping[str, str | None]
    """``ns/pod`` -> its node (from the running pods), for the outside client's rule."""
    others: Sequence[Pod] = ()
    dns: Pod | None = None
    outside: Endpoint | None = None
    external: tuple[str, int] | None = None
    ports: PortChoice = ALL_PORTS


def pod_label(pod: Pod) -> str:
    return f"{pod.namespace}/{pod.name}"


def plan_probes(analysis: Analysis, scope: Scope) -> list[Probe]:
    """Every probe of ``scope``, in a stable order (source, then target, then port)."""
    probes: list[Probe] = []
    class_of = analysis.class_of

    def endpoint(pod: Pod) -> Endpoint:
        label = pod_label(pod)
        return Endpoint(label, pod.ip or "", pod.namespace, pod.name, scope.nodes.get(label))

    def add(
        source: SourceSpec,
        target: Endpoint,
        kind: TargetKind,
        port: int,
        protocol: str,
        *,
        declared: bool,
        expected: bool,
    ) -> None:
        probes.append(Probe(len(probes), source, target, kind, port, protocol, declared, expected))

    sources = [*scope.pods, *scope.others]
    in_scope = {id(p) for p in scope.pods}
    for src in sources:
        spec = SourceSpec("pod", endpoint(src))
        targets = scope.pods if id(src) not in in_scope else [*scope.pods, *scope.others]
        for dst in targets:
            if dst is src:
                continue
            conn = analysis.pod_conn(src, dst)
            for port, declared in ports_for(dst, scope.ports):
                add(
                    spec,
                    endpoint(dst),
                    "pod",
                    port,
                    "TCP",
                    declared=declared,
                    expected=conn.allows("TCP", port),
                )
        if scope.dns is not None:
            conn = analysis.pod_conn(src, scope.dns)
            add(
                spec,
                Endpoint("dns", scope.dns.ip or "", scope.dns.namespace, scope.dns.name),
                "dns",
                DNS_PORT,
                "UDP",
                declared=True,
                expected=conn.allows("UDP", DNS_PORT),
            )
        if scope.external is not None:
            host, port = scope.external
            atom = analysis.external_for_ip(host, as_source=False)
            expected = atom is not None and analysis.to_external(class_of[id(src)], atom).allows(
                "TCP", port
            )
            add(
                spec,
                Endpoint(host, host),
                "external",
                port,
                "TCP",
                declared=True,
                expected=expected,
            )
    if scope.outside is not None:
        spec = SourceSpec("outside", scope.outside)
        atom = analysis.external_for_ip(scope.outside.ip, as_source=True)
        for dst in scope.pods:
            if scope.nodes.get(pod_label(dst)) == scope.outside.node:
                continue  # a node always reaches its own pods
            for port, declared in ports_for(dst, scope.ports):
                expected = atom is not None and analysis.from_external(
                    atom, class_of[id(dst)]
                ).allows("TCP", port)
                add(spec, endpoint(dst), "pod", port, "TCP", declared=declared, expected=expected)
    return probes
