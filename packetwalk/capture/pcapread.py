"""Read pcap and pcapng files into flat packet rows: the adapter between files and the analysis.

Why not dpkt objects per packet: a walk capture set can hold millions of packets and the analysis
needs a dozen header fields of each. Unpacking those fields with precompiled ``struct`` formats
straight out of an ``mmap`` is several times faster than building a dpkt object tree, and yields a
plain tuple (:data:`Row`) that the pure core consumes without knowing about files.

Supported: pcap (micro and nanosecond, either byte order), pcapng (several sections, several
interfaces with their ``if_name`` and ``if_tsresol``, ``epb_flags`` direction), link types Ethernet
(with VLAN tags), Linux cooked v1 (``-i any`` with ``-y LINUX_SLL``), Linux cooked v2 (``-i any``:
interface index and direction), raw IP and BSD loopback. IPv4 and IPv6, TCP and UDP; VXLAN and
Geneve packets are read as the packet they carry.

A truncated or corrupt file keeps every packet before the damage and reports the problem in
:attr:`CaptureReader.problem`; a missing file, or one that is not a capture, raises
:class:`InputError`.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from packetwalk.errors import InputError

# (ts_us, ifkey, capdir, proto, src, sport, dst, dport, seq, ack, flags, ipid, plen, digest)
#  ifkey: SLL2 interface index (int), pcapng interface name (str) or None
#  capdir: 0 unknown, 1 received ("in"), 2 sent ("out")
#  src/dst: IPv4 as int, IPv6 as int | V6_FLAG
#  ipid: IPv4 identification, IPv6 flow label (both survive NAT)
#  digest: CRC-32 of the first bytes of the payload (0 when there is none)
Row = tuple[int, int | str | None, int, int, int, int, int, int, int, int, int, int, int, int]

V6_FLAG = 1 << 128
TCP = 6
UDP = 17
DIGEST_BYTES = 64
MAX_RECORD = 1 << 20  # larger caplen means the file is corrupt, not a jumbo frame

LINKTYPE_NAMES = {
    0: "BSD loopback",
    1: "Ethernet",
    12: "raw IP",
    14: "raw IP",
    101: "raw IP",
    113: "Linux cooked v1 (SLL)",
    228: "raw IPv4",
    229: "raw IPv6",
    276: "Linux cooked v2 (SLL2)",
}

_IP4 = struct.Struct("!BBHHHBBHII").unpack_from
_IP6 = struct.Struct("!IHBB").unpack_from
_IP6_ADDRS = struct.Struct("!QQQQ").unpack_from
_TCP = struct.Struct("!HHIIH").unpack_from
_UDP = struct.Struct("!HHH").unpack_from
_U16 = struct.Struct("!H").unpack_from
_SLL2 = struct.Struct("!HHIHB").unpack_from
_crc = zlib.crc32

_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD
_ETH_VLANS = (0x8100, 0x88A8, 0x9100)
_OUTGOING = 4  # Linux packet type PACKET_OUTGOING


def ip_text(value: int) -> str:
    """Text form of an address as the rows carry it."""
    if value & V6_FLAG:
        import ipaddress

        return str(ipaddress.IPv6Address(value & (V6_FLAG - 1)))
    return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


def _ip(
    buf: mmap.mmap, off: int, end: int, ts: int, ifk: int | str | None, capdir: int
) -> Row | None:
    """Decode IPv4/IPv6 + TCP/UDP at ``off``; None for anything else (ARP, ICMP, fragments)."""
    if off + 20 > end:
        return None
    vihl, _tos, total, ipid, frag, _ttl, proto, _sum, src, dst = _IP4(buf, off)
    version = vihl >> 4
    if version == 4:
        if frag & 0x1FFF:
            return None
        l4 = off + (vihl & 15) * 4
        size = total - (vihl & 15) * 4
    elif version == 6:
        if off + 40 > end:
            return None
        vtcfl, size, proto, _hl = _IP6(buf, off)
        s1, s2, d1, d2 = _IP6_ADDRS(buf, off + 8)
        src = (s1 << 64 | s2) | V6_FLAG
        dst = (d1 << 64 | d2) | V6_FLAG
        ipid = vtcfl & 0xFFFFF
        l4 = off + 40
    else:
        return None
    if proto == TCP:
        if l4 + 14 > end:
            return None
        sport, dport, seq, ack, offflags = _TCP(buf, l4)
        doff = (offflags >> 12) * 4
        plen = size - doff
        start = l4 + doff
        digest = (
            _crc(buf[start : min(start + DIGEST_BYTES, end)]) if plen > 0 and start < end else 0
        )
        return (
            ts,
            ifk,
            capdir,
            TCP,
            src,
            sport,
            dst,
            dport,
            seq,
            ack,
            offflags & 0x1FF,
            ipid,
            plen,
            digest,
        )
    if proto == UDP:
        if l4 + 8 > end:
            return None
        sport, dport, ulen = _UDP(buf, l4)
        start = l4 + 8
        if dport in _TUNNEL_PORTS and start + 8 + 14 <= end:
            inner = _tunnel_payload(buf, start, dport)
            if inner is not None:
                return _ethernet(buf, inner, end, ts, ifk, capdir)
        digest = _crc(buf[start : min(start + DIGEST_BYTES, end)]) if start < end else 0
        return (ts, ifk, capdir, UDP, src, sport, dst, dport, 0, 0, 0, ipid, ulen - 8, digest)
    return None


_VXLAN_PORTS = (4789, 8472)  # IANA VXLAN, Linux/Flannel VXLAN
_GENEVE_PORT = 6081
_TUNNEL_PORTS = (*_VXLAN_PORTS, _GENEVE_PORT)


def _tunnel_payload(buf: mmap.mmap, start: int, dport: int) -> int | None:
    """Offset of the inner Ethernet frame of a VXLAN or Geneve packet, so an overlay hop shows
    the pod addresses it carries (Flannel, Calico VXLAN, Cilium) rather than node-to-node UDP."""
    if dport in _VXLAN_PORTS:
        return start + 8 if buf[start] & 0x08 else None
    opt_len = (buf[start] & 0x3F) * 4
    if _U16(buf, start + 2)[0] != 0x6558:  # Geneve carrying Ethernet
        return None
    return start + 8 + opt_len


def _ethernet(
    buf: mmap.mmap, off: int, end: int, ts: int, ifk: int | str | None, capdir: int
) -> Row | None:
    if off + 14 > end:
        return None
    ethertype = _U16(buf, off + 12)[0]
    off += 14
    while ethertype in _ETH_VLANS and off + 4 <= end:
        ethertype = _U16(buf, off + 2)[0]
        off += 4
    if ethertype in (_ETH_IPV4, _ETH_IPV6):
        return _ip(buf, off, end, ts, ifk, capdir)
    return None


def _sll(
    buf: mmap.mmap, off: int, end: int, ts: int, ifk: int | str | None, capdir: int
) -> Row | None:
    if off + 16 > end:
        return None
    direction = 2 if _U16(buf, off)[0] == _OUTGOING else 1
    ethertype = _U16(buf, off + 14)[0]
    if ethertype in (_ETH_IPV4, _ETH_IPV6):
        return _ip(buf, off + 16, end, ts, ifk, direction)
    return None


def _sll2(
    buf: mmap.mmap, off: int, end: int, ts: int, ifk: int | str | None, capdir: int
) -> Row | None:
    if off + 20 > end:
        return None
    ethertype, _res, ifindex, _hatype, pkttype = _SLL2(buf, off)
    if ethertype in (_ETH_IPV4, _ETH_IPV6):
        return _ip(buf, off + 20, end, ts, ifindex, 2 if pkttype == _OUTGOING else 1)
    return None


def _null(
    buf: mmap.mmap, off: int, end: int, ts: int, ifk: int | str | None, capdir: int
) -> Row | None:
    return _ip(buf, off + 4, end, ts, ifk, capdir)


_Decoder = Callable[[mmap.mmap, int, int, int, "int | str | None", int], "Row | None"]
_DECODERS: dict[int, _Decoder] = {
    0: _null,
    1: _ethernet,
    12: _ip,
    14: _ip,
    101: _ip,
    113: _sll,
    228: _ip,
    229: _ip,
    276: _sll2,
}

_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1),  # microseconds, little endian
    b"\xa1\xb2\xc3\xd4": (">", 1),
    b"\x4d\x3c\xb2\xa1": ("<", 1000),  # nanoseconds: divide to microseconds
    b"\xa1\xb2\x3c\x4d": (">", 1000),
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"


class CaptureReader:
    """One capture file; iterate :meth:`rows` once, then read ``problem`` and the counters."""

    def __init__(self, path: Path, display: str | None = None) -> None:
        self.path = path
        self.display = display or str(path)
        self.format = ""
        self.linktypes: set[int] = set()
        self.interface_names: dict[int, str] = {}  # pcapng interface id -> if_name
        self.packets = 0  # records read (IP or not)
        self.problem: str | None = None
        try:
            with path.open("rb") as fh:
                head = fh.read(4)
                size = path.stat().st_size
                if size == 0:
                    raise InputError("the capture is empty (0 bytes)", source=self.display)
                self._mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except FileNotFoundError:
            raise InputError("capture file not found", source=self.display) from None
        except IsADirectoryError:
            raise InputError("is a directory, not a capture file", source=self.display) from None
        except PermissionError:
            raise InputError("capture file is not readable", source=self.display) from None
        if head in _PCAP_MAGIC:
            self.format = "pcap"
            if size < 24:
                self.close()
                raise InputError(
                    "truncated pcap header (file shorter than 24 bytes)", source=self.display
                )
            self.linktypes.add(self._pcap_linktype())
        elif head == _PCAPNG_SHB:
            self.format = "pcapng"
        else:
            self.close()
            raise InputError(
                f"not a pcap or pcapng file (starts with {head.hex() or 'nothing'})",
                source=self.display,
            )

    def close(self) -> None:
        if getattr(self, "_mm", None) is not None:
            self._mm.close()
            self._mm = None  # type: ignore[assignment]

    def __enter__(self) -> CaptureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pcap_linktype(self) -> int:
        endian, _ = _PCAP_MAGIC[bytes(self._mm[:4])]
        linktype = int(struct.unpack_from(endian + "I", self._mm, 20)[0]) & 0x0FFFFFFF
        if linktype not in _DECODERS:
            self.close()
            raise InputError(
                f"unsupported link type {linktype}",
                source=self.display,
                choices=sorted({v for v in LINKTYPE_NAMES.values()}),
            )
        return linktype

    def rows(self) -> Iterator[Row]:
        """Every TCP/UDP packet in file order; stops early at damage (see ``problem``)."""
        try:
            if self.format == "pcap":
                yield from self._pcap_rows()
            else:
                yield from self._pcapng_rows()
        finally:
            self.close()

    def _damaged(self, what: str, offset: int) -> None:
        self.problem = (
            f"{what} at byte {offset} of {len(self._mm)}; kept the {self.packets} packets before it"
        )

    def _pcap_rows(self) -> Iterator[Row]:
        buf = self._mm
        size = len(buf)
        endian, divisor = _PCAP_MAGIC[bytes(buf[:4])]
        linktype = next(iter(self.linktypes))
        decode = _DECODERS[linktype]
        header = struct.Struct(endian + "IIII").unpack_from
        off = 24
        count = 0
        try:
            while off + 16 <= size:
                sec, frac, caplen, _origlen = header(buf, off)
                start = off + 16
                end = start + caplen
                if caplen > MAX_RECORD:
                    self.packets = count
                    self._damaged(f"corrupt record header (captured length {caplen})", off)
                    return
                if end > size:
                    break
                count += 1
                row = decode(buf, start, end, sec * 1_000_000 + frac // divisor, None, 0)
                if row is not None:
                    yield row
                off = end
            self.packets = count
            if off < size:
                self._damaged("truncated record", off)
        finally:
            self.packets = count

    def _pcapng_rows(self) -> Iterator[Row]:
        buf = self._mm
        size = len(buf)
        off = 0
        count = 0
        endian = "<"
        u32 = struct.Struct("<I").unpack_from
        epb = struct.Struct("<IIIII").unpack_from
        # per interface of the current section: (decoder, ticks per second, ifkey)
        interfaces: list[tuple[_Decoder | None, int, str | None]] = []
        iface_base = 0  # interface ids are per section; names are kept across sections
        try:
            while off + 12 <= size:
                btype_raw = bytes(buf[off : off + 4])
                if btype_raw == _PCAPNG_SHB:
                    magic = bytes(buf[off + 8 : off + 12])
                    if magic == b"\x4d\x3c\x2b\x1a":
                        endian = "<"
                    elif magic == b"\x1a\x2b\x3c\x4d":
                        endian = ">"
                    else:
                        self._damaged("corrupt section header (bad byte-order magic)", off)
                        return
                    u32 = struct.Struct(endian + "I").unpack_from
                    epb = struct.Struct(endian + "IIIII").unpack_from
                    iface_base += len(interfaces)
                    interfaces = []
                btype = u32(buf, off)[0]
                blen = u32(buf, off + 4)[0]
                if blen < 12 or blen % 4:
                    self._damaged(f"corrupt block (length {blen})", off)
                    return
                if off + blen > size:
                    break
                if u32(buf, off + blen - 4)[0] != blen:
                    self._damaged("corrupt block (trailing length does not match)", off)
                    return
                body = off + 8
                bend = off + blen - 4
                if btype == 6:  # enhanced packet block
                    ifid, ts_hi, ts_lo, caplen, _orig = epb(buf, body)
                    start = body + 20
                    end = start + caplen
                    if end > bend or ifid >= len(interfaces):
                        self._damaged("corrupt packet block", off)
                        return
                    count += 1
                    decode, ticks, ifkey = interfaces[ifid]
                    if decode is not None:
                        ts = (ts_hi << 32 | ts_lo) * 1_000_000 // ticks
                        capdir = 0
                        opt = start + ((caplen + 3) & ~3)
                        if opt + 4 <= bend:
                            capdir = _epb_direction(buf, opt, bend, endian)
                        row = decode(buf, start, end, ts, ifkey, capdir)
                        if row is not None:
                            yield row
                elif btype == 3:  # simple packet block: interface 0, no timestamp
                    count += 1
                    if interfaces and interfaces[0][0] is not None:
                        decode = interfaces[0][0]
                        assert decode is not None
                        origlen = u32(buf, body)[0]
                        end = min(body + 4 + origlen, bend)
                        row = decode(buf, body + 4, end, 0, interfaces[0][2], 0)
                        if row is not None:
                            yield row
                elif btype == 1:  # interface description block
                    interfaces.append(
                        self._idb(buf, body, bend, endian, iface_base + len(interfaces))
                    )
                off += blen
            self.packets = count
            if off < size:
                self._damaged("truncated block", off)
        finally:
            self.packets = count

    def _idb(
        self, buf: mmap.mmap, body: int, bend: int, endian: str, global_id: int
    ) -> tuple[_Decoder | None, int, str | None]:
        linktype = struct.unpack_from(endian + "H", buf, body)[0]
        ticks = 1_000_000
        name: str | None = None
        opt = body + 8
        while opt + 4 <= bend:
            code, length = struct.unpack_from(endian + "HH", buf, opt)
            value = bytes(buf[opt + 4 : opt + 4 + length])
            if code == 0:
                break
            if code == 2:
                name = value.decode("utf-8", "replace").rstrip("\0")
            elif code == 9 and value:
                resol = value[0]
                ticks = 2 ** (resol & 0x7F) if resol & 0x80 else 10**resol
            opt += 4 + ((length + 3) & ~3)
        self.linktypes.add(linktype)
        if name:
            self.interface_names[global_id] = name
        decoder = _DECODERS.get(linktype)
        if decoder is None:
            self.problem = f"interface {global_id} has unsupported link type {linktype}: skipped"
        return decoder, ticks, name if name else f"if{global_id}"


def _epb_direction(buf: mmap.mmap, opt: int, bend: int, endian: str) -> int:
    """The inbound/outbound bits of ``epb_flags``, 0 when the block does not say."""
    while opt + 4 <= bend:
        code, length = struct.unpack_from(endian + "HH", buf, opt)
        if code == 0:
            return 0
        if code == 2 and length == 4:
            flags = struct.unpack_from(endian + "I", buf, opt + 4)[0]
            return {1: 1, 2: 2}.get(flags & 3, 0)
        opt += 4 + ((length + 3) & ~3)
    return 0


def linktype_name(linktype: int) -> str:
    return LINKTYPE_NAMES.get(linktype, f"link type {linktype}")


def parse_ip_link(text: str) -> dict[int, str]:
    """The ifindex -> name map from saved ``ip -o link`` output ("2: veth-a@if3: <...").

    ``@ifN``/``@NONE`` suffixes name the peer, not the interface, so they are dropped.
    """
    names: dict[int, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) < 3 or not parts[0].strip().isdigit():
            continue
        names[int(parts[0])] = parts[1].strip().split("@", 1)[0]
    return names


def ip_value(text: str) -> int:
    """The row form of an address given as text (the inverse of :func:`ip_text`)."""
    import ipaddress

    address = ipaddress.ip_address(text)
    return int(address) | V6_FLAG if address.version == 6 else int(address)
