"""The pcap/pcapng adapter, checked against dpkt and python-pcapng as independent readers."""

from __future__ import annotations

import ipaddress
import random
import struct
from pathlib import Path

import capturecraft as craft
import dpkt
import pcapng
import pytest

from packetwalk.capture.pcapread import (
    TCP,
    UDP,
    V6_FLAG,
    CaptureReader,
    Row,
    ip_text,
    ip_value,
    parse_ip_link,
)
from packetwalk.errors import InputError

CAPTURES = Path(__file__).parent / "data" / "captures"
ALL_FIXTURES = sorted(p for p in CAPTURES.glob("*/*.pcap*") if "damaged" not in str(p))


def rows(path: Path) -> list[Row]:
    with CaptureReader(path) as reader:
        return list(reader.rows())


def dpkt_tuples(path: Path) -> list[tuple[int, str, int, str, int, int, int]]:
    """(proto, src, sport, dst, dport, seq, ipid) of each IPv4 TCP/UDP packet, read by dpkt."""
    out = []
    with path.open("rb") as fh:
        reader = dpkt.pcap.UniversalReader(fh)
        link = reader.datalink()
        for _ts, buf in reader:
            if link == dpkt.pcap.DLT_LINUX_SLL2:
                frame = dpkt.sll2.SLL2(buf)
            elif link == dpkt.pcap.DLT_LINUX_SLL:
                frame = dpkt.sll.SLL(buf)
            else:
                frame = dpkt.ethernet.Ethernet(buf)
            ip = frame.data
            if not isinstance(ip, dpkt.ip.IP) or not isinstance(
                ip.data, dpkt.tcp.TCP | dpkt.udp.UDP
            ):
                continue
            l4 = ip.data
            seq = l4.seq if isinstance(l4, dpkt.tcp.TCP) else 0
            out.append(
                (
                    ip.p,
                    ipaddress.ip_address(ip.src).exploded,
                    l4.sport,
                    ipaddress.ip_address(ip.dst).exploded,
                    l4.dport,
                    seq,
                    ip.id,
                )
            )
    return out


@pytest.mark.parametrize(
    "path",
    [p for p in ALL_FIXTURES if p.suffix == ".pcap"],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_committed_pcaps_read_like_dpkt(path: Path) -> None:
    ours = [(r[3], ip_text(r[4]), r[5], ip_text(r[6]), r[7], r[8], r[11]) for r in rows(path)]
    assert ours == dpkt_tuples(path)
    assert ours, "fixtures hold real traffic"


def test_sll2_interface_index_and_direction_match_dpkt() -> None:
    path = CAPTURES / "clusterip-iptables" / "node.pcap"
    expected = []
    with path.open("rb") as fh:
        for _ts, buf in dpkt.pcap.Reader(fh):
            frame = dpkt.sll2.SLL2(buf)
            if isinstance(frame.data, dpkt.ip.IP):
                expected.append((frame.intindex, 2 if frame.type == 4 else 1))
    assert [(r[1], r[2]) for r in rows(path)] == expected
    links = parse_ip_link((path.parent / "node-links.txt").read_text())
    assert {links[i] for i, _d in expected} == {"veth-a", "veth-b"}


def test_sll1_has_direction_but_no_interface() -> None:
    got = rows(CAPTURES / "clusterip-sll1" / "node.pcap")
    assert {r[1] for r in got} == {None}
    assert {r[2] for r in got} == {1, 2}


def test_multi_interface_pcapng_names_match_python_pcapng() -> None:
    path = CAPTURES / "traefik-pcapng" / "node.pcapng"
    names: list[str] = []
    used: list[str] = []
    with path.open("rb") as fh:
        for block in pcapng.FileScanner(fh):
            if isinstance(block, pcapng.blocks.InterfaceDescription):
                names.append(block.options["if_name"])
            elif isinstance(block, pcapng.blocks.EnhancedPacket):
                used.append(names[block.interface_id])
    reader = CaptureReader(path)
    got = list(reader.rows())
    assert sorted(reader.interface_names.values()) == sorted(names)
    assert [r[1] for r in got] == used  # every packet (all are TCP here) keeps its interface
    assert {"veth-a", "veth-t", "veth-b"} <= set(used)


def test_crafted_formats_roundtrip_random_values(tmp_path: Path) -> None:
    rng = random.Random()
    seed = rng.getrandbits(32)
    rng.seed(seed)
    for fmt in ("eth", "eth-ns", "eth-vlan", "sll1", "sll2", "pcapng", "pcapng-multi"):
        v6 = rng.random() < 0.5
        net = "fd00::/64" if v6 else "10.0.0.0/8"
        src = (craft.random_ip(rng, net), rng.randint(1, 65535))
        dst = (craft.random_ip(rng, net), rng.randint(1, 65535))
        proto = rng.choice(["tcp", "udp"])
        exchange = craft.tcp_exchange(rng) if proto == "tcp" else craft.udp_exchange(rng)
        point = craft.Point("p", "pod", fmt)
        point.ifnames = {0: "eth0", 7: "veth-x"} if fmt != "sll2" else {7: "veth-x"}
        base = 1_600_000_000 + rng.randint(0, 10**8)
        for p in exchange:
            a, b = (src, dst) if p.request else (dst, src)
            point.see(
                base + p.offset_us / 1e6,
                craft.ip_packet(p, a, b, proto),
                7 if fmt in ("sll2",) else (1 if fmt == "pcapng-multi" else 0),
                p.request,
                v6,
            )
        entry = point.write(tmp_path)
        got = rows(tmp_path / str(entry["file"]))
        assert len(got) == len(exchange), (fmt, seed)
        for row, p in zip(got, exchange, strict=True):
            a, b = (src, dst) if p.request else (dst, src)
            assert row[3] == (TCP if proto == "tcp" else UDP)
            assert (ip_text(row[4]), row[5], ip_text(row[6]), row[7]) == (
                str(ipaddress.ip_address(a[0])),
                a[1],
                str(ipaddress.ip_address(b[0])),
                b[1],
            ), (fmt, seed)
            assert row[0] == round((base + p.offset_us / 1e6) * 1e6) or (
                fmt == "eth-ns" and abs(row[0] - (base + p.offset_us / 1e6) * 1e6) < 2
            )
            assert row[11] == p.ipid and row[12] == len(p.payload), (fmt, seed)
            if proto == "tcp":
                assert (row[8], row[9], row[10]) == (p.seq, p.ack, p.flags), (fmt, seed)
            if fmt == "sll2":
                assert row[1] == 7 and row[2] == (2 if p.request else 1)
            if fmt == "pcapng-multi":
                assert row[1] == "veth-x" and row[2] == (2 if p.request else 1)


def test_ip_text_and_value_are_inverse() -> None:
    for text in ("10.244.1.10", "0.0.0.0", "255.255.255.255", "fd00::1", "::ffff:1.2.3.4"):
        value = ip_value(text)
        assert ip_text(value) == str(ipaddress.ip_address(text))
        assert bool(value & V6_FLAG) == (":" in text)


def test_truncated_capture_keeps_packets_before_the_cut(tmp_path: Path) -> None:
    source = CAPTURES / "clusterip-iptables" / "pod-a.pcap"
    whole = rows(source)
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(source.read_bytes()[:-10])
    reader = CaptureReader(cut)
    got = list(reader.rows())
    assert got == whole[:-1]
    assert reader.problem is not None and "truncated" in reader.problem
    assert f"kept the {len(whole) - 1} packets" in reader.problem


def test_truncated_pcapng_block(tmp_path: Path) -> None:
    source = CAPTURES / "traefik-pcapng" / "node.pcapng"
    data = source.read_bytes()
    off, last_packet = 0, 0
    while off < len(data):  # dumpcap ends with statistics blocks: cut inside the last packet
        kind, length = struct.unpack_from("<II", data, off)
        if kind == 6:
            last_packet = off
        off += length
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(data[: last_packet + 30])
    reader = CaptureReader(cut)
    got = list(reader.rows())
    assert len(got) == len(rows(source)) - 1
    assert reader.problem and "truncated block" in reader.problem


def test_corrupt_record_header_stops_with_a_problem(tmp_path: Path) -> None:
    data = bytearray((CAPTURES / "clusterip-iptables" / "pod-a.pcap").read_bytes())
    first_len = struct.unpack_from("<I", data, 24 + 8)[0]
    second = 24 + 16 + first_len
    struct.pack_into("<I", data, second + 8, 0x7FFFFFFF)  # absurd captured length
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(bytes(data))
    reader = CaptureReader(bad)
    assert len(list(reader.rows())) == 1
    assert (
        reader.problem
        and "corrupt record header" in reader.problem
        and f"byte {second}" in (reader.problem)
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        (b"", "empty"),
        (b"GET / HTTP/1.1\r\n", "not a pcap or pcapng"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "truncated pcap header"),
    ],
)
def test_unreadable_files_raise_input_error_naming_the_file(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "x.pcap"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        CaptureReader(path)
    assert info.value.source == str(path)


def test_unsupported_link_type_names_the_supported_ones(tmp_path: Path) -> None:
    path = tmp_path / "wifi.pcap"
    craft.write_pcap(path, [(1.0, b"\0" * 40)], linktype=127)  # radiotap
    with pytest.raises(InputError, match="unsupported link type 127") as info:
        CaptureReader(path)
    assert "Linux cooked v2 (SLL2)" in info.value.choices


def test_vxlan_inner_packet_is_read(tmp_path: Path) -> None:
    rng = random.Random()
    p = craft.tcp_exchange(rng)[0]
    inner = craft.ethernet(craft.ip_packet(p, ("10.244.1.5", 40000), ("10.244.2.7", 80), "tcp"))
    vxlan = struct.pack("!BxxxI", 0x08, 1 << 8) + inner
    outer_l4 = dpkt.udp.UDP(sport=51000, dport=8472, data=vxlan)
    outer_l4.ulen = 8 + len(vxlan)
    outer = dpkt.ip.IP(src=bytes([172, 18, 0, 2]), dst=bytes([172, 18, 0, 3]), p=17, data=outer_l4)
    outer.len = 20 + len(bytes(outer_l4))
    path = tmp_path / "vxlan.pcap"
    craft.write_pcap(path, [(1.0, craft.ethernet(bytes(outer)))], linktype=1)
    (row,) = rows(path)
    assert (ip_text(row[4]), row[5], ip_text(row[6]), row[7], row[8]) == (
        "10.244.1.5",
        40000,
        "10.244.2.7",
        80,
        p.seq,
    )


def test_parse_ip_link_drops_peer_suffix() -> None:
    text = (
        "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN\\    link/loopback\n"
        "2: veth-a@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500\\    link/ether 1a:2b\n"
        "17: eth0@if18: <BROADCAST> mtu 1500\n"
        "garbage line\n"
    )
    assert parse_ip_link(text) == {1: "lo", 2: "veth-a", 17: "eth0"}


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def test_big_endian_pcap_and_pcapng(tmp_path: Path) -> None:
    """Captures written on big-endian machines: every header field swaps byte order."""
    rng = random.Random()
    p = craft.tcp_exchange(rng)[3]
    src, dst = (craft.random_ip(rng, "10.0.0.0/8"), 41000), (craft.random_ip(rng, "10.0.0.0/8"), 80)
    frame = craft.ethernet(craft.ip_packet(p, src, dst, "tcp"))
    ts_us = 1_700_000_000_123_456
    pcap = struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    pcap += struct.pack(">IIII", ts_us // 10**6, ts_us % 10**6, len(frame), len(frame)) + frame
    (tmp_path / "be.pcap").write_bytes(pcap)

    def block(kind: int, body: bytes) -> bytes:
        length = 12 + len(body)
        return struct.pack(">II", kind, length) + body + struct.pack(">I", length)

    name = _pad(b"veth-be")
    opts = struct.pack(">HH", 2, 7) + name + struct.pack(">HH", 9, 1) + _pad(b"\x09")
    ts_ns = ts_us * 1000
    pcapng_data = (
        block(0x0A0D0D0A, struct.pack(">IHHq", 0x1A2B3C4D, 1, 0, -1))
        + block(1, struct.pack(">HHI", 1, 0, 65535) + opts + struct.pack(">HH", 0, 0))
        + block(
            6,
            struct.pack(">IIIII", 0, ts_ns >> 32, ts_ns & 0xFFFFFFFF, len(frame), len(frame))
            + _pad(frame),
        )
    )
    (tmp_path / "be.pcapng").write_bytes(pcapng_data)
    for file, ifname in (("be.pcap", None), ("be.pcapng", "veth-be")):
        (row,) = rows(tmp_path / file)
        assert row[:2] == (ts_us, ifname), file
        assert (ip_text(row[4]), row[5], ip_text(row[6]), row[7], row[8], row[9]) == (
            src[0],
            src[1],
            dst[0],
            dst[1],
            p.seq,
            p.ack,
        ), file
