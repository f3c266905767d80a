"""URNs of the cluster program's resources, for the code that addresses them by name.

The cluster program (``components/cluster_stack.py``) and the Automation adapter
(:mod:`packetwalk.host.stacks`) both need them; keeping them here (pure, importing nothing) stops
the
two from drifting apart and keeps ``packetwalk`` free of imports from ``components``.
"""

from __future__ import annotations

CLUSTER_PROJECT = "packetwalk-cluster"
LAB_PROJECT = "packetwalk-lab"
STACK_TYPE = "pulumi:pulumi:Stack"
KIND_CLUSTER_TYPE = "packetwalk:cluster:KindCluster"
COMMAND_TYPE = "command:local:Command"

KIND_CLUSTER_COMMAND = "kind-cluster"
KIND_RECREATE_CHILDREN = (KIND_CLUSTER_COMMAND, "kubeconfig", "kind-network")
"""The cluster command and the two readers whose outputs belong to one cluster instance."""


def urn(stack: str, project: str, type_chain: str, name: str) -> str:
    """``urn:pulumi:<stack>::<project>::<parent types joined by $>::<name>``."""
    return f"urn:pulumi:{stack}::{project}::{type_chain}::{name}"


def kind_child_urn(stack: str, child: str, project: str = CLUSTER_PROJECT) -> str:
    """A ``local.Command`` child of the KindCluster component (its own name is not in the URN)."""
    return urn(stack, project, f"{KIND_CLUSTER_TYPE}${COMMAND_TYPE}", child)


def kind_recreate_urns(stack: str, project: str = CLUSTER_PROJECT) -> list[str]:
    """The resources to replace when a kind cluster vanished behind Pulumi's back.

    ``kind delete cluster`` by hand leaves the state believing the cluster exists; a plain ``up``
    then changes nothing and the lab stack cannot connect. ``stack.up(replace=...)`` with these
    URNs recreates the cluster and re-reads its kubeconfig (new certificates) and network.
    """
    return [kind_child_urn(stack, child, project) for child in KIND_RECREATE_CHILDREN]
