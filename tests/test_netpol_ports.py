"""Port sets and connection sets: canonical form, algebra, netpol-analyzer text."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from packetwalk.netpol.ports import (
    ALL,
    ALL_PORTS,
    NONE,
    ConnSet,
    difference,
    format_ports,
    intersection,
    port_set,
    single,
    union,
)

intervals = st.lists(
    st.tuples(st.integers(1, 200), st.integers(1, 200)).map(lambda t: (min(t), max(t))), max_size=6
)


def members(ports: tuple[tuple[int, int], ...]) -> set[int]:
    return {p for lo, hi in ports for p in range(lo, hi + 1)}


@given(intervals, intervals)
def test_port_set_algebra_matches_python_sets(
    a: list[tuple[int, int]], b: list[tuple[int, int]]
) -> None:
    pa, pb = port_set(a), port_set(b)
    assert members(union(pa, pb)) == members(pa) | members(pb)
    assert members(intersection(pa, pb)) == members(pa) & members(pb)
    assert members(difference(pa, pb)) == members(pa) - members(pb)
    assert port_set(pa) == pa  # canonical: merged, sorted, no neighbours
    assert all(hi + 1 < lo for (_, hi), (lo, _) in itertools.pairwise(pa))


def test_text_matches_netpol_analyzer() -> None:
    assert format_ports(((1, 52), (54, 65535))) == "1-52,54-65535"
    assert str(ALL) == "All Connections" and str(NONE) == "No Connections"
    conn = single("UDP", 9090) | ConnSet.of("TCP", ((8080, 8081),)) | single("SCTP", 7070)
    assert str(conn) == "SCTP 7070,TCP 8080-8081,UDP 9090"
    assert str(single("TCP", 53) | single("TCP", 54)) == "TCP 53-54"


def test_full_ranges_on_all_three_protocols_are_all_connections() -> None:
    every = ConnSet.of("TCP", ALL_PORTS) | ConnSet.of("UDP", ALL_PORTS)
    assert not every.is_all and str(every) == "TCP 1-65535,UDP 1-65535"
    assert (every | ConnSet.of("SCTP", ALL_PORTS)) is ALL
    assert (ALL & single("TCP", 80)) == single("TCP", 80)
    assert (ALL - single("TCP", 80)).allows("TCP", 81)
    assert not (ALL - single("TCP", 80)).allows("TCP", 80)
    assert single("TCP", 80) <= ALL and not single("TCP", 80) >= ALL
