"""Turn ordered sightings into flows, and link a proxy's inbound and outbound connections.

A proxy such as Traefik terminates the client's connection and opens a *new* one to the backend
pod: there is no packet in common, so correlation keeps them apart. They are linked here when the
second connection starts from the address where the first one ended, while the first one was
still open, preferring the timestamps of a point that saw both (one clock).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from packetwalk.capture.correlate import Group, Sighting
from packetwalk.capture.model import Endpoint, Flow, FlowLink, Hop, Translation
from packetwalk.capture.pcapread import TCP, UDP, ip_text
from packetwalk.capture.translate import NO_ROLES, AddressRoles, PointInfo, order_group

PROTOCOLS = {TCP: "tcp", UDP: "udp"}
DIRECTIONS = {1: "in", 2: "out"}


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
    inside A's lifetime. Among several candidates the latest-starting A wins.
    """
    links: list[FlowLink] = []
    ends = [_server_addresses(g) for g in groups]
    for b_index, b in enumerate(groups):
        b_client = b.sightings[0].client[0]
        best: tuple[int, int, str | None] | None = None  # (start, index, point)
        for a_index, a in enumerate(groups):
            if a_index == b_index or b_client not in ends[a_index]:
                continue
            window = _window(a, b, points)
            if window is None:
                continue
            a_start, a_end, b_start, point = window
            if a_start <= b_start <= a_end and (best is None or a_start > best[0]):
                best = (a_start, a_index, point)
        if best is not None:
            links.append(FlowLink(best[1], b_index, ip_text(b_client), best[2]))
    return links


def _server_addresses(group: Group) -> set[int]:
    """Addresses the request ended at: the server of the last view (after every DNAT)."""
    return {group.sightings[-1].server[0]}


def _window(
    a: Group, b: Group, points: Sequence[PointInfo]
) -> tuple[int, int, int, str | None] | None:
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
