"""Every Kubernetes object the lab deploys from packetwalk's own builders: the one source of truth.

The Pulumi lab stack deploys :func:`lab_objects`; the NetworkPolicy evaluator, the tests and the
walks read the same list, so what is evaluated is what runs. :func:`lab_peer_objects` adds
stand-ins for the workloads that charts and the cluster create (Traefik, CoreDNS) so that policies
naming them can be built and evaluated without a cluster; they are never deployed.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final

from packetwalk.errors import InputError
from packetwalk.intents import (
    NS_LABEL,
    ApiServerAddressesUnknown,
    ClientIntents,
    PolicyOptions,
    Workloads,
    load_client_intents,
    policies_from_intents,
)
from packetwalk.lab import versions
from packetwalk.lab.config import DEFAULT_INTENTS_FILE, REPO_ROOT, LabConfig
from packetwalk.lab.kindconfig import INGRESS_HTTP_NODE_PORT, INGRESS_HTTPS_NODE_PORT
from packetwalk.lab.participants import Participant, participants, participants_in
from packetwalk.lab.votingapp import (
    RESULT_SERVICE_PORT,
    VOTE_SERVICE_PORT,
    voting_app_objects,
)

INGRESS_CLASS: Final = "traefik"
TRAEFIK_NAMESPACE: Final = "traefik"
TRAEFIK_SELECTOR: Final = {"app.kubernetes.io/name": "traefik"}
"""How policies select Traefik's pods. The chart also sets ``app.kubernetes.io/instance:
traefik-<namespace>``; selecting by name alone survives a renamed release."""
DNS_NAMESPACE: Final = "kube-system"
DNS_SELECTOR: Final = {"k8s-app": "kube-dns"}
STAND_IN_ANNOTATION: Final = "packetwalk.dev/stand-in"

HOST_DOMAIN: Final = "localhost"
"""``*.localhost`` resolves to loopback everywhere (RFC 6761), where kind publishes ports 80/443.
On GKE the lab stack passes a ``host`` function instead: ``vote.<static IP>.nip.io`` (a public
wildcard DNS name that resolves to the IP inside it), so hosts work without a DNS zone."""

HostFn = Callable[[str], object]
"""Turns a host prefix (``vote``, ``vote-p03``) into the Ingress host. The pure default appends
HOST_DOMAIN; the GKE lab stack returns a Pulumi Output built from the cluster's static IP, which
only exists once the cluster stack is up. Only the Ingress host ever holds that value."""


def local_host(prefix: str) -> str:
    return f"{prefix}.{HOST_DOMAIN}"


_KIND_ORDER: Final = ("Namespace", "NetworkPolicy", "Service", "Deployment", "Ingress")
"""Apply order for plain ``kubectl apply``: policies exist before any pod starts unprotected."""


def app_hosts(cfg: LabConfig) -> dict[str, str]:
    """The Ingress host of each web app of the first participant (``vote`` -> "
    "``vote.localhost``)."""
    first = participants(cfg)[0]
    return {app: local_host(prefix) for app, prefix in first.host_prefixes().items()}


def namespace_object(name: str, *, privileged: bool = False) -> dict[str, Any]:
    labels = {NS_LABEL: name}
    if privileged:
        # Capture modules add ephemeral tcpdump containers with NET_ADMIN/NET_RAW, which the
        # baseline and restricted Pod Security levels reject.
        labels["pod-security.kubernetes.io/enforce"] = "privileged"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def _ingress(app: str, namespace: str, host: object, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": app, "namespace": namespace, "labels": {"app": app}},
        "spec": {
            "ingressClassName": INGRESS_CLASS,
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": app, "port": {"number": port}}},
                            }
                        ]
                    },
                }
            ],
        },
    }


def _for_namespace(
    intents: list[ClientIntents], app_namespace: str, namespace: str
) -> list[ClientIntents]:
    """The intents with every mention of ``app_namespace`` moved to ``namespace``.

    A participant's copy of the lab lives in ``vote-p03``; the intents file speaks of ``vote``
    (its objects without a namespace, and Traefik's ``vote.vote`` targets). Other namespaces
    (``traefik``, ``kube-system``) are shared by every participant and stay as they are.
    """
    if namespace == app_namespace:
        return intents

    def move(ns: str | None) -> str | None:
        return namespace if ns == app_namespace else ns

    return [
        dataclasses.replace(
            intent,
            namespace=move(intent.namespace) or intent.namespace,
            targets=tuple(
                dataclasses.replace(t, namespace=move(t.namespace)) for t in intent.targets
            ),
        )
        for intent in intents
    ]


def _policies(
    cfg: LabConfig,
    app: list[dict[str, Any]],
    repo_root: Path,
    namespace: str,
    api_server_address: str | None = None,
) -> list[dict[str, Any]]:
    path = cfg.intents_path(repo_root)
    if not path.is_file():
        raise InputError(
            f"the ClientIntents file {cfg.intents_file!r} does not exist (looked for {path})",
            source=cfg.source,
            location="key packetwalk:intents",
        )
    intents = load_client_intents(
        path, source=cfg.intents_file, default_namespace=cfg.app_namespace
    )
    intents = _for_namespace(intents, cfg.app_namespace, namespace)
    api_server = api_server_objects(cfg, api_server_address) if api_server_address else []
    workloads = Workloads.from_objects([*app, *lab_peer_objects(cfg), *api_server])
    options = PolicyOptions(
        namespaces=frozenset({namespace}),
        dns_namespace=DNS_NAMESPACE,
        dns_selector=DNS_SELECTOR,
        generated_from=cfg.intents_file,
    )
    try:
        return policies_from_intents(intents, workloads, options)
    except ApiServerAddressesUnknown as err:
        raise ApiServerAddressesUnknown(
            f"{err.detail}. {_api_server_note(cfg)}",
            missing=err.missing,
            source=err.source,
            location=err.location,
        ) from err
    except InputError as err:
        if cfg.intents_file != DEFAULT_INTENTS_FILE or cfg.app_namespace == "vote":
            raise
        raise InputError(
            f"{err.detail}; {DEFAULT_INTENTS_FILE} is written for appNamespace 'vote': point "
            f"packetwalk:intents at a copy that names namespace {cfg.app_namespace!r}",
            source=err.source,
            location=err.location,
            choices=err.choices,
        ) from err


API_SERVER_PORT: Final = 6443
"""kube-apiserver's secure port, which kind's control-plane node serves (kubeadm's default) and
which the ``kubernetes`` Service's EndpointSlice lists."""


def api_server_objects(cfg: LabConfig, address: str) -> list[dict[str, Any]]:
    """Stand-ins for the ``kubernetes`` Service and its EndpointSlice on a kind stack's own
    cluster, for building the policies of an intent to ``kubernetes.default`` (never deployed:
    the API server makes the real ones).

    The ClusterIP is the first address of ``packetwalk:serviceSubnet``: kube-apiserver gives the
    ``kubernetes`` Service the first address of its service range (``ServiceIPRange`` in
    kubernetes/kubernetes pkg/controlplane/services.go at commit 9f0f14952c51: "Select the first
    valid IP from ServiceClusterIPRange"), and kind passes the subnet to it. ``address`` is the
    control-plane node's address on Docker's ``kind`` network, which exists only once the
    cluster does: ``invoke up`` reads it there (the cluster stack's ``apiServerAddress``).
    """
    cluster_ip = str(next(ipaddress.ip_network(cfg.service_subnet).hosts()))
    stand_in = {STAND_IN_ANNOTATION: "true"}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "annotations": stand_in},
        "spec": {
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "ports": [
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": API_SERVER_PORT}
            ],
        },
    }
    endpoints = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes"},
            "annotations": stand_in,
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": API_SERVER_PORT, "protocol": "TCP"}],
    }
    return [service, endpoints]


def _api_server_note(cfg: LabConfig) -> str:
    """Why the addresses an API-server intent needs are not known here, and where they are."""
    if cfg.is_kind and not cfg.uses_existing_cluster:
        known = (
            f"On stack {cfg.stack!r} (kind) `invoke up` reads the control-plane node's address "
            "from the cluster (the cluster stack's apiServerAddress output), but offline "
            "commands (invoke matrix --stack, invoke render) run before or without it: "
            "evaluate the running lab with `invoke matrix --cluster` instead"
        )
    elif cfg.uses_existing_cluster:
        known = (
            f"Stack {cfg.stack!r} points at an existing cluster (packetwalk:kubeconfig): "
            "its service range and control-plane address are that cluster's, not in the "
            "stack config"
        )
    else:
        known = (
            f"On stack {cfg.stack!r} ({cfg.platform}) the endpoint is the control plane's "
            "address, which exists only once the cluster does, and the lab does not read it "
            "yet"
        )
    return f"{known}. Without it this rule cannot be written: remove the target from " + (
        f"{cfg.intents_file} or evaluate the live cluster"
    )


def participant_objects(
    cfg: LabConfig,
    participant: Participant,
    *,
    repo_root: Path = REPO_ROOT,
    host: HostFn = local_host,
    api_server_address: str | None = None,
) -> list[dict[str, Any]]:
    """One participant's namespace, voting app, Ingress routes and NetworkPolicies."""
    namespace = participant.namespace
    app = voting_app_objects(namespace)
    prefixes = participant.host_prefixes()
    ingresses = [
        _ingress("vote", namespace, host(prefixes["vote"]), VOTE_SERVICE_PORT),
        _ingress("result", namespace, host(prefixes["result"]), RESULT_SERVICE_PORT),
    ]
    return [
        namespace_object(namespace, privileged=True),
        *app,
        *ingresses,
        *_policies(cfg, app, repo_root, namespace, api_server_address),
    ]


def lab_objects(
    cfg: LabConfig,
    *,
    repo_root: Path = REPO_ROOT,
    cluster: str | None = None,
    host: HostFn = local_host,
    api_server_address: str | None = None,
) -> list[dict[str, Any]]:
    """Every participant's namespace, voting app, Ingress routes and NetworkPolicies.

    ``cluster`` limits the list to the labs in that cluster. Without it, a stack with one
    cluster per participant gives its first cluster's lab (every cluster holds the same lab,
    and a single list cannot hold several clusters' same-named objects). ``host`` builds the
    Ingress hosts (see HostFn). ``api_server_address`` (a kind stack's control-plane node
    address) lets an intent to ``kubernetes.default`` become policy (see api_server_objects).
    """
    if cluster is None:
        cluster = participants(cfg)[0].cluster
    chosen = participants_in(cfg, cluster)
    objects: list[dict[str, Any]] = []
    for participant in chosen:
        objects.extend(
            participant_objects(
                cfg,
                participant,
                repo_root=repo_root,
                host=host,
                api_server_address=api_server_address,
            )
        )
    return sort_objects(objects)


def lab_peer_objects(cfg: LabConfig) -> list[dict[str, Any]]:
    """Stand-ins for Traefik and CoreDNS, for policy evaluation only (never deployed)."""
    del cfg
    stand_in = {STAND_IN_ANNOTATION: "true"}
    traefik_labels = {**TRAEFIK_SELECTOR, "app.kubernetes.io/instance": "traefik-traefik"}
    traefik = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "traefik",
            "namespace": TRAEFIK_NAMESPACE,
            "labels": traefik_labels,
            "annotations": stand_in,
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(TRAEFIK_SELECTOR)},
            "template": {
                "metadata": {"labels": traefik_labels},
                "spec": {
                    "containers": [
                        {
                            "name": "traefik",
                            "image": f"traefik:{versions.TRAEFIK_APP_VERSION}",
                            "ports": [
                                {"name": "web", "containerPort": 8000, "protocol": "TCP"},
                                {"name": "websecure", "containerPort": 8443, "protocol": "TCP"},
                                {"name": "traefik", "containerPort": 8080, "protocol": "TCP"},
                            ],
                        }
                    ]
                },
            },
        },
    }
    traefik_service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "traefik",
            "namespace": TRAEFIK_NAMESPACE,
            "labels": traefik_labels,
            "annotations": stand_in,
        },
        "spec": {
            "type": "NodePort",
            "selector": dict(traefik_labels),
            "ports": [
                {
                    "name": "web",
                    "port": 80,
                    "targetPort": "web",
                    "protocol": "TCP",
                    "nodePort": INGRESS_HTTP_NODE_PORT,
                },
                {
                    "name": "websecure",
                    "port": 443,
                    "targetPort": "websecure",
                    "protocol": "TCP",
                    "nodePort": INGRESS_HTTPS_NODE_PORT,
                },
            ],
        },
    }
    coredns = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "coredns",
            "namespace": DNS_NAMESPACE,
            "labels": dict(DNS_SELECTOR),
            "annotations": stand_in,
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(DNS_SELECTOR)},
            "template": {
                "metadata": {"labels": dict(DNS_SELECTOR)},
                "spec": {
                    "containers": [
                        {
                            "name": "coredns",
                            "image": versions.COREDNS_STAND_IN_IMAGE,
                            "ports": [
                                {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                            ],
                        }
                    ]
                },
            },
        },
    }
    kube_dns = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kube-dns",
            "namespace": DNS_NAMESPACE,
            "labels": dict(DNS_SELECTOR),
            "annotations": stand_in,
        },
        "spec": {
            "selector": dict(DNS_SELECTOR),
            "ports": [
                {"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
                {"name": "dns-tcp", "port": 53, "targetPort": 53, "protocol": "TCP"},
            ],
        },
    }
    namespaces = [namespace_object(TRAEFIK_NAMESPACE), namespace_object(DNS_NAMESPACE)]
    return sort_objects([*namespaces, traefik, traefik_service, coredns, kube_dns])


def object_key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") or {}
    return (
        str(obj.get("apiVersion")),
        str(obj.get("kind")),
        str(meta.get("namespace", "")),
        str(meta.get("name")),
    )


def check_unique(objects: Iterable[dict[str, Any]]) -> None:
    """Raise if two objects share (apiVersion, kind, namespace, name): one would replace another."""
    seen: set[tuple[str, str, str, str]] = set()
    for obj in objects:
        key = object_key(obj)
        if key in seen:
            raise ValueError(f"duplicate object {'/'.join(part for part in key if part)}")
        seen.add(key)


def sort_objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Objects in apply order (see _KIND_ORDER), then by namespace and name; duplicates raise."""
    check_unique(objects)

    def key(obj: dict[str, Any]) -> tuple[int, str, str, str]:
        kind = str(obj.get("kind"))
        rank = _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)
        api, _, namespace, name = object_key(obj)
        return (rank, kind, namespace, name + "\0" + api)

    return sorted(objects, key=key)
