"""Typed, validated form of the NetworkPolicies evaluation needs, and the cluster it sees.

The loader turns manifests into these (pods and namespaces are :mod:`packetwalk.cluster`'s);
everything after the loader works on them only, never on raw dicts, so every "is this field
present / empty" question is answered once, with the Kubernetes meaning (``None`` = absent =
all; an empty tuple = nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packetwalk.cluster.model import ClusterObjects, Origin
from packetwalk.netpol.ipblocks import IPBlock
from packetwalk.netpol.selectors import Selector


@dataclass(frozen=True, eq=False)
class PortSpec:
    """One entry of a rule's ``ports``: ``port`` None means every port of the protocol."""

    protocol: str
    port: int | str | None = None
    end_port: int | None = None

    def text(self) -> str:
        if self.port is None:
            return f"{self.protocol} (all ports)"
        if self.end_port is not None:
            return f"{self.protocol} {self.port}-{self.end_port}"
        return f"{self.protocol} {self.port}"


@dataclass(frozen=True, eq=False)
class Peer:
    """One ``from``/``to`` element: selectors ANDed, or an ipBlock (never both)."""

    pod_selector: Selector | None = None
    namespace_selector: Selector | None = None
    ip_block: IPBlock | None = None

    def text(self, policy_namespace: str) -> str:
        if self.ip_block is not None:
            return f"ipBlock {self.ip_block.text()}"
        parts = []
        if self.namespace_selector is None:
            parts.append(f"namespace {policy_namespace}")
        else:
            parts.append(f"namespaces [{self.namespace_selector.text()}]")
        if self.pod_selector is not None:
            parts.append(f"pods [{self.pod_selector.text()}]")
        else:
            parts.append("all pods")
        return " ".join(parts)


@dataclass(frozen=True, eq=False)
class Rule:
    """An ingress or egress rule. ``peers``/``ports`` None = all (absent or empty list)."""

    index: int
    peers: tuple[Peer, ...] | None
    ports: tuple[PortSpec, ...] | None


@dataclass(frozen=True, eq=False)
class Policy:
    namespace: str
    name: str
    pod_selector: Selector
    ingress: tuple[Rule, ...]
    egress: tuple[Rule, ...]
    isolates_ingress: bool
    isolates_egress: bool
    origin: Origin | None = None

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class Cluster(ClusterObjects):
    """Everything one evaluation sees: the namespaces and pods read (the policy view of
    :mod:`packetwalk.cluster`), and the NetworkPolicies."""

    policies: list[Policy] = field(default_factory=list)
