"""Put a connection's sightings in request order and name the address rewrites between them.

Timestamps alone cannot order points: clocks of different machines drift, and a capture's
timestamp says when the packet crossed the tap, not what happened first. So the order is chosen
by the strongest evidence available, weakest last:

1. causality: the same packet seen *in* and then *out* at one point (Linux cooked captures and
   pcapng flags carry the direction): the point received the request before it forwarded it, so
   the pre-NAT view comes first (for a reply packet, the other way round);
2. inventory: a Service or node address before NAT becomes a pod address after it (DNAT); a
   source becomes a node address (SNAT); a pod capture at the client's address comes first and one
   at the server's address last;
3. the capture order written in walk.yaml's ``path:``;
4. the timestamps of the same packet at both points, then the first timestamps.

Sightings with the same addresses form a *view*; views are ordered first, then the sightings
inside each view. Consecutive views differ by a translation: a changed destination is DNAT, a
changed source SNAT.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from packetwalk.capture.correlate import Group, Sighting

CAUSAL, INVENTORY, PATH, SAME_PACKET_TIME, FIRST_TIME = 1000, 100, 10, 2, 1
_REASONS = ((CAUSAL, "causality"), (INVENTORY, "inventory"), (PATH, "path"))
_MAX_EXHAUSTIVE = 7

View = tuple[tuple[int, int], tuple[int, int]]


@dataclass(frozen=True)
class PointInfo:
    """What the ordering may know about a capture point."""

    name: str
    kind: str
    addresses: frozenset[int] = frozenset()  # the point's own addresses (from the inventory)
    path_rank: int | None = None


@dataclass(frozen=True)
class AddressRoles:
    """Inventory addresses by role, as row ints."""

    services: frozenset[int] = frozenset()
    pods: frozenset[int] = frozenset()
    nodes: frozenset[int] = frozenset()


NO_ROLES = AddressRoles()


@dataclass(frozen=True)
class RawTranslation:
    kind: str  # "DNAT" | "SNAT"
    point: str
    before: tuple[int, int]
    after: tuple[int, int]
    reversed: bool


@dataclass(frozen=True)
class OrderedGroup:
    sightings: tuple[Sighting, ...]
    translations: tuple[RawTranslation, ...]
    ordered_by: str
    views: tuple[View, ...] = field(default=())


def order_group(
    group: Group, points: Sequence[PointInfo], roles: AddressRoles = NO_ROLES
) -> OrderedGroup:
    """Request order of a connection's sightings, and the translations between its views."""
    weights, evidence = _pair_weights(group, points, roles)
    views: dict[View, list[Sighting]] = {}
    for sighting in sorted(group.sightings, key=lambda s: (s.first_ts, s.id)):
        views.setdefault(sighting.view, []).append(sighting)
    view_keys = list(views)
    vweights: dict[tuple[int, int], int] = {}
    for (i, vi), (j, vj) in itertools.permutations(enumerate(view_keys), 2):
        total = 0
        for s in views[vi]:
            for t in views[vj]:
                total += weights.get((s.id, t.id), 0)
        hint = _view_hint(vi, vj, roles)
        total += hint
        if hint > 0:
            for s in views[vi]:
                for t in views[vj]:
                    evidence[(s.id, t.id)] = max(evidence.get((s.id, t.id), 0), hint)
        if total:
            vweights[(i, j)] = total
    view_order = _best_order(len(view_keys), vweights)
    ordered: list[Sighting] = []
    for position in view_order:
        members = views[view_keys[position]]
        sweights = {
            (a, b): weights[(members[a].id, members[b].id)]
            for a, b in itertools.permutations(range(len(members)), 2)
            if (members[a].id, members[b].id) in weights
        }
        ordered.extend(members[k] for k in _best_order(len(members), sweights))
    strongest = max(
        (evidence.get((a.id, b.id), 0) for a, b in itertools.combinations(ordered, 2)), default=0
    )
    ordered_by = next((reason for level, reason in _REASONS if strongest >= level), "time")
    ordered_views = tuple(view_keys[i] for i in view_order)
    translations = _translations(ordered_views, views, group, points)
    return OrderedGroup(tuple(ordered), tuple(translations), ordered_by, ordered_views)


def _pair_weights(
    group: Group, points: Sequence[PointInfo], roles: AddressRoles
) -> tuple[dict[tuple[int, int], int], dict[tuple[int, int], int]]:
    """weights[(s, t)] > 0: net evidence that sighting s comes before t on the request;
    evidence[(s, t)]: the strongest single kind of evidence for that order (for ``ordered_by``)."""
    weights: dict[tuple[int, int], int] = {}
    evidence: dict[tuple[int, int], int] = {}

    def vote(before: int, after: int, weight: int) -> None:
        weights[(before, after)] = weights.get((before, after), 0) + weight
        weights[(after, before)] = weights.get((after, before), 0) - weight
        evidence[(before, after)] = max(evidence.get((before, after), 0), weight)

    # the same packet at several sightings: gather per packet key
    per_key: dict[int, dict[int, tuple[int, int, bool]]] = {}
    for m in group.matches:
        seen = per_key.setdefault(m.key, {})
        seen.setdefault(m.first, (m.first_ts, m.first_capdir, m.request))
        seen.setdefault(m.second, (m.second_ts, m.second_capdir, m.request))
    by_id = {s.id: s for s in group.sightings}
    causal_done: set[tuple[int, int]] = set()
    time_votes: dict[tuple[int, int], int] = {}
    for seen in per_key.values():
        for (a, (ts_a, dir_a, request)), (b, (ts_b, dir_b, _)) in itertools.combinations(
            sorted(seen.items()), 2
        ):
            sa, sb = by_id[a], by_id[b]
            if sa.capture == sb.capture and {dir_a, dir_b} == {1, 2} and (a, b) not in causal_done:
                causal_done.add((a, b))
                received_first = (dir_a == 1) == request
                vote(a, b, CAUSAL) if received_first else vote(b, a, CAUSAL)
            if ts_a != ts_b:
                earlier = (ts_a < ts_b) == request
                key = (a, b) if a < b else (b, a)
                sign = 1 if earlier == (key[0] == a) else -1
                time_votes[key] = time_votes.get(key, 0) + sign
    for (a, b), net in time_votes.items():
        if net:
            vote(a, b, SAME_PACKET_TIME) if net > 0 else vote(b, a, SAME_PACKET_TIME)
    for sa, sb in itertools.combinations(group.sightings, 2):
        pa, pb = points[sa.capture], points[sb.capture]
        rank_a, rank_b = _endpoint_rank(sa, pa), _endpoint_rank(sb, pb)
        if rank_a != rank_b:
            vote(sa.id, sb.id, INVENTORY) if rank_a < rank_b else vote(sb.id, sa.id, INVENTORY)
        if pa.path_rank is not None and pb.path_rank is not None and pa.path_rank != pb.path_rank:
            if pa.path_rank < pb.path_rank:
                vote(sa.id, sb.id, PATH)
            else:
                vote(sb.id, sa.id, PATH)
        if sa.first_ts != sb.first_ts:
            if sa.first_ts < sb.first_ts:
                vote(sa.id, sb.id, FIRST_TIME)
            else:
                vote(sb.id, sa.id, FIRST_TIME)
    return weights, evidence


def _endpoint_rank(sighting: Sighting, point: PointInfo) -> int:
    """0 at the client itself, 2 at the server itself, 1 anywhere between."""
    if sighting.client[0] in point.addresses:
        return 0
    if sighting.server[0] in point.addresses:
        return 2
    return 1


def _view_hint(first: View, second: View, roles: AddressRoles) -> int:
    """Inventory evidence that view ``first`` precedes ``second`` (negative: the opposite)."""
    score = 0
    (c1, s1), (c2, s2) = first, second
    if s1 != s2:
        pre = roles.services | roles.nodes
        if s1[0] in pre and s2[0] in roles.pods:
            score += INVENTORY
        elif s2[0] in pre and s1[0] in roles.pods:
            score -= INVENTORY
    if c1 != c2:
        if c2[0] in roles.nodes and c1[0] not in roles.nodes:
            score += INVENTORY
        elif c1[0] in roles.nodes and c2[0] not in roles.nodes:
            score -= INVENTORY
    return score


def _best_order(count: int, weights: Mapping[tuple[int, int], int]) -> list[int]:
    """The order of ``count`` items that agrees with the most evidence weight.

    Exhaustive for the handful of points a walk has; a net-wins ranking beyond that.
    Ties keep the incoming order (which is by first timestamp).
    """
    if count <= 1:
        return list(range(count))
    if count <= _MAX_EXHAUSTIVE:
        best: tuple[int, ...] = tuple(range(count))
        best_score: int | None = None
        for perm in itertools.permutations(range(count)):
            score = 0
            for x in range(count):
                for y in range(x + 1, count):
                    score += weights.get((perm[x], perm[y]), 0)
            if best_score is None or score > best_score:
                best, best_score = perm, score
        return list(best)
    wins = [sum(weights.get((i, j), 0) for j in range(count) if j != i) for i in range(count)]
    return sorted(range(count), key=lambda i: (-wins[i], i))


def _translations(
    views: Sequence[View],
    members: Mapping[View, list[Sighting]],
    group: Group,
    points: Sequence[PointInfo],
) -> list[RawTranslation]:
    result = []
    reply_pairs = {(m.first, m.second) for m in group.matches if not m.request}
    for before, after in itertools.pairwise(views):
        left, right = members[before], members[after]
        both = [s.capture for s in left if s.capture in {t.capture for t in right}]
        if both:
            point = points[both[0]].name
        else:
            point = f"between {points[left[-1].capture].name} and {points[right[0].capture].name}"
        left_ids, right_ids = {s.id for s in left}, {s.id for s in right}
        reversed_ = any(
            (a in left_ids and b in right_ids) or (b in left_ids and a in right_ids)
            for a, b in reply_pairs
        ) or (any(s.reply_seen for s in left) and any(s.reply_seen for s in right))
        if before[1] != after[1]:
            result.append(RawTranslation("DNAT", point, before[1], after[1], reversed_))
        if before[0] != after[0]:
            result.append(RawTranslation("SNAT", point, before[0], after[0], reversed_))
    return result
