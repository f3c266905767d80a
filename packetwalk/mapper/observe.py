"""Connections out of capture rows and conntrack entries: who called whom, on which port, when,
and whether the other side answered.

The client is decided as the issue says:

- TCP: the sender of a SYN without ACK. Copies of one SYN seen at several points (the client's
  veth before DNAT, the node's uplink after it, the server's side) share the initial sequence
  number, which NAT keeps, so they are grouped on it: the copy seen first gives the client (before
  any SNAT) and every copy's destination is kept, so a ClusterIP and the pod behind it are one
  connection. A SYN-ACK acknowledging that sequence number is the reply.
- UDP: the first packet of an address pair is the client's, except an answer from a well-known
  port (53) seen first, whose receiver is the client (the capture filter keeps DNS answers).
  Packets from one client address and port are one connection with all the destinations they
  reached (the ClusterIP and, after DNAT, the pod).
- Without a capture, conntrack's original direction: its source is the client, its destination
  what the client addressed (the ClusterIP), its reply source the backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from packetwalk.capture.pcapread import TCP, UDP, CaptureReader, Row, ip_text
from packetwalk.mapper.conntrack import ConntrackEntry

SYN = 0x02
ACK = 0x10
WELL_KNOWN = 1024


@dataclass(slots=True)
class Connection:
    """One connection (or UDP exchange) a client started."""

    protocol: str
    client: str
    client_port: int
    destinations: list[tuple[str, int]]
    """Every (address, port) the connection was seen going to, first seen first: what the
    client addressed, then (after DNAT) the backend."""
    first: float | None
    last: float | None
    replied: bool
    source: str
    """``capture`` or ``conntrack``."""
    packets: int = 1
    sources: list[tuple[str, int]] = field(default_factory=list)
    """Every (address, port) the connection was seen coming from (the client, then any SNAT)."""

    @property
    def server(self) -> tuple[str, int]:
        return self.destinations[0]


class _Tcp:
    __slots__ = ("dsts", "first", "last", "packets", "replied", "srcs")

    def __init__(self, ts: int, src: tuple[int, int], dst: tuple[int, int]) -> None:
        self.first = ts
        self.last = ts
        self.srcs = [src]
        self.dsts = [dst]
        self.replied = False
        self.packets = 1


_TEXT: dict[int, str] = {}


def _text(value: int) -> str:
    """``ip_text``, remembered: a capture repeats few addresses many times."""
    text = _TEXT.get(value)
    if text is None:
        if len(_TEXT) > 1_000_000:
            _TEXT.clear()
        text = _TEXT[value] = ip_text(value)
    return text


def connections_from_rows(rows: Iterable[Row]) -> list[Connection]:
    """Connections in capture rows (any number of files' rows, chained)."""
    syns: dict[int, _Tcp] = {}
    acked: set[int] = set()
    udp: dict[tuple[int, int], _Tcp] = {}
    for row in rows:
        proto = row[3]
        if proto == TCP:
            flags = row[10]
            if not flags & SYN:
                continue
            ts = row[0]
            if flags & ACK:
                acked.add((row[9] - 1) & 0xFFFFFFFF)
                continue
            isn = row[8]
            entry = syns.get(isn)
            src = (row[4], row[5])
            dst = (row[6], row[7])
            if entry is None:
                syns[isn] = _Tcp(ts, src, dst)
                continue
            entry.packets += 1
            if ts < entry.first:  # an earlier copy (another file): it is the client's
                entry.first = ts
                for seen, value in ((entry.srcs, src), (entry.dsts, dst)):
                    if value in seen:
                        seen.remove(value)
                    seen.insert(0, value)
            else:
                if ts > entry.last:
                    entry.last = ts
                if dst not in entry.dsts:
                    entry.dsts.append(dst)
                if src not in entry.srcs:
                    entry.srcs.append(src)
        elif proto == UDP:
            ts = row[0]
            src = (row[4], row[5])
            dst = (row[6], row[7])
            if src in udp:
                entry = udp[src]
                entry.packets += 1
                if ts > entry.last:
                    entry.last = ts
                if dst not in entry.dsts:
                    entry.dsts.append(dst)
                continue
            back = udp.get(dst)
            if back is not None:
                back.replied = True
                back.packets += 1
                if src not in back.dsts:  # an answer from another address: the ClusterIP
                    back.dsts.append(src)
                continue
            if row[5] < WELL_KNOWN <= row[7]:  # an answer seen first: its receiver asked
                entry = _Tcp(ts, dst, src)
                entry.replied = True
                udp[dst] = entry
            else:
                udp[src] = _Tcp(ts, src, dst)
    result: list[Connection] = []
    for isn, entry in syns.items():
        result.append(_connection("TCP", entry, isn in acked or entry.replied))
    for entry in udp.values():
        result.append(_connection("UDP", entry, entry.replied))
    result.sort(key=lambda c: (c.first or 0.0, c.client, c.client_port))
    return result


def _connection(protocol: str, entry: _Tcp, replied: bool) -> Connection:
    text = _TEXT.get
    dsts = [(text(a) or _text(a), p) for a, p in entry.dsts]
    srcs = [(text(a) or _text(a), p) for a, p in entry.srcs]
    return Connection(
        protocol,
        srcs[0][0],
        srcs[0][1],
        dsts,
        entry.first / 1e6,
        entry.last / 1e6,
        replied,
        "capture",
        entry.packets,
        srcs,
    )


def read_rows(files: Iterable[Path]) -> Iterator[Row]:
    """The rows of every capture file in turn (analyze's reader)."""
    for path in files:
        with CaptureReader(path) as reader:
            yield from reader.rows()


def connections_from_captures(files: Iterable[Path]) -> list[Connection]:
    return connections_from_rows(read_rows(files))


def merge_conntrack(
    connections: list[Connection], entries: Iterable[tuple[ConntrackEntry, float | None]]
) -> list[Connection]:
    """``connections`` plus what conntrack saw that the captures did not (``entries`` with the
    time their listing was taken). A conntrack entry the capture saw marks it replied when
    conntrack saw the reply, and adds its backend."""
    known: dict[tuple[str, str, int, str, int], Connection] = {}
    for conn in connections:
        for dst, dport in conn.destinations:
            known[(conn.protocol, conn.client, conn.client_port, dst, dport)] = conn
    result = list(connections)
    for entry, when in entries:
        key = (entry.protocol, entry.src, entry.sport, entry.dst, entry.dport)
        found = known.get(key)
        backend = (entry.reply_src, entry.reply_sport)
        if found is None:
            conn = Connection(
                protocol=entry.protocol,
                client=entry.src,
                client_port=entry.sport,
                destinations=[(entry.dst, entry.dport)],
                first=when,
                last=when,
                replied=entry.replied,
                source="conntrack",
                packets=0,
                sources=[(entry.src, entry.sport)],
            )
            known[key] = conn
            result.append(conn)
        else:
            conn = found
            conn.replied = conn.replied or entry.replied
            if when is not None and (conn.last is None or when > conn.last):
                conn.last = when
        if backend not in conn.destinations:
            conn.destinations.append(backend)
    return result
