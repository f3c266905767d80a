"""Which kube context reaches which cluster of a stack.

Every command of a lab names its cluster's context explicitly: falling back to whatever context
is current could apply a participant's policies to another cluster. The context names are the
ones the tools that made the cluster write: ``kind-<name>`` (kind), and for GKE
``gke_<project>_<location>_<cluster>``, the format ``gcloud container clusters get-credentials``
writes (``KUBECONTEXT_FORMAT = 'gke_{project}_{zone}_{cluster}'`` in ``ClusterConfig``,
googlecloudsdk/api_lib/container/util.py, where ``zone`` is the cluster's location, a zone or
a region), and the one the cluster stack's own kubeconfig output uses
(:func:`packetwalk.lab.gke.context_name`).
"""

from __future__ import annotations

from packetwalk.lab.config import LabConfig
from packetwalk.lab.gke import context_name
from packetwalk.lab.kindconfig import kind_context


def kube_context(cfg: LabConfig, cluster: str | None = None) -> str | None:
    """The context of ``cluster`` (default: the stack's cluster); None means the current one.

    An explicit ``packetwalk:kubeContext`` wins; a cluster made elsewhere
    (``packetwalk:kubeconfig`` without a context, CI) uses that file's current context.
    """
    if cfg.kube_context:
        return cfg.kube_context
    if cfg.kubeconfig:
        return None
    if cfg.platform == "kind":
        return kind_context(cfg)
    if cfg.gke is not None:
        return context_name(cfg.gke.project, cfg.gke.location, cluster or cfg.cluster_name)
    return None


def credentials_hint(cfg: LabConfig, cluster: str | None = None) -> str:
    """How to get the context :func:`kube_context` names when it is missing."""
    if cfg.gke is None or cfg.kubeconfig or cfg.kube_context:
        return f"Is the lab up? `invoke status --stack {cfg.stack}`"
    name = cluster or cfg.cluster_name
    return (
        f"Is the lab up (`invoke status --stack {cfg.stack}`)? The context comes from"
        f" `gcloud container clusters get-credentials {name} --location {cfg.gke.location}"
        f" --project {cfg.gke.project}`"
    )
