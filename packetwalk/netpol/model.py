"""Typed, validated form of the objects NetworkPolicy evaluation needs.

The loader turns manifests into these; everything after the loader works on them only, never on
raw dicts, so every "is this field present / empty" question is answered once, here, with the
Kubernetes meaning (``None`` = absent = all; an empty tuple = nothing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from packetwalk.netpol.ipblocks import IPBlock
from packetwalk.netpol.selectors import Selector

NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Origin:
    """Where an object came from, for error messages: a file and the line its document starts."""

    source: str
    line: int | None = None

    @property
    def location(self) -> str | None:
        return f"line {self.line}" if self.line else None


@dataclass(frozen=True)
class ContainerPort:
    port: int
    protocol: str = "TCP"
    name: str | None = None


@dataclass(frozen=True, eq=False)
class Namespace:
    name: str
    labels: Mapping[str, str]
    origin: Origin | None = None


@dataclass(frozen=True)
class Owner:
    """The workload a pod is grouped under: ``kind`` Deployment, ReplicaSet, ..., or Pod."""

    kind: str
    name: str


@dataclass(frozen=True, eq=False)
class PodShape:
    """Everything evaluation reads of a pod except its name and IP.

    Replicas share one shape (the loader interns it), so a cluster of many pods and few label
    sets holds few of these and grouping pods costs a lookup per pod, not a comparison.
    """

    namespace: str
    labels: Mapping[str, str]
    ports: tuple[ContainerPort, ...]
    owner: Owner
    host_network: bool = False


@dataclass(frozen=True, eq=False, slots=True)
class Pod:
    """A pod (or a workload manifest's one pod): what is its own, plus its shared shape."""

    name: str
    shape: PodShape
    ip: str | None = None
    origin: Origin | None = None

    @property
    def namespace(self) -> str:
        return self.shape.namespace

    @property
    def labels(self) -> Mapping[str, str]:
        return self.shape.labels

    @property
    def ports(self) -> tuple[ContainerPort, ...]:
        return self.shape.ports

    @property
    def owner(self) -> Owner:
        return self.shape.owner

    @property
    def host_network(self) -> bool:
        return self.shape.host_network

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
class Cluster:
    """Everything one evaluation sees. Namespaces always carry the metadata.name label.

    Pods are kept as columns (name, shape, IP, origin): a cluster dump is mostly replicas, and
    evaluation reads only their few shared shapes, so a :class:`Pod` object per replica is made
    only when someone asks for ``pods`` (then once: the same objects on every later call).
    """

    namespaces: dict[str, Namespace] = field(default_factory=dict)
    policies: list[Policy] = field(default_factory=list)
    skipped_kinds: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: ``namespace/name`` of each Pod in phase Succeeded or Failed that was left out
    finished_pods: list[str] = field(default_factory=list)
    pod_names: list[str] = field(default_factory=list, repr=False)
    pod_shapes: list[PodShape] = field(default_factory=list, repr=False)
    pod_ips: list[str | None] = field(default_factory=list, repr=False)
    pod_origins: list[Origin | None] = field(default_factory=list, repr=False)
    _pods: list[Pod] = field(default_factory=list, repr=False)

    @property
    def pods(self) -> list[Pod]:
        """Every pod, in input order. Read it; add pods with :meth:`add_pod`."""
        made = len(self._pods)
        if made < len(self.pod_names):
            self._pods.extend(map(Pod, self.pod_names[made:], self.pod_shapes[made:],
                                  self.pod_ips[made:], self.pod_origins[made:]))
        return self._pods

    def add_pod(self, name: str, shape: PodShape, ip: str | None = None,
                origin: Origin | None = None) -> None:
        self.pod_names.append(name)
        self.pod_shapes.append(shape)
        self.pod_ips.append(ip)
        self.pod_origins.append(origin)

    def namespace_labels(self, name: str) -> Mapping[str, str]:
        ns = self.namespaces.get(name)
        return ns.labels if ns is not None else {NAME_LABEL: name}
