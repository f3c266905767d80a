"""Workshop participants: who gets which namespace, which host names and which cluster.

A stack with ``packetwalk:participants: N`` (GKE only) gives N isolated copies of the lab:

- on one shared cluster (the default), participant ``i`` gets namespace ``<appNamespace>-pNN``
  and host names ``vote-pNN.<domain>`` / ``result-pNN.<domain>``; the default-deny of each
  namespace already refuses traffic from other namespaces, and every allow rule names its own
  namespace, so participants cannot reach each other's pods (the tests prove it with the
  NetworkPolicy evaluator for 1, 3 and 30 participants);
- with ``packetwalk:participantClusters: true`` each participant gets a cluster of its own
  (``<clusterName>-pNN``), where the lab looks exactly like a single-participant lab: namespace
  ``<appNamespace>``, hosts ``vote.<domain>``, with the domain of that cluster's own address.

A single participant (the default, and every kind stack) keeps the plain names (``vote``,
``vote.localhost``), so a one-person lab is the same lab everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from packetwalk.lab.config import LabConfig
from packetwalk.lab.votingapp import FRONTENDS

LAB_NAMESPACE = "packetwalk-lab"
"""The lab modules' namespace (test clients, whoami, the module 06 exercises) of a lone lab."""


@dataclass(frozen=True)
class Participant:
    """One participant's lab: where it runs and what it is called."""

    index: int
    """1-based."""
    name: str
    """``p01``...; ``lab`` for the only participant of a stack."""
    namespace: str
    cluster: str
    """The name of the cluster the lab runs in."""
    shares_cluster: bool = False
    """True when other participants' labs run in the same cluster (names carry the tag)."""

    @property
    def lab_namespace(self) -> str:
        """Where the lab modules' own clients and exercises live: ``packetwalk-lab``, or
        ``packetwalk-lab-p03`` beside other participants, so nobody's exercise policies or test
        pods land in someone else's lab."""
        return f"{LAB_NAMESPACE}-{self.name}" if self.shares_cluster else LAB_NAMESPACE

    @property
    def tag(self) -> str:
        """``p03`` beside other participants, empty alone: the suffix of per-participant files."""
        return self.name if self.shares_cluster else ""

    def host_prefixes(self) -> dict[str, str]:
        """The host name of each web app, without the domain: ``vote-p03`` (``vote`` alone).

        One DNS label, so a single wildcard record (``*.lab.example.org``) covers every
        participant of a ``packetwalk:domain``; nip.io answers any number of labels anyway.
        """
        return {app: self.host_prefix(app) for app in FRONTENDS}

    def host_prefix(self, app: str) -> str:
        """One app's host name without the domain: ``whoami-p03`` (``whoami`` alone)."""
        return f"{app}-{self.name}" if self.shares_cluster else app


def participant_tag(index: int, total: int) -> str:
    """``p01``..``p30``; at least two digits, wider only when the count needs it."""
    return f"p{index:0{max(2, len(str(total)))}d}"


def cluster_names(cfg: LabConfig) -> list[str]:
    """The clusters of the stack: one, or one per participant with ``participantClusters``."""
    gke = cfg.gke
    if gke is None or not gke.participant_clusters:
        return [cfg.cluster_name]
    return [
        f"{cfg.cluster_name}-{participant_tag(i, gke.participants)}"
        for i in range(1, gke.participants + 1)
    ]


def participants(cfg: LabConfig) -> list[Participant]:
    """Every participant of the stack, in order (one on kind)."""
    gke = cfg.gke
    total = gke.participants if gke is not None else 1
    if total == 1:
        return [Participant(1, "lab", cfg.app_namespace, cfg.cluster_name)]
    if gke is not None and gke.participant_clusters:
        return [
            Participant(i, participant_tag(i, total), cfg.app_namespace, cluster)
            for i, cluster in enumerate(cluster_names(cfg), start=1)
        ]
    result = []
    for i in range(1, total + 1):
        tag = participant_tag(i, total)
        result.append(
            Participant(i, tag, f"{cfg.app_namespace}-{tag}", cfg.cluster_name, shares_cluster=True)
        )
    return result


def participants_in(cfg: LabConfig, cluster: str) -> list[Participant]:
    """The participants whose labs run in ``cluster``."""
    found = [p for p in participants(cfg) if p.cluster == cluster]
    if not found:
        raise ValueError(
            f"no cluster {cluster!r} in stack {cfg.stack!r} "
            f"(clusters: {', '.join(cluster_names(cfg))})"
        )
    return found
