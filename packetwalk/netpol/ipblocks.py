"""IPv4 interval arithmetic for ``ipBlock`` peers and the External ranges of a matrix.

An ipBlock ``cidr`` minus its ``except`` list is a union of closed integer intervals. The outside
world is shown the way netpol-analyzer shows it: the IPv4 space cut at every boundary of every
ipBlock that can apply in one direction (ingress blocks cut the *sources*, egress blocks cut the
*destinations*), so each External range lies wholly inside or wholly outside every block and one
verdict holds for all its addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from packetwalk.netpol.ports import difference

IPV4_MAX = 2**32 - 1
Range = tuple[int, int]


@dataclass(frozen=True)
class IPBlock:
    """A parsed ipBlock. ``ranges`` holds its IPv4 addresses (empty for an IPv6 block)."""

    cidr: str
    excepts: tuple[str, ...]
    ranges: tuple[Range, ...]
    version: int

    def contains_ip(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if addr.version != self.version:
            return False
        if self.version == 4:
            value = int(addr)
            return any(lo <= value <= hi for lo, hi in self.ranges)
        net = ipaddress.ip_network(self.cidr, strict=False)
        holes = [ipaddress.ip_network(e, strict=False) for e in self.excepts]
        return addr in net and not any(addr in h for h in holes)

    def covers(self, lo: int, hi: int) -> bool:
        """Whether all of lo-hi lies in the block (External ranges are pre-split: all or none)."""
        return any(rlo <= lo and hi <= rhi for rlo, rhi in self.ranges)

    def text(self) -> str:
        if self.excepts:
            return f"{self.cidr} except {', '.join(self.excepts)}"
        return self.cidr


class IPBlockError(ValueError):
    """An ipBlock that the API server would reject; the message says which part."""


def parse_ipblock(cidr: object, excepts: Sequence[object]) -> IPBlock:
    if not isinstance(cidr, str) or not cidr:
        raise IPBlockError("cidr must be a CIDR string such as 10.0.0.0/8")
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError as err:
        raise IPBlockError(f"invalid CIDR address {cidr!r}: {err}") from None
    hole_ranges: list[Range] = []
    names: list[str] = []
    for index, item in enumerate(excepts):
        if not isinstance(item, str):
            raise IPBlockError(f"except[{index}] must be a CIDR string")
        try:
            hole = ipaddress.ip_network(item, strict=False)
        except ValueError as err:
            raise IPBlockError(f"except[{index}]: invalid CIDR address {item!r}: {err}") from None
        if hole.version != net.version or not hole.subnet_of(net):  # type: ignore[arg-type]
            raise IPBlockError(f"except[{index}] {item} is not inside cidr {cidr}")
        if hole == net:
            raise IPBlockError(f"except[{index}] {item} must be strictly smaller than cidr {cidr}")
        names.append(item)
        if hole.version == 4:
            hole_ranges.append((int(hole.network_address), int(hole.broadcast_address)))
    ranges: tuple[Range, ...] = ()
    if net.version == 4:
        whole = ((int(net.network_address), int(net.broadcast_address)),)
        ranges = difference(whole, tuple(sorted(hole_ranges)))
    return IPBlock(cidr, tuple(names), ranges, net.version)


def split_space(blocks: Iterable[IPBlock]) -> list[Range]:
    """The IPv4 space cut at every start and end of every block's ranges, in address order."""
    cuts = {0, IPV4_MAX + 1}
    for block in blocks:
        for lo, hi in block.ranges:
            cuts.add(lo)
            cuts.add(hi + 1)
    points = sorted(cuts)
    return [(points[i], points[i + 1] - 1) for i in range(len(points) - 1)]


def int_to_ip(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def format_range(lo: int, hi: int) -> str:
    """``0.0.0.0-9.255.255.255``: netpol-analyzer's External peer body."""
    return f"{int_to_ip(lo)}-{int_to_ip(hi)}"


def ip_to_int(ip: str) -> int | None:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    return int(addr) if addr.version == 4 else None
