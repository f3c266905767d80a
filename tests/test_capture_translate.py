"""Request order by evidence (causality > inventory > path > time) and the NAT between views."""

from __future__ import annotations

from packetwalk.capture.correlate import Group, Match, Sighting
from packetwalk.capture.pcapread import TCP, ip_value
from packetwalk.capture.translate import AddressRoles, PointInfo, _best_order, order_group

C = (ip_value("10.244.1.10"), 40000)
VIP = (ip_value("10.96.0.10"), 80)
POD = (ip_value("10.244.2.20"), 8080)
NODE = (ip_value("172.18.0.3"), 51000)


def sighting(
    sid: int,
    capture: int,
    client: tuple[int, int],
    server: tuple[int, int],
    ts: int,
    capdir: int = 0,
    ifkey: int | str | None = None,
) -> Sighting:
    return Sighting(
        sid,
        capture,
        ifkey,
        TCP,
        client,
        server,
        ts,
        ts + 100,
        5,
        True,
        True,
        capdir,
        {0: 0, 1: 2, 2: 1}[capdir],
    )


def match(
    key: int,
    a: int,
    ts_a: int,
    dir_a: int,
    b: int,
    ts_b: int,
    dir_b: int,
    request: bool = True,
) -> Match:
    return Match(key, a, ts_a, dir_a, b, ts_b, dir_b, request)


def test_in_then_out_at_one_point_beats_contradicting_timestamps() -> None:
    # the node's clock is fine, but say the post-NAT sighting was written first (ts 10 < 20)
    pre = sighting(0, 0, C, VIP, ts=20, capdir=1, ifkey=2)
    post = sighting(1, 0, C, POD, ts=10, capdir=2, ifkey=3)
    group = Group((post, pre), (match(1, 1, 10, 2, 0, 20, 1),))
    ordered = order_group(group, [PointInfo("node", "node")])
    assert [s.id for s in ordered.sightings] == [0, 1]
    assert ordered.ordered_by == "causality"
    (t,) = ordered.translations
    assert (t.kind, t.point, t.before, t.after) == ("DNAT", "node", VIP, POD)


def test_reply_packets_reverse_the_causal_evidence() -> None:
    pre = sighting(0, 0, C, VIP, ts=5, capdir=1, ifkey=2)
    post = sighting(1, 0, C, POD, ts=6, capdir=2, ifkey=3)
    # a reply: received on the post-NAT side (in), sent on the pre-NAT side (out), but
    # with timestamps claiming the opposite order
    group = Group((pre, post), (match(9, 0, 50, 2, 1, 60, 1, request=False),))
    ordered = order_group(group, [PointInfo("node", "node")])
    assert [s.id for s in ordered.sightings] == [0, 1]


def test_inventory_orders_views_without_direction_information() -> None:
    # two pod captures on different hosts, the server's clock is 1 s behind
    client_side = sighting(0, 0, C, VIP, ts=2_000_000)
    server_side = sighting(1, 1, C, POD, ts=1_000_000)
    group = Group((server_side, client_side), (match(1, 1, 1_000_000, 0, 0, 2_000_000, 0),))
    roles = AddressRoles(services=frozenset({VIP[0]}), pods=frozenset({C[0], POD[0]}))
    ordered = order_group(group, [PointInfo("client", "pod"), PointInfo("server", "pod")], roles)
    assert [s.id for s in ordered.sightings] == [0, 1]
    assert ordered.ordered_by == "inventory"
    (t,) = ordered.translations
    assert t.point == "between client and server"


def test_snat_to_a_node_address_is_after_the_original_source() -> None:
    before = sighting(0, 0, C, VIP, ts=500)
    after = sighting(1, 1, NODE, POD, ts=100)
    roles = AddressRoles(
        nodes=frozenset({NODE[0]}), services=frozenset({VIP[0]}), pods=frozenset({POD[0]})
    )
    ordered = order_group(
        Group((after, before), ()), [PointInfo("a", "host"), PointInfo("b", "pod")], roles
    )
    assert [s.id for s in ordered.sightings] == [0, 1]
    assert [t.kind for t in ordered.translations] == ["DNAT", "SNAT"]
    assert ordered.translations[1].before == C and ordered.translations[1].after == NODE


def test_point_at_the_client_address_comes_first_in_its_view() -> None:
    at_client = sighting(0, 0, C, POD, ts=900)
    on_the_way = sighting(1, 1, C, POD, ts=100)
    at_server = sighting(2, 2, C, POD, ts=50)
    points = [
        PointInfo("client", "pod", frozenset({C[0]})),
        PointInfo("node", "node"),
        PointInfo("server", "pod", frozenset({POD[0]})),
    ]
    ordered = order_group(Group((at_server, on_the_way, at_client), ()), points)
    assert [s.id for s in ordered.sightings] == [0, 1, 2]
    assert ordered.translations == ()


def test_path_hint_orders_when_nothing_stronger_exists() -> None:
    a = sighting(0, 0, C, POD, ts=900)
    b = sighting(1, 1, C, POD, ts=100)
    points = [PointInfo("a", "node", path_rank=0), PointInfo("b", "node", path_rank=1)]
    ordered = order_group(Group((b, a), ()), points)
    assert [s.id for s in ordered.sightings] == [0, 1] and ordered.ordered_by == "path"


def test_time_decides_last() -> None:
    a = sighting(0, 0, C, POD, ts=900)
    b = sighting(1, 1, C, POD, ts=100)
    ordered = order_group(Group((a, b), ()), [PointInfo("a", "node"), PointInfo("b", "node")])
    assert [s.id for s in ordered.sightings] == [1, 0] and ordered.ordered_by == "time"


def test_best_order_many_items_uses_net_wins() -> None:
    n = 9
    weights = {(i, j): (1 if i > j else -1) for i in range(n) for j in range(n) if i != j}
    assert _best_order(n, weights) == list(reversed(range(n)))
    order = _best_order(4, {(3, 0): 5, (0, 3): -5})
    assert order.index(3) < order.index(0)
