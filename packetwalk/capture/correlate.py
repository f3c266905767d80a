"""Find the same packet at several capture points, even after NAT rewrote its addresses.

Addresses and ports are exactly what NAT changes, so a packet is recognised by what NAT keeps:
for TCP the sequence and acknowledgement numbers, the flags, the IPv4 identification (IPv6 flow
label) and the payload length and digest; for UDP the identification and payload. Ports are never
part of the key.

Per capture, packets are first grouped into *sightings*: one conversation (both directions) on one
interface of one point. Every packet key remembers the first sighting that carried it; when another
sighting carries the same key, the two are the same connection seen at two places, and a few such
:class:`Match` records are kept because they carry the best ordering evidence there is: the same
packet's timestamps and capture directions at both places.

The hot loop of :meth:`Correlator.add` runs once per packet, so it works on plain tuples, ints and
dicts and packs the per-key memory into one int.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from packetwalk.capture.pcapread import TCP, Row

_SYN_ONLY = 0x02
_SYN_ACK_MASK = 0x12
_MATCHES_PER_PAIR = 4
_OBS_BITS = 29

_Link = tuple[int, int, int, int, int, int, int, int, int]


@dataclass(frozen=True)
class Sighting:
    """One connection as one interface of one capture point saw it, oriented client -> server."""

    id: int
    capture: int  # index of the capture (point) in the order they were added
    ifkey: int | str | None
    proto: int
    client: tuple[int, int]  # (address as in pcapread rows, port)
    server: tuple[int, int]
    first_ts: int  # microseconds
    last_ts: int
    packets: int
    request_seen: bool
    reply_seen: bool
    request_capdir: int  # 0 unknown, 1 in, 2 out (of the first request packet)
    reply_capdir: int

    @property
    def view(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """The addresses of this sighting: sightings with the same view saw no NAT between them."""
        return self.client, self.server


@dataclass(frozen=True)
class Match:
    """The same packet seen in two sightings (``first`` saw it first in file order)."""

    key: int
    first: int
    first_ts: int
    first_capdir: int
    second: int
    second_ts: int
    second_capdir: int
    request: bool  # the packet went client -> server


@dataclass(frozen=True)
class Group:
    """Every sighting of one connection, and the packets that tie them together."""

    sightings: tuple[Sighting, ...]
    matches: tuple[Match, ...]


class _Obs:
    """Mutable per-sighting counters while packets stream in."""

    __slots__ = (
        "a",
        "b",
        "capdir_ab",
        "capdir_ba",
        "capture",
        "count",
        "first",
        "first_ab",
        "id",
        "ifkey",
        "last",
        "linked",
        "mask",
        "proto",
        "syn",
    )

    def __init__(self, oid: int, capture: int, key: tuple[Any, ...], ts: int, fwd: int) -> None:
        self.id = oid
        self.capture = capture
        ifkey, proto, a, ap, b, bp = key
        self.ifkey: int | str | None = ifkey
        self.proto: int = proto
        self.a: tuple[int, int] = (a, ap)
        self.b: tuple[int, int] = (b, bp)
        self.first = ts
        self.last = ts
        self.count = 0
        self.mask = 0  # bit 1: a->b seen, bit 2: b->a seen
        self.syn = 0  # 1: a sent the SYN, 2: b did
        self.first_ab = fwd
        self.capdir_ab = -1
        self.capdir_ba = -1
        self.linked: dict[int, int] = {}  # earlier sighting id -> matches recorded with it


class Correlator:
    """Feed every capture's rows to :meth:`add`, then take the connections from :meth:`groups`."""

    def __init__(self) -> None:
        self._obs: list[_Obs] = []
        self._keys: dict[int, int] = {}
        # (key, first, ts1, capdir1, fwd1, second, ts2, capdir2, fwd2), a few per sighting pair
        self._links: list[_Link] = []

    def add(self, capture: int, rows: Iterable[Row]) -> int:
        """Aggregate one capture's packets; returns how many TCP/UDP packets it had."""
        conv: dict[tuple[Any, ...], _Obs] = {}
        keys = self._keys
        observations = self._obs
        links = self._links
        count = 0
        obs_mask = (1 << _OBS_BITS) - 1
        for row in rows:
            ts, ifk, capdir, proto, src, sport, dst, dport, seq, ack, flags, ipid, plen, dig = row
            count += 1
            if src < dst or (src == dst and sport < dport):
                ckey: tuple[Any, ...] = (ifk, proto, src, sport, dst, dport)
                fwd = 1
            else:
                ckey = (ifk, proto, dst, dport, src, sport)
                fwd = 0
            obs = conv.get(ckey)
            if obs is None:
                obs = _Obs(len(observations), capture, ckey, ts, fwd)
                observations.append(obs)
                conv[ckey] = obs
            obs.count += 1
            obs.last = ts
            if fwd:
                if not obs.mask & 1:
                    obs.mask |= 1
                    obs.capdir_ab = capdir
            elif not obs.mask & 2:
                obs.mask |= 2
                obs.capdir_ba = capdir
            if proto == TCP and flags & _SYN_ACK_MASK == _SYN_ONLY and not obs.syn:
                obs.syn = 1 if fwd else 2
            key = hash((proto, seq, ack, flags, ipid, plen, dig))
            seen = keys.get(key)
            if seen is None:
                keys[key] = (ts << 32) | (obs.id << 3) | (capdir << 1) | fwd
            else:
                first = (seen >> 3) & obs_mask
                if first != obs.id:
                    recorded = obs.linked.get(first, 0)
                    if recorded < _MATCHES_PER_PAIR:
                        obs.linked[first] = recorded + 1
                        links.append(
                            (
                                key,
                                first,
                                seen >> 32,
                                (seen >> 1) & 3,
                                seen & 1,
                                obs.id,
                                ts,
                                capdir,
                                fwd,
                            )
                        )
        return count

    def groups(self) -> list[Group]:
        """Connections (sets of linked sightings), each with its sightings oriented."""
        parent = list(range(len(self._obs)))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for link in self._links:
            ra, rb = find(link[1]), find(link[5])
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        members: dict[int, list[int]] = {}
        for obs in self._obs:
            members.setdefault(find(obs.id), []).append(obs.id)
        by_root: dict[int, list[_Link]] = {}
        for link in self._links:
            by_root.setdefault(find(link[1]), []).append(link)
        result = []
        for root, ids in members.items():
            links = by_root.get(root, [])
            a_is_client = self._orient(ids, links)
            sightings = tuple(self._sighting(self._obs[i], a_is_client[i]) for i in ids)
            matches = tuple(
                Match(
                    key,
                    first,
                    ts1,
                    cd1,
                    second,
                    ts2,
                    cd2,
                    request=(fwd1 == 1) == a_is_client[first],
                )
                for key, first, ts1, cd1, fwd1, second, ts2, cd2, _fwd2 in links
            )
            result.append(Group(sightings, matches))
        result.sort(key=lambda g: min(s.first_ts for s in g.sightings))
        return result

    def _orient(self, ids: list[int], links: list[_Link]) -> dict[int, bool]:
        """Whether side ``a`` of each sighting is the client, agreed across the whole group.

        The SYN sender is the client; sightings without a SYN inherit the answer through the
        packets they share with one that has it (a packet's direction survives NAT). Without any
        SYN (capture started mid-connection) the lower port is taken to be the server's.
        """
        edges: dict[int, list[tuple[int, bool]]] = {i: [] for i in ids}
        for _key, first, _ts1, _cd1, fwd1, second, _ts2, _cd2, fwd2 in links:
            flip = fwd1 != fwd2
            edges[first].append((second, flip))
            edges[second].append((first, flip))
        orient: dict[int, bool] = {}
        seeds = [i for i in ids if self._obs[i].syn] or [min(ids, key=lambda i: self._obs[i].first)]
        for seed in seeds:
            if seed in orient:
                continue
            obs = self._obs[seed]
            if obs.syn:
                orient[seed] = obs.syn == 1
            elif obs.a[1] != obs.b[1]:
                orient[seed] = obs.a[1] > obs.b[1]
            else:
                orient[seed] = bool(obs.first_ab)
            stack = [seed]
            while stack:
                current = stack.pop()
                for other, flip in edges[current]:
                    if other not in orient:
                        orient[other] = orient[current] != flip
                        stack.append(other)
        return orient

    @staticmethod
    def _sighting(obs: _Obs, a_is_client: bool) -> Sighting:
        client, server = (obs.a, obs.b) if a_is_client else (obs.b, obs.a)
        req_bit, rep_bit = (1, 2) if a_is_client else (2, 1)
        req_dir, rep_dir = (
            (obs.capdir_ab, obs.capdir_ba) if a_is_client else (obs.capdir_ba, obs.capdir_ab)
        )
        return Sighting(
            id=obs.id,
            capture=obs.capture,
            ifkey=obs.ifkey,
            proto=obs.proto,
            client=client,
            server=server,
            first_ts=obs.first,
            last_ts=obs.last,
            packets=obs.count,
            request_seen=bool(obs.mask & req_bit),
            reply_seen=bool(obs.mask & rep_bit),
            request_capdir=max(req_dir, 0),
            reply_capdir=max(rep_dir, 0),
        )
