"""Linking a proxy's inbound connection to the new connection it opens to the backend."""

from __future__ import annotations

from packetwalk.capture.correlate import Group, Sighting
from packetwalk.capture.flows import interface_name, link_proxies
from packetwalk.capture.pcapread import TCP, ip_value
from packetwalk.capture.translate import PointInfo

USER = (ip_value("10.244.1.10"), 40000)
VIP = (ip_value("10.96.0.20"), 80)
PROXY = (ip_value("10.244.3.30"), 8000)
PROXY_OUT = (ip_value("10.244.3.30"), 51000)
BACKEND = (ip_value("10.244.2.20"), 8080)
POINTS = [PointInfo("client", "pod"), PointInfo("traefik", "pod"), PointInfo("backend", "pod")]


def flow(
    sid: int,
    captures: list[int],
    client: tuple[int, int],
    server: tuple[int, int],
    start: int,
    end: int,
) -> Group:
    return Group(
        tuple(
            Sighting(sid * 10 + i, c, None, TCP, client, server, start, end, 4, True, True, 0, 0)
            for i, c in enumerate(captures)
        ),
        (),
    )


def test_outbound_inside_inbound_lifetime_is_linked_at_the_common_point() -> None:
    inbound = flow(1, [0, 1], USER, PROXY, 100, 900)
    outbound = flow(2, [1, 2], PROXY_OUT, BACKEND, 300, 700)
    (link,) = link_proxies([inbound, outbound], POINTS)
    assert (link.inbound, link.outbound, link.proxy, link.point) == (0, 1, "10.244.3.30", "traefik")


def test_no_link_when_the_outbound_starts_after_the_inbound_closed() -> None:
    inbound = flow(1, [0, 1], USER, PROXY, 100, 200)
    outbound = flow(2, [1, 2], PROXY_OUT, BACKEND, 300, 700)
    assert link_proxies([inbound, outbound], POINTS) == []


def test_no_link_from_an_unrelated_client() -> None:
    inbound = flow(1, [0], USER, VIP, 100, 900)  # ends at the VIP, not at the proxy pod
    outbound = flow(2, [1, 2], PROXY_OUT, BACKEND, 300, 700)
    assert link_proxies([inbound, outbound], POINTS) == []


def test_latest_inbound_wins() -> None:
    older = flow(1, [1], USER, PROXY, 100, 900)
    newer = flow(2, [1], (USER[0], 40001), PROXY, 250, 950)
    outbound = flow(3, [1], PROXY_OUT, BACKEND, 300, 400)
    (link,) = link_proxies([older, newer, outbound], POINTS)
    assert link.inbound == 1


def test_interface_names() -> None:
    assert interface_name(3, {3: "veth-b"}) == "veth-b"
    assert interface_name(4, {}) == "ifindex 4"
    assert interface_name("eth0", {}) == "eth0" and interface_name(None, {}) is None


def test_busy_proxy_links_each_outbound_to_its_own_inbound() -> None:
    groups = []
    for i in range(3000):  # sequential requests through one proxy, 1 ms apart
        start = 1_000_000 + i * 1000
        groups.append(flow(2 * i, [0, 1], (USER[0], 20000 + i), PROXY, start, start + 800))
        groups.append(
            flow(2 * i + 1, [1, 2], (PROXY[0], 40000 + i), BACKEND, start + 100, start + 600)
        )
    links = link_proxies(groups, POINTS)
    assert [(link.inbound, link.outbound) for link in links] == [
        (2 * i, 2 * i + 1) for i in range(3000)
    ]
