"""``invoke verify`` through :class:`~packetwalk.kube.access.ClusterAccess`: probe, compare.

The Namespaces, Pods and NetworkPolicies are read once and both the evaluator and the probe plan
use that one reading. Probes run from the pods themselves, in the idle netshoot container of the
capture toolkit (:data:`~packetwalk.kube.captures.PROBE_CONTAINER`, attached once and reused),
one exec per source running all of its probes at once; all sources in parallel threads. The
outside client is a node's host-network debug pod. Progress is reported through a callback, so
the task draws the bar and this module prints nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from typing import Any

from packetwalk.cluster.model import Pod
from packetwalk.errors import PacketwalkError
from packetwalk.kube.access import (
    DEBUG_CONTAINER,
    ClusterAccess,
    PodInfo,
    access_errors,
    is_forbidden,
)
from packetwalk.kube.captures import PROBE_CONTAINER, node_debug_pod_name
from packetwalk.kube.tools import attach_tool_container
from packetwalk.lab.versions import NETSHOOT_IMAGE
from packetwalk.netpol.evaluator import Analysis, analyze
from packetwalk.netpol.explain import explain, render_text
from packetwalk.netpol.loader import cluster_from_objects
from packetwalk.verify.compare import Result, compare, diagnose
from packetwalk.verify.plan import (
    ALL_PORTS,
    DNS_SELECTOR,
    OUTSIDE,
    TRAEFIK_LABEL,
    Endpoint,
    PortChoice,
    Probe,
    Scope,
    SourceSpec,
    plan_probes,
)
from packetwalk.verify.script import Outcome, build_script, parse_output

RESOURCES = (("namespaces", "Namespace"), ("pods", "Pod"), ("networkpolicies", "NetworkPolicy"))

Progress = Callable[[int, int], None]
"""``(probes done, probes in all)`` after each source finishes."""


@dataclass(frozen=True)
class VerifyOptions:
    namespace: str
    ports: PortChoice = ALL_PORTS
    external: tuple[str, int] | None = None
    timeout: int = 1
    parallel: int = 16
    image: str = NETSHOOT_IMAGE
    private: frozenset[str] = frozenset()
    """Namespaces never probed from or into (a workshop's other participants' labs)."""


@dataclass
class VerifyReport:
    namespace: str
    results: list[Result]
    causes: list[str]
    problems: list[str] = field(default_factory=list)
    """Sources that could not be probed (no probe container, exec failed), one line each."""
    limited: str | None = None
    """Why only the namespace itself was probed (credentials that cannot read the cluster)."""

    @property
    def mismatches(self) -> list[Result]:
        return [r for r in self.results if r.mismatch]


def read_objects(access: ClusterAccess, namespace: str | None = None) -> list[dict[str, Any]]:
    """Namespaces, Pods and NetworkPolicies of the cluster, or of ``namespace`` only (then its
    Namespace object is the one the API server would show for its name: the label
    ``kubernetes.io/metadata.name`` it sets on every namespace, and no other)."""
    objects: list[dict[str, Any]] = []
    for resource, kind in RESOURCES:
        if namespace is not None and resource == "namespaces":
            labels = {NAME_LABEL: namespace}
            objects.append({"kind": kind, "metadata": {"name": namespace, "labels": labels}})
            continue
        for item in access.get_objects(resource, namespace=namespace):
            item = dict(item)
            item.setdefault("kind", kind)
            objects.append(item)
    return objects


NAME_LABEL = "kubernetes.io/metadata.name"


def read_cluster(
    access: ClusterAccess, namespace: str
) -> tuple[list[dict[str, Any]], list[PodInfo], str | None]:
    """The objects and running pods verify works on, read once.

    Credentials that only cover ``namespace`` (a workshop participant's Role) cannot list the
    cluster: then the namespace alone is read and the third value says what that leaves out.
    Policies of the namespace decide every flow inside it (both the egress and the ingress side
    are there), so those verdicts stay exact.
    """
    try:
        return read_objects(access), access.pods(), None
    except access_errors(access) as error:
        if not is_forbidden(error):
            raise
        limited = (
            f"the cluster cannot be read with these credentials ({error}): only the pods of"
            f" {namespace} were probed, among themselves; DNS, Traefik, other namespaces and"
            " the outside client were left out, and namespace labels other than"
            f" {NAME_LABEL} are unknown"
        )
    return read_objects(access, namespace), access.pods(namespace), limited


def build_scope(
    analysis: Analysis, running: Sequence[PodInfo], options: VerifyOptions, outside: Endpoint | None
) -> Scope:
    info = {(p.namespace, p.name): p for p in running}

    def live(pod: Pod) -> bool:
        found = info.get((pod.namespace, pod.name))
        return bool(found and found.phase == "Running" and pod.ip and not pod.host_network)

    pods = [p for p in analysis.cluster.pods if live(p)]
    in_scope = [p for p in pods if p.namespace == options.namespace]
    key, value = TRAEFIK_LABEL
    others = [p for p in pods if p.namespace != options.namespace and p.labels.get(key) == value]
    if not others:
        skip = {options.namespace, "kube-system", *options.private}
        others = [p for p in pods if p.namespace not in skip][:1]
    dns = next(
        (p for p in pods if all(p.labels.get(k) == v for k, v in DNS_SELECTOR.items())), None
    )
    nodes = {f"{p.namespace}/{p.name}": p.node for p in running}
    return Scope(in_scope, nodes, others, dns, outside, options.external, options.ports)


def _outside(access: ClusterAccess) -> Endpoint | None:
    """The outside client: the first node's host-network debug pod (on kind, the control plane,
    where no app pod runs, so it reaches every app pod across the network)."""
    try:
        nodes = access.nodes()
    except access_errors(access) as error:
        if not is_forbidden(error):
            raise
        return None  # nodes are cluster-scoped: a namespace role has no outside client
    for node in nodes:
        if node.internal_ip:
            return Endpoint(f"{OUTSIDE} (node {node.name})", node.internal_ip, node=node.name)
    return None


def _attach(access: ClusterAccess, info: PodInfo, image: str) -> None:
    if not attach_tool_container(access, info, PROBE_CONTAINER, image):
        raise PacketwalkError(
            f"probe container {PROBE_CONTAINER} in pod {info.namespace}/{info.name} is not "
            f"running (image pull, PodSecurity level, or it has ended); see kubectl describe "
            f"pod -n {info.namespace} {info.name}"
        )


def _probe_source(
    access: ClusterAccess,
    source: SourceSpec,
    probes: list[Probe],
    running: dict[tuple[str, str], PodInfo],
    options: VerifyOptions,
) -> tuple[dict[int, Outcome], str | None]:
    errors = access_errors(access)
    try:
        if source.kind == "outside":
            node = source.endpoint.node or ""
            pod = access.node_debug_pod(node, name=node_debug_pod_name(node), image=options.image)
            namespace, name, container = pod.namespace, pod.name, DEBUG_CONTAINER
        else:
            namespace, name = source.endpoint.namespace, source.endpoint.name
            _attach(access, running[(namespace, name)], options.image)
            container = PROBE_CONTAINER
        script = build_script(probes, options.timeout)
        result = access.exec(
            namespace,
            name,
            ["bash", "-c", script],
            container=container,
            timeout=float(options.timeout) + 30,
        )
    except errors as error:
        return {}, f"{source.endpoint.label}: {error}"
    observed = parse_output(probes, result.stdout)
    problem = None
    if all(o == "error" for o in observed.values()):
        why = (result.stderr or result.stdout).strip() or "no output"
        problem = (
            f"{source.endpoint.label}: the probes did not run (exit {result.exit_code}): {why}"
        )
    return observed, problem


def _reason(analysis: Analysis, probe: Probe) -> str:
    src = probe.source.endpoint
    src_text = src.ip if probe.source.kind == "outside" else src.label
    dst = probe.target
    dst_text = dst.ip if probe.target_kind == "external" else f"{dst.namespace}/{dst.name}"
    try:
        report = explain(analysis, src_text, dst_text, f"{probe.port}/{probe.protocol}")
    except PacketwalkError as error:
        return str(error)
    return render_text(report)


def verify(
    access: ClusterAccess, options: VerifyOptions, *, progress: Progress | None = None
) -> VerifyReport:
    """Probe the cluster and compare with the policies read from it at the same time."""
    objects, running, limited = read_cluster(access, options.namespace)
    analysis = analyze(cluster_from_objects(objects, source="the cluster"))
    outside = _outside(access) if limited is None else None
    scope = build_scope(analysis, running, options, outside)
    if not scope.pods:
        raise PacketwalkError(
            f"no running pods in namespace {options.namespace}: nothing to verify "
            "(--namespace names the app's namespace)"
        )
    probes = plan_probes(analysis, scope)
    by_source: dict[SourceSpec, list[Probe]] = {}
    for probe in probes:
        by_source.setdefault(probe.source, []).append(probe)
    by_key = {(p.namespace, p.name): p for p in running}
    observed: dict[int, Outcome] = {}
    problems: list[str] = [limited] if limited else []
    done = 0
    if progress is not None:
        progress(0, len(probes))
    workers = max(1, min(options.parallel, len(by_source)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {
            pool.submit(_probe_source, access, source, batch, by_key, options): batch
            for source, batch in by_source.items()
        }
        for future in as_completed(futures):
            batch = futures[future]
            outcome, problem = future.result()
            observed.update(outcome)
            if problem:
                problems.append(problem)
            done += len(batch)
            if progress is not None:
                progress(done, len(probes))
    results = compare(probes, observed)
    results = [replace(r, reason=_reason(analysis, r.probe)) if r.mismatch else r for r in results]
    return VerifyReport(options.namespace, results, diagnose(results), problems, limited)
