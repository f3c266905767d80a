"""Sets of (protocol, port) pairs: what a NetworkPolicy rule opens and what a flow may use.

A :class:`PortSet` is a canonical tuple of disjoint, sorted, non-adjacent closed intervals inside
1-65535, so two equal sets are equal tuples and hash alike (the evaluator caches on them).
A :class:`ConnSet` holds one port set per protocol Kubernetes defines for NetworkPolicy
(SCTP, TCP, UDP: the order netpol-analyzer prints them in).

Named ports never live here: a rule names a port, the *destination* pod resolves it
(docs/design/netpol-semantics.md rule 4), and only the resolved number enters a set.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from packetwalk.cluster.model import MAX_PORT, MIN_PORT

PROTOCOLS: tuple[str, ...] = ("SCTP", "TCP", "UDP")

Interval = tuple[int, int]
PortSet = tuple[Interval, ...]

NO_PORTS: PortSet = ()
ALL_PORTS: PortSet = ((MIN_PORT, MAX_PORT),)


def port_set(intervals: Iterable[Interval]) -> PortSet:
    """Canonical form of any collection of closed intervals (merges overlaps and neighbours)."""
    merged: list[list[int]] = []
    for lo, hi in sorted(intervals):
        if lo > hi:
            continue
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return tuple((lo, hi) for lo, hi in merged)


def union(a: PortSet, b: PortSet) -> PortSet:
    if not a or a == b:
        return b
    if not b:
        return a
    return port_set((*a, *b))


def intersection(a: PortSet, b: PortSet) -> PortSet:
    if not a or not b:
        return NO_PORTS
    if a == b or b == ALL_PORTS:
        return a
    if a == ALL_PORTS:
        return b
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def difference(a: PortSet, b: PortSet) -> PortSet:
    """``a`` minus ``b``; both sorted by start (``b`` may overlap itself). ipBlocks use it too."""
    out: list[Interval] = []
    for lo, hi in a:
        cur = lo
        for blo, bhi in b:
            if bhi < cur or blo > hi:
                continue
            if blo > cur:
                out.append((cur, blo - 1))
            cur = max(cur, bhi + 1)
            if cur > hi:
                break
        if cur <= hi:
            out.append((cur, hi))
    return tuple(out)


def contains(ports: PortSet, port: int) -> bool:
    return any(lo <= port <= hi for lo, hi in ports)


def format_ports(ports: PortSet) -> str:
    """``80``, ``1-52,54-65535``: netpol-analyzer's port list."""
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ports)


@dataclass(frozen=True, slots=True)
class ConnSet:
    """Allowed connections: one :data:`PortSet` per protocol, in :data:`PROTOCOLS` order."""

    sctp: PortSet = NO_PORTS
    tcp: PortSet = NO_PORTS
    udp: PortSet = NO_PORTS

    @staticmethod
    def of(protocol: str, ports: PortSet) -> ConnSet:
        proto = protocol.upper()
        if proto == "TCP":
            return ConnSet(tcp=ports)
        if proto == "UDP":
            return ConnSet(udp=ports)
        if proto == "SCTP":
            return ConnSet(sctp=ports)
        raise ValueError(f"unknown protocol {protocol!r}")

    def ports(self, protocol: str) -> PortSet:
        proto = protocol.upper()
        return self.tcp if proto == "TCP" else self.udp if proto == "UDP" else self.sctp

    @property
    def is_empty(self) -> bool:
        return not (self.sctp or self.tcp or self.udp)

    @property
    def is_all(self) -> bool:
        return self.sctp == ALL_PORTS and self.tcp == ALL_PORTS and self.udp == ALL_PORTS

    def __or__(self, other: ConnSet) -> ConnSet:
        # the common cases skip the cache (hashing three tuples costs more than they do)
        if self is other or other is NONE or self is ALL:
            return self
        if other is ALL or self is NONE:
            return other
        return _union(self, other)

    def __and__(self, other: ConnSet) -> ConnSet:
        if self is other or other is ALL or self is NONE:
            return self
        if self is ALL or other is NONE:
            return other
        return _intersection(self, other)

    def __sub__(self, other: ConnSet) -> ConnSet:
        return ConnSet(
            difference(self.sctp, other.sctp),
            difference(self.tcp, other.tcp),
            difference(self.udp, other.udp),
        )

    def __le__(self, other: ConnSet) -> bool:
        return (self - other).is_empty

    def allows(self, protocol: str, port: int) -> bool:
        return contains(self.ports(protocol), port)

    def groups(self) -> list[tuple[str, PortSet]]:
        sets = (self.sctp, self.tcp, self.udp)
        return [(p, s) for p, s in zip(PROTOCOLS, sets, strict=True) if s]

    def __str__(self) -> str:
        """netpol-analyzer's text: ``All Connections``, ``No Connections`` or ``TCP 80,UDP 53``."""
        if self.is_all:
            return "All Connections"
        if self.is_empty:
            return "No Connections"
        return ",".join(f"{proto} {format_ports(ports)}" for proto, ports in self.groups())


NONE = ConnSet()
ALL = ConnSet(ALL_PORTS, ALL_PORTS, ALL_PORTS)


@lru_cache(maxsize=65536)
def _union(a: ConnSet, b: ConnSet) -> ConnSet:
    if a is ALL or b.is_empty:
        return a
    if b is ALL or a.is_empty:
        return b
    out = ConnSet(union(a.sctp, b.sctp), union(a.tcp, b.tcp), union(a.udp, b.udp))
    return ALL if out.is_all else out


@lru_cache(maxsize=65536)
def _intersection(a: ConnSet, b: ConnSet) -> ConnSet:
    if a.is_empty or b.is_all:
        return a
    if b.is_empty or a.is_all:
        return b
    out = ConnSet(
        intersection(a.sctp, b.sctp), intersection(a.tcp, b.tcp), intersection(a.udp, b.udp)
    )
    return NONE if out.is_empty else out


def parse_conn_text(text: str) -> ConnSet:
    """Inverse of ``str(ConnSet)``, for reading expected outputs and ``--explain`` ports."""
    text = text.strip()
    if text == "All Connections":
        return ALL
    if text == "No Connections" or not text:
        return NONE
    out = NONE
    proto = ""
    for token in text.split(","):
        token = token.strip()
        if " " in token:
            proto, token = token.split(" ", 1)
        lo_text, _, hi_text = token.partition("-")
        lo = int(lo_text)
        hi = int(hi_text) if hi_text else lo
        out = out | ConnSet.of(proto, ((lo, hi),))
    return out


def single(protocol: str, port: int) -> ConnSet:
    return ConnSet.of(protocol, ((port, port),))
