"""Craft capture sets that never existed on disk before the test, with dpkt as the writer.

Addresses, ports, sequence numbers, IP IDs, payloads, clock offsets and file formats all come
from a seeded ``random.Random``, so the analysis cannot have been tuned to (or hard-code) any of
them. Linux cooked v1/v2 headers are built here by hand (dpkt parses them but has no builder).
"""

from __future__ import annotations

import ipaddress
import random
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import dpkt
import yaml

OUTGOING, HOST = 4, 0


@dataclass(frozen=True)
class Packet:
    """One abstract packet of a connection: what NAT keeps (seq/ack/flags/id/payload)."""

    request: bool
    seq: int
    ack: int
    flags: int
    ipid: int
    payload: bytes
    offset_us: int  # time since the connection started


def tcp_exchange(rng: random.Random, rounds: int = 2) -> list[Packet]:
    cseq, sseq = rng.getrandbits(32), rng.getrandbits(32)
    cid, sid = rng.getrandbits(16), rng.getrandbits(16)
    t = 0
    out: list[Packet] = []

    def add(request: bool, seq: int, ack: int, flags: int, payload: bytes = b"") -> None:
        nonlocal cid, sid, t
        t += rng.randint(30, 400)
        ipid = cid if request else sid
        out.append(Packet(request, seq % 2**32, ack % 2**32, flags, ipid, payload, t))
        if request:
            cid = (cid + 1) % 65536
        else:
            sid = (sid + 1) % 65536

    add(True, cseq, 0, dpkt.tcp.TH_SYN)
    add(False, sseq, cseq + 1, dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK)
    cseq, sseq = cseq + 1, sseq + 1
    add(True, cseq, sseq, dpkt.tcp.TH_ACK)
    for _ in range(rounds):
        req = b"GET /%x HTTP/1.1\r\nHost: h\r\n\r\n" % rng.getrandbits(40)
        add(True, cseq, sseq, dpkt.tcp.TH_PUSH | dpkt.tcp.TH_ACK, req)
        cseq += len(req)
        body = rng.randbytes(rng.randint(20, 200))
        add(False, sseq, cseq, dpkt.tcp.TH_PUSH | dpkt.tcp.TH_ACK, body)
        sseq += len(body)
    add(True, cseq, sseq, dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK)
    add(False, sseq, cseq + 1, dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK)
    add(True, cseq + 1, sseq + 1, dpkt.tcp.TH_ACK)
    return out


def udp_exchange(rng: random.Random) -> list[Packet]:
    """A DNS-like query and answer: IP ID 0 (DF, unconnected socket), random payloads."""
    query = rng.randbytes(2) + b"\x01\x00\x00\x01" + rng.randbytes(20)
    answer = query[:2] + b"\x81\x80" + rng.randbytes(40)
    return [Packet(True, 0, 0, 0, 0, query, 50), Packet(False, 0, 0, 0, 0, answer, 400)]


Endpoint = tuple[str, int]


def ip_packet(p: Packet, src: Endpoint, dst: Endpoint, proto: str) -> bytes:
    if proto == "tcp":
        l4: dpkt.Packet = dpkt.tcp.TCP(
            sport=src[1], dport=dst[1], seq=p.seq, ack=p.ack, flags=p.flags, data=p.payload
        )
    else:
        l4 = dpkt.udp.UDP(sport=src[1], dport=dst[1], data=p.payload)
        l4.ulen = 8 + len(p.payload)
    number = dpkt.ip.IP_PROTO_TCP if proto == "tcp" else dpkt.ip.IP_PROTO_UDP
    a, b = ipaddress.ip_address(src[0]), ipaddress.ip_address(dst[0])
    if a.version == 6:
        pkt6 = dpkt.ip6.IP6(
            src=a.packed, dst=b.packed, nxt=number, hlim=64, data=l4, plen=len(bytes(l4))
        )
        pkt6.flow = p.ipid
        return bytes(pkt6)
    pkt = dpkt.ip.IP(src=a.packed, dst=b.packed, p=number, id=p.ipid, ttl=64, df=1, data=l4)
    pkt.len = 20 + len(bytes(l4))
    return bytes(pkt)


def ethernet(payload: bytes, v6: bool = False, vlan: int | None = None) -> bytes:
    kind = 0x86DD if v6 else 0x0800
    head = b"\x02\x00\x00\x00\x00\x0b\x02\x00\x00\x00\x00\x0a"
    if vlan is not None:
        head += struct.pack("!HH", 0x8100, vlan)
    return head + struct.pack("!H", kind) + payload


def sll1(payload: bytes, outgoing: bool, v6: bool = False) -> bytes:
    return (
        struct.pack(
            "!HHH8sH",
            OUTGOING if outgoing else HOST,
            1,
            6,
            b"\x02" * 6 + b"\0\0",
            0x86DD if v6 else 0x0800,
        )
        + payload
    )


def sll2(payload: bytes, ifindex: int, outgoing: bool, v6: bool = False) -> bytes:
    return (
        struct.pack(
            "!HHIHBB8s",
            0x86DD if v6 else 0x0800,
            0,
            ifindex,
            1,
            OUTGOING if outgoing else HOST,
            6,
            b"\x02" * 6 + b"\0\0",
        )
        + payload
    )


def write_pcap(
    path: Path, frames: Sequence[tuple[float, bytes]], linktype: int, nano: bool = False
) -> None:
    with path.open("wb") as fh:
        writer = dpkt.pcap.Writer(fh, linktype=linktype, nano=nano)
        for ts, frame in sorted(frames, key=lambda f: f[0]):
            writer.writepkt(frame, ts=ts)


def write_pcapng(
    path: Path,
    interfaces: Sequence[tuple[str, int]],
    frames: Sequence[tuple[float, int, bytes, int]],
) -> None:
    """frames: (ts, interface id, frame, direction 0/1 in/2 out written as epb_flags)."""
    idbs = []
    for name, linktype in interfaces:
        opts = [
            dpkt.pcapng.PcapngOptionLE(code=2, data=name.encode()),
            dpkt.pcapng.PcapngOptionLE(code=0, data=b""),
        ]
        idbs.append(
            dpkt.pcapng.InterfaceDescriptionBlockLE(linktype=linktype, snaplen=65535, opts=opts)
        )
    fh: BinaryIO
    with path.open("wb") as fh:
        writer = dpkt.pcapng.Writer(fh, idb=idbs)
        for ts, iface, frame, direction in sorted(frames, key=lambda f: f[0]):
            opts = []
            if direction:
                opts = [
                    dpkt.pcapng.PcapngOptionLE(code=2, data=struct.pack("<I", direction)),
                    dpkt.pcapng.PcapngOptionLE(code=0, data=b""),
                ]
            usec = round(ts * 1e6)
            epb = dpkt.pcapng.EnhancedPacketBlockLE(
                iface_id=iface,
                pkt_data=frame,
                opts=opts,
                ts_high=usec >> 32,
                ts_low=usec & 0xFFFFFFFF,
                caplen=len(frame),
                pkt_len=len(frame),
            )
            writer.writepkt(epb)


@dataclass
class Point:
    """Where a crafted capture is taken, and in which file format."""

    name: str
    kind: str
    fmt: str  # "eth" | "eth-ns" | "eth-vlan" | "sll1" | "sll2" | "pcapng" | "pcapng-multi"
    skew: float = 0.0  # this point's clock error, seconds
    frames: list[tuple[float, int, bytes, int]] = field(default_factory=list)
    ifnames: dict[int, str] = field(default_factory=dict)

    def see(self, ts: float, pkt: bytes, iface: int, outgoing: bool | None, v6: bool) -> None:
        """Record one packet; iface is the ifindex (cooked) or interface id (pcapng-multi)."""
        ts += self.skew
        direction = 0 if outgoing is None else (2 if outgoing else 1)
        if self.fmt == "sll2":
            self.frames.append((ts, 0, sll2(pkt, iface, bool(outgoing), v6), 0))
        elif self.fmt == "sll1":
            self.frames.append((ts, 0, sll1(pkt, bool(outgoing), v6), 0))
        elif self.fmt == "pcapng-multi":
            self.frames.append((ts, iface, ethernet(pkt, v6), direction))
        elif self.fmt == "eth-vlan":
            self.frames.append((ts, 0, ethernet(pkt, v6, vlan=100), 0))
        else:
            self.frames.append((ts, 0, ethernet(pkt, v6), 0))

    def write(self, folder: Path) -> dict[str, object]:
        entry: dict[str, object] = {"point": self.name, "kind": self.kind}
        if self.fmt in ("sll2", "sll1"):
            entry["file"] = f"{self.name}.pcap"
            write_pcap(
                folder / str(entry["file"]),
                [(t, f) for t, _i, f, _d in self.frames],
                276 if self.fmt == "sll2" else 113,
            )
            if self.fmt == "sll2":
                entry["interfaces"] = dict(self.ifnames)
        elif self.fmt == "pcapng-multi":
            entry["file"] = f"{self.name}.pcapng"
            names = [self.ifnames[i] for i in sorted(self.ifnames)]
            write_pcapng(folder / str(entry["file"]), [(n, 1) for n in names], self.frames)
        elif self.fmt == "pcapng":
            entry["file"] = f"{self.name}.pcapng"
            write_pcapng(
                folder / str(entry["file"]),
                [("eth0", 1)],
                [(t, 0, f, 0) for t, _i, f, _d in self.frames],
            )
        else:
            entry["file"] = f"{self.name}.pcap"
            write_pcap(
                folder / str(entry["file"]),
                [(t, f) for t, _i, f, _d in self.frames],
                1,
                nano=self.fmt == "eth-ns",
            )
        return entry


def random_ip(rng: random.Random, net: str) -> str:
    network = ipaddress.ip_network(net)
    return str(network[rng.randint(2, min(network.num_addresses - 2, 2**20))])


def write_walk(
    folder: Path, points: Sequence[Point], inventory: dict[str, dict[str, str]], rng: random.Random
) -> None:
    entries = [p.write(folder) for p in points]
    rng.shuffle(entries)  # file order must not matter
    (folder / "walk.yaml").write_text(
        yaml.safe_dump({"captures": entries, "inventory": inventory}, sort_keys=False)
    )


@dataclass
class Expected:
    """What the analysis must find for one crafted flow."""

    protocol: str
    client: str
    server: str
    hops: list[tuple[str, str, str, str | None]]  # (point, src, dst, interface)
    translations: list[tuple[str, str, str]]  # (kind, before, after)


def ep(endpoint: Endpoint) -> str:
    return (
        f"[{endpoint[0]}]:{endpoint[1]}" if ":" in endpoint[0] else f"{endpoint[0]}:{endpoint[1]}"
    )


def service_walk(
    folder: Path,
    rng: random.Random,
    *,
    proto: str = "tcp",
    snat: bool = False,
    node_fmt: str = "sll2",
    skew: bool = True,
    v6: bool = False,
) -> Expected:
    """client pod -> Service VIP (DNAT, optionally SNAT to the node) -> backend pod, via a node."""
    if v6:
        client_ip, vip = random_ip(rng, "fd00:10:244:1::/64"), random_ip(rng, "fd00:10:96::/112")
        pod_ip, node_ip = random_ip(rng, "fd00:10:244:2::/64"), random_ip(rng, "fc00:f853::/64")
    else:
        client_ip, vip = random_ip(rng, "10.244.0.0/17"), random_ip(rng, "10.96.0.0/16")
        pod_ip, node_ip = random_ip(rng, "10.244.128.0/17"), random_ip(rng, "172.18.0.0/16")
    client = (client_ip, rng.randint(32768, 60999))
    service = (vip, rng.choice([53, 80, 443, 6379]) if proto == "tcp" else 53)
    backend = (pod_ip, rng.randint(1024, 9999))
    snat_src = (node_ip, rng.randint(32768, 60999)) if snat else client
    in_if, out_if = rng.sample(range(2, 60), 2)
    names = {in_if: f"veth{rng.getrandbits(24):06x}", out_if: f"veth{rng.getrandbits(24):06x}"}
    pick = rng.uniform if skew else (lambda _a, _b: 0.0)
    cpoint = Point(
        f"client-{rng.getrandbits(16):04x}",
        "pod",
        rng.choice(["eth", "eth-ns", "pcapng", "eth-vlan"]),
        pick(-0.5, 0.5),
    )
    npoint = Point(f"node-{rng.getrandbits(16):04x}", "node", node_fmt, pick(-0.5, 0.5))
    spoint = Point(
        f"server-{rng.getrandbits(16):04x}",
        "pod",
        rng.choice(["eth", "eth-ns", "pcapng"]),
        pick(-0.5, 0.5),
    )
    if node_fmt == "pcapng-multi":
        names = {0: names[in_if], 1: names[out_if]}
        in_if, out_if = 0, 1
    npoint.ifnames = names
    exchange = tcp_exchange(rng) if proto == "tcp" else udp_exchange(rng)
    start = 1_700_000_000 + rng.uniform(0, 1e8)
    for p in exchange:
        t = start + p.offset_us / 1e6
        if p.request:
            pre, post = ip_packet(p, client, service, proto), ip_packet(p, snat_src, backend, proto)
            cpoint.see(t, pre, 0, None, v6)
            npoint.see(t + 20e-6, pre, in_if, False, v6)
            npoint.see(t + 40e-6, post, out_if, True, v6)
            spoint.see(t + 60e-6, post, 0, None, v6)
        else:
            post, pre = ip_packet(p, backend, snat_src, proto), ip_packet(p, service, client, proto)
            spoint.see(t, post, 0, None, v6)
            npoint.see(t + 20e-6, post, out_if, False, v6)
            npoint.see(t + 40e-6, pre, in_if, True, v6)
            cpoint.see(t + 60e-6, pre, 0, None, v6)
    inventory = {
        "pods": {cpoint.name: client_ip, spoint.name: pod_ip},
        "services": {f"svc-{rng.getrandbits(16):04x}": vip},
        "nodes": {npoint.name: node_ip},
    }
    write_walk(folder, [cpoint, npoint, spoint], inventory, rng)
    iface_in = names[in_if] if node_fmt in ("sll2", "pcapng-multi") else None
    iface_out = names[out_if] if node_fmt in ("sll2", "pcapng-multi") else None
    client_iface = "eth0" if cpoint.fmt == "pcapng" else None
    server_iface = "eth0" if spoint.fmt == "pcapng" else None
    translations = [("DNAT", ep(service), ep(backend))]
    if snat:
        translations.append(("SNAT", ep(client), ep(snat_src)))
    return Expected(
        protocol=proto,
        client=ep(client),
        server=ep(service),
        hops=[
            (cpoint.name, ep(client), ep(service), client_iface),
            (npoint.name, ep(client), ep(service), iface_in),
            (npoint.name, ep(snat_src), ep(backend), iface_out),
            (spoint.name, ep(snat_src), ep(backend), server_iface),
        ],
        translations=translations,
    )
