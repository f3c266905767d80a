"""ipBlock parsing and the split of the IPv4 space into External ranges."""

from __future__ import annotations

import pytest

from packetwalk.netpol.ipblocks import (
    IPV4_MAX,
    IPBlockError,
    format_range,
    ip_to_int,
    parse_ipblock,
    split_space,
)


def test_cidr_minus_excepts() -> None:
    block = parse_ipblock("0.0.0.0/0", ["10.0.0.0/8", "172.21.0.0/16"])
    assert [format_range(lo, hi) for lo, hi in block.ranges] == [
        "0.0.0.0-9.255.255.255",
        "11.0.0.0-172.20.255.255",
        "172.22.0.0-255.255.255.255",
    ]
    assert block.contains_ip("8.8.8.8") and not block.contains_ip("10.1.2.3")
    assert block.covers(*block.ranges[1]) and not block.covers(0, IPV4_MAX)


def test_split_space_cuts_at_every_boundary() -> None:
    blocks = [parse_ipblock("10.0.0.0/8", []), parse_ipblock("10.1.0.0/16", [])]
    cuts = split_space(blocks)
    assert [format_range(lo, hi) for lo, hi in cuts] == [
        "0.0.0.0-9.255.255.255",
        "10.0.0.0-10.0.255.255",
        "10.1.0.0-10.1.255.255",
        "10.2.0.0-10.255.255.255",
        "11.0.0.0-255.255.255.255",
    ]
    assert split_space([]) == [(0, IPV4_MAX)]
    for block in blocks:  # each cut lies wholly inside or outside each block
        for lo, hi in cuts:
            assert block.covers(lo, hi) or not any(
                rlo <= hi and lo <= rhi for rlo, rhi in block.ranges
            )


def test_ipv6_blocks_parse_but_hold_no_ipv4_ranges() -> None:
    block = parse_ipblock("fd00::/8", ["fd00:1::/32"])
    assert block.version == 6 and block.ranges == ()
    assert block.contains_ip("fd00::1") and not block.contains_ip("fd00:1::1")
    assert ip_to_int("fd00::1") is None and ip_to_int("0.0.1.0") == 256


@pytest.mark.parametrize(
    ("cidr", "excepts", "words"),
    [
        ("10.0.0.0/33", [], "invalid CIDR"),
        ("10.0.0.0/8", ["11.0.0.0/16"], "not inside cidr"),
        ("10.0.0.0/8", ["10.0.0.0/8"], "strictly smaller"),
        ("10.0.0.0/8", ["fd00::/8"], "not inside cidr"),
        (None, [], "cidr must be"),
    ],
)
def test_invalid_blocks(cidr: object, excepts: list[object], words: str) -> None:
    with pytest.raises(IPBlockError, match=words):
        parse_ipblock(cidr, excepts)
