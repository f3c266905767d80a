"""Finding one connection at several points: keyed on what NAT keeps, never on ports."""

from __future__ import annotations

import random
from collections.abc import Sequence

from packetwalk.capture.correlate import Correlator
from packetwalk.capture.pcapread import TCP, UDP, Row, ip_value

SYN, SYNACK, ACK, PSH = 0x02, 0x12, 0x10, 0x18

Endpoint = tuple[str, int]  # (address, port)


def row(
    ts: int,
    src: str,
    sport: int,
    dst: str,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    ipid: int,
    plen: int = 0,
    digest: int = 0,
    proto: int = TCP,
    ifkey: int | str | None = None,
    capdir: int = 0,
) -> Row:
    return (
        ts,
        ifkey,
        capdir,
        proto,
        ip_value(src),
        sport,
        ip_value(dst),
        dport,
        seq,
        ack,
        flags,
        ipid,
        plen,
        digest,
    )


def handshake(
    rng: random.Random, client: Endpoint, server: Endpoint, t0: int = 1_000_000
) -> list[Row]:
    cseq, sseq, cid, sid = (rng.getrandbits(32) for _ in range(4))
    (cip, cport), (sip, sport) = client, server
    return [
        row(t0, cip, cport, sip, sport, cseq, 0, SYN, cid & 0xFFFF),
        row(t0 + 10, sip, sport, cip, cport, sseq, cseq + 1, SYNACK, sid & 0xFFFF),
        row(t0 + 20, cip, cport, sip, sport, cseq + 1, sseq + 1, ACK, (cid + 1) & 0xFFFF),
        row(t0 + 30, cip, cport, sip, sport, cseq + 1, sseq + 1, PSH, (cid + 2) & 0xFFFF, 100, 7),
    ]


def nat(rows: Sequence[Row], client: Endpoint, server: Endpoint) -> list[Row]:
    """The same packets with other addresses and ports (DNAT + SNAT with a port change)."""
    out: list[Row] = []
    for r in rows:
        request = r[5] == rows[0][5] and r[4] == rows[0][4]
        (a, ap), (b, bp) = (client, server) if request else (server, client)
        out.append((r[0] + 5, *r[1:4], ip_value(a), ap, ip_value(b), bp, *r[8:]))
    return out


def test_nat_with_port_changes_still_links_the_connection() -> None:
    rng = random.Random()
    pre = handshake(rng, ("10.0.0.1", 40000), ("10.96.0.1", 80))
    post = nat(pre, ("172.18.0.2", 61000), ("10.244.2.2", 8080))
    c = Correlator()
    c.add(0, pre)
    c.add(1, post)
    (group,) = c.groups()
    views = sorted((s.capture, s.client, s.server) for s in group.sightings)
    assert views == [
        (0, (ip_value("10.0.0.1"), 40000), (ip_value("10.96.0.1"), 80)),
        (1, (ip_value("172.18.0.2"), 61000), (ip_value("10.244.2.2"), 8080)),
    ]
    assert all(s.request_seen and s.reply_seen for s in group.sightings)
    assert {m.request for m in group.matches} == {True, False}


def test_same_ports_different_connections_stay_apart() -> None:
    rng = random.Random()
    a = handshake(rng, ("10.0.0.1", 40000), ("10.0.0.2", 80))
    b = handshake(rng, ("10.0.0.1", 40000), ("10.0.0.2", 80), t0=9_000_000)  # port reuse
    c = Correlator()
    c.add(0, a)
    c.add(1, b)
    assert len(c.groups()) == 2


def test_orientation_without_syn_takes_the_lower_port_as_server() -> None:
    rng = random.Random()
    rows = handshake(rng, ("10.0.0.1", 50123), ("10.0.0.2", 443))[2:]  # capture began late
    c = Correlator()
    c.add(0, rows)
    (group,) = c.groups()
    (s,) = group.sightings
    assert s.server == (ip_value("10.0.0.2"), 443)


def test_orientation_spreads_from_the_point_that_saw_the_syn() -> None:
    rng = random.Random()
    pre = handshake(rng, ("10.0.0.1", 80), ("10.96.0.1", 5000))  # client on a low port
    post = nat(pre, ("10.0.0.1", 80), ("10.244.2.2", 5000))[2:]  # second point: no SYN
    c = Correlator()
    c.add(0, pre)
    c.add(1, post)
    (group,) = c.groups()
    assert {s.client[1] for s in group.sightings} == {80}


def test_udp_matched_by_payload_digest_with_zero_ip_id() -> None:
    q1 = row(1, "10.0.0.1", 5353, "10.96.0.10", 53, 0, 0, 0, 0, 30, 111, UDP)
    q2 = row(2, "10.0.0.1", 5354, "10.96.0.10", 53, 0, 0, 0, 0, 30, 222, UDP)
    c = Correlator()
    c.add(0, [q1, q2])
    c.add(
        1,
        nat([q1], ("10.0.0.1", 5353), ("10.244.0.5", 53))
        + nat([q2], ("10.0.0.1", 5354), ("10.244.0.5", 53)),
    )
    groups = c.groups()
    assert len(groups) == 2
    for g in groups:
        assert {s.client[1] for s in g.sightings} in ({5353}, {5354})


def test_interfaces_of_one_capture_are_separate_sightings() -> None:
    rng = random.Random()
    client = ip_value("10.0.0.1")
    # veth-a (2) receives requests and sends replies; veth-b (3) the other way round
    pre = [
        (r[0], 2, 1 if r[4] == client else 2, *r[3:])
        for r in handshake(rng, ("10.0.0.1", 40000), ("10.96.0.1", 80))
    ]
    post = [
        (r[0], 3, 2 if r[4] == client else 1, *r[3:])
        for r in nat(pre, ("10.0.0.1", 40000), ("10.244.0.9", 80))
    ]
    c = Correlator()
    c.add(0, sorted(pre + post))
    (group,) = c.groups()
    assert sorted((s.ifkey for s in group.sightings), key=str) == [2, 3]
    assert {(s.request_capdir, s.reply_capdir) for s in group.sightings} == {(1, 2), (2, 1)}
