"""The vocabulary of a packet walk: capture specs in, flows with hops and translations out.

Everything here is frozen: an analysis is computed once and then rendered several ways.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

PointKind = Literal["pod", "node", "host"]
POINT_KINDS: tuple[str, ...] = ("pod", "node", "host")


@dataclass(frozen=True, slots=True, order=True)
class Endpoint:
    """An address and port as one capture point saw it (port 0 when the protocol has none)."""

    ip: str
    port: int

    def __str__(self) -> str:
        if ":" in self.ip:
            return f"[{self.ip}]:{self.port}"
        return f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class Inventory:
    """Names for addresses, so a hop reads "pod vote-7d9f" rather than a bare IP."""

    pods: Mapping[str, str] = field(default_factory=dict)
    nodes: Mapping[str, str] = field(default_factory=dict)
    services: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def _by_address(self) -> dict[str, tuple[str, str]]:
        found: dict[str, tuple[str, str]] = {}
        # later tables do not override earlier ones: a ClusterIP is never a pod's address
        for kind, table in (("service", self.services), ("pod", self.pods), ("node", self.nodes)):
            for name, address in table.items():
                found.setdefault(_normal(address), (kind, name))
        return found

    def lookup(self, ip: str) -> tuple[str, str] | None:
        """``(kind, name)`` for an address: services first, then pods, then nodes."""
        return self._by_address.get(_normal(ip))

    def describe(self, endpoint: Endpoint) -> str:
        found = self.lookup(endpoint.ip)
        if not found:
            return str(endpoint)
        kind, name = found
        return f"{name} {endpoint}" if name == kind else f"{kind} {name} {endpoint}"


def _normal(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


@dataclass(frozen=True)
class CaptureSpec:
    """One entry of ``captures:`` in walk.yaml."""

    file: str
    point: str
    kind: PointKind
    interfaces: Mapping[int, str] = field(default_factory=dict)
    interfaces_file: str | None = None  # saved `ip -o link` output, relative to the folder


@dataclass(frozen=True)
class WalkSpec:
    """A validated walk.yaml: where the captures are and what the addresses are called."""

    folder: Path
    source: str
    captures: tuple[CaptureSpec, ...]
    inventory: Inventory = field(default_factory=Inventory)
    path: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hop:
    """One sighting of a flow's request at one point (and interface), in request order."""

    point: str
    kind: str
    src: Endpoint
    dst: Endpoint
    interface: str | None
    direction: str | None  # "in" / "out" when the capture says so (Linux cooked, pcapng flags)
    time: float  # epoch seconds of the first packet of this flow at this point
    packets: int
    reply_seen: bool


@dataclass(frozen=True)
class Translation:
    """An address rewrite between two consecutive hops; ``reversed`` when the reply was un-NATed."""

    kind: Literal["DNAT", "SNAT"]
    point: str
    before: Endpoint
    after: Endpoint
    reversed: bool


@dataclass(frozen=True)
class Flow:
    """One connection (or UDP exchange) followed across every point that saw it."""

    protocol: str
    client: Endpoint
    server: Endpoint
    hops: tuple[Hop, ...]
    translations: tuple[Translation, ...]
    reply_seen: bool
    ordered_by: str  # how the hop order was decided: "causality", "inventory" or "time"

    @property
    def start(self) -> float:
        return min(hop.time for hop in self.hops)


@dataclass(frozen=True)
class FlowLink:
    """A proxy (Traefik) that received ``inbound`` and opened ``outbound`` to serve it."""

    inbound: int  # index into WalkAnalysis.flows
    outbound: int
    proxy: str  # the proxy's address
    point: str | None  # the capture point that saw both connections, if any


@dataclass(frozen=True)
class CaptureSummary:
    """What reading one capture produced, for the report's footer."""

    point: str
    file: str
    packets: int
    linktype: str
    problem: str | None = None


@dataclass(frozen=True)
class WalkAnalysis:
    """The result of ``analyze_folder``: every flow, the links between them, and what went wrong."""

    folder: Path
    flows: tuple[Flow, ...]
    links: tuple[FlowLink, ...]
    captures: tuple[CaptureSummary, ...]
    warnings: tuple[str, ...]
    inventory: Inventory = field(default_factory=Inventory)

    @property
    def failed_captures(self) -> tuple[CaptureSummary, ...]:
        """Captures that could not be read at all (missing, not a capture)."""
        return tuple(c for c in self.captures if c.problem and c.packets == 0)
