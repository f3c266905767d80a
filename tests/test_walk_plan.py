"""Planning walks on the kind lab snapshot: which points, which filters, what request, and why."""

from __future__ import annotations

import copy
import json
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubectl_debug import debug_container

from packetwalk.errors import InputError
from packetwalk.kube.specs import ephemeral_container_body
from packetwalk.walk.facts import ClusterFacts, detect_kube_proxy_mode
from packetwalk.walk.plan import WalkPlan, WalkRequest, flow_filter, plan_walk
from packetwalk.walk.plandata import capture_container, equivalent_commands, plan_as_dict
from packetwalk.walk.snapshot import facts_from_objects, load_objects

REPO = Path(__file__).resolve().parent.parent
LAB = Path(__file__).parent / "data" / "walk" / "kind-lab.yaml"
CP, W1, W2 = "packetwalk-control-plane", "packetwalk-worker", "packetwalk-worker2"
VOTE_POD, TRAEFIK_POD = "vote-6d8c7b9f5d-x2k4q", "traefik-5f9c6d8b47-k8s2d"
WORKER_POD, REDIS_POD = "worker-7c5d9b8f6c-q4w2e", "redis-84d8b8f9c7-h7v6t"

Objects = list[dict[str, Any]]


def objects() -> Objects:
    return copy.deepcopy([dict(o) for o in load_objects(LAB)])


def facts(edit: Callable[[Objects], None] | None = None, **kwargs: Any) -> ClusterFacts:
    objs = objects()
    if edit is not None:
        edit(objs)
    return facts_from_objects(objs, host_ip="172.18.0.1", **kwargs)


def find(objs: Objects, kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)


def names(plan: WalkPlan) -> list[str]:
    return [p.name for p in plan.points]


def test_snapshot_facts() -> None:
    f = facts()
    assert (f.cni, f.kube_proxy_mode, f.platform, f.app_namespace) == (
        "kindnet",
        "iptables",
        "kind",
        "vote",
    )
    assert f.l2_leaders == {"traefik/traefik": W1}
    assert f.named_ports[f"traefik/{TRAEFIK_POD}"]["web"] == 8000
    traefik = next(s for s in f.services if s.name == "traefik")
    assert traefik.lb_ips == ("172.18.255.200",) and traefik.ports[0].target_port == "web"
    assert [(r.service_name, r.host) for r in f.routes] == [
        ("vote", "vote.localhost"),
        ("result", "result.localhost"),
    ]


def test_ingress_from_user_walks_host_leader_traefik_backend() -> None:
    plan = plan_walk(WalkRequest(), facts())
    assert (plan.to, plan.source, plan.via) == ("vote/vote", "user", "ingress")
    # request order: the host, the MetalLB leader, Traefik's node, Traefik, the backend
    # (the leader also hosts the backend, so it is not repeated)
    assert names(plan) == ["host", W1, W2, TRAEFIK_POD, VOTE_POD]
    assert [p.kind for p in plan.points] == ["host", "node", "node", "pod", "pod"]
    assert [p.interface for p in plan.points] == ["any", "any", "any", "eth0", "eth0"]
    expected = (
        "(host 172.18.255.200 and tcp port 80) or (host 10.244.2.10 and tcp port 8000) "
        "or (host 10.244.1.5 and tcp port 80)"
    )
    assert {p.filter for p in plan.points} == {expected}
    assert plan.request.url == "http://172.18.255.200:80/"
    assert plan.request.host_header == "vote.localhost"
    assert plan.request.origin == "host"
    assert plan.request.command()[-3:] == (
        "-H",
        "Host: vote.localhost",
        "http://172.18.255.200:80/",
    )
    leader = plan.point(W1)
    assert any("MetalLB L2 leader" in why and "masquerades" in why for why in leader.why)
    traefik = plan.point(TRAEFIK_POD)
    assert (traefik.namespace, traefik.pod, traefik.container) == (
        "traefik",
        TRAEFIK_POD,
        "pw-cap-traefik-5f9c6d8b47-k8s2d",
    )
    assert any("EndpointSlices, so kube-proxy is not on this hop" in s for s in plan.path)
    assert plan.point(VOTE_POD).target_container == "vote"


def test_traefik_is_captured_in_its_pod_and_its_node_stands_in_only_on_refusal() -> None:
    plan = plan_walk(WalkRequest(), facts())
    why = " ".join(plan.point(TRAEFIK_POD).why)
    assert "runAsUser 0" in why and "NET_RAW" in why
    assert "only if the API server refuses that container" in why
    assert f"the capture on node {W2}" in why
    assert "if tcpdump cannot capture" not in why
    assert plan.point(W2).kind == "node"  # the node that stands in is a point of the plan


def test_ingress_with_unknown_l2_leader_captures_every_node() -> None:
    f = facts(lambda objs: objs.remove(find(objs, "ServiceL2Status", "l2-cf2xr")))
    plan = plan_walk(WalkRequest(), f)
    assert names(plan) == ["host", CP, W1, W2, TRAEFIK_POD, VOTE_POD]
    assert any("L2 leader for 172.18.255.200 is unknown" in n for n in plan.notes)


def test_ingress_with_native_lb_adds_the_cluster_ip_hop() -> None:
    def native(objs: Objects) -> None:
        find(objs, "Service", "vote")["metadata"]["annotations"] = {
            "traefik.ingress.kubernetes.io/service.nativelb": "true"
        }

    plan = plan_walk(WalkRequest(), facts(native))
    assert "(host 10.96.120.15 and tcp port 8080)" in plan.point(VOTE_POD).filter
    assert any(
        "nativeLB: Traefik dials ClusterIP 10.96.120.15" in why for why in plan.point(W2).why
    )
    assert any("(nativeLB)" in step for step in plan.path)


def test_ingressroute_routes_are_understood() -> None:
    def ingressroute(objs: Objects) -> None:
        objs.remove(find(objs, "Ingress", "result"))
        objs.append(
            {
                "apiVersion": "traefik.io/v1alpha1",
                "kind": "IngressRoute",
                "metadata": {"name": "result", "namespace": "vote"},
                "spec": {
                    "entryPoints": ["web"],
                    "routes": [
                        {
                            "match": "Host(`result.localhost`) && PathPrefix(`/results`)",
                            "kind": "Rule",
                            "services": [{"name": "result", "port": 8081, "nativeLB": True}],
                        }
                    ],
                },
            }
        )

    plan = plan_walk(WalkRequest(to="result"), facts(ingressroute))
    assert plan.request.url == "http://172.18.255.200:80/results"
    assert plan.request.host_header == "result.localhost"
    assert "(host 10.96.87.201 and tcp port 8081)" in plan.point("result-5b8c7d9f4b-p9z7m").filter


def test_ingress_through_traefik_nodeport_enters_on_the_ingress_ready_node() -> None:
    def nodeport(objs: Objects) -> None:
        traefik = find(objs, "Service", "traefik")
        traefik["spec"]["type"] = "NodePort"
        del traefik["status"]

    plan = plan_walk(WalkRequest(), facts(nodeport))
    assert plan.request.url == "http://172.18.0.2:30080/"
    assert names(plan)[:2] == ["host", CP]
    assert "(host 172.18.0.2 and tcp port 30080)" in plan.point("host").filter
    assert any(
        "kind publishes packetwalk-control-plane:30080 on 127.0.0.1:80" in n for n in plan.notes
    )


def test_nodeport_from_user_enters_on_a_node_without_the_backend() -> None:
    plan = plan_walk(WalkRequest(via="nodeport"), facts())
    assert names(plan) == ["host", W2, W1, VOTE_POD]
    assert plan.request.url == "http://172.18.0.4:31000/"
    assert plan.request.host_header is None
    assert plan.point(VOTE_POD).filter == (
        "(host 172.18.0.4 and tcp port 31000) or (host 10.244.1.5 and tcp port 80)"
    )
    entry = plan.point(W2)
    assert any("masquerades the source to 172.18.0.4" in why for why in entry.why)
    assert any("sees source the entry node's IP (masqueraded)" in s for s in plan.path)


def test_nodeport_entry_node_can_be_chosen_and_must_exist() -> None:
    plan = plan_walk(WalkRequest(via="nodeport", entry_node=W1), facts())
    assert names(plan) == ["host", W1, VOTE_POD]
    with pytest.raises(InputError) as err:
        plan_walk(WalkRequest(via="nodeport", entry_node="nope"), facts())
    assert err.value.location == "--entry-node"
    assert err.value.choices == (CP, W1, W2)


def test_nodeport_with_local_traffic_policy_keeps_the_client_address() -> None:
    def local(objs: Objects) -> None:
        find(objs, "Service", "vote")["spec"]["externalTrafficPolicy"] = "Local"

    plan = plan_walk(WalkRequest(via="nodeport"), facts(local))
    assert not any("masquerades" in why for p in plan.points for why in p.why)
    assert any("sees source the client address 172.18.0.1" in s for s in plan.path)


def test_loadbalancer_needs_an_lb_address_and_lists_those_that_have_one() -> None:
    with pytest.raises(InputError) as err:
        plan_walk(WalkRequest(via="loadbalancer"), facts())
    assert "has no LoadBalancer address (type NodePort)" in str(err.value)
    assert err.value.choices == ("traefik/traefik",)
    plan = plan_walk(WalkRequest(to="traefik/traefik", via="loadbalancer"), facts())
    assert names(plan) == ["host", W1, W2, TRAEFIK_POD]
    assert plan.point(TRAEFIK_POD).pod == TRAEFIK_POD


def test_clusterip_from_a_pod_captures_client_its_node_and_backend() -> None:
    plan = plan_walk(WalkRequest(to="redis", source="worker"), facts())
    assert plan.via == "clusterip"
    assert names(plan) == [WORKER_POD, W2, W1, REDIS_POD]
    client = plan.point(WORKER_POD)
    assert (client.pod, client.container) == (WORKER_POD, "pw-cap-worker-7c5d9b8f6c-q4w2e")
    # the client resolves the Service name, so its captures include DNS
    assert client.filter.endswith("or (udp port 53)")
    assert plan.point(W2).filter.endswith("or (udp port 53)")
    assert "udp port 53" not in plan.point(REDIS_POD).filter
    assert "(host 10.96.33.4 and tcp port 6379)" in client.filter
    # redis does not speak HTTP: the request is a TCP connect from the capture container
    assert plan.request.url == "tcp://redis.vote.svc.cluster.local:6379"
    assert plan.request.command() == (
        "nc",
        "-z",
        "-v",
        "-w",
        "5",
        "redis.vote.svc.cluster.local",
        "6379",
    )
    assert (plan.request.origin, plan.request.point) == ("pod", WORKER_POD)
    assert any("PREROUTING" in why for why in plan.point(W2).why)


def test_clusterip_http_service_is_fetched_with_curl() -> None:
    plan = plan_walk(WalkRequest(to="vote", source=f"vote/{WORKER_POD}"), facts())
    assert plan.request.url == "http://vote.vote.svc.cluster.local:8080/"
    assert plan.request.command()[0] == "curl"


def test_clusterip_from_the_user_is_refused() -> None:
    with pytest.raises(InputError) as err:
        plan_walk(WalkRequest(via="clusterip"), facts())
    assert err.value.location == "--via"
    assert err.value.choices == ("ingress", "nodeport", "loadbalancer")


def test_ingress_from_a_pod_is_translated_on_the_client_node_not_the_leader() -> None:
    plan = plan_walk(WalkRequest(source="worker", via="ingress"), facts())
    assert names(plan) == [WORKER_POD, W2, TRAEFIK_POD, W1, VOTE_POD]
    assert any("no MetalLB hop" in why for why in plan.point(W2).why)
    assert plan.request.url == "http://172.18.255.200:80/"
    assert plan.request.host_header == "vote.localhost"


def test_without_kube_proxy_the_plan_says_ebpf() -> None:
    def cilium(objs: Objects) -> None:
        for pod in [
            o
            for o in objs
            if o["kind"] == "Pod" and o["metadata"]["name"].startswith(("kube-proxy", "kindnet"))
        ]:
            objs.remove(pod)
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": "cilium-x7k2p",
                    "namespace": "kube-system",
                    "labels": {"k8s-app": "cilium"},
                },
                "spec": {
                    "nodeName": W1,
                    "hostNetwork": True,
                    "containers": [{"name": "cilium-agent"}],
                },
                "status": {"phase": "Running", "podIP": "172.18.0.3"},
            }
        )

    f = facts(cilium)
    assert (f.cni, f.kube_proxy_mode) == ("cilium", "none")
    plan = plan_walk(WalkRequest(via="nodeport"), f)
    assert any("eBPF" in why and "no KUBE-* chains" in why for why in plan.point(W2).why)
    assert any("No kube-proxy" in n for n in plan.notes)
    assert any("Cilium tunnels" in n for n in plan.notes)


def test_kube_proxy_mode_comes_from_its_configmap() -> None:
    f = facts()
    cm = {
        "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
        "data": {"config.conf": 'kind: KubeProxyConfiguration\nmode: "nftables"\n'},
    }
    assert detect_kube_proxy_mode(f.pods, [cm]) == "nftables"
    empty = {**cm, "data": {"config.conf": 'mode: ""\n'}}
    assert detect_kube_proxy_mode(f.pods, [empty]) == "iptables"


def test_unknown_names_list_the_valid_ones() -> None:
    with pytest.raises(InputError) as err:
        plan_walk(WalkRequest(to="votes"), facts())
    assert err.value.location == "--to"
    assert {"vote", "result", "redis", "db", "traefik/traefik"} <= set(err.value.choices)
    with pytest.raises(InputError) as err:
        plan_walk(WalkRequest(source="wroker", to="redis"), facts())
    assert err.value.location == "--from"
    assert {"user", "worker", WORKER_POD} <= set(err.value.choices)
    with pytest.raises(InputError) as err:
        plan_walk(WalkRequest(via="tunnel"), facts())
    assert err.value.choices == ("ingress", "nodeport", "loadbalancer", "clusterip")
    with pytest.raises(InputError) as err:
        plan_walk(WalkRequest(to="redis"), facts())  # redis has no Ingress route
    assert "no Ingress or IngressRoute routes to Service vote/redis" in str(err.value)
    assert err.value.choices == ("result", "vote")


def test_pod_without_ip_is_an_error_for_client_and_backend() -> None:
    def pending(name: str) -> Callable[[Objects], None]:
        def edit(objs: Objects) -> None:
            pod = find(objs, "Pod", name)
            pod["status"] = {"phase": "Pending"}

        return edit

    with pytest.raises(InputError, match=rf"pod vote/{WORKER_POD} has no IP \(phase Pending\)"):
        plan_walk(WalkRequest(to="redis", source=WORKER_POD), facts(pending(WORKER_POD)))
    with pytest.raises(InputError) as err:
        plan_walk(WalkRequest(), facts(pending(VOTE_POD)))
    assert f"{VOTE_POD} (Pending, ip none)" in str(err.value)


def test_no_traefik_pod_means_no_ingress_path() -> None:
    f = facts(lambda objs: objs.remove(find(objs, "Pod", TRAEFIK_POD)))
    with pytest.raises(InputError) as err:
        plan_walk(WalkRequest(), f)
    assert "no running Traefik pod" in str(err.value)
    assert err.value.choices == ("nodeport", "loadbalancer", "clusterip")


def test_every_replica_is_a_candidate_backend() -> None:
    def scale(objs: Objects) -> None:
        second = copy.deepcopy(find(objs, "Pod", VOTE_POD))
        second["metadata"]["name"] = "vote-6d8c7b9f5d-9abcd"
        second["spec"]["nodeName"] = CP
        second["status"]["podIP"] = "10.244.0.9"
        objs.append(second)

    plan = plan_walk(WalkRequest(via="nodeport"), facts(scale))
    assert names(plan) == ["host", W2, W1, CP, VOTE_POD, "vote-6d8c7b9f5d-9abcd"]
    assert "(host 10.244.0.9 and tcp port 80)" in plan.point(VOTE_POD).filter
    assert any("has 2 ready pods" in n for n in plan.notes)


def test_a_pod_calling_its_own_service_is_not_captured_twice() -> None:
    plan = plan_walk(WalkRequest(to="vote", source="vote"), facts())
    assert names(plan) == [VOTE_POD, W1]
    assert any("hairpinned" in n for n in plan.notes)


def test_equivalent_commands_and_plan_data() -> None:
    plan = plan_walk(WalkRequest(), facts())
    commands = dict(equivalent_commands(plan, "nicolaka/netshoot:v0.16"))
    assert commands[VOTE_POD].startswith("kubectl exec -n vote")
    assert commands["request"].startswith("curl ")
    lines = [c for p, c in equivalent_commands(plan, "img:1") if p == TRAEFIK_POD]
    assert lines[0] == (
        f"kubectl debug -n traefik {TRAEFIK_POD} -c pw-cap-traefik-5f9c6d8b47-k8s2d"
        " --image=img:1 --profile=netadmin"
        " --custom=labs/manifests/capture-as-root.json --target=traefik"
        " -- tail -f /dev/null"
    )
    assert lines[1].startswith(
        f"kubectl exec -n traefik {TRAEFIK_POD} -c pw-cap-traefik-5f9c6d8b47-k8s2d -- tcpdump "
    )
    # typed by hand, it adds the very container the walk sends through the API: root included
    point = plan.point(TRAEFIK_POD)
    namespace, pod, typed = debug_container(shlex.split(lines[0]), cwd=REPO)
    sent = ephemeral_container_body(capture_container(point, "img:1"))
    assert (namespace, pod) == ("traefik", TRAEFIK_POD)
    fields = ("name", "image", "command", "targetContainerName", "securityContext")
    assert {k: typed[k] for k in fields} == {k: sent[k] for k in fields}
    assert typed["securityContext"]["runAsUser"] == 0
    data = plan_as_dict(plan, "img")
    assert json.loads(json.dumps(data)) == data
    assert [p["name"] for p in data["points"]] == names(plan)
    assert data["inventory"]["services"]["traefik LB"] == "172.18.255.200"


def test_flow_filter_deduplicates_and_adds_dns() -> None:
    from packetwalk.walk.plan import ServerAddress

    eps = [ServerAddress("10.96.0.10", 53, "a"), ServerAddress("10.96.0.10", 53, "b")]
    assert flow_filter(eps) == "(host 10.96.0.10 and tcp port 53)"
    assert flow_filter(eps, dns=True).endswith(" or (udp port 53)")


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump is not installed")
@pytest.mark.parametrize(
    "request_",
    [
        WalkRequest(),
        WalkRequest(via="nodeport"),
        WalkRequest(to="redis", source="worker"),
        WalkRequest(source="worker", via="ingress"),
    ],
    ids=["ingress", "nodeport", "clusterip", "pod-ingress"],
)
def test_filters_compile_with_tcpdump(request_: WalkRequest) -> None:
    plan = plan_walk(request_, facts())
    for point in plan.points:
        linktype = "LINUX_SLL2" if point.interface == "any" else "EN10MB"
        done = subprocess.run(
            ["tcpdump", "-d", "-y", linktype, point.filter],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, (point.name, point.filter, done.stderr)


def test_traefik_without_an_outside_address_explains_the_cloud_front() -> None:
    def cluster_ip(objs: Objects) -> None:
        traefik = find(objs, "Service", "traefik")
        traefik["spec"]["type"] = "ClusterIP"
        del traefik["status"]
        for port in traefik["spec"]["ports"]:
            del port["nodePort"]

    f = facts(cluster_ip, platform="gke")
    with pytest.raises(InputError) as err:
        plan_walk(WalkRequest(), f)
    assert "cloud load balancer" in str(err.value) and err.value.choices == (
        "nodeport",
        "clusterip",
    )
    # from a pod the ClusterIP is the way in
    plan = plan_walk(WalkRequest(source="worker", via="ingress"), f)
    assert plan.request.url == "http://10.96.45.99:80/"


@pytest.mark.parametrize(
    ("mode", "tool"),
    [
        ("iptables", "iptables-save -t nat"),
        ("nftables", "nft list table ip kube-proxy"),
        ("ipvs", "ipvsadm -Ln"),
    ],
)
def test_notes_say_where_each_kube_proxy_mode_shows_its_rules(mode: str, tool: str) -> None:
    plan = plan_walk(WalkRequest(via="nodeport"), facts(kube_proxy_mode=mode))
    assert any(tool in n for n in plan.notes)
    assert any(f"kube-proxy ({mode} mode)" in why for why in plan.point(W2).why)


def test_nodeport_from_a_pod_passes_its_own_node_first() -> None:
    plan = plan_walk(WalkRequest(source="worker", via="nodeport", entry_node=CP), facts())
    assert names(plan) == [WORKER_POD, W2, CP, W1, VOTE_POD]
    assert any("routes the request on to the entry node" in why for why in plan.point(W2).why)
    assert plan.request.url == "http://172.18.0.2:31000/"


def test_gke_load_balancer_has_no_leader_every_node_may_receive() -> None:
    plan = plan_walk(WalkRequest(), facts(platform="gke"))
    assert names(plan) == ["host", CP, W1, W2, TRAEFIK_POD, VOTE_POD]
    assert all("passthrough load balancer" in plan.point(n).why[0] for n in (CP, W1, W2))
    assert not any("MetalLB" in n for n in plan.notes)

    def local(objs: Objects) -> None:
        find(objs, "Service", "traefik")["spec"]["externalTrafficPolicy"] = "Local"

    plan = plan_walk(WalkRequest(), facts(local, platform="gke"))
    # only Traefik's node passes the health check; the backend's node is on the path anyway
    assert names(plan) == ["host", W2, TRAEFIK_POD, W1, VOTE_POD]
    assert "externalTrafficPolicy Local" in plan.point(W2).why[0]
