"""Conformance of every stack's desired state, the pinned charts rendered with the real Helm.

Under Pulumi mocks a chart renders to nothing, so tests/test_stack_programs.py only sees the values
packetwalk passes. Here the chart packages of ../shared/charts are rendered by Helm v4's own
library (tests/rendering.py) together with packetwalk's own objects, in apply order, exactly as
``invoke render`` writes them, and the checks run over what a cluster would really receive.

Every check is a function returning its problems; each is asserted empty for every stack and, in
``test_each_check_fails_on_a_broken_value``, shown to report a value broken on purpose.
"""

from __future__ import annotations

import copy
import ipaddress
import json
from collections.abc import Callable
from typing import Any

import crd_validation
import kubernetes_validate
import pytest
import rendering

from packetwalk.lab import versions
from packetwalk.lab.addresspool import first_address
from packetwalk.lab.charts import METALLB_LB_IPS_ANNOTATION, TRAEFIK_NAMESPACE
from packetwalk.lab.config import LabConfig
from packetwalk.lab.gke import NEG_ANNOTATION
from packetwalk.lab.kindconfig import (
    INGRESS_HTTP_NODE_PORT,
    INGRESS_HTTPS_NODE_PORT,
    control_plane_node,
)
from packetwalk.lab.objects import lab_peer_objects
from packetwalk.netpol.evaluator import EvalOptions, Workload, analyze
from packetwalk.netpol.loader import cluster_from_objects
from packetwalk.render import conformance, helmrender
from packetwalk.render.desired import ClusterAddresses, ComponentState

pytestmark = rendering.needs_charts

STACKS = rendering.ALL_STACKS
LB_RANGE = ClusterAddresses().lb_address_range
Objects = list[dict[str, Any]]

NOT_SCHEMA_VALIDATED = {
    # GKE's own custom resources: their CRDs ship with GKE, not with a chart, and are not among
    # the upstream schemas this repository may read (../shared/reference/crds). Their values are
    # asserted in tests/test_gke_stacks.py; a CRD added there is picked up by crd_validation.
    ("networking.gke.io/v1", "HealthCheckPolicy"),
    ("cloud.google.com/v1", "BackendConfig"),
}


def find(objects: Objects, kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        obj
        for obj in objects
        if obj.get("kind") == kind and (name is None or obj["metadata"].get("name") == name)
    ]


def one(objects: Objects, kind: str, name: str) -> dict[str, Any]:
    found = find(objects, kind, name)
    assert len(found) == 1, (kind, name, len(found))
    return found[0]


def flat(components: list[ComponentState]) -> Objects:
    return [obj for component in components for obj in component.objects]


# --------------------------------------------------------------------------- the checks


def schema_problems(cfg: LabConfig, components: list[ComponentState]) -> list[str]:
    """Built-in kinds strict-valid for the pinned Kubernetes; custom resources against their CRD
    with unknown fields refused; no kind without a schema."""
    del cfg
    problems = []
    for obj in flat(components):
        key = (obj["apiVersion"], obj["kind"])
        where = f"{obj['kind']} {obj['metadata'].get('name')}"
        if key in NOT_SCHEMA_VALIDATED:
            continue
        try:
            if crd_validation.known(*key):
                crd_validation.validate(obj)
            else:
                kubernetes_validate.validate(obj, versions.KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{where}: no schema for {key}")
        except Exception as err:  # ValidationError of either validator
            problems.append(f"{where}: {str(err).splitlines()[0]}")
    return problems


def namespace_problems(cfg: LabConfig, components: list[ComponentState]) -> list[str]:
    del cfg
    return conformance.namespace_problems(components)


def pod_security_problems(cfg: LabConfig, components: list[ComponentState]) -> list[str]:
    del cfg
    return conformance.pod_security_problems(
        components, extra=conformance.run_time_pods(components)
    )


def value_key_problems(cfg: LabConfig, components: list[ComponentState]) -> list[str]:
    del cfg
    return conformance.value_key_problems(components, rendering.CACHE.locate)


def traefik_problems(cfg: LabConfig, components: list[ComponentState]) -> list[str]:
    """Service type, ports and entrypoints as the stack needs them."""
    objects = flat(components)
    problems: list[str] = []

    def expect(what: str, got: object, want: object) -> None:
        if got != want:
            problems.append(f"traefik {what}: {got!r}, expected {want!r}")

    service = one(objects, "Service", "traefik")
    deployment = one(objects, "Deployment", "traefik")
    pod = deployment["spec"]["template"]
    [container] = [c for c in pod["spec"]["containers"] if c["name"] == "traefik"]
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    args = set(container["args"])
    annotations = service["metadata"].get("annotations") or {}
    if cfg.platform == "kind":
        expect("Service type", service["spec"]["type"], "LoadBalancer")
        expect(
            "MetalLB address", annotations.get(METALLB_LB_IPS_ANNOTATION), first_address(LB_RANGE)
        )
        expect("web nodePort", ports.get("web", {}).get("nodePort"), INGRESS_HTTP_NODE_PORT)
        expect(
            "websecure nodePort",
            ports.get("websecure", {}).get("nodePort"),
            INGRESS_HTTPS_NODE_PORT,
        )
        expect("exposed ports", sorted(ports), ["web", "websecure"])
    else:
        assert cfg.gke is not None
        expect("Service type", service["spec"]["type"], "ClusterIP")
        # the load balancer's health check goes to /ping on the traefik entrypoint
        expect("exposed ports", sorted(ports), ["traefik", "web", "websecure"])
        expect(
            "NEG annotation",
            annotations.get(NEG_ANNOTATION),
            '{"ingress": true}' if cfg.gke.ingress_mode == "ingress" else None,
        )
    for name, port, target in (("web", 80, 8000), ("websecure", 443, 8443)):
        expect(f"{name} port", ports.get(name, {}).get("port"), port)
        expect(f"{name} targetPort", ports.get(name, {}).get("targetPort"), name)
        expect(f"{name} containerPort", container_ports.get(name), target)
        if f"--entryPoints.{name}.address=:{target}/tcp" not in args:
            problems.append(f"traefik: entrypoint {name} is not on :{target}")
    for arg in ("--ping=true", "--providers.kubernetesingress", "--providers.kubernetescrd"):
        if arg not in args:
            problems.append(f"traefik: {arg} missing from the container args")
    selector = service["spec"]["selector"]
    labels = pod["metadata"]["labels"]
    if any(labels.get(key) != value for key, value in selector.items()):
        problems.append(f"traefik Service selector {selector} does not select the pods {labels}")
    ingress_class = one(objects, "IngressClass", "traefik")
    expect(
        "IngressClass default",
        ingress_class["metadata"]
        .get("annotations", {})
        .get("ingressclass.kubernetes.io/is-default-class"),
        "true",
    )
    return problems


def ingress_flow_problems(cfg: LabConfig, components: list[ComponentState]) -> list[str]:
    """The generated policies let the *rendered* Traefik pods reach every Ingress backend, and
    nothing else of the app (CoreDNS is still a stand-in: kind and GKE run it, no chart does)."""
    objects = flat(components)
    dns_stand_in = [
        obj
        for obj in lab_peer_objects(cfg)
        if TRAEFIK_NAMESPACE not in (obj["metadata"].get("namespace"), obj["metadata"]["name"])
    ]
    cluster = cluster_from_objects(objects + dns_stand_in, source="rendered")
    analysis = analyze(cluster, EvalOptions())
    traefik = [
        w
        for w in analysis.workloads
        if w.namespace == TRAEFIK_NAMESPACE
        and w.pods[0].labels.get("app.kubernetes.io/name") == "traefik"
    ]
    if len(traefik) != 1:
        return [f"{len(traefik)} rendered Traefik workloads in the evaluator, expected 1"]
    services = {
        (s["metadata"]["namespace"], s["metadata"]["name"]): s for s in find(objects, "Service")
    }
    backends = set()
    for ingress in find(objects, "Ingress"):
        if (
            ingress["spec"].get("ingressClassName", "traefik") != "traefik"
            or ingress["metadata"]
            .get("annotations", {})
            .get("kubernetes.io/ingress.class", "traefik")
            != "traefik"
        ):
            continue  # GKE's own Ingress in front of Traefik
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = services[(ingress["metadata"]["namespace"], backend["name"])]
                [port] = [
                    p for p in service["spec"]["ports"] if p["port"] == backend["port"]["number"]
                ]
                backends.add(
                    (
                        service["metadata"]["namespace"],
                        service["spec"]["selector"]["app"],
                        port["targetPort"],
                    )
                )
    app = conformance.app_namespaces(components)
    allowed = {
        (dst.namespace, dst.pods[0].labels.get("app"), str(conn))
        for src, dst, conn in analysis.edges()
        if src is traefik[0] and isinstance(dst, Workload) and dst.namespace in app
    }
    expected = {(namespace, app, f"TCP {port}") for namespace, app, port in backends}
    if not expected:
        return ["no Ingress backends in the app"]
    problems = [f"Traefik may not reach {flow}" for flow in sorted(expected - allowed)]
    problems += [
        f"Traefik may reach {flow}, which no Ingress routes to"
        for flow in sorted(allowed - expected)
    ]
    return problems


def _subnet_of(inner: str, outer: str) -> bool:
    """``inner`` lies within ``outer`` (never, when one is IPv4 and the other IPv6)."""
    a, b = ipaddress.ip_network(inner), ipaddress.ip_network(outer)
    if isinstance(a, ipaddress.IPv4Network) and isinstance(b, ipaddress.IPv4Network):
        return a.subnet_of(b)
    if isinstance(a, ipaddress.IPv6Network) and isinstance(b, ipaddress.IPv6Network):
        return a.subnet_of(b)
    return False


def cni_problems(cfg: LabConfig, components: list[ComponentState]) -> list[str]:
    objects = flat(components)
    cnis: list[ComponentState | None] = [c for c in components if c.name == "cni"]
    [cni] = cnis or [None]
    problems: list[str] = []
    if cfg.platform != "kind" or cni is None:
        return problems
    if cfg.cni == "kindnet":
        return [f"kindnet needs no objects, got {len(cni.objects)}"] if cni.objects else []
    if cfg.cni == "flannel":
        config = one(objects, "ConfigMap", "kube-flannel-cfg")
        net_conf = json.loads(config["data"]["net-conf.json"])
        if net_conf["Network"] != cfg.pod_subnet:
            problems.append(
                f"flannel net-conf Network {net_conf['Network']} != podSubnet {cfg.pod_subnet}"
            )
        if net_conf["Backend"]["Type"] != "vxlan":
            problems.append(f"flannel backend {net_conf['Backend']['Type']}, expected vxlan")
    elif cfg.cni == "calico":
        installations = find(objects, "Installation")
        if len(installations) != 1:
            return [f"{len(installations)} Installations, expected packetwalk's one"]
        network = installations[0]["spec"]["calicoNetwork"]
        for pool in network["ipPools"]:
            if not _subnet_of(pool["cidr"], cfg.pod_subnet):
                problems.append(f"calico pool {pool['cidr']} outside podSubnet {cfg.pod_subnet}")
            if pool["encapsulation"] != "VXLANCrossSubnet":
                problems.append(f"calico pool encapsulation {pool['encapsulation']}")
        if [p["cidr"] for p in network["ipPools"]] != [cfg.pod_subnet]:
            problems.append(f"calico pools {network['ipPools']} != [{cfg.pod_subnet}]")
    elif cfg.cni == "cilium":
        data = one(objects, "ConfigMap", "cilium-config")["data"]
        kpr = "false" if cfg.has_kube_proxy else "true"
        if data.get("kube-proxy-replacement") != kpr:
            problems.append(
                f"cilium kube-proxy-replacement {data.get('kube-proxy-replacement')}"
                f", expected {kpr}"
            )
        if data.get("ipam") != "kubernetes":
            problems.append(f"cilium ipam {data.get('ipam')}, expected kubernetes")
        for kind, name in (("DaemonSet", "cilium"), ("Deployment", "cilium-operator")):
            spec = one(objects, kind, name)["spec"]["template"]["spec"]
            env = {e["name"]: e.get("value") for c in spec["containers"] for e in c.get("env", [])}
            want = (
                {}
                if cfg.has_kube_proxy
                else {
                    "KUBERNETES_SERVICE_HOST": control_plane_node(cfg),
                    "KUBERNETES_SERVICE_PORT": "6443",
                }
            )
            got = {key: env.get(key) for key in want}
            if got != want:
                problems.append(f"cilium {name} API server {got}, expected {want}")
    return problems


def metallb_problems(cfg: LabConfig, components: list[ComponentState]) -> list[str]:
    """The webhook that guards the pool exists and is served by the controller; the pool and
    advertisement come after it (components/gates.py then waits until it answers)."""
    if cfg.platform != "kind":
        return []
    objects = flat(components)
    problems: list[str] = []
    webhook_config = one(objects, "ValidatingWebhookConfiguration", "metallb-webhook-configuration")
    guarded = {
        resource: hook
        for hook in webhook_config["webhooks"]
        for rule in hook["rules"]
        for resource in rule["resources"]
    }
    controller = one(objects, "Deployment", "metallb-controller")["spec"]["template"]
    controller_ports = {
        p["containerPort"] for c in controller["spec"]["containers"] for p in c.get("ports", [])
    }
    for resource in ("ipaddresspools", "l2advertisements"):
        hook = guarded.get(resource)
        if hook is None:
            problems.append(f"no MetalLB webhook validates {resource}")
            continue
        if hook["failurePolicy"] != "Fail":  # why the pool must wait for the webhook
            problems.append(f"{resource} webhook failurePolicy {hook['failurePolicy']}")
        ref = hook["clientConfig"]["service"]
        service = one(objects, "Service", ref["name"])
        if service["metadata"]["namespace"] != ref["namespace"]:
            problems.append(f"webhook Service {ref} is not in {ref['namespace']}")
        labels = controller["metadata"]["labels"]
        if any(labels.get(k) != v for k, v in service["spec"]["selector"].items()):
            problems.append(f"webhook Service {ref['name']} does not select the controller")
        if {p["targetPort"] for p in service["spec"]["ports"]} - controller_ports:
            problems.append(
                f"webhook Service {ref['name']} targets a port the controller does not open"
            )
    position = {(o["kind"], o["metadata"]["name"]): i for i, o in enumerate(objects)}
    webhook_at = position[("ValidatingWebhookConfiguration", "metallb-webhook-configuration")]
    pool = one(objects, "IPAddressPool", "lab-pool")
    advertisement = one(objects, "L2Advertisement", "lab-l2")
    for obj in (pool, advertisement):
        if position[(obj["kind"], obj["metadata"]["name"])] < webhook_at:
            problems.append(f"{obj['kind']} comes before the webhook that validates it")
    if pool["spec"]["addresses"] != [LB_RANGE]:
        problems.append(f"pool addresses {pool['spec']['addresses']} != [{LB_RANGE}]")
    if advertisement["spec"].get("ipAddressPools") != ["lab-pool"]:
        problems.append("the L2Advertisement does not announce lab-pool")
    speaker = one(objects, "DaemonSet", "metallb-speaker")["spec"]["template"]["spec"]
    if [c["name"] for c in speaker["containers"]] != ["speaker"]:
        problems.append(
            f"speaker containers {[c['name'] for c in speaker['containers']]}: FRR is on"
        )
    return problems


CHECKS: dict[str, Callable[[LabConfig, list[ComponentState]], list[str]]] = {
    "schema": schema_problems,
    "namespaces": namespace_problems,
    "pod security": pod_security_problems,
    "chart values": value_key_problems,
    "traefik": traefik_problems,
    "ingress flows": ingress_flow_problems,
    "cni": cni_problems,
    "metallb": metallb_problems,
}


@pytest.mark.parametrize("check", sorted(CHECKS))
@pytest.mark.parametrize("stack", STACKS)
def test_desired_state_conforms(stack: str, check: str) -> None:
    cfg = rendering.stack_config(stack)
    assert CHECKS[check](cfg, rendering.desired(stack)) == []


# --------------------------------------------------------------------------- each can fail


def _edit(
    components: list[ComponentState], kind: str, name: str, change: Callable[[dict[str, Any]], None]
) -> None:
    [obj] = [o for o in flat(components) if o["kind"] == kind and o["metadata"]["name"] == name]
    change(obj)


def _move_namespace_last(components: list[ComponentState]) -> None:
    traefik = next(c for c in components if c.name == "traefik")
    namespace = traefik.objects.pop(0)
    assert namespace["kind"] == "Namespace"
    components[-1].objects.append(namespace)


def _unknown_field(obj: dict[str, Any]) -> None:
    obj["spec"]["replica"] = 2  # a typo of replicas: a real API server would prune it


def _pool_unknown_field(obj: dict[str, Any]) -> None:
    obj["spec"]["autoAsign"] = False


def _baseline(obj: dict[str, Any]) -> None:
    obj["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "baseline"


def _old_service_type(components: list[ComponentState]) -> None:
    traefik = next(c for c in components if c.name.startswith("traefik"))
    assert traefik.chart is not None
    traefik.chart.values["service"]["type"] = "ClusterIP"  # the key Traefik 40 removed


def _service_type(obj: dict[str, Any]) -> None:
    obj["spec"]["type"] = "NodePort"


def _relabel_pods(obj: dict[str, Any]) -> None:
    obj["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] = "proxy"


def _websecure_port(obj: dict[str, Any]) -> None:
    obj["spec"]["template"]["spec"]["containers"][0]["args"] = [
        a.replace(":8443/", ":9443/")
        for a in obj["spec"]["template"]["spec"]["containers"][0]["args"]
    ]


def _flannel_network(obj: dict[str, Any]) -> None:
    obj["data"]["net-conf.json"] = obj["data"]["net-conf.json"].replace("10.244.", "10.245.")


def _calico_encapsulation(obj: dict[str, Any]) -> None:
    obj["spec"]["calicoNetwork"]["ipPools"][0]["encapsulation"] = "IPIP"


def _cilium_kpr(obj: dict[str, Any]) -> None:
    obj["data"]["kube-proxy-replacement"] = "false"


def _fail_open(obj: dict[str, Any]) -> None:
    for hook in obj["webhooks"]:
        hook["failurePolicy"] = "Ignore"


def _pool_first(components: list[ComponentState]) -> None:
    metallb = next(c for c in components if c.name == "metallb")
    pool = next(o for o in metallb.objects if o["kind"] == "IPAddressPool")
    metallb.objects.remove(pool)
    metallb.objects.insert(0, pool)


BREAKS: dict[str, tuple[str, str, Callable[[list[ComponentState]], object]]] = {
    # name: (stack, check, how to break it; what it returns is ignored)
    "typo in a Deployment": (
        "kind",
        "schema",
        lambda cs: _edit(cs, "Deployment", "traefik", _unknown_field),
    ),
    "typo in a custom resource": (
        "kind",
        "schema",
        lambda cs: _edit(cs, "IPAddressPool", "lab-pool", _pool_unknown_field),
    ),
    "namespace created too late": ("kind", "namespaces", _move_namespace_last),
    "namespace never created": ("kind-flannel", "namespaces", lambda cs: cs[0].objects.pop(0)),
    "metallb namespace at baseline": (
        "kind",
        "pod security",
        lambda cs: _edit(cs, "Namespace", "metallb-system", _baseline),
    ),
    "app namespace refuses captures": (
        "kind",
        "pod security",
        lambda cs: _edit(cs, "Namespace", "vote", _baseline),
    ),
    "ignored chart value": ("gke", "chart values", _old_service_type),
    "Traefik Service type": (
        "gke-calico",
        "traefik",
        lambda cs: _edit(cs, "Service", "traefik", _service_type),
    ),
    "Traefik entrypoint moved": (
        "kind",
        "traefik",
        lambda cs: _edit(cs, "Deployment", "traefik", _websecure_port),
    ),
    "Traefik pods relabelled": (
        "kind",
        "ingress flows",
        lambda cs: _edit(cs, "Deployment", "traefik", _relabel_pods),
    ),
    "Traefik pods relabelled (GKE)": (
        "gke",
        "ingress flows",
        lambda cs: _edit(cs, "Deployment", "traefik", _relabel_pods),
    ),
    "flannel network": (
        "kind-flannel",
        "cni",
        lambda cs: _edit(cs, "ConfigMap", "kube-flannel-cfg", _flannel_network),
    ),
    "calico encapsulation": (
        "kind-calico",
        "cni",
        lambda cs: _edit(cs, "Installation", "default", _calico_encapsulation),
    ),
    "cilium keeps kube-proxy": (
        "kind-cilium",
        "cni",
        lambda cs: _edit(cs, "ConfigMap", "cilium-config", _cilium_kpr),
    ),
    "webhook fails open": (
        "kind",
        "metallb",
        lambda cs: _edit(
            cs, "ValidatingWebhookConfiguration", "metallb-webhook-configuration", _fail_open
        ),
    ),
    "pool before its webhook": ("kind", "metallb", _pool_first),
}


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_each_check_fails_on_a_broken_value(name: str) -> None:
    stack, check, breaks = BREAKS[name]
    components = rendering.desired(stack)  # a copy
    breaks(components)
    assert CHECKS[check](rendering.stack_config(stack), components) != []


def test_every_check_is_shown_to_fail() -> None:
    assert {check for _, check, _ in BREAKS.values()} == set(CHECKS)


# --------------------------------------------------------------------------- stable renders


def _distinct_charts() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for stack in STACKS:
        for component in rendering.desired(stack):
            if component.chart is not None:
                spec = component.chart
                key = json.dumps(
                    [spec.chart, spec.release, spec.namespace, spec.values], sort_keys=True
                )
                found.setdefault(key, (stack, spec))
    return found


def _render_twice(spec: Any, values: dict[str, Any]) -> tuple[Objects, Objects]:
    package = rendering.CACHE.locate(spec)
    first, second = (
        helmrender.render_chart(  # not memoised, unlike rendering.render_chart
            package, release=spec.release, namespace=spec.namespace, values=values
        )
        for _ in range(2)
    )
    return first.registered, second.registered


@pytest.mark.slow
def test_every_chart_of_every_stack_renders_the_same_twice() -> None:
    """An unchanged ``invoke up`` must change nothing: no chart may make secrets at render."""
    charts = _distinct_charts()
    assert {spec.chart for _, spec in charts.values()} == {
        "flannel",
        "tigera-operator",
        "cilium",
        "metallb",
        "traefik",
    }
    for stack, spec in charts.values():
        first, second = _render_twice(spec, spec.values)
        assert first == second, f"{spec.chart} of stack {stack} renders differently each time"


@pytest.mark.slow
def test_render_twice_sees_cilium_default_certificates_change() -> None:
    """The check above can fail: Cilium's default ``helm`` certificate method (the defect)."""
    [(_, spec)] = [v for v in _distinct_charts().values() if v[1].chart == "cilium"]
    values = copy.deepcopy(spec.values)
    values["hubble"]["tls"]["auto"]["method"] = "helm"
    first, second = _render_twice(spec, values)
    changed = {o["metadata"]["name"] for o, p in zip(first, second, strict=True) if o != p}
    assert {"cilium-ca", "hubble-server-certs"} <= changed
