"""Manifests in, a validated :class:`~packetwalk.netpol.model.Cluster` out.

Objects are read from files or memory with :mod:`packetwalk.cluster.documents`; Namespaces, Pods
and pod-owning workloads with the cluster reader (:func:`packetwalk.cluster.pods.read_objects`,
which says what it accepts and how it groups pods); NetworkPolicies here
(:mod:`packetwalk.netpol.policyspec`). Kinds that do not affect NetworkPolicy evaluation
(Services, ConfigMaps, ...) are counted and skipped, and so are Pods in phase Succeeded or Failed
unless the caller asks for them (``include_finished``).

Invalid input raises :class:`InputError` naming the file, the object and the field, with the
API server's rule: no guessing what a broken policy was meant to say.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from packetwalk.cluster.documents import Document, read_documents, with_origin
from packetwalk.cluster.fields import describe_origin as _where
from packetwalk.cluster.fields import field_error as _err
from packetwalk.cluster.model import NAME_LABEL, Namespace, Origin
from packetwalk.cluster.pods import read_objects
from packetwalk.netpol.model import Cluster
from packetwalk.netpol.policyspec import parse_policy

__all__ = [
    "build_cluster",
    "cluster_from_objects",
    "load_cluster",
    "read_documents",
]


def load_cluster(paths: Sequence[Path], *, include_finished: bool = False) -> Cluster:
    """Read every manifest under ``paths`` and build the cluster they describe."""
    docs: list[Document] = []
    for path in paths:
        docs.extend(read_documents(path))
    return build_cluster(docs, include_finished=include_finished)


def cluster_from_objects(
    objects: Iterable[Mapping[str, Any]], *, source: str, include_finished: bool = False
) -> Cluster:
    """Build a cluster from in-memory objects (the lab's own, or ``kubectl get`` items)."""
    origin = Origin(source)  # one for all: nothing tells the objects apart but their names
    return build_cluster(with_origin(objects, origin), include_finished=include_finished)


def build_cluster(docs: Iterable[Document], *, include_finished: bool = False) -> Cluster:
    """The cluster ``docs`` describe.

    Pods in phase Succeeded or Failed are left out unless ``include_finished``: they have no
    network endpoint any more and a live cluster may have given their IPs to running pods. Their
    names are kept in ``Cluster.finished_pods`` so that the caller can say so (netpol-analyzer
    lists them, and a silent difference would look like a bug).
    """
    cluster = Cluster()
    seen: dict[tuple[str, str], Origin] = {}

    def policy(obj: dict[str, Any], origin: Origin) -> None:
        read = parse_policy(obj, origin)
        key = (read.namespace, read.name)
        if key in seen:
            raise _err(
                origin,
                f"NetworkPolicy {read.ref}",
                "metadata.name",
                f"two NetworkPolicies named {read.ref} in one namespace "
                f"(first in {_where(seen[key])}); names must be unique",
            )
        seen[key] = origin
        cluster.policies.append(read)

    pod_namespaces = read_objects(
        cluster, docs, include_finished=include_finished, readers={"NetworkPolicy": policy}
    )
    # Namespaces only referenced by objects exist too (netpol-analyzer convention 7).
    referenced = pod_namespaces | {p.namespace for p in cluster.policies}
    for name in sorted(referenced):
        if name not in cluster.namespaces:
            cluster.namespaces[name] = Namespace(name, {NAME_LABEL: name})
    return cluster
