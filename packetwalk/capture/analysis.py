"""``analyze_folder``: read walk.yaml and every capture, correlate, order, link.

A capture that cannot be read does not stop the others: its problem becomes a warning naming the
file, and the walk is built from the rest. Only when nothing at all can be read is it an error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from packetwalk.capture.contract import load_walk
from packetwalk.capture.correlate import Correlator
from packetwalk.capture.flows import build_flows
from packetwalk.capture.model import CaptureSummary, Inventory, WalkAnalysis, WalkSpec
from packetwalk.capture.pcapread import CaptureReader, ip_value, linktype_name, parse_ip_link
from packetwalk.capture.translate import AddressRoles, PointInfo
from packetwalk.errors import InputError

SLL2 = 276
#: called as progress(point, index, total) before each capture is read
Progress = Callable[[str, int, int], None]


def analyze_folder(folder: Path, *, progress: Progress | None = None) -> WalkAnalysis:
    """The packet walk recorded in ``folder`` (walk.yaml + its captures)."""
    return analyze_walk(load_walk(Path(folder)), progress=progress)


def analyze_walk(spec: WalkSpec, *, progress: Progress | None = None) -> WalkAnalysis:
    correlator = Correlator()
    points: list[PointInfo] = []
    interface_maps: list[dict[int, str]] = []
    summaries: list[CaptureSummary] = []
    warnings: list[str] = []
    for index, capture in enumerate(spec.captures):
        if progress is not None:
            progress(capture.point, index, len(spec.captures))
        path = spec.folder / capture.file
        display = str(path)
        names = dict(capture.interfaces)
        if capture.interfaces_file:
            links_path = spec.folder / capture.interfaces_file
            try:
                names.update(parse_ip_link(links_path.read_text(encoding="utf-8")))
            except OSError as err:
                warnings.append(
                    f"{links_path}: cannot read the interface list of point {capture.point!r} "
                    f"({err.strerror}); interfaces are shown by index"
                )
        points.append(
            PointInfo(
                name=capture.point,
                kind=capture.kind,
                addresses=_point_addresses(capture.point, spec.inventory),
                path_rank=spec.path.index(capture.point) if capture.point in spec.path else None,
            )
        )
        interface_maps.append(names)
        try:
            reader = CaptureReader(path, display)
        except InputError as err:
            warnings.append(str(err))
            summaries.append(CaptureSummary(capture.point, capture.file, 0, "-", err.detail))
            continue
        with reader:
            ip_packets = correlator.add(index, reader.rows())
        kinds = ", ".join(sorted({linktype_name(t) for t in reader.linktypes}))
        if reader.problem:
            warnings.append(f"{display}: {reader.problem}")
        if SLL2 in reader.linktypes and not names:
            warnings.append(
                f"{display}: captured on 'any' (Linux cooked v2), which records interface indexes "
                f"only; give `interfaces:` for point {capture.point!r} in walk.yaml (from "
                "`ip -o link` in the same namespace) to see names"
            )
        if reader.packets and not ip_packets:
            warnings.append(f"{display}: no TCP or UDP packets among {reader.packets}")
        summaries.append(
            CaptureSummary(capture.point, capture.file, reader.packets, kinds, reader.problem)
        )
    if all(s.problem and s.packets == 0 for s in summaries):
        raise InputError("no capture could be read: " + "; ".join(warnings), source=spec.source)
    flows, links = build_flows(correlator.groups(), points, interface_maps, _roles(spec.inventory))
    return WalkAnalysis(
        folder=spec.folder,
        flows=tuple(flows),
        links=tuple(links),
        captures=tuple(summaries),
        warnings=tuple(warnings),
        inventory=spec.inventory,
    )


def _point_addresses(point: str, inventory: Inventory) -> frozenset[int]:
    found = set()
    for table in (inventory.pods, inventory.nodes):
        if point in table:
            found.add(ip_value(table[point]))
    return frozenset(found)


def _roles(inventory: Inventory) -> AddressRoles:
    return AddressRoles(
        services=frozenset(ip_value(a) for a in inventory.services.values()),
        pods=frozenset(ip_value(a) for a in inventory.pods.values()),
        nodes=frozenset(ip_value(a) for a in inventory.nodes.values()),
    )
