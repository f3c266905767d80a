"""How the tasks reach a stack's cluster: one factory, replaced by a fake in tests."""

from __future__ import annotations

from collections.abc import Callable

from packetwalk.kube.access import ClusterAccess
from packetwalk.lab.config import LabConfig
from packetwalk.lab.contexts import kube_context
from packetwalk.playbook.facts import select_participant

ClusterFactory = Callable[[LabConfig, str | None], ClusterAccess]
"""``(stack config, --context) -> ClusterAccess``."""


def kubectl_cluster(cfg: LabConfig, context: str | None) -> ClusterAccess:
    """The stack's cluster through kubectl and the official client: ``--context`` if given, else
    the stack's own context (``packetwalk:kubeContext`` or kind's), with the stack's kubeconfig."""
    from packetwalk.kube.kubectl import KubectlCluster

    return KubectlCluster(context=context or kube_context(cfg), kubeconfig=cfg.kubeconfig)


def participant_context(cfg: LabConfig, number: int, context: str = "") -> str | None:
    """The context a task with ``--participant N`` and ``--context`` works in: ``--context`` if
    given, else the cluster of participant N (their own one with ``participantClusters``), else
    the stack's cluster. Without N a stack of per-participant clusters has no one cluster to
    choose, so :func:`select_participant` asks for the option."""
    if context:
        return context
    gke = cfg.gke
    if number == 0 and (gke is None or not gke.participant_clusters):
        return kube_context(cfg)
    return kube_context(cfg, select_participant(cfg, number).cluster)


CONTEXT_HELP = (
    "kube context (default: the stack's cluster, or participant N's own one with"
    " participantClusters: kind-<name>, gke_<project>_<location>_<cluster>)"
)
"""The ``--context`` help of the tasks that pick it with :func:`participant_context`."""


def participant_help(what: str) -> str:
    """The ``--participant`` help of a task; ``what`` says what the choice changes there."""
    return (
        "on a workshop stack (packetwalk:participants), which participant you are (1..N): " + what
    )
