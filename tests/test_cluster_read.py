"""The one reader of Pods, workloads, Services, EndpointSlices, Endpoints and Nodes."""

from __future__ import annotations

from typing import Any

import pytest

from packetwalk.cluster.documents import with_origin
from packetwalk.cluster.model import (
    ClusterObjects,
    ContainerPort,
    EndpointPort,
    Origin,
    Owner,
    ServicePort,
)
from packetwalk.cluster.pods import (
    read_objects,
    read_pod_info,
    read_pod_ports,
    read_workload_info,
)
from packetwalk.cluster.services import read_endpoints, read_node, read_service
from packetwalk.errors import InputError

HERE = Origin("here.yaml", 3)


def service(spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "kind": "Service",
        "metadata": {"name": "vote", "namespace": "vote"},
        "spec": spec,
        **extra,
    }


def pod(labels: dict[str, Any], ports: list[dict[str, Any]], **status: Any) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {
            "name": "vote-1",
            "namespace": "vote",
            "labels": labels,
            "ownerReferences": [{"kind": "ReplicaSet", "name": "vote-7d", "controller": True}],
        },
        "spec": {
            "nodeName": "w1",
            "containers": [{"name": "vote", "ports": ports}],
            "ephemeralContainers": [{"name": "pw-cap"}],
        },
        "status": status,
    }


# -- Services -------------------------------------------------------------------------------


def test_service_ports_take_the_api_defaults() -> None:
    read = read_service(
        service(
            {
                "type": "NodePort",
                "clusterIP": "10.96.0.5",
                "clusterIPs": ["10.96.0.5", "fd00::5"],
                "selector": {"app": "vote"},
                "ports": [
                    {"port": 8080, "nodePort": 31000},
                    {"name": "web", "port": 80, "targetPort": "http", "protocol": "UDP"},
                    {"port": 81, "targetPort": "8081"},
                ],
            }
        ),
        HERE,
    )
    assert read.ports == (
        ServicePort(8080, 8080, "TCP", None, 31000),
        ServicePort(80, "http", "UDP", "web"),
        ServicePort(81, 8081),
    )
    assert read.cluster_ip == "10.96.0.5" and read.cluster_ips == ("10.96.0.5", "fd00::5")
    assert (read.key, read.type, read.external_traffic_policy) == (
        "vote/vote",
        "NodePort",
        "Cluster",
    )
    assert read.selects_labels("vote", {"app": "vote", "x": "y"})
    assert not read.selects_labels("other", {"app": "vote"})


def test_headless_and_load_balancer_addresses() -> None:
    headless = read_service(service({"clusterIP": "None"}), HERE)
    assert headless.cluster_ip is None and headless.ports == ()
    assert headless.external_address is None
    assert not headless.selects_labels("vote", {})  # no selector: no pods behind it
    lb = read_service(
        service(
            {"type": "LoadBalancer"},
            status={
                "loadBalancer": {"ingress": [{"hostname": "lb.example"}, {"ip": "172.18.255.200"}]}
            },
        ),
        HERE,
    )
    assert lb.lb_ips == ("172.18.255.200",) and lb.lb_hostnames == ("lb.example",)
    assert lb.external_address == "172.18.255.200"
    named = read_service(
        service({}, status={"loadBalancer": {"ingress": [{"hostname": "h"}]}}), HERE
    )
    assert named.external_address == "h"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"ports": [{"port": "http"}]},
            "Service vote/vote: spec.ports[0].port: must be a port number 1-65535, got 'http'",
        ),
        (
            {"ports": [{"port": 80, "protocol": "ICMP"}]},
            "Service vote/vote: spec.ports[0].protocol: unknown protocol 'ICMP'",
        ),
        (
            {"ports": [{"port": 80, "targetPort": 70000}]},
            "Service vote/vote: spec.ports[0].targetPort: must be a port number",
        ),
        (
            {"ports": [{"port": 80, "targetPort": ""}]},
            "spec.ports[0].targetPort: must be a port number or a container port's name",
        ),
        ({"ports": {"port": 80}}, "Service vote/vote: spec.ports: must be a list"),
        ({"selector": {"tier": 1}}, "spec.selector.tier: label values must be strings"),
    ],
)
def test_an_invalid_service_names_the_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as info:
        read_service(service(spec), HERE)
    assert message in str(info.value)
    assert str(info.value).startswith("here.yaml:line 3: ")


# -- EndpointSlices and Endpoints --------------------------------------------------------------


def test_endpoint_slices_list_ready_addresses_and_numbered_ports() -> None:
    read = read_endpoints(
        {
            "kind": "EndpointSlice",
            "addressType": "IPv4",
            "metadata": {
                "name": "kubernetes-x",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": "kubernetes"},
            },
            "endpoints": [
                {"addresses": ["172.18.0.3", "172.18.0.3"]},
                {"addresses": ["172.18.0.4"], "conditions": {"ready": False}},
            ],
            "ports": [{"port": 6443}, {"name": "all"}],
        },
        HERE,
    )
    assert read is not None
    assert (read.service, read.addresses, read.ports, read.sources) == (
        "kubernetes",
        ("172.18.0.3",),
        (EndpointPort(6443),),
        ("EndpointSlice/kubernetes-x",),
    )
    fqdn = read_endpoints(
        {
            "kind": "EndpointSlice",
            "addressType": "FQDN",
            "metadata": {"name": "f", "labels": {"kubernetes.io/service-name": "f"}},
            "endpoints": [{"addresses": ["example.com"]}],
        },
        HERE,
    )
    assert fqdn is not None and fqdn.addresses == ()
    unowned = read_endpoints({"kind": "EndpointSlice", "metadata": {"name": "x"}}, HERE)
    assert unowned is None


def test_endpoints_are_named_after_their_service() -> None:
    read = read_endpoints(
        {
            "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default"},
            "subsets": [
                {
                    "addresses": [{"ip": "172.18.0.3"}],
                    "notReadyAddresses": [{"ip": "1.1.1.1"}],
                    "ports": [{"port": 6443, "protocol": "TCP"}],
                }
            ],
        },
        HERE,
    )
    assert read is not None and (read.service, read.addresses) == ("kubernetes", ("172.18.0.3",))


# -- Pods and workloads ------------------------------------------------------------------------


def test_a_pod_reads_the_same_in_both_views() -> None:
    obj = pod(
        {"app": "vote"},
        [{"containerPort": 80, "name": "http"}],
        podIP="10.244.1.5",
        phase="Running",
    )
    info = read_pod_info(obj, HERE)
    assert (info.namespace, info.name, info.ip, info.node, dict(info.labels)) == (
        "vote",
        "vote-1",
        "10.244.1.5",
        "w1",
        {"app": "vote"},
    )
    assert (info.containers, info.ephemeral_containers, info.phase) == (
        ("vote",),
        ("pw-cap",),
        "Running",
    )
    assert read_pod_ports(obj, HERE) == ("vote", "vote-1", (ContainerPort(80, "TCP", "http"),))
    seen = ClusterObjects()
    assert read_objects(seen, with_origin([obj], HERE)) == {"vote"}
    (policy_pod,) = seen.pods
    assert (policy_pod.name, policy_pod.ip, dict(policy_pod.labels)) == (
        "vote-1",
        "10.244.1.5",
        {"app": "vote"},
    )
    assert policy_pod.ports == read_pod_ports(obj, HERE)[2]
    assert policy_pod.owner == Owner("ReplicaSet", "vote-7d")
    workload = read_workload_info(obj, "Pod", HERE)
    assert workload.ports == policy_pod.ports and workload.selector == {"app": "vote"}


def test_a_pod_without_a_phase_is_pending() -> None:
    assert read_pod_info(pod({}, []), HERE).phase == "Pending"


@pytest.mark.parametrize("reader", [read_pod_info, read_pod_ports])
def test_an_invalid_pod_names_the_field(reader: Any) -> None:
    with pytest.raises(
        InputError,
        match=r"Pod vote/vote-1: metadata\.labels\.app: label values "
        r"must be strings",
    ):
        reader(pod({"app": 1}, []), HERE)


def test_a_pod_port_is_checked_for_every_view() -> None:
    with pytest.raises(
        InputError,
        match=r"spec\.containers\[0\]\.ports\[0\]\.containerPort: "
        r"must be a port number",
    ):
        read_pod_ports(pod({}, [{"containerPort": 0}]), HERE)


def deployment(selector: dict[str, Any], kind: str = "Deployment") -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"app": "vote", "tier": "web"}},
        "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]},
    }
    spec: dict[str, Any] = {"selector": selector, "template": template}
    if kind == "CronJob":
        spec = {"jobTemplate": {"spec": spec}}
    return {"kind": kind, "metadata": {"name": "vote", "namespace": "vote"}, "spec": spec}


def test_workloads_are_selected_by_match_labels_else_their_template() -> None:
    read = read_workload_info(deployment({"matchLabels": {"app": "vote"}}), "Deployment", HERE)
    assert (read.kind, read.ref, dict(read.selector)) == (
        "Deployment",
        "vote/vote",
        {"app": "vote"},
    )
    assert dict(read.pod_labels) == {"app": "vote", "tier": "web"}
    assert read.ports == (ContainerPort(80),)
    expressions = read_workload_info(
        deployment({"matchLabels": {"app": "vote"}, "matchExpressions": [{"key": "x"}]}),
        "StatefulSet",
        HERE,
    )
    assert dict(expressions.selector) == {"app": "vote", "tier": "web"}
    cron = read_workload_info(
        deployment({"matchLabels": {"tier": "web"}}, "CronJob"), "CronJob", HERE
    )
    assert dict(cron.selector) == {"tier": "web"} and cron.ports == (ContainerPort(80),)
    legacy = read_workload_info(
        deployment({}, "ReplicationController"), "ReplicationController", HERE
    )
    assert dict(legacy.selector) == {"app": "vote", "tier": "web"}


# -- Nodes -----------------------------------------------------------------------------------


def test_nodes() -> None:
    read = read_node(
        {
            "kind": "Node",
            "metadata": {"name": "w1", "labels": {"a": "b"}},
            "spec": {"podCIDR": "10.244.1.0/24"},
            "status": {
                "addresses": [
                    {"type": "Hostname", "address": "w1"},
                    {"type": "InternalIP", "address": "172.18.0.3"},
                ]
            },
        },
        HERE,
    )
    assert (read.name, read.internal_ip, dict(read.labels), read.pod_cidrs) == (
        "w1",
        "172.18.0.3",
        {"a": "b"},
        ("10.244.1.0/24",),
    )
    bare = read_node({"metadata": {"name": "w2"}}, HERE)
    assert bare.internal_ip is None and bare.pod_cidrs == ()
    with pytest.raises(InputError, match=r"Node: metadata\.name: missing"):
        read_node({"metadata": {}}, HERE)
