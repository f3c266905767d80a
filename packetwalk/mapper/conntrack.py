"""``conntrack -L`` output, parsed: each entry's original and reply tuples and whether it was
answered.

A line (conntrack-tools 1.4, default and ``-o extended`` formats)::

    tcp 6 431999 ESTABLISHED src=10.244.1.5 dst=10.96.0.20 sport=40000 dport=80 \
        src=10.244.2.7 dst=10.244.1.5 sport=8080 dport=40000 [ASSURED] mark=0 use=1
    ipv4 2 udp 17 29 src=... dst=... sport=... dport=... [UNREPLIED] src=... ...

The first ``src=`` group is the original direction (who sent first: the client); the second
the reply direction as the kernel expects it, so its ``src`` is the backend after DNAT.
``[UNREPLIED]`` marks an entry whose reply was never seen. Lines that are not entries (the
``conntrack v1.4.x: N flow entries`` summary) are skipped; ICMP entries have no ports and are
skipped too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

PROTOCOLS = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP"}


@dataclass(frozen=True)
class ConntrackEntry:
    protocol: str
    src: str
    dst: str
    sport: int
    dport: int
    reply_src: str
    reply_dst: str
    reply_sport: int
    reply_dport: int
    replied: bool
    state: str = ""


def _tuples(tokens: list[str]) -> list[dict[str, str]]:
    groups: list[dict[str, str]] = []
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep:
            continue
        if key == "src":
            groups.append({})
        if groups and key in ("src", "dst", "sport", "dport"):
            groups[-1].setdefault(key, value)
    return groups


def parse_line(line: str) -> ConntrackEntry | None:
    """One entry, or None for a line that is not a TCP/UDP/SCTP entry."""
    tokens = line.split()
    proto = next((PROTOCOLS[t] for t in tokens[:4] if t in PROTOCOLS), None)
    if proto is None:
        return None
    groups = _tuples(tokens)
    if len(groups) < 2 or any(len(g) < 4 for g in groups[:2]):
        return None
    orig, reply = groups[0], groups[1]
    state = next((t for t in tokens[:6] if t.isupper() and t.isalpha()), "")
    try:
        return ConntrackEntry(
            protocol=proto,
            src=orig["src"],
            dst=orig["dst"],
            sport=int(orig["sport"]),
            dport=int(orig["dport"]),
            reply_src=reply["src"],
            reply_dst=reply["dst"],
            reply_sport=int(reply["sport"]),
            reply_dport=int(reply["dport"]),
            replied="[UNREPLIED]" not in tokens,
            state=state,
        )
    except ValueError:
        return None


def parse_conntrack(text: str) -> Iterator[ConntrackEntry]:
    """Every TCP/UDP/SCTP entry of ``conntrack -L`` output, in order."""
    for line in text.splitlines():
        entry = parse_line(line)
        if entry is not None:
            yield entry
