"""A map capture folder: what ``invoke map`` writes and ``invoke map --from`` reads.

```
walk.yaml                     the captures (packetwalk.capture.contract; a walk folder works)
inventory.yaml                the cluster's objects at capture time (kubectl get -o yaml: a List
                              or documents): Pods, ReplicaSets, Jobs, workloads, Services,
                              EndpointSlices, Nodes, Namespaces
<node>.conntrack-before.txt   `conntrack -L` when the capture started (optional)
<node>.conntrack-after.txt    `conntrack -L` when it ended (optional)
map.yaml                      optional: {started: <epoch seconds>, ended: <epoch seconds>}
```

Conntrack entries carry no time: one listed before the capture counts as first seen when it
started, one listed only after as seen when it ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packetwalk.capture.contract import load_walk
from packetwalk.cluster.documents import read_documents
from packetwalk.errors import InputError
from packetwalk.mapper.conntrack import ConntrackEntry, parse_conntrack
from packetwalk.mapper.inventory import MapInventory
from packetwalk.mapper.learn import MapResult, learn
from packetwalk.mapper.observe import connections_from_captures, merge_conntrack
from packetwalk.yamlsource import load_documents

INVENTORY_FILE = "inventory.yaml"
MAP_FILE = "map.yaml"
BEFORE_SUFFIX = ".conntrack-before.txt"
AFTER_SUFFIX = ".conntrack-after.txt"


def conntrack_file(node: str, when: str) -> str:
    return f"{node}{BEFORE_SUFFIX if when == 'before' else AFTER_SUFFIX}"


@dataclass
class MapFolder:
    folder: Path
    captures: list[Path]
    conntrack: list[tuple[ConntrackEntry, float | None]]
    objects: list[dict[str, Any]]
    inventory: MapInventory


def _times(folder: Path) -> tuple[float | None, float | None]:
    path = folder / MAP_FILE
    if not path.is_file():
        return None, None
    docs = list(load_documents(path.read_text(encoding="utf-8"), source=str(path)))
    data = docs[0].data if docs else None
    if not isinstance(data, dict):
        raise InputError("map.yaml must be a mapping {started, ended}", source=str(path))
    result: list[float | None] = []
    for key in ("started", "ended"):
        value = data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InputError(
                f"{key} must be epoch seconds, got {value!r}", source=str(path), location=key
            )
        result.append(float(value) if value is not None else None)
    return result[0], result[1]


def load_map_folder(folder: Path) -> MapFolder:
    spec = load_walk(folder)
    inventory_path = folder / INVENTORY_FILE
    if not inventory_path.is_file():
        raise InputError(
            f"no {INVENTORY_FILE} in the capture folder: the mapper needs the cluster's objects "
            "at capture time (kubectl get pods,replicasets,jobs,deployments,statefulsets,"
            "daemonsets,cronjobs,services,endpointslices,nodes,namespaces -A -o yaml)",
            source=str(folder),
        )
    objects = [obj for obj, _ in read_documents(inventory_path)]
    started, ended = _times(folder)
    conntrack: list[tuple[ConntrackEntry, float | None]] = []
    for path in sorted(folder.glob(f"*{BEFORE_SUFFIX}")):
        conntrack += [(e, started) for e in parse_conntrack(path.read_text(encoding="utf-8"))]
    for path in sorted(folder.glob(f"*{AFTER_SUFFIX}")):
        conntrack += [(e, ended) for e in parse_conntrack(path.read_text(encoding="utf-8"))]
    return MapFolder(
        folder=folder,
        captures=[folder / c.file for c in spec.captures],
        conntrack=conntrack,
        objects=objects,
        inventory=MapInventory.from_objects(objects, source=str(inventory_path)),
    )


def map_folder(data: MapFolder) -> MapResult:
    connections = connections_from_captures(data.captures)
    return learn(merge_conntrack(connections, data.conntrack), data.inventory)
