"""conntrack -L text: original and reply tuples, replied or not, other lines skipped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from packetwalk.mapper.conntrack import parse_conntrack, parse_line

ESTABLISHED = (
    "tcp      6 431999 ESTABLISHED src=10.244.1.10 dst=10.96.0.21 sport=40002 dport=9000 "
    "src=10.244.2.20 dst=10.244.1.10 sport=9090 dport=40002 [ASSURED] mark=0 use=1"
)
UNREPLIED_UDP = (
    "ipv4     2 udp      17 29 src=10.0.0.1 dst=10.96.0.30 sport=5000 dport=5000 [UNREPLIED] "
    "src=10.244.2.20 dst=10.0.0.1 sport=5353 dport=5000 mark=0 use=1"
)


def test_original_direction_is_the_client_and_reply_source_the_backend() -> None:
    entry = parse_line(ESTABLISHED)
    assert entry is not None
    assert (entry.protocol, entry.src, entry.sport, entry.dst, entry.dport) == (
        "TCP",
        "10.244.1.10",
        40002,
        "10.96.0.21",
        9000,
    )
    assert (entry.reply_src, entry.reply_sport) == ("10.244.2.20", 9090)
    assert entry.replied and entry.state == "ESTABLISHED"


def test_extended_format_and_unreplied() -> None:
    entry = parse_line(UNREPLIED_UDP)
    assert entry is not None
    assert entry.protocol == "UDP" and not entry.replied
    assert entry.dst == "10.96.0.30"


def test_summary_icmp_and_garbage_lines_are_skipped() -> None:
    text = "\n".join(
        [
            ESTABLISHED,
            "icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=1 src=10.0.0.2 "
            "dst=10.0.0.1 type=0 code=0 id=1 mark=0 use=1",
            "conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.",
            "tcp 6 10 SYN_SENT src=1.2.3.4 dst=5.6.7.8 sport=x dport=1",
            "",
        ]
    )
    assert [e.src for e in parse_conntrack(text)] == ["10.244.1.10"]


@given(st.text())
def test_any_text_parses_without_a_traceback(text: str) -> None:
    for entry in parse_conntrack(text):
        assert entry.protocol in ("TCP", "UDP", "SCTP")
