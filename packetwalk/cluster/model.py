"""The cluster model: typed, validated forms of the Kubernetes objects packetwalk reads.

:mod:`packetwalk.cluster.read` is the one reader that makes these from API objects (Pods,
workloads, Services, EndpointSlices, Endpoints, Nodes, owner references). Everything after it
works on these values, never on raw dicts, so every "is this field present / empty" question is
answered once, with the Kubernetes meaning.

Two views of a pod exist because two kinds of consumer need different things of it:

- :class:`PodInfo` is a running pod as a person and the walk see it (node, IP, containers, phase);
  :class:`~packetwalk.kube.access.ClusterAccess` lists these.
- :class:`Pod` with its shared :class:`PodShape` is a pod as NetworkPolicy sees it (labels,
  ports, owner): replicas share a shape, so evaluation reads few shapes, not every replica. A
  workload manifest (a Deployment before it runs) is one such pod.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

NAME_LABEL = "kubernetes.io/metadata.name"
"""The label every Namespace carries with its own name."""

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
"""The label that ties an EndpointSlice to its Service."""

MIN_PORT = 1
MAX_PORT = 65535
PROTOCOL_CHOICES: tuple[str, ...] = ("TCP", "UDP", "SCTP")
"""The protocols a container port, a Service port and a NetworkPolicy port may name."""


@dataclass(frozen=True)
class Origin:
    """Where an object came from, for error messages: a file and the line its document starts."""

    source: str
    line: int | None = None

    @property
    def location(self) -> str | None:
        return f"line {self.line}" if self.line else None


# --------------------------------------------------------------------------- pods


@dataclass(frozen=True)
class ContainerPort:
    """One ``containers[].ports[]`` entry."""

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
    """Everything NetworkPolicy evaluation reads of a pod except its name and IP.

    Replicas share one shape (the reader interns it), so a cluster of many pods and few label
    sets holds few of these and grouping pods costs a lookup per pod, not a comparison.
    """

    namespace: str
    labels: Mapping[str, str]
    ports: tuple[ContainerPort, ...]
    owner: Owner
    host_network: bool = False


@dataclass(frozen=True, eq=False, slots=True)
class Pod:
    """A pod as policies see it (or a workload manifest's one pod): its own name, IP and origin,
    plus its shared shape."""

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


@dataclass
class ClusterObjects:
    """Namespaces and pods as policies see them. Namespaces always carry the metadata.name label.

    Pods are kept as columns (name, shape, IP, origin): a cluster dump is mostly replicas, and
    evaluation reads only their few shared shapes, so a :class:`Pod` object per replica is made
    only when someone asks for ``pods`` (then once: the same objects on every later call).
    """

    namespaces: dict[str, Namespace] = field(default_factory=dict)
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
            self._pods.extend(
                map(
                    Pod,
                    self.pod_names[made:],
                    self.pod_shapes[made:],
                    self.pod_ips[made:],
                    self.pod_origins[made:],
                )
            )
        return self._pods

    def add_pod(
        self, name: str, shape: PodShape, ip: str | None = None, origin: Origin | None = None
    ) -> None:
        self.pod_names.append(name)
        self.pod_shapes.append(shape)
        self.pod_ips.append(ip)
        self.pod_origins.append(origin)

    def namespace_labels(self, name: str) -> Mapping[str, str]:
        ns = self.namespaces.get(name)
        return ns.labels if ns is not None else {NAME_LABEL: name}


@dataclass(frozen=True)
class PodInfo:
    """A running pod: where it runs, its address, its containers and phase."""

    namespace: str
    name: str
    ip: str | None
    node: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    containers: tuple[str, ...] = ()
    ephemeral_containers: tuple[str, ...] = ()
    phase: str = "Running"
    host_network: bool = False


@dataclass(frozen=True)
class WorkloadInfo:
    """A workload as policies are written for it: which pods it has and which ports they
    listen on. A workload manifest (Deployment, StatefulSet, ...) or a bare Pod."""

    namespace: str
    name: str
    kind: str
    selector: Mapping[str, str]
    """Labels that select exactly its pods (its ``spec.selector.matchLabels``)."""
    pod_labels: Mapping[str, str]
    ports: tuple[ContainerPort, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


# --------------------------------------------------------------------------- nodes


@dataclass(frozen=True)
class NodeInfo:
    name: str
    internal_ip: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    pod_cidrs: tuple[str, ...] = ()


# --------------------------------------------------------------------------- services


@dataclass(frozen=True)
class ServicePort:
    """One ``spec.ports[]`` entry; ``target_port`` is a number or a container port's name."""

    port: int
    target_port: int | str
    protocol: str = "TCP"
    name: str | None = None
    node_port: int | None = None


@dataclass(frozen=True)
class ServiceInfo:
    """A Service: its addresses, ports and the pods it selects."""

    namespace: str
    name: str
    type: str = "ClusterIP"
    cluster_ips: tuple[str, ...] = ()
    """``spec.clusterIP`` and ``spec.clusterIPs`` as given (without ``None``, a headless
    Service); empty when the object does not say (a manifest before the cluster assigns one)."""
    ports: tuple[ServicePort, ...] = ()
    selector: Mapping[str, str] = field(default_factory=dict)
    lb_ips: tuple[str, ...] = ()
    """``status.loadBalancer.ingress[].ip``."""
    lb_hostnames: tuple[str, ...] = ()
    """``status.loadBalancer.ingress[].hostname`` of the entries without an IP."""
    external_traffic_policy: str = "Cluster"
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def cluster_ip(self) -> str | None:
        return self.cluster_ips[0] if self.cluster_ips else None

    @property
    def external_address(self) -> str | None:
        """The load balancer's address: its first IP, else its first hostname."""
        return next(iter((*self.lb_ips, *self.lb_hostnames)), None)

    def selects_labels(self, namespace: str, labels: Mapping[str, str]) -> bool:
        """Whether pods with these labels in ``namespace`` are behind this Service."""
        return (
            bool(self.selector)
            and namespace == self.namespace
            and all(labels.get(k) == v for k, v in self.selector.items())
        )

    def selects(self, pod: PodInfo) -> bool:
        return self.selects_labels(pod.namespace, pod.labels)


@dataclass(frozen=True)
class EndpointPort:
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True)
class ServiceEndpoints:
    """What the EndpointSlices and Endpoints objects given for one Service say.

    Only the objects that were given count: an empty ``addresses`` means the objects exist and
    list no ready address, which is not the same as no object at all.
    """

    namespace: str
    service: str
    addresses: tuple[str, ...]
    """Ready addresses (EndpointSlice ``conditions.ready`` not false; Endpoints ``addresses``,
    not ``notReadyAddresses``), in the order given, without repeats."""
    ports: tuple[EndpointPort, ...]
    sources: tuple[str, ...]
    """The objects they came from, ``EndpointSlice/<name>`` or ``Endpoints/<name>``."""
