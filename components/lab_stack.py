"""The ``packetwalk-lab`` program: CNI -> MetalLB -> Traefik -> voting app and policies.

The cluster comes from the ``packetwalk-cluster`` stack of the same name (StackReference), or,
when ``packetwalk:kubeconfig`` is set, from a cluster made elsewhere (CI's helm/kind-action).
The Kubernetes provider has ``delete_unreachable`` so ``invoke down`` still succeeds after the
kind cluster was deleted by hand: state of an unreachable cluster is dropped, not retried.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cni import Cni
from components.gates import KubectlAccess
from components.gke_stack import run_lab as run_gke_lab
from components.kind_cluster import docker_network_range
from components.manifests import LabObjects
from components.metallb import MetalLb
from components.stackconfig import lab_config
from components.traefik import Traefik
from packetwalk.errors import PacketwalkError
from packetwalk.intents import ApiServerAddressesUnknown
from packetwalk.lab.addresspool import first_address
from packetwalk.lab.config import REPO_ROOT, LabConfig
from packetwalk.lab.objects import app_hosts, lab_objects

CLUSTER_PROJECT = "packetwalk-cluster"


def cluster_stack_name(stack: str) -> str:
    """The cluster stack of the same name, in this stack's organization.

    DIY backends (``file://``, ``gs://``) have the single organization ``organization``; on Pulumi
    Cloud (``PULUMI_BACKEND_URL``) it is the user's, which a hard-coded name would miss.
    """
    return f"{pulumi.get_organization()}/{CLUSTER_PROJECT}/{stack}"


def _kubeconfig_path(cfg: LabConfig) -> str:
    assert cfg.kubeconfig is not None
    path = Path(cfg.kubeconfig).expanduser()
    return str(path if path.is_absolute() else REPO_ROOT / path)


def run() -> None:
    cfg = lab_config()
    if cfg.platform == "gke":
        run_gke_lab(cfg, cluster_stack_name(cfg.stack))
        return
    objects: list[dict[str, Any]] | None
    try:
        objects = lab_objects(cfg)  # intents parsed and policies built before any resource
    except ApiServerAddressesUnknown as err:
        if not cfg.is_kind or cfg.uses_existing_cluster:
            raise pulumi.RunError(str(err)) from err
        objects = None  # an intent to the API server: built once the cluster says where it is
    except PacketwalkError as err:
        raise pulumi.RunError(str(err)) from err

    kubeconfig: pulumi.Input[str]
    context: pulumi.Input[str] | None
    address_range: pulumi.Output[str]
    api_server_address: pulumi.Output[str] | None = None
    if cfg.uses_existing_cluster:
        kubeconfig, context = _kubeconfig_path(cfg), cfg.kube_context
        address_range = docker_network_range("kind-network")
    else:
        cluster = pulumi.StackReference(cluster_stack_name(cfg.stack))
        kubeconfig = pulumi.Output.secret(cluster.require_output("kubeconfig"))
        context = cluster.require_output("kubeContext")
        address_range = cluster.require_output("lbAddressRange")
        api_server_address = cluster.require_output("apiServerAddress")

    provider = k8s.Provider(
        "k8s",
        kubeconfig=kubeconfig,
        context=context,
        delete_unreachable=True,
        # In the lab's own cluster, objects left over from an interrupted up (created, but not
        # yet in the state) are adopted instead of failing with AlreadyExists. A cluster made
        # elsewhere may hold someone's objects: there nothing is silently taken over.
        upsert_existing_objects=not cfg.uses_existing_cluster,
    )
    ingress_ip = address_range.apply(first_address)

    access = KubectlAccess(
        kubeconfig, kubeconfig_is_path=cfg.uses_existing_cluster, context=context
    )
    cni = Cni("cni", cfg, provider=provider, access=access)
    metallb = MetalLb("metallb", address_range, provider=provider, access=access, depends_on=[cni])
    traefik = Traefik(
        "traefik", load_balancer_ip=ingress_ip, provider=provider, depends_on=[cni, metallb]
    )
    if objects is not None:
        LabObjects("app", objects, provider=provider, depends_on=[cni, traefik])
    else:
        # The cluster stack's output is known in a preview too, so the policies still show.
        assert api_server_address is not None
        api_server_address.apply(
            lambda address: _app_with_api_server(cfg, str(address), provider, [cni, traefik])
        )

    hosts = app_hosts(cfg)
    pulumi.export("voteUrl", f"http://{hosts['vote']}")
    pulumi.export("resultUrl", f"http://{hosts['result']}")
    pulumi.export("ingressAddress", ingress_ip)
    pulumi.export("appNamespace", cfg.app_namespace)


def _app_with_api_server(
    cfg: LabConfig, address: str, provider: k8s.Provider, depends_on: list[pulumi.Resource]
) -> LabObjects:
    """The app and policies when an intent calls the API server (``kubernetes.default``): its
    egress rule needs the control-plane node's address, which the cluster stack reads."""
    try:
        objects = lab_objects(cfg, api_server_address=address)
    except PacketwalkError as err:
        raise pulumi.RunError(str(err)) from err
    return LabObjects("app", objects, provider=provider, depends_on=depends_on)
