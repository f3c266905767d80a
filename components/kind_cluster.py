"""A kind cluster as Pulumi resources (there is no kind provider: ``local.Command`` runs the CLI).

Shape (see ``docs/design/pulumi.md`` section 3):

- ``kind-cluster``: ``kind create cluster --config -`` with the rendered kind config on stdin;
  the config is also the replace trigger, and ``delete_before_replace`` because a same-named kind
  cluster cannot exist twice (the default create-before-delete would fail and then delete the
  cluster). Create is idempotent: an interrupted ``up`` left a cluster that a re-run adopts.
- ``kubeconfig``: ``kind get kubeconfig``, stdout marked secret.
- ``kind-network``: ``docker network inspect`` of the node network, for the MetalLB pool.
- ``cni-plugins`` (Flannel only): the reference CNI plugins, checksum-verified, mounted over
  ``/opt/cni/bin`` because the kind node image lacks the ``bridge`` plugin Flannel delegates to.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pulumi
from pulumi_command import local

from packetwalk.errors import PacketwalkError
from packetwalk.host.toolchain import cni_plugins_dir, cni_plugins_script
from packetwalk.lab import versions
from packetwalk.lab.addresspool import container_address, lb_address_range
from packetwalk.lab.cni import PROFILES
from packetwalk.lab.config import LabConfig
from packetwalk.lab.kindconfig import (
    control_plane_node,
    kind_context,
    node_names,
    render_kind_config,
)

CREATE_TIMEOUT = "10m"
DELETE_TIMEOUT = "5m"
KIND_WAIT = "120s"
DOCKER_NETWORK = '"${KIND_EXPERIMENTAL_DOCKER_NETWORK:-kind}"'
"""kind's node network; kind itself honours the same variable to use another one."""


def pool_range(inspect_output: str) -> str:
    """The MetalLB range; a network unfit for one stops the run with the reason, no traceback."""
    try:
        return lb_address_range(inspect_output)
    except PacketwalkError as err:
        raise pulumi.RunError(str(err)) from err


def node_address(inspect_output: str, node: str) -> str:
    """A node container's address on the kind network (the control plane's is the API server's
    endpoint, which policies for an intent to ``kubernetes.default`` allow)."""
    try:
        return container_address(inspect_output, node)
    except PacketwalkError as err:
        raise pulumi.RunError(str(err)) from err


def create_cluster_script(name: str, nodes: list[str]) -> str:
    """``kind create cluster``, or adopt a same-named cluster with exactly the expected nodes.

    Adopting lets an interrupted ``up`` be re-run; a same-named cluster with other nodes is
    someone else's (or another lab's) and is refused rather than silently taken over.
    """
    quoted = shlex.quote(name)
    expected = "\n".join(sorted(nodes))
    delete_hint = f"kind delete cluster --name {name}"
    return f"""set -eu
if kind get clusters 2>/dev/null | grep -qx {quoted}; then
  expected={shlex.quote(expected)}
  actual=$(kind get nodes --name {quoted} | LC_ALL=C sort)
  if [ "$actual" != "$expected" ]; then
    echo "a kind cluster named {name} already exists with other nodes:" $actual >&2
    echo "this stack expects:" $expected >&2
    echo "delete it ({delete_hint}) or set another packetwalk:clusterName" >&2
    exit 1
  fi
  echo "kind cluster {name} already exists with the expected nodes (an interrupted up?); keeping it"
else
  kind create cluster --name {quoted} --config - --wait {KIND_WAIT}
fi
"""


def delete_cluster_script(name: str) -> str:
    # kind exits 0 when the cluster is already gone, so a hand-deleted cluster does not block down.
    return f"kind delete cluster --name {shlex.quote(name)}"


def kubeconfig_script(name: str) -> str:
    return f"kind get kubeconfig --name {shlex.quote(name)}"


def network_inspect_script() -> str:
    return f"docker network inspect {DOCKER_NETWORK}"


class KindCluster(pulumi.ComponentResource):
    """A kind cluster for one lab stack, plus what the in-cluster stack needs to reach it."""

    kubeconfig: pulumi.Output[str]
    kube_context: str
    cluster_name: str
    nodes: list[str]
    lb_address_range: pulumi.Output[str]
    kind_config: str

    def __init__(
        self,
        name: str,
        cfg: LabConfig,
        *,
        repo_root: Path,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("packetwalk:cluster:KindCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        plugins_dir: str | None = None
        before_cluster: list[pulumi.Resource] = []
        if PROFILES[cfg.cni].needs_cni_plugins:
            target = cni_plugins_dir(repo_root)
            plugins_dir = str(target)
            before_cluster.append(
                local.Command(
                    "cni-plugins",
                    create=cni_plugins_script(target),
                    triggers=[versions.CNI_PLUGINS_VERSION, plugins_dir],
                    opts=pulumi.ResourceOptions.merge(
                        child,
                        pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create="5m")),
                    ),
                )
            )

        self.kind_config = render_kind_config(cfg, cni_plugins_dir=plugins_dir)
        self.cluster_name = cfg.cluster_name
        self.kube_context = kind_context(cfg)
        self.nodes = node_names(cfg)

        cluster = local.Command(
            "kind-cluster",
            create=create_cluster_script(cfg.cluster_name, self.nodes),
            delete=delete_cluster_script(cfg.cluster_name),
            stdin=self.kind_config,
            triggers=[self.kind_config],
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    depends_on=before_cluster,
                    delete_before_replace=True,
                    custom_timeouts=pulumi.CustomTimeouts(
                        create=CREATE_TIMEOUT, delete=DELETE_TIMEOUT
                    ),
                ),
            ),
        )
        # Both readers re-run whenever the cluster is replaced (same trigger): a new cluster has
        # new certificates and possibly a new network.
        kubeconfig = local.Command(
            "kubeconfig",
            create=kubeconfig_script(cfg.cluster_name),
            triggers=[self.kind_config],
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(depends_on=[cluster], additional_secret_outputs=["stdout"]),
            ),
        )
        network = local.Command(
            "kind-network",
            create=network_inspect_script(),
            triggers=[self.kind_config],
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[cluster])),
        )
        self.kubeconfig = pulumi.Output.secret(kubeconfig.stdout)
        self.lb_address_range = network.stdout.apply(pool_range)
        control_plane = control_plane_node(cfg)
        self.api_server_address = network.stdout.apply(
            lambda text: node_address(text, control_plane)
        )
        self.register_outputs(
            {
                "kubeconfig": self.kubeconfig,
                "kubeContext": self.kube_context,
                "nodes": self.nodes,
                "lbAddressRange": self.lb_address_range,
                "apiServerAddress": self.api_server_address,
            }
        )


def docker_network_range(
    name: str, opts: pulumi.ResourceOptions | None = None
) -> pulumi.Output[str]:
    """The MetalLB range for a kind cluster this program did not create (CI's kind-action)."""
    network = local.Command(name, create=network_inspect_script(), opts=opts)
    return network.stdout.apply(pool_range)
