"""Which connections NetworkPolicies allow, with the exact Kubernetes semantics.

A connection src -> dst on a port/protocol is allowed iff src's egress side allows it AND dst's
ingress side allows it (docs/design/netpol-semantics.md section 1). A side that no policy isolates
allows everything; an isolated side allows the union of the rules of every policy that selects
the pod.

Cost follows distinct label sets, not pods: pods are grouped into equivalence classes by
(namespace, labels, container ports [, which ipBlocks contain the pod IP when those match pods]),
selectors become bitmasks over classes (one big-int AND/OR per requirement, via an index of
classes by label), and a pair of classes is evaluated once, whatever the number of pods in them.

Two modes (the oracles disagree, see docs/design/netpol-semantics.md section 6):

* ``spec`` (default): the Kubernetes API semantics. ``ipblock_matches_pods`` switches on matching
  ipBlocks against pod IPs (Calico, cyclonus, k8s e2e); off by default, as the API docs ask for
  cluster-external CIDRs and Cilium never matches them. A pod talking to itself is evaluated
  like any other pair and reported separately.
* ``connlist``: netpol-analyzer's conventions: ipBlock never matches a pod, pod to itself is
  always allowed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from packetwalk.cluster.model import ContainerPort, Pod, PodShape
from packetwalk.errors import InputError
from packetwalk.netpol.ipblocks import IPBlock, format_range, ip_to_int, split_space
from packetwalk.netpol.model import Cluster, Peer, Policy, Rule
from packetwalk.netpol.ports import ALL, NONE, ConnSet
from packetwalk.netpol.ruleports import RulePorts
from packetwalk.netpol.selectors import Selector

MODES = ("spec", "connlist")


@dataclass(frozen=True)
class EvalOptions:
    mode: str = "spec"
    ipblock_matches_pods: bool = False
    per_pod: bool = False
    """One peer per pod instead of one per owner workload (no owner label-gap check then)."""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}")
        if self.mode == "connlist" and self.ipblock_matches_pods:
            raise InputError(
                "connlist mode follows netpol-analyzer, where an ipBlock never matches a pod; "
                "drop the ipBlock-matches-pods switch or use another format"
            )

    @property
    def self_always_allowed(self) -> bool:
        return self.mode == "connlist"


class _Members:
    """The pods of every class and workload, listed on first use.

    The matrix itself needs only the shapes of the pods; a Pod object per replica is made (by
    ``Cluster.pods``) when someone asks for the pods of a class or workload, such as explain.
    """

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.targets: dict[PodShape, tuple[list[Pod], list[Pod]]] = {}

    def fill(self) -> None:
        targets, self.targets = self.targets, {}
        if not targets:
            return
        by_shape: dict[PodShape, list[Pod]] = {}
        members_of = by_shape.get
        for pod in self.cluster.pods:
            shape = pod.shape
            members = members_of(shape)
            if members is None:
                by_shape[shape] = [pod]
            else:
                members.append(pod)
        for shape, members in by_shape.items():  # shapes in the order of their first pod
            for target in targets.get(shape, ()):
                target.extend(members)


@dataclass(eq=False)
class PodClass:
    """Pods that every policy treats alike."""

    index: int
    namespace: str
    labels: Mapping[str, str]
    ports: tuple[ContainerPort, ...]
    members: list[Pod] = field(default_factory=list, repr=False)
    lazy: _Members | None = field(default=None, repr=False)

    @property
    def pods(self) -> list[Pod]:
        if self.lazy is not None:
            self.lazy.fill()
        return self.members


@dataclass(eq=False)
class Workload:
    """A matrix peer made of pods: a workload manifest, a controller's pods, or a bare pod."""

    namespace: str
    name: str
    kind: str
    members: list[Pod] = field(default_factory=list, repr=False)
    classes: list[int] = field(default_factory=list)
    lazy: _Members | None = field(default=None, repr=False)

    @property
    def pods(self) -> list[Pod]:
        if self.lazy is not None:
            self.lazy.fill()
        return self.members

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.name}[{self.kind}]"


@dataclass(frozen=True)
class External:
    """An IPv4 range outside the cluster; one verdict holds for all of it."""

    lo: int
    hi: int
    index: int

    @property
    def label(self) -> str:
        return f"{format_range(self.lo, self.hi)}[External]"


Node = Workload | External


@dataclass
class _Entry:
    """Rules of one direction of one class, merged by ports: who they match, and on what."""

    class_mask: int
    atom_mask: int
    ports: RulePorts


def _bits(mask: int) -> Iterator[int]:
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


class Analysis:
    """The evaluated cluster. Build once, then ask for pairs, edges or whole matrices."""

    def __init__(self, cluster: Cluster, options: EvalOptions | None = None) -> None:
        self.cluster = cluster
        self.options = options or EvalOptions()
        self._ip_blocks: list[IPBlock] = self._collect_pod_matching_blocks()
        self.classes: list[PodClass] = []
        self.workloads: list[Workload] = []
        self._group_pods()
        self._full = (1 << len(self.classes)) - 1
        self._index_labels()
        self.sources = [
            External(lo, hi, i) for i, (lo, hi) in enumerate(split_space(self._blocks("ingress")))
        ]
        self.destinations = [
            External(lo, hi, i) for i, (lo, hi) in enumerate(split_space(self._blocks("egress")))
        ]
        self._selector_cache: dict[Selector, int] = {}
        self._ns_select_cache: dict[Selector, int] = {}
        self.subjects: dict[int, int] = {}  # id(policy) -> class mask it selects
        self._ingress: list[list[_Entry] | None] = [None] * len(self.classes)
        self._egress: list[list[_Entry] | None] = [None] * len(self.classes)
        self._build_entries()
        self._check_label_gaps()
        self._pair_cache: dict[tuple[int, int], ConnSet] = {}
        self._row_cache: dict[int, dict[int, ConnSet]] = {}

    # ------------------------------------------------------------------ grouping

    def _collect_pod_matching_blocks(self) -> list[IPBlock]:
        if not self.options.ipblock_matches_pods:
            return []
        blocks: dict[tuple[str, tuple[str, ...]], IPBlock] = {}
        for policy in self.cluster.policies:
            for rule in (*policy.ingress, *policy.egress):
                for peer in rule.peers or ():
                    if peer.ip_block is not None:
                        blocks[(peer.ip_block.cidr, peer.ip_block.excepts)] = peer.ip_block
        return list(blocks.values())

    def _ip_signature(self, pod: Pod) -> tuple[int, ...]:
        if not self._ip_blocks or pod.ip is None:
            return ()
        return tuple(i for i, b in enumerate(self._ip_blocks) if b.contains_ip(pod.ip))

    def _group_pods(self) -> None:
        # Replicas share one PodShape object (the loader interns them): the content key (sorted
        # labels, ports), the class and the workload are worked out once per shape, from the
        # cluster's column of shapes, and no Pod object is needed. Only pod IPs (when ipBlocks
        # match pods) or one peer per pod make the grouping per pod.
        keys: dict[tuple[object, ...], int] = {}
        by_owner: dict[tuple[str, str, str], Workload] = {}
        self._ip_sig: list[tuple[int, ...]] = []
        eager = bool(self._ip_blocks) or self.options.per_pod
        lazy = None if eager else _Members(self.cluster)
        # Buckets, and so classes, come in the order of their first pod, as pods did before.
        buckets: dict[tuple[PodShape, tuple[int, ...]], list[Pod]] = {}
        if eager:
            for pod in self.cluster.pods:
                buckets.setdefault((pod.shape, self._ip_signature(pod)), []).append(pod)
        else:
            buckets = {(shape, ()): [] for shape in dict.fromkeys(self.cluster.pod_shapes)}
        for (shape, sig), members in buckets.items():
            key = (shape.namespace, tuple(sorted(shape.labels.items())), shape.ports, sig)
            index = keys.get(key)
            if index is None:
                index = keys[key] = len(self.classes)
                self.classes.append(
                    PodClass(index, shape.namespace, shape.labels, shape.ports, lazy=lazy)
                )
                self._ip_sig.append(sig)
            cls = self.classes[index]
            cls.members.extend(members)
            if self.options.per_pod:
                for pod in members:
                    self._join(by_owner, shape.namespace, "Pod", pod.name, index, [pod])
            else:
                workload = self._join(
                    by_owner, shape.namespace, shape.owner.kind, shape.owner.name, index, members
                )
                if lazy is not None:
                    workload.lazy = lazy
                    lazy.targets[shape] = (cls.members, workload.members)
        self.workloads.sort(key=lambda w: w.label)

    def _join(
        self,
        by_owner: dict[tuple[str, str, str], Workload],
        namespace: str,
        kind: str,
        name: str,
        index: int,
        pods: list[Pod],
    ) -> Workload:
        key = (namespace, kind, name)
        workload = by_owner.get(key)
        if workload is None:
            workload = by_owner[key] = Workload(namespace, name, kind)
            self.workloads.append(workload)
        if index not in workload.classes:
            workload.classes.append(index)
        workload.members.extend(pods)
        return workload

    def _index_labels(self) -> None:
        self._by_label: dict[tuple[str, str], int] = {}
        self._by_key: dict[str, int] = {}
        self._by_ns: dict[str, int] = {}
        for cls in self.classes:
            bit = 1 << cls.index
            self._by_ns[cls.namespace] = self._by_ns.get(cls.namespace, 0) | bit
            for key, value in cls.labels.items():
                self._by_label[(key, value)] = self._by_label.get((key, value), 0) | bit
                self._by_key[key] = self._by_key.get(key, 0) | bit

    def _blocks(self, direction: str) -> list[IPBlock]:
        out: list[IPBlock] = []
        for policy in self.cluster.policies:
            for rule in policy.ingress if direction == "ingress" else policy.egress:
                out.extend(p.ip_block for p in rule.peers or () if p.ip_block is not None)
        return out

    # ------------------------------------------------------------------ selectors as masks

    def selector_mask(self, selector: Selector) -> int:
        """Classes whose labels the selector matches (in any namespace)."""
        hit = self._selector_cache.get(selector)
        if hit is not None:
            return hit
        mask = self._full
        for req in selector.requirements:
            if req.operator in ("In", "NotIn"):
                matched = 0
                for value in req.values:
                    matched |= self._by_label.get((req.key, value), 0)
                mask &= matched if req.operator == "In" else self._full & ~matched
            elif req.operator == "Exists":
                mask &= self._by_key.get(req.key, 0)
            else:
                mask &= self._full & ~self._by_key.get(req.key, 0)
        self._selector_cache[selector] = mask
        return mask

    def namespace_mask(self, selector: Selector) -> int:
        """Classes in the namespaces the namespaceSelector matches."""
        hit = self._ns_select_cache.get(selector)
        if hit is None:
            hit = 0
            for name, bits in self._by_ns.items():
                if selector.matches(self.cluster.namespace_labels(name)):
                    hit |= bits
            self._ns_select_cache[selector] = hit
        return hit

    def peer_mask(self, peer: Peer, policy_namespace: str) -> int:
        if peer.ip_block is not None:
            if not self._ip_blocks:
                return 0
            target = (peer.ip_block.cidr, peer.ip_block.excepts)
            ids = [i for i, b in enumerate(self._ip_blocks) if (b.cidr, b.excepts) == target]
            return sum(
                1 << c for c in range(len(self.classes)) if ids and ids[0] in self._ip_sig[c]
            )
        if peer.namespace_selector is None:
            ns_mask = self._by_ns.get(policy_namespace, 0)
        else:
            ns_mask = self.namespace_mask(peer.namespace_selector)
        if peer.pod_selector is None:
            return ns_mask
        return ns_mask & self.selector_mask(peer.pod_selector)

    def policy_subjects(self, policy: Policy) -> int:
        mask = self.subjects.get(id(policy))
        if mask is None:
            mask = self._by_ns.get(policy.namespace, 0) & self.selector_mask(policy.pod_selector)
            self.subjects[id(policy)] = mask
        return mask

    # ------------------------------------------------------------------ rules per class

    def _rule_masks(self, rule: Rule, policy: Policy, atoms: list[External]) -> tuple[int, int]:
        if rule.peers is None:
            return self._full, (1 << len(atoms)) - 1
        class_mask = 0
        atom_mask = 0
        for peer in rule.peers:
            class_mask |= self.peer_mask(peer, policy.namespace)
            if peer.ip_block is not None:
                for atom in atoms:
                    if peer.ip_block.covers(atom.lo, atom.hi):
                        atom_mask |= 1 << atom.index
        return class_mask, atom_mask

    def _build_entries(self) -> None:
        ports_cache: dict[int, RulePorts] = {}
        merged_in: list[dict[object, _Entry]] = [{} for _ in self.classes]
        merged_out: list[dict[object, _Entry]] = [{} for _ in self.classes]
        for policy in self.cluster.policies:
            subjects = self.policy_subjects(policy)
            if not subjects:
                continue
            for direction, isolates, rules, atoms, merged, store in (
                (
                    "ingress",
                    policy.isolates_ingress,
                    policy.ingress,
                    self.sources,
                    merged_in,
                    self._ingress,
                ),
                (
                    "egress",
                    policy.isolates_egress,
                    policy.egress,
                    self.destinations,
                    merged_out,
                    self._egress,
                ),
            ):
                if not isolates:
                    continue
                computed = []
                for rule in rules:
                    class_mask, atom_mask = self._rule_masks(rule, policy, atoms)
                    if not class_mask and not atom_mask:
                        continue
                    rp = ports_cache.get(id(rule))
                    if rp is None:
                        rp = ports_cache[id(rule)] = RulePorts(rule.ports)
                    key: object = rp.fixed if not rp.named else id(rp)
                    computed.append((key, class_mask, atom_mask, rp))
                for cls in _bits(subjects):
                    if store[cls] is None:
                        store[cls] = []
                    bucket = merged[cls]
                    for key, class_mask, atom_mask, rp in computed:
                        entry = bucket.get(key)
                        if entry is None:
                            bucket[key] = _Entry(class_mask, atom_mask, rp)
                        else:
                            entry.class_mask |= class_mask
                            entry.atom_mask |= atom_mask
                del direction
        for cls in range(len(self.classes)):
            if self._ingress[cls] is not None:
                self._ingress[cls] = list(merged_in[cls].values())
            if self._egress[cls] is not None:
                self._egress[cls] = list(merged_out[cls].values())

    def _check_label_gaps(self) -> None:
        """Pods of one owner must look alike to every selector (netpol-analyzer convention 6)."""
        for workload in self.workloads:
            if len({tuple(sorted(self.classes[c].labels.items())) for c in workload.classes}) < 2:
                continue
            wmask = sum(1 << c for c in workload.classes)
            for policy in self.cluster.policies:
                checks: list[tuple[str, int]] = []
                if policy.namespace == workload.namespace:
                    checks.append(("spec.podSelector", self.policy_subjects(policy)))
                for direction, key, rules in (
                    ("ingress", "from", policy.ingress),
                    ("egress", "to", policy.egress),
                ):
                    for rule in rules:
                        for pi, peer in enumerate(rule.peers or ()):
                            if peer.pod_selector is not None:
                                checks.append(
                                    (
                                        f"spec.{direction}[{rule.index}].{key}[{pi}].podSelector",
                                        self.peer_mask(peer, policy.namespace),
                                    )
                                )
                for field_path, mask in checks:
                    part = mask & wmask
                    if part and part != wmask:
                        keys = self._differing_keys(workload)
                        origin = policy.origin
                        raise InputError(
                            f"NetworkPolicy {policy.ref}: {field_path}: selects only some pods of "
                            f"the same owner workload {workload.label}, whose pods differ in "
                            f"labels {', '.join(keys)}; give the pods of one owner the labels "
                            "that selectors use (netpol-analyzer refuses this input too)",
                            source=origin.source if origin else None,
                            location=origin.location if origin else None,
                        )

    def _differing_keys(self, workload: Workload) -> list[str]:
        label_sets = [self.classes[c].labels for c in workload.classes]
        keys = set().union(*(set(ls) for ls in label_sets))
        return sorted(k for k in keys if len({ls.get(k) for ls in label_sets}) > 1)

    # ------------------------------------------------------------------ evaluation

    def class_pair(self, a: int, b: int) -> ConnSet:
        """Connections from any pod of class ``a`` to any pod of class ``b`` (no self rule)."""
        key = (a, b)
        hit = self._pair_cache.get(key)
        if hit is not None:
            return hit
        egress = self._egress[a]
        dst_ports = self.classes[b].ports
        if egress is None:
            out = ALL
        else:
            bit = 1 << b
            out = NONE
            for entry in egress:
                if entry.class_mask & bit:
                    out = out | entry.ports.on(dst_ports)
        if not out.is_empty:
            ingress = self._ingress[b]
            if ingress is not None:
                bit = 1 << a
                allowed = NONE
                for entry in ingress:
                    if entry.class_mask & bit:
                        allowed = allowed | entry.ports.on(dst_ports)
                out = out & allowed
        self._pair_cache[key] = out
        return out

    def from_external(self, atom: External, b: int) -> ConnSet:
        ingress = self._ingress[b]
        if ingress is None:
            return ALL
        bit = 1 << atom.index
        dst_ports = self.classes[b].ports
        out = NONE
        for entry in ingress:
            if entry.atom_mask & bit:
                out = out | entry.ports.on(dst_ports)
        return out

    def to_external(self, a: int, atom: External) -> ConnSet:
        egress = self._egress[a]
        if egress is None:
            return ALL
        bit = 1 << atom.index
        out = NONE
        for entry in egress:
            if entry.atom_mask & bit:
                out = out | entry.ports.on(())
        return out

    def conn(self, src: Node, dst: Node) -> ConnSet:
        if isinstance(src, External):
            if isinstance(dst, External):
                return NONE
            return _union(self.from_external(src, b) for b in dst.classes)
        if isinstance(dst, External):
            return _union(self.to_external(a, dst) for a in src.classes)
        if src is dst and self.options.self_always_allowed:
            return ALL
        return _union(self.class_pair(a, b) for a in src.classes for b in dst.classes)

    @cached_property
    def class_of(self) -> dict[int, int]:
        """id(pod) -> its class; built on the first per-pod question, not for every matrix."""
        return {id(pod): cls.index for cls in self.classes for pod in cls.pods}

    def pod_conn(self, src: Pod, dst: Pod) -> ConnSet:
        if src is dst and self.options.self_always_allowed:
            return ALL
        return self.class_pair(self.class_of[id(src)], self.class_of[id(dst)])

    def isolation(self, cls: int) -> tuple[bool, bool]:
        return self._ingress[cls] is not None, self._egress[cls] is not None

    # ------------------------------------------------------------------ whole rows
    # A row starts from the side that is usually narrow (the source's egress entries, or the
    # destination's ingress entries for External sources), so a default-deny cluster costs what
    # its allow rules open, not classes squared.

    def class_row(self, a: int) -> dict[int, ConnSet]:
        """Every destination class ``a`` may reach, with the connections (no self rule)."""
        hit = self._row_cache.get(a)
        if hit is not None:
            return hit
        egress = self._egress[a]
        candidates: dict[int, ConnSet] = {}
        if egress is None:
            candidates = dict.fromkeys(range(len(self.classes)), ALL)
        else:
            for entry in egress:
                for b in _bits(entry.class_mask):
                    conn = entry.ports.on(self.classes[b].ports)
                    if not conn.is_empty:
                        prev = candidates.get(b)
                        candidates[b] = conn if prev is None else prev | conn
        row: dict[int, ConnSet] = {}
        bit = 1 << a
        for b, out in candidates.items():
            ingress = self._ingress[b]
            if ingress is not None:
                dst_ports = self.classes[b].ports
                allowed = NONE
                for entry in ingress:
                    if entry.class_mask & bit:
                        allowed = allowed | entry.ports.on(dst_ports)
                out = out & allowed
            if not out.is_empty:
                row[b] = out
        self._row_cache[a] = row
        return row

    def _atom_row(
        self, entries: list[_Entry] | None, count: int, dst_ports: tuple[ContainerPort, ...]
    ) -> dict[int, ConnSet]:
        if entries is None:
            return dict.fromkeys(range(count), ALL)
        row: dict[int, ConnSet] = {}
        for entry in entries:
            if not entry.atom_mask:
                continue
            conn = entry.ports.on(dst_ports)
            if conn.is_empty:
                continue
            for index in _bits(entry.atom_mask):
                prev = row.get(index)
                row[index] = conn if prev is None else prev | conn
        return row

    def edges(self, *, external: bool = True) -> Iterator[tuple[Node, Node, ConnSet]]:
        """Every ordered pair of distinct peers with at least one allowed connection."""
        index_of = {id(w): i for i, w in enumerate(self.workloads)}
        by_class: dict[int, list[int]] = {}
        for i, w in enumerate(self.workloads):
            for c in w.classes:
                by_class.setdefault(c, []).append(i)
        if external:
            for dst in self.workloads:
                inbound: dict[int, ConnSet] = {}
                for b in dst.classes:
                    row = self._atom_row(self._ingress[b], len(self.sources), self.classes[b].ports)
                    for atom_index, conn in row.items():
                        inbound[atom_index] = inbound.get(atom_index, NONE) | conn
                for atom_index in sorted(inbound):
                    yield self.sources[atom_index], dst, inbound[atom_index]
        for src in self.workloads:
            reach: dict[int, ConnSet] = {}
            for a in src.classes:
                for b, conn in self.class_row(a).items():
                    for target in by_class[b]:
                        prev = reach.get(target)
                        reach[target] = conn if prev is None else prev | conn
            reach.pop(index_of[id(src)], None)
            for target in sorted(reach):
                yield src, self.workloads[target], reach[target]
            if external:
                outbound: dict[int, ConnSet] = {}
                for a in src.classes:
                    for atom_index, conn in self._atom_row(
                        self._egress[a], len(self.destinations), ()
                    ).items():
                        outbound[atom_index] = outbound.get(atom_index, NONE) | conn
                for atom_index in sorted(outbound):
                    yield src, self.destinations[atom_index], outbound[atom_index]

    def self_pairs(self) -> list[tuple[Workload, ConnSet]]:
        """Spec mode: what each workload's pods may send to pods of the same workload."""
        return [
            (w, _union(self.class_pair(a, b) for a in w.classes for b in w.classes))
            for w in self.workloads
        ]

    @cached_property
    def peers(self) -> dict[str, Node]:
        out: dict[str, Node] = {w.label: w for w in self.workloads}
        for atom in (*self.sources, *self.destinations):
            out.setdefault(atom.label, atom)
        return out

    def find_workload(self, text: str) -> Workload | None:
        """Look up ``ns/name[Kind]``, ``ns/name`` or a pod name ``ns/pod``."""
        if text in self.peers and isinstance(self.peers[text], Workload):
            return self.peers[text]  # type: ignore[return-value]
        ns, _, name = text.rpartition("/")
        ns = ns or "default"
        matches = [w for w in self.workloads if w.namespace == ns and w.name == name]
        if len(matches) == 1:
            return matches[0]
        for w in self.workloads:
            if any(p.namespace == ns and p.name == name for p in w.pods):
                return w
        return None

    def external_for_ip(self, ip: str, *, as_source: bool) -> External | None:
        value = ip_to_int(ip)
        if value is None:
            return None
        for atom in self.sources if as_source else self.destinations:
            if atom.lo <= value <= atom.hi:
                return atom
        return None


def _union(conns: Iterator[ConnSet]) -> ConnSet:
    out = NONE
    for conn in conns:
        out = out | conn
    return out


def analyze(cluster: Cluster, options: EvalOptions | None = None) -> Analysis:
    return Analysis(cluster, options)
