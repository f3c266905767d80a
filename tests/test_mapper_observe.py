"""Who is the client: SYN copies grouped on their sequence number, SYN-ACK as the reply, UDP
answers seen first, and conntrack's original direction when no packet was captured."""

from __future__ import annotations

from packetwalk.capture.pcapread import TCP, UDP, Row, ip_value
from packetwalk.mapper.conntrack import parse_line
from packetwalk.mapper.observe import ACK, SYN, connections_from_rows, merge_conntrack


def row(
    ts: int, proto: int, src: str, sport: int, dst: str, dport: int, seq: int = 0, ack: int = 0,
    flags: int = 0,
) -> Row:  # fmt: skip
    return (
        ts,
        None,
        0,
        proto,
        ip_value(src),
        sport,
        ip_value(dst),
        dport,
        seq,
        ack,
        flags,
        0,
        0,
        0,
    )


def test_syn_copies_before_and_after_dnat_are_one_connection_and_the_syn_ack_its_reply() -> None:
    rows = [
        row(2, TCP, "10.244.1.10", 40000, "10.244.2.20", 8080, seq=7, flags=SYN),  # after DNAT
        row(1, TCP, "10.244.1.10", 40000, "10.96.0.20", 80, seq=7, flags=SYN),  # client's veth
        row(3, TCP, "10.244.2.20", 8080, "10.244.1.10", 40000, seq=99, ack=8, flags=SYN | ACK),
    ]
    (conn,) = connections_from_rows(rows)
    assert (conn.client, conn.client_port) == ("10.244.1.10", 40000)
    assert conn.destinations == [("10.96.0.20", 80), ("10.244.2.20", 8080)]
    assert conn.replied and conn.packets == 2


def test_a_syn_without_syn_ack_is_not_replied_and_a_syn_ack_alone_makes_no_client() -> None:
    rows = [
        row(1, TCP, "10.0.0.1", 1000, "10.0.0.2", 7777, seq=5, flags=SYN),
        row(2, TCP, "10.0.0.9", 80, "10.0.0.8", 5555, seq=1, ack=42, flags=SYN | ACK),
    ]
    (conn,) = connections_from_rows(rows)
    assert conn.client == "10.0.0.1" and not conn.replied


def test_udp_first_sender_is_the_client_unless_the_first_packet_is_an_answer() -> None:
    rows = [
        row(1, UDP, "10.244.3.53", 53, "10.244.1.10", 38000),  # an answer seen first
        row(2, UDP, "10.96.0.10", 53, "10.244.1.10", 38000),  # the same, reverse-NATed
        row(3, UDP, "10.244.1.10", 5000, "10.244.2.20", 5353),
    ]
    dns, other = connections_from_rows(rows)
    assert (dns.client, dns.destinations, dns.replied) == (
        "10.244.1.10",
        [("10.244.3.53", 53), ("10.96.0.10", 53)],
        True,
    )
    assert other.client == "10.244.1.10" and not other.replied


def test_conntrack_adds_what_the_capture_missed_and_marks_replies() -> None:
    rows = [row(1_000_000, TCP, "10.244.1.10", 40000, "10.96.0.20", 80, seq=7, flags=SYN)]
    seen = parse_line(
        "tcp 6 10 TIME_WAIT src=10.244.1.10 dst=10.96.0.20 sport=40000 dport=80 "
        "src=10.244.2.20 dst=10.244.1.10 sport=8080 dport=40000 [ASSURED]"
    )
    unseen = parse_line(
        "tcp 6 10 ESTABLISHED src=10.244.1.10 dst=10.96.0.21 sport=40002 dport=9000 "
        "src=10.244.2.20 dst=10.244.1.10 sport=9090 dport=40002 [ASSURED]"
    )
    assert seen is not None and unseen is not None
    merged = merge_conntrack(connections_from_rows(rows), [(seen, 5.0), (unseen, 0.5)])
    first, second = merged
    assert first.replied and first.last == 5.0 and ("10.244.2.20", 8080) in first.destinations
    assert (second.source, second.first, second.server) == ("conntrack", 0.5, ("10.96.0.21", 9000))


def test_an_earlier_copy_from_another_file_becomes_the_client_side_once() -> None:
    rows = [
        row(5, TCP, "10.244.1.10", 40000, "10.244.2.20", 8080, seq=9, flags=SYN),
        row(6, TCP, "10.244.1.10", 40000, "10.96.0.20", 80, seq=9, flags=SYN),  # node, late
        row(1, TCP, "10.244.1.10", 40000, "10.96.0.20", 80, seq=9, flags=SYN),  # client, early
    ]
    (conn,) = connections_from_rows(rows)
    assert conn.destinations == [("10.96.0.20", 80), ("10.244.2.20", 8080)]
    assert conn.first == 1e-6 and conn.last == 6e-6
