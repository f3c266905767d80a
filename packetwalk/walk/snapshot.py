"""Cluster facts from a saved object dump, so a walk can be planned without a cluster.

``kubectl get nodes,pods,services,ingresses,configmaps -A -o yaml > lab.yaml`` (plus, if
installed, ``ingressroutes.traefik.io`` and ``servicel2statuses.metallb.io``) is enough for
``invoke walk --dry-run --snapshot lab.yaml``: the planner needs no more than these objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from packetwalk.cluster.state import ClusterState
from packetwalk.errors import InputError
from packetwalk.walk.facts import ClusterFacts, facts_from_state


def facts_from_objects(
    objects: Sequence[Mapping[str, Any]],
    *,
    app_namespace: str = "vote",
    platform: str = "kind",
    cni: str | None = None,
    kube_proxy_mode: str | None = None,
    host_ip: str | None = None,
    source: str = "snapshot",
) -> ClusterFacts:
    """:class:`ClusterFacts` from plain API objects (the same reading as against a cluster);
    ``source`` names them in reading errors."""
    return facts_from_state(
        ClusterState.from_objects(objects, source=source),
        app_namespace=app_namespace,
        platform=platform,
        cni=cni,
        kube_proxy_mode=kube_proxy_mode,
        host_ip=host_ip,
    )


def load_objects(path: Path) -> list[Mapping[str, Any]]:
    """Objects from a YAML file: a ``List`` (``kubectl get -o yaml``) or a multi-document stream."""
    try:
        documents = list(yaml.safe_load_all(path.read_text()))
    except OSError as error:
        raise InputError(f"cannot read the snapshot: {error.strerror}", source=str(path)) from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise InputError(
            f"not YAML: {getattr(error, 'problem', error)}",
            source=str(path),
            location=f"line {mark.line + 1}" if mark else None,
        ) from error
    objects: list[Mapping[str, Any]] = []
    for doc in documents:
        if doc is None:
            continue
        if not isinstance(doc, Mapping):
            raise InputError("expected Kubernetes objects or a List of them", source=str(path))
        items = doc.get("items") if str(doc.get("kind", "")).endswith("List") else None
        objects.extend(
            i for i in (items if isinstance(items, list) else [doc]) if isinstance(i, Mapping)
        )
    if not objects:
        raise InputError("the snapshot holds no objects", source=str(path))
    return objects
