"""Stack facts: the names lab templates and ``when`` expressions read.

Static facts come from the stack config alone (``--dry-run`` and ``lab-validate`` use them with no
cluster); runtime facts (node IPs, pods, Services) are a view of the cluster model
(:class:`~packetwalk.cluster.state.ClusterState`), read from a live cluster through
:class:`~packetwalk.kube.access.ClusterAccess` or from a snapshot of its objects. Without a
cluster the runtime facts are :class:`~packetwalk.playbook.templating.Unknown` placeholders,
which print as their template.

On a workshop stack (``packetwalk:participants: N``) the facts are one participant's:
``app_namespace`` is that participant's namespace (``vote-p03``), ``app_hosts`` their host
names, and ``participant`` says who they are; :func:`select_participant` turns the
``--participant`` option into that participant (a wrong number names the option and the range),
:func:`participant_namespace` into the namespace a command works in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from packetwalk.cluster.model import PodInfo, ServiceInfo, ServicePort
from packetwalk.cluster.state import ClusterState, ObjectSource
from packetwalk.errors import InputError
from packetwalk.kube.access import access_errors
from packetwalk.lab.config import LabConfig
from packetwalk.lab.contexts import kube_context
from packetwalk.lab.gke import ingress_host
from packetwalk.lab.kindconfig import node_names
from packetwalk.lab.objects import local_host
from packetwalk.lab.participants import Participant, participants
from packetwalk.lab.votingapp import FRONTENDS
from packetwalk.playbook.templating import Unknown, Unreadable

RUNTIME_FACTS = ("node_ips", "pods", "app_pods", "services")
"""Facts only a running cluster knows (labs/FORMAT.md documents every fact)."""


PARTICIPANT_OPTION = "--participant"


def select_participant(cfg: LabConfig, number: int = 0) -> Participant:
    """The participant ``--participant N`` names (1-based); 0 means the option was not given.

    A workshop stack (several participants) needs the option: a participant who forgot it must
    not work in someone else's namespace. A number outside the stack's participants is an
    :class:`InputError` naming the option, the stack and the valid range.
    """
    everyone = participants(cfg)
    count = len(everyone)
    if number == 0 and count == 1:
        return everyone[0]
    if not 1 <= number <= count:
        valid = "1 (a single-participant stack)" if count == 1 else f"1 to {count}"
        problem = (
            f"stack {cfg.stack} has {count} participants: say which one you are"
            if number == 0
            else f"stack {cfg.stack} has no participant {number}"
        )
        raise InputError(
            f"{problem} (valid: {valid})",
            location=PARTICIPANT_OPTION,
        )
    return everyone[number - 1]


NAMESPACE_OPTION = "--namespace"


def participant_namespace(cfg: LabConfig, number: int = 0, namespace: str = "") -> str:
    """The namespace a command works in, from ``--participant N`` and ``--namespace NS``.

    ``--namespace`` alone is taken as given (the instructor, or a lab check that names the
    participant's namespace itself). Otherwise it is participant N's namespace
    (:func:`select_participant`: a workshop stack needs the option); with both, ``--namespace``
    may not name another participant's namespace.
    """
    if namespace and not number:
        return namespace
    mine = select_participant(cfg, number).namespace
    theirs = {p.namespace for p in participants(cfg)} - {mine}
    if namespace in theirs:
        raise InputError(
            f"{namespace} is another participant's namespace; participant {number}'s is {mine}",
            location=NAMESPACE_OPTION,
        )
    return namespace or mine


def participant_fact(cfg: LabConfig, participant: Participant) -> dict[str, Any]:
    """``participant``: ``number``, ``name`` (``p03``; ``lab`` alone), ``namespace``,
    ``count`` (how many the stack has), ``shares_cluster`` and ``option``: ``' --participant 3'``
    (leading space included) where other participants share the cluster, else empty, for the
    ``./invoke walk|matrix`` commands a module shows
    (``--stack {{ stack }}{{ participant.option }}``).
    """
    return {
        "number": participant.index,
        "name": participant.name,
        "namespace": participant.namespace,
        "count": len(participants(cfg)),
        "shares_cluster": participant.shares_cluster,
        "option": f" {PARTICIPANT_OPTION} {participant.index}"
        if participant.shares_cluster
        else "",
    }


LAB_APPS = ("whoami",)
"""The lab modules' own web apps with a host name (module 05 routes whoami through Traefik)."""


def hosts_fact(
    cfg: LabConfig, participant: Participant, apps: Iterable[str], name: str, address: str = ""
) -> dict[str, Any] | Unknown:
    """The participant's host of each app (``vote`` -> ``vote-p03.lab.example.org``), named
    as the lab stack names them. On GKE without ``packetwalk:domain`` the names carry the
    ingress address (nip.io): Unknown (printed as ``{{ name }}``) until the cluster gives it."""
    prefixes = {app: participant.host_prefix(app) for app in apps}
    if cfg.platform == "kind":
        return {app: local_host(prefix) for app, prefix in prefixes.items()}
    domain = cfg.gke.domain if cfg.gke is not None else None
    if domain is None and not address:
        return Unknown(name)
    return {app: ingress_host(prefix, address, domain) for app, prefix in prefixes.items()}


LAB_DIR = ".packetwalk/lab"
"""Where ``template`` tasks put the participant's rendered files, relative to the project."""


def lab_dir(cfg: LabConfig, participant: Participant) -> str:
    """``.packetwalk/lab/<stack>`` (``<stack>-p03`` for a workshop participant): one folder per
    lab, so two participants on one machine, or two stacks, never share an edited file."""
    suffix = f"-{participant.tag}" if participant.tag else ""
    return f"{LAB_DIR}/{cfg.stack}{suffix}"


def static_facts(cfg: LabConfig, participant: Participant | None = None) -> dict[str, Any]:
    """Facts from the stack config; node names are Unknown where the platform picks them (GKE).

    ``participant`` (default: the first) decides ``app_namespace``, ``app_hosts`` and
    ``participant``.
    """
    who = participant if participant is not None else participants(cfg)[0]
    facts: dict[str, Any] = {
        "stack": cfg.stack,
        "platform": cfg.platform,
        "cluster_name": cfg.cluster_name,
        "kube_context": kube_context(cfg, who.cluster) or Unknown("kube_context"),
        "cni": cfg.cni,
        "kube_proxy_mode": cfg.kube_proxy_mode,
        "enforces_network_policy": cfg.enforces_network_policy,
        "has_kube_proxy": cfg.has_kube_proxy,
        "pod_subnet": cfg.pod_subnet,
        "service_subnet": cfg.service_subnet,
        "app_namespace": who.namespace,
        "lab_namespace": who.lab_namespace,
        "lab_dir": lab_dir(cfg, who),
        "app_hosts": hosts_fact(cfg, who, FRONTENDS, "app_hosts"),
        "lab_hosts": hosts_fact(cfg, who, LAB_APPS, "lab_hosts"),
        "participant": participant_fact(cfg, who),
    }
    if cfg.platform == "kind":
        names = node_names(cfg)
        facts.update(nodes=names, control_plane=names[0], workers=names[1:])
    else:
        facts.update(
            nodes=Unknown("nodes"),
            control_plane=Unknown("control_plane"),
            workers=Unknown("workers"),
        )
    return facts


def offline_facts(cfg: LabConfig, participant: Participant | None = None) -> dict[str, Any]:
    """Static facts plus Unknown placeholders for the runtime ones (dry runs, validation)."""
    facts = static_facts(cfg, participant)
    facts.update({name: Unknown(name) for name in RUNTIME_FACTS})
    return facts


def cluster_facts(
    cfg: LabConfig, access: ObjectSource, participant: Participant | None = None
) -> dict[str, Any]:
    """Static facts completed (and node names corrected) from a live cluster (a
    :class:`~packetwalk.kube.access.ClusterAccess`).

    A participant beside others reads pods and Services of their own namespaces only (what a
    role in those namespaces may list), and nodes, which are cluster-scoped, only if allowed:
    refused, the node facts fail the task that uses them, with the reason.
    """
    who = participant if participant is not None else participants(cfg)[0]
    scope = (who.namespace, who.lab_namespace) if who.shares_cluster else None
    state = ClusterState(access, namespaces=scope)
    return lab_facts(cfg, state, who, refusals=access_errors(access))


def lab_facts(
    cfg: LabConfig,
    state: ClusterState,
    participant: Participant | None = None,
    *,
    refusals: tuple[type[BaseException], ...] = (),
) -> dict[str, Any]:
    """Static facts completed (and node names corrected) from a cluster's read model;
    ``refusals`` are the errors that mean the cluster would not let us read nodes."""
    facts = static_facts(cfg, participant)
    try:
        nodes = state.nodes
    except refusals as error:
        reason = f"{error} (nodes are cluster-scoped: a role in your namespace cannot list them)"
        for name in ("nodes", "control_plane", "workers", "node_ips"):
            facts[name] = Unreadable(name, reason)
        nodes = ()
    else:
        facts["node_ips"] = {node.name: node.internal_ip for node in nodes}
    if nodes:
        names = [node.name for node in nodes]
        control = [n.name for n in nodes if _is_control_plane(n.labels)]
        facts["nodes"] = control + [name for name in names if name not in control]
        facts["control_plane"] = control[0] if control else None
        facts["workers"] = [name for name in names if name not in control]
    pods = state.pods
    facts["pods"] = [_pod_fact(pod) for pod in pods]
    app_pods: dict[str, dict[str, Any]] = {}
    for pod in pods:
        app = pod.labels.get("app")
        if pod.namespace == facts["app_namespace"] and app and app not in app_pods:
            app_pods[app] = _pod_fact(pod)
    facts["app_pods"] = app_pods
    facts["services"] = services_fact(state.services)
    if isinstance(facts["app_hosts"], Unknown):
        _hosts_from_ingresses(facts, state, participant or participants(cfg)[0])
    return facts


def _hosts_from_ingresses(facts: dict[str, Any], state: ClusterState, who: Participant) -> None:
    """``app_hosts`` and ``lab_hosts`` from the hosts of the app's Ingress rules: on GKE
    without ``packetwalk:domain`` the names carry the load balancer's address, which only the
    lab stack knew (it wrote them into those rules)."""
    hosts: dict[str, str] = {}
    for ingress in state.optional_objects("ingresses", namespace=who.namespace):
        spec = ingress.get("spec")
        for rule in spec.get("rules", []) if isinstance(spec, dict) else []:
            host = rule.get("host") if isinstance(rule, dict) else None
            for path in (rule.get("http") or {}).get("paths", []) if host else []:
                service = ((path.get("backend") or {}).get("service") or {}).get("name")
                if service in FRONTENDS:
                    hosts.setdefault(str(service), str(host))
    if set(hosts) != set(FRONTENDS):
        return
    facts["app_hosts"] = hosts
    prefix = who.host_prefix(FRONTENDS[0]) + "."
    first = hosts[FRONTENDS[0]]
    if first.startswith(prefix):
        domain = first.removeprefix(prefix)
        facts["lab_hosts"] = {app: f"{who.host_prefix(app)}.{domain}" for app in LAB_APPS}


def _is_control_plane(labels: Mapping[str, str]) -> bool:
    return "node-role.kubernetes.io/control-plane" in labels


def _pod_fact(pod: PodInfo) -> dict[str, Any]:
    return {
        "namespace": pod.namespace,
        "name": pod.name,
        "ip": pod.ip,
        "node": pod.node,
        "labels": dict(pod.labels),
    }


def services_fact(services: Iterable[ServiceInfo]) -> dict[str, dict[str, dict[str, Any]]]:
    """``namespace -> name -> {cluster_ip, type, ports, external_ip}``; ``ports`` as the API
    lists them (``name``, ``protocol``, ``port``, ``targetPort``, ``nodePort``)."""
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for service in services:
        result.setdefault(service.namespace, {})[service.name] = {
            "cluster_ip": service.cluster_ip,
            "type": service.type,
            "ports": [_port_fact(port) for port in service.ports],
            "external_ip": service.external_address,
        }
    return result


def _port_fact(port: ServicePort) -> dict[str, Any]:
    fact: dict[str, Any] = {"name": port.name} if port.name else {}
    fact.update(protocol=port.protocol, port=port.port, targetPort=port.target_port)
    if port.node_port is not None:
        fact["nodePort"] = port.node_port
    return fact
