"""Turn ordered sightings into flows, and link a proxy's inbound and outbound connections.

A proxy such as Traefik terminates the client's connection and opens a *new* one to the backend
pod: there is no packet in common, so correlation keeps them apart. They are linked here when the
second connection starts from the address where the first one ended, while the first one was
still open, preferring the timestamps of a point that saw both (one clock).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Mapping, Sequence

from packetwalk.capture.correlate import Group, Sighting
from packetwalk.capture.model import Endpoint, Flow, FlowLink, Hop, Translation
from packetwalk.capture.pcapread import TCP, UDP, ip_text
from packetwalk.capture.translate import NO_ROLES, AddressRoles, PointInfo, order_group

PROTOCOLS = {TCP: "tcp", UDP: "udp"}
DIRECTIONS = {1: "in", 2: "out"}
_CLOCK_SLACK_US = 1_000_000  # inbound and outbound may be timed by clocks this far apart
_MAX_CANDIDATES = 256


def endpoint(raw: tuple[int, int]) -> Endpoint:
    return Endpoint(ip_text(raw[0]), raw[1])


def interface_name(ifkey: int | str | None, names: Mapping[int, str]) -> str | None:
    if isinstance(ifkey, int):
        return names.get(ifkey, f"ifindex {ifkey}")
    return ifkey


def build_flows(
    groups: Sequence[Group],
    points: Sequence[PointInfo],
    interface_maps: Sequence[Mapping[int, str]],
    roles: AddressRoles = NO_ROLES,
) -> tuple[list[Flow], list[FlowLink]]:
    """Flows in order of their first packet, and the proxy links between them."""
    built: list[tuple[Flow, Group]] = []
    for group in groups:
        ordered = order_group(group, points, roles)
        hops = tuple(
            Hop(
                point=points[s.capture].name,
                kind=points[s.capture].kind,
                src=endpoint(s.client),
                dst=endpoint(s.server),
                interface=interface_name(s.ifkey, interface_maps[s.capture]),
                direction=DIRECTIONS.get(s.request_capdir),
                time=s.first_ts / 1e6,
                packets=s.packets,
                reply_seen=s.reply_seen,
            )
            for s in ordered.sightings
        )
        translations = tuple(
            Translation(
                kind="DNAT" if t.kind == "DNAT" else "SNAT",
                point=t.point,
                before=endpoint(t.before),
                after=endpoint(t.after),
                reversed=t.reversed,
            )
            for t in ordered.translations
        )
        first = ordered.sightings[0]
        flow = Flow(
            protocol=PROTOCOLS.get(first.proto, str(first.proto)),
            client=endpoint(first.client),
            server=endpoint(first.server),
            hops=hops,
            translations=translations,
            reply_seen=first.reply_seen,
            ordered_by=ordered.ordered_by,
        )
        built.append((flow, Group(ordered.sightings, group.matches)))
    built.sort(key=lambda pair: (pair[0].start, str(pair[0].client)))
    links = link_proxies([g for _f, g in built], points)
    return [f for f, _g in built], links


def link_proxies(groups: Sequence[Group], points: Sequence[PointInfo]) -> list[FlowLink]:
    """Link each connection to the one its client was serving when it opened it.

    ``groups`` hold ordered sightings (request order). A connection B is opened by a proxy for A
    when B's client address is A's last server address (the proxy), and B's first packet falls
    inside A's lifetime (A's server address is the one after every DNAT: its last view). Among
    several candidates the one that started last before B wins.
    """
    links: list[FlowLink] = []
    # candidates per proxy address, by start time: a busy proxy has thousands of connections,
    # and only those that started shortly before B can contain its start
    ending_at: dict[int, list[tuple[int, int]]] = {}
    for index, group in enumerate(groups):
        start = min(s.first_ts for s in group.sightings)
        ending_at.setdefault(group.sightings[-1].server[0], []).append((start, index))
    for candidates in ending_at.values():
        candidates.sort()
    for b_index, b in enumerate(groups):
        b_client = b.sightings[0].client[0]
        candidates = ending_at.get(b_client, [])
        b_first = min(s.first_ts for s in b.sightings)
        split = bisect.bisect_right(candidates, (b_first, len(groups)))
        late = bisect.bisect_right(candidates, (b_first + _CLOCK_SLACK_US, len(groups)))
        # the nearest earlier start that still contains B's start wins; starts a little after
        # B's (timed by another clock) only when no earlier one fits
        earlier = reversed(candidates[max(0, split - _MAX_CANDIDATES) : split])
        later = candidates[split : min(late, split + _MAX_CANDIDATES)]
        best: tuple[int, str | None] | None = None  # (index, point)
        for _start, a_index in itertools.chain(earlier, later):
            if a_index == b_index:
                continue
            a_start, a_end, b_start, point = _window(groups[a_index], b, points)
            if a_start <= b_start <= a_end:
                best = (a_index, point)
                break
        if best is not None:
            links.append(FlowLink(best[0], b_index, ip_text(b_client), best[1]))
    return links


def _window(a: Group, b: Group, points: Sequence[PointInfo]) -> tuple[int, int, int, str | None]:
    """(a start, a end, b start) on one clock: a point that saw both, else all points."""
    a_by_capture: dict[int, list[Sighting]] = {}
    for s in a.sightings:
        a_by_capture.setdefault(s.capture, []).append(s)
    for s in b.sightings:
        same = a_by_capture.get(s.capture)
        if same:
            return (
                min(x.first_ts for x in same),
                max(x.last_ts for x in same),
                s.first_ts,
                points[s.capture].name,
            )
    return (
        min(x.first_ts for x in a.sightings),
        max(x.last_ts for x in a.sightings),
        min(x.first_ts for x in b.sightings),
        None,
    )
