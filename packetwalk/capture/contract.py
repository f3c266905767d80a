"""walk.yaml: the capture folder contract, loaded strictly so a typo is an error, not a silent gap.

```yaml
captures:
  - file: client-pod.pcap      # pcap or pcapng, relative to the folder
    point: client-pod          # the name of the capture point (unique)
    kind: pod                  # pod | node | host
    interfaces: {2: veth-a}    # optional, for captures on "any": ifindex -> name,
                               # or the name of a file holding `ip -o link` output
inventory:                     # optional: names for addresses
  pods: {client-pod: 10.244.1.10}
  nodes: {kind-worker: 172.18.0.3}
  services: {vote: 10.96.12.3}
path: [client-pod, kind-worker, vote-pod]   # optional: the points in request order, a hint
```
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from packetwalk.capture.model import POINT_KINDS, CaptureSpec, Inventory, PointKind, WalkSpec
from packetwalk.errors import InputError
from packetwalk.yamlsource import Loc, Positions, build_or_fail, compose

WALK_FILE = "walk.yaml"
TOP_KEYS = ("captures", "inventory", "path")
CAPTURE_KEYS = ("file", "point", "kind", "interfaces")
INVENTORY_KEYS = ("pods", "nodes", "services")


class _Doc:
    """YAML data plus where each value starts (read by :mod:`packetwalk.yamlsource`)."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        (node,) = compose(text, source=source, single=True)
        self.data: Any = None
        self.positions = Positions(source)
        if node is not None:
            self.data, self.positions = build_or_fail(node, source=source)

    def error(self, message: str, path: Loc, choices: tuple[str, ...] | None = None) -> InputError:
        field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(
            ".[", "["
        )
        position = self.positions.values.get(path)
        location = f"line {position[0]}" if position else None
        if field:
            location = f"{location}, {field}" if location else field
        return InputError(message, source=self.source, location=location, choices=choices)


def load_walk(folder: Path) -> WalkSpec:
    """Read and validate ``FOLDER/walk.yaml``; errors name the file, line and field."""
    path = folder / WALK_FILE
    source = str(path)
    if not folder.is_dir():
        raise InputError("capture folder not found", source=str(folder))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            "no walk.yaml in the capture folder (it lists the captures and their points)",
            source=source,
        ) from None
    return parse_walk(text, folder=folder, source=source)


def parse_walk(text: str, *, folder: Path, source: str) -> WalkSpec:
    doc = _Doc(text, source)
    top = doc.data
    if not isinstance(top, dict):
        raise doc.error("walk.yaml must be a mapping with a 'captures' list", ())
    _no_unknown_keys(doc, top, (), TOP_KEYS)
    raw_captures = top.get("captures")
    if not isinstance(raw_captures, list) or not raw_captures:
        raise doc.error("'captures' must be a non-empty list", ("captures",))
    captures = [_capture(doc, item, i) for i, item in enumerate(raw_captures)]
    points = [c.point for c in captures]
    for i, point in enumerate(points):
        if point in points[:i]:
            raise doc.error(f"point {point!r} is used twice", ("captures", i, "point"))
    inventory = _inventory(doc, top.get("inventory"))
    raw_path = top.get("path", [])
    if not isinstance(raw_path, list):
        raise doc.error("'path' must be a list of point names", ("path",))
    for i, name in enumerate(raw_path):
        if name not in points:
            raise doc.error(f"unknown point {name!r}", ("path", i), tuple(points))
    return WalkSpec(
        folder=folder,
        source=source,
        captures=tuple(captures),
        inventory=inventory,
        path=tuple(str(p) for p in raw_path),
    )


def _no_unknown_keys(
    doc: _Doc, mapping: Mapping[str, object], path: Loc, allowed: tuple[str, ...]
) -> None:
    for key in mapping:
        if key not in allowed:
            raise doc.error(f"unknown key {key!r}", (*path, key), allowed)


def _capture(doc: _Doc, item: object, index: int) -> CaptureSpec:
    where: Loc = ("captures", index)
    if not isinstance(item, dict):
        raise doc.error("each capture must be a mapping (file, point, kind)", where)
    _no_unknown_keys(doc, item, where, CAPTURE_KEYS)
    for key in ("file", "point", "kind"):
        if key not in item:
            raise doc.error(f"missing '{key}'", where)
        if not isinstance(item[key], str) or not item[key]:
            raise doc.error(f"'{key}' must be a non-empty string", (*where, key))
    if item["kind"] not in POINT_KINDS:
        raise doc.error(f"unknown kind {item['kind']!r}", (*where, "kind"), POINT_KINDS)
    interfaces: dict[int, str] = {}
    interfaces_file: str | None = None
    raw = item.get("interfaces")
    if isinstance(raw, str):
        interfaces_file = raw
    elif isinstance(raw, dict):
        for key, name in raw.items():
            index_ok = isinstance(key, int) or (isinstance(key, str) and key.isdigit())
            if not index_ok or not isinstance(name, str):
                raise doc.error(
                    "interfaces maps an interface index to its name, e.g. {2: veth-a}",
                    (*where, "interfaces", key),
                )
            interfaces[int(cast(int | str, key))] = name
    elif raw is not None:
        raise doc.error(
            "'interfaces' must map ifindex -> name, or name a file with `ip -o link` output",
            (*where, "interfaces"),
        )
    return CaptureSpec(
        file=item["file"],
        point=item["point"],
        kind=cast(PointKind, item["kind"]),
        interfaces=interfaces,
        interfaces_file=interfaces_file,
    )


def _inventory(doc: _Doc, raw: object) -> Inventory:
    if raw is None:
        return Inventory()
    if not isinstance(raw, dict):
        raise doc.error("'inventory' must be a mapping of pods, nodes, services", ("inventory",))
    _no_unknown_keys(doc, raw, ("inventory",), INVENTORY_KEYS)
    tables: dict[str, dict[str, str]] = {}
    for section in INVENTORY_KEYS:
        table = raw.get(section) or {}
        if not isinstance(table, dict):
            raise doc.error(f"'{section}' must map names to addresses", ("inventory", section))
        tables[section] = {}
        for name, address in table.items():
            try:
                ipaddress.ip_address(str(address))
            except ValueError:
                raise doc.error(
                    f"{address!r} is not an IP address", ("inventory", section, name)
                ) from None
            tables[section][str(name)] = str(address)
    return Inventory(pods=tables["pods"], nodes=tables["nodes"], services=tables["services"])
