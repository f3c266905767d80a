"""The lab content: the manifests the modules apply (labs/manifests/) and the modules using them.

A participant who types `kubectl apply -f labs/manifests/...` in the middle of a workshop must not
meet a schema error, so every object is validated strictly (unknown fields are errors) against the
Kubernetes version the lab pins, and every manifest a module names must exist. The second half
runs the eight modules on a simulated kind lab, once with a participant who does the exercises and
once with one who does nothing, whose pause checks must then fail.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from labexercises import APP_FLOWS, LabExercises, run_in_world

from packetwalk.kube.access import CommandResult, NodeInfo, PodInfo
from packetwalk.kube.captures import NODE_DEBUG_PREFIX, NODE_ENTER
from packetwalk.kube.fake import Call, FakeCluster
from packetwalk.lab import versions
from packetwalk.lab.config import DEFAULT_INTENTS_FILE, load_stack_config, stack_names
from packetwalk.lab.kindconfig import INGRESS_HTTP_HOST_PORT, INGRESS_HTTP_NODE_PORT
from packetwalk.lab.objects import lab_objects
from packetwalk.playbook import templating
from packetwalk.playbook.events import Event
from packetwalk.playbook.facts import offline_facts
from packetwalk.playbook.loader import load_module
from packetwalk.playbook.runner import RunOptions, RunResult

REPO = Path(__file__).resolve().parent.parent
LABS = REPO / "labs"
MANIFESTS = LABS / "manifests"
MANIFEST_FILES = sorted(MANIFESTS.rglob("*.yaml"))
PATCH_FILES = sorted(MANIFESTS.rglob("*.patch"))
MODULE_FILES = sorted(LABS.glob("[0-9][0-9]-*.yaml"))
LAB_NAMESPACE = "packetwalk-lab"
KIND_STACK_NAMES = [name for name in stack_names() if load_stack_config(name).platform == "kind"]


KIND_FACTS = offline_facts(load_stack_config("kind"))
"""What a lone kind lab renders the manifest templates with (``template`` tasks)."""


def _documents(path: Path, facts: dict[str, Any] = KIND_FACTS) -> list[dict[str, Any]]:
    text = templating.render_file_text(path.read_text(), facts, str(path))
    docs = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    assert docs, f"{path} holds no object"
    return docs


def _all_objects() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, obj) for path in MANIFEST_FILES for obj in _documents(path)]


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = (
        obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    )
    return containers


def test_there_are_manifests() -> None:
    assert len(MANIFEST_FILES) >= 5


@pytest.mark.parametrize("path", MANIFEST_FILES, ids=lambda p: str(p.relative_to(MANIFESTS)))
def test_manifest_is_valid_kubernetes(path: Path) -> None:
    for obj in _documents(path):
        kubernetes_validate.validate(obj, versions.KUBERNETES_VERSION, strict=True)


def test_strict_validation_rejects_a_typo() -> None:
    """Guards the guard: if strict mode let unknown fields pass, the test above proves nothing."""
    policy = _documents(MANIFESTS / "netpol" / "default-deny.yaml")[0]
    policy["spec"]["podSelectr"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(policy, versions.KUBERNETES_VERSION, strict=True)


def test_objects_are_namespaced_explicitly() -> None:
    """`kubectl apply -f` must not drop objects into the namespace of the participant's context."""
    for path, obj in _all_objects():
        if obj["kind"] == "Namespace":
            continue
        assert obj["metadata"].get("namespace"), f"{path}: {obj['kind']} {obj['metadata']['name']}"


def test_lab_namespace_allows_capture_containers() -> None:
    """netadmin ephemeral containers (NET_ADMIN) are rejected under PSA baseline/restricted."""
    (namespace,) = [obj for _, obj in _all_objects() if obj["kind"] == "Namespace"]
    assert namespace["metadata"]["name"] == LAB_NAMESPACE
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_images_are_pinned() -> None:
    for path, obj in _all_objects():
        for container in _containers(obj):
            image = container["image"]
            assert ":" in image and not image.endswith(":latest"), f"{path}: {image}"


def test_netshoot_image_matches_the_pinned_one() -> None:
    images = {
        container["image"]
        for _, obj in _all_objects()
        for container in _containers(obj)
        if "netshoot" in container["image"]
    }
    assert images == {versions.NETSHOOT_IMAGE}


def _policy_spec(path: Path) -> dict[str, Any]:
    (policy,) = _documents(path)
    assert policy["kind"] == "NetworkPolicy"
    spec: dict[str, Any] = policy["spec"]
    return spec


def test_exercise_policy_differs_from_its_solution_only_in_the_namespace_label() -> None:
    """The broken policy of module 06 must be broken in exactly the way its hint describes."""
    broken = _policy_spec(MANIFESTS / "netpol" / "debug-to-redis.yaml")
    fixed = _policy_spec(MANIFESTS / "solutions" / "debug-to-redis.yaml")
    broken_peer = broken["ingress"][0]["from"][0]
    fixed_peer = fixed["ingress"][0]["from"][0]
    assert broken_peer["namespaceSelector"] == {"matchLabels": {"name": LAB_NAMESPACE}}
    assert fixed_peer["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": LAB_NAMESPACE}
    }
    broken_peer.pop("namespaceSelector")
    fixed_peer.pop("namespaceSelector")
    assert broken == fixed


def test_selectors_match_the_lab_workloads() -> None:
    """Policies and Services here select pods that labs/manifests (or the voting app) creates."""
    pod_labels = {"app": {"netshoot", "whoami"}}
    app_labels = {"vote", "result", "worker", "redis", "db"}
    for path, obj in _all_objects():
        if obj["kind"] == "Service":
            assert obj["spec"]["selector"]["app"] in pod_labels["app"], path
        if obj["kind"] == "NetworkPolicy":
            selector = obj["spec"]["podSelector"].get("matchLabels", {})
            in_lab = obj["metadata"]["namespace"] == LAB_NAMESPACE
            allowed = pod_labels["app"] if in_lab else app_labels
            if selector:
                assert selector["app"] in allowed, path


def _referenced_manifests() -> set[str]:
    pattern = re.compile(r"labs/manifests/[\w./-]+\.(?:yaml|json|patch)")
    found: set[str] = set()
    for module in MODULE_FILES:
        found.update(pattern.findall(module.read_text()))
    return found


def test_every_manifest_a_module_names_exists() -> None:
    referenced = _referenced_manifests()
    assert referenced, "no module applies a manifest from labs/manifests/"
    missing = sorted(ref for ref in referenced if not (REPO / ref).is_file())
    assert not missing


def test_every_manifest_is_used_by_a_module() -> None:
    referenced = _referenced_manifests()
    unused = sorted(
        str(path.relative_to(REPO))
        for path in MANIFEST_FILES
        if str(path.relative_to(REPO)) not in referenced
    )
    assert not unused


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_module_08_patch_applies_to_the_intents_file(tmp_path: Path) -> None:
    """Module 08's solution is `git apply`: it must fit the current intents file, both ways."""
    patch = MANIFESTS / "solutions" / "result-reads-redis.patch"
    target = tmp_path / "stacks" / "intents" / "voting-app.yaml"
    target.parent.mkdir(parents=True)
    original = (REPO / "stacks" / "intents" / "voting-app.yaml").read_text()
    target.write_text(original)

    def apply(*flags: str) -> None:
        done = subprocess.run(
            ["git", "apply", *flags, str(patch)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    apply()
    changed = yaml.safe_load_all(target.read_text())
    result = next(doc for doc in changed if doc["metadata"]["name"] == "result")
    assert {t["service"]["name"] for t in result["spec"]["targets"]} == {"db", "redis"}
    apply("-R")
    assert target.read_text() == original


# -- the modules name what the lab really deploys -----------------------------------------------


def _module_text() -> str:
    return "\n".join(path.read_text() for path in MODULE_FILES)


def _lab_objects(kind: str) -> list[dict[str, Any]]:
    cfg = load_stack_config("kind")
    return [obj for obj in lab_objects(cfg) if obj["kind"] == kind]


def test_policies_the_modules_name_are_deployed_by_the_lab() -> None:
    """`kubectl describe networkpolicy redis-access` must not meet a renamed policy."""
    text = _module_text()
    named = set(re.findall(r"networkpolicy,? ([a-z][a-z0-9-]+),", text))
    named |= set(re.findall(r"networkpolicy ([a-z][a-z0-9-]+) -n", text))
    deployed = {obj["metadata"]["name"] for obj in _lab_objects("NetworkPolicy")}
    ours = {obj["metadata"]["name"] for _, obj in _all_objects() if obj["kind"] == "NetworkPolicy"}
    assert named, "the modules name no policy"
    assert named <= deployed | ours, sorted(named - deployed - ours)


def test_ingress_hosts_and_ports_match_the_lab() -> None:
    hosts = {
        rule["host"]: rule["http"]["paths"][0]["backend"]["service"]
        for obj in _lab_objects("Ingress")
        for rule in obj["spec"]["rules"]
    }
    assert hosts["vote.localhost"] == {"name": "vote", "port": {"number": 8080}}
    assert hosts["result.localhost"] == {"name": "result", "port": {"number": 8081}}
    (vote,) = [s for s in _lab_objects("Service") if s["metadata"]["name"] == "vote"]
    assert (vote["spec"]["ports"][0]["port"], vote["spec"]["ports"][0]["targetPort"]) == (8080, 80)
    assert vote["spec"]["ports"][0]["name"] == "vote-service"  # the iptables rule comments
    assert (INGRESS_HTTP_NODE_PORT, INGRESS_HTTP_HOST_PORT) == (30080, 80)
    solution = _documents(MANIFESTS / "solutions" / "whoami-ingress.yaml")[0]
    assert solution["spec"]["ingressClassName"] == "traefik"
    assert {obj["spec"]["ingressClassName"] for obj in _lab_objects("Ingress")} == {"traefik"}


def test_module_08_edits_the_intents_file_the_stacks_use() -> None:
    module = yaml.safe_load((LABS / "08-zero-trust-intents.yaml").read_text())
    assert module["vars"]["intents_file"] == DEFAULT_INTENTS_FILE
    patch = (MANIFESTS / "solutions" / "result-reads-redis.patch").read_text()
    assert f"+++ b/{DEFAULT_INTENTS_FILE}" in patch
    for name in KIND_STACK_NAMES:
        assert load_stack_config(name).intents_file == DEFAULT_INTENTS_FILE, name


# -- the modules on a simulated lab -----------------------------------------------------------
#
# The eight modules apply the manifests above and judge the participant's work with checks. Run
# them end to end on FakeCluster (our cluster interface) answering the way a kind lab answers:
# tool output in the real formats (iptables-save, conntrack -L, nft, ipvsadm, dig, whoami) and a
# small policy model for the probes. Then run them again with a participant who does nothing at
# the pauses: every pause step's check must fail. The world is a model, not a cluster: it catches
# a regex that cannot match real output, a registered name used before it exists, a check that
# passes whatever the participant does; it does not prove the lab itself.

LAB = "packetwalk-lab"
POD_IPS = {
    "vote": "10.244.1.5",
    "result": "10.244.2.6",
    "worker": "10.244.1.7",
    "redis": "10.244.2.8",
    "db": "10.244.1.9",
    "traefik": "10.244.2.10",
    "whoami": "10.244.1.30",
    "mypod": "10.244.2.40",
}
VIPS = {
    "vote": "10.96.10.1",
    "result": "10.96.10.2",
    "redis": "10.96.10.3",
    "db": "10.96.10.4",
    "whoami": "10.96.20.1",
    "kube-dns": "10.96.0.10",
}
TRAEFIK_LB, WHOAMI_LB, HOST = "172.18.255.200", "172.18.255.201", "172.18.0.1"


def _pcap(packets: int) -> bytes:
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    return header + (struct.pack("<IIII", 0, 0, 60, 60) + b"\x00" * 60) * packets


def _ok(stdout: str = "", rc: int = 0, stderr: str = "") -> CommandResult:
    return CommandResult((), rc, stdout, stderr)


class LabWorld(LabExercises):
    """A kind lab of one stack as FakeCluster answers; ``lazy``: the participant does nothing."""

    def __init__(self, stack: str, walks: Path, *, lazy: bool) -> None:
        self.cfg = load_stack_config(stack)
        self.walks = walks
        self.lazy = lazy
        name = self.cfg.cluster_name
        self.cp, self.w1, self.w2 = (f"{name}-control-plane", f"{name}-worker", f"{name}-worker2")
        self.node_ips = {self.cp: "172.18.0.2", self.w1: "172.18.0.3", self.w2: "172.18.0.4"}
        self.netshoot = {
            self.w1: ("netshoot-a", "10.244.1.20"),
            self.w2: ("netshoot-b", "10.244.2.21"),
            self.cp: ("netshoot-c", "10.244.0.22"),
        }
        LabExercises.__init__(self, lazy=lazy)
        self.mypod = False
        self.last_walk_via = ""
        self.vote_listening = True
        """False: gunicorn is down, so a port-forward reaches the pod but nothing answers."""
        self.learned_intents = False
        """Whether ``invoke map --out learned-intents.yaml`` ran (module 08's last step)."""
        self.fake = self._cluster()

    # -- set-up ---------------------------------------------------------------------------------

    def _cluster(self) -> FakeCluster:
        w1, w2 = self.w1, self.w2

        def pod(
            ns: str, name: str, app: str, node: str, container: str, key: str = "app"
        ) -> PodInfo:
            return PodInfo(ns, name, POD_IPS.get(app), node, {key: app}, (container,))

        pods = [
            pod("vote", "vote-7d", "vote", w1, "vote"),
            pod("vote", "result-6c", "result", w2, "result"),
            pod("vote", "worker-5b", "worker", w1, "worker"),
            pod("vote", "redis-4a", "redis", w2, "redis"),
            pod("vote", "db-39", "db", w1, "postgres"),
            pod("traefik", "traefik-8f", "traefik", w2, "traefik", "app.kubernetes.io/name"),
            pod(LAB, "whoami-1", "whoami", w1, "whoami"),
        ] + [
            PodInfo(LAB, n, ip, node, {"app": "netshoot"}, ("netshoot",))
            for node, (n, ip) in self.netshoot.items()
        ]
        nodes = [
            NodeInfo(
                self.cp, self.node_ips[self.cp], {"node-role.kubernetes.io/control-plane": ""}
            ),
            NodeInfo(w1, self.node_ips[w1]),
            NodeInfo(w2, self.node_ips[w2]),
        ]
        fake = FakeCluster(pods=pods, nodes=nodes, objects={"services": [], "pods": []})
        # The Traefik chart's pod runs as 65532 with runAsNonRoot: only a capture container
        # that is root at container level starts there.
        fake.non_root_pods.add(("traefik", "traefik-8f"))
        fake.stream_default = _pcap(2)
        fake.on_kubectl(lambda call: True, lambda call: self._kubectl(list(call.command[1:])))
        fake.on_shell(lambda call: True, lambda call: self._shell(call.command[-1]))
        fake.on_exec(lambda call: True, self._exec)
        return fake

    # -- probes: a tiny policy model ------------------------------------------------------------

    def _allowed(self, namespace: str, source: str, host: str) -> bool:
        if not self.cfg.enforces_network_policy:
            return True
        target = next((app for app, ip in POD_IPS.items() if ip == host), host.split(".")[0])
        if host == VIPS["whoami"]:
            target = "whoami"
        if namespace != LAB:
            return self.app_flow(source.split("-")[0], target)
        return self.lab_flow(
            source,
            target,
            into_app=host.endswith(".vote"),  # redis.vote, db.vote from the lab namespace
            via_vip=host == VIPS["whoami"],
            default_denied=host.startswith("kubernetes"),
        )

    def _exec(self, call: Call) -> CommandResult:
        if (call.pod or "").startswith(NODE_DEBUG_PREFIX):  # a node's own tools: as docker exec
            command = list(call.command)
            if tuple(command[: len(NODE_ENTER)]) == NODE_ENTER:
                command = command[len(NODE_ENTER) :]
            if command[:2] == ["sh", "-c"]:
                return self._shell(command[2])
            return self._shell(shlex.join(command))
        line = shlex.join(call.command)
        if match := re.search(r"nc -z -w \d+ (\S+) \d+", line):
            allowed = self._allowed(call.namespace or "", call.pod or "", match.group(1))
            return _ok(f"pw-probe-rc={0 if allowed else 1}\n")
        if call.command[0] == "cat":
            ns = call.namespace
            return _ok(
                f"search {ns}.svc.cluster.local svc.cluster.local cluster.local\n"
                f"nameserver {VIPS['kube-dns']}\noptions ndots:5\n"
            )
        if call.command[0] == "getent":
            return _ok(f"{VIPS['redis']}     redis.vote.svc.cluster.local\n")
        if call.command[:2] == ("ip", "-o"):
            return _ok("1: lo: <LOOPBACK,UP>\n2: eth0@if7: <BROADCAST,UP>\n")
        return _ok("", 127, f"world: no exec answer for {line}")

    # -- kubectl --------------------------------------------------------------------------------

    def _kubectl(self, args: list[str]) -> CommandResult:
        line = " ".join(args)
        verb = args[0] if args else ""
        if verb == "exec" and args[2] == LAB:
            return self._netshoot(args[args.index("--") + 1 :])
        if verb == "-n" and "cilium-dbg" in line:
            return self._cilium(line)
        handler = {
            "apply": self._apply,
            "delete": self._delete,
            "scale": self._scale,
            "run": self._run,
            "wait": self._wait,
            "get": self._get,
            "describe": self._describe,
        }.get(verb)
        if handler is not None:
            return handler(line)
        if verb in ("rollout", "logs"):
            return _ok("ok\n")
        return _ok("", 127, f"world: no kubectl answer for {line}")

    def _apply(self, line: str) -> CommandResult:
        return self.applied(line)

    def _delete(self, line: str) -> CommandResult:
        self.deleted(line, LAB)
        return _ok("deleted\n")

    def _scale(self, line: str) -> CommandResult:
        return self.scaled(line)

    def _run(self, line: str) -> CommandResult:
        self.mypod = not self.lazy
        if self.mypod:
            self.fake.add_pod(
                PodInfo(LAB, "mypod", POD_IPS["mypod"], self.w2, {"run": "mypod"}, ("mypod",))
            )
        return _ok("pod/mypod created\n")

    def _wait(self, line: str) -> CommandResult:
        if "mypod" in line and not self.mypod:
            return _ok("", 1, 'error: pods "mypod" not found')
        return _ok("condition met\n")

    def _describe(self, line: str) -> CommandResult:
        return _ok(
            "PodSelector: app=redis\n  From:\n    PodSelector: app=vote\n"
            "  From:\n    PodSelector: app=worker\n  To Port: 6379/TCP\n"
        )

    def _get(self, line: str) -> CommandResult:
        if "-l app=netshoot --field-selector status.phase=Running -o jsonpath" in line:
            return _ok(self.netshoot[self.w1][0])  # the first running one (module 06)
        if m := re.search(
            r"-l app=netshoot --field-selector spec.nodeName=(\S+) -o "
            r"jsonpath=\{\.items\[0\]\.(metadata\.name|status\.podIP)\}",
            line,
        ):
            name, ip = self.netshoot[m.group(1)]
            return _ok(name if m.group(2) == "metadata.name" else ip)
        if m := re.search(r"get pod -n \S+ (netshoot-\w) -o jsonpath=\{\.status\.podIP\}", line):
            return _ok(next(ip for n, ip in self.netshoot.values() if n == m.group(1)))
        if "get pod mypod" in line:
            if not self.mypod:
                return _ok("", 1, 'Error from server (NotFound): pods "mypod" not found')
            return _ok(self.w2 if "nodeName" in line else POD_IPS["mypod"])
        if m := re.search(
            r"-l (?:app|app\.kubernetes\.io/name)=(\w+) -o jsonpath=\{\.items\[0\]\."
            r"(status\.podIP|spec\.nodeName|spec\.containers\[0\]\.ports|"
            r"metadata\.name)\}",
            line,
        ):
            app, field = m.groups()
            if field == "metadata.name":
                return _ok(
                    next(
                        p.name
                        for p in self.fake.pods()
                        if app in (p.labels.get("app"), p.labels.get("app.kubernetes.io/name"))
                    )
                )
            if field == "status.podIP":
                return _ok(POD_IPS[app])
            if field == "spec.nodeName":
                return _ok(self.w1 if app in ("vote", "worker", "db") else self.w2)
            return _ok(
                '[{"containerPort":8080,"name":"traefik","protocol":"TCP"},'
                '{"containerPort":8000,"name":"web","protocol":"TCP"}]'
            )
        if m := re.search(r"get svc (\S+) -n \S+ -o jsonpath=\{\.spec\.clusterIP\}", line):
            return _ok(VIPS[m.group(1)])
        if "get svc -n traefik traefik -o jsonpath" in line:
            return _ok(TRAEFIK_LB)
        if "get svc whoami-lb" in line:
            if "loadBalancer" in line:
                return _ok(WHOAMI_LB)
            return _ok("Local" if self.etp_local else "Cluster")
        if "get svc -n traefik traefik -o wide" in line:
            return _ok(f"traefik LoadBalancer 10.96.30.1 {TRAEFIK_LB} 80:30080/TCP,443:30443/TCP\n")
        if "get node " in line and "InternalIP" in line:
            return _ok(self.node_ips[line.split()[2]])
        if "endpointslices" in line and "conditions.ready" in line:
            return _ok("".join(f"10.244.{i + 1}.5\n" for i in range(self.vote_replicas)))
        if "endpointslices" in line and line.endswith("-o json"):
            return _ok(
                json.dumps(
                    {
                        "items": [
                            {
                                "endpoints": [{"addresses": [POD_IPS["vote"]]}],
                                "ports": [{"port": 80, "protocol": "TCP"}],
                            }
                        ]
                    }
                )
            )
        if "configmap kube-proxy" in line:
            return _ok(f"kind: KubeProxyConfiguration\nmode: {self.cfg.kube_proxy_mode}\n")
        if "daemonset kube-proxy" in line and not self.cfg.has_kube_proxy:
            return _ok(
                "", 1, 'Error from server (NotFound): daemonsets.apps "kube-proxy" not found'
            )
        if "configmap coredns" in line:
            return _ok(
                ".:53 {\n    kubernetes cluster.local in-addr.arpa ip6.arpa {\n    }\n"
                "    forward . /etc/resolv.conf\n    cache 30\n}\n"
            )
        if "ingressclass" in line:
            return _ok(
                "metadata:\n  annotations:\n"
                '    ingressclass.kubernetes.io/is-default-class: "true"\n'
            )
        if f"get ingress -n {LAB}" in line:
            return _ok("whoami.localhost" if self.whoami_ingress else "")
        if "networkpolicy redis-access" in line:
            return _ok("vote worker" + (" result" if self.result_calls_redis else ""))
        if "networkpolicy default-deny" in line:
            return _ok("spec:\n  podSelector: {}\n  policyTypes:\n  - Ingress\n  - Egress\n")
        if "networkpolicy worker-access" in line:
            return _ok(
                "  - to:\n    - podSelector:\n        matchLabels:\n          k8s-app: kube-dns\n"
            )
        if f"namespace {LAB} --show-labels" in line:
            return _ok(f"{LAB} Active kubernetes.io/metadata.name={LAB}\n")
        return _ok(
            "NAME  READY\nvote-7d 1/1 coredns-1 traefik-8f netshoot-a "
            f"{self.w1} {self.cp} vote.localhost 8080/TCP default-deny worker-access "
            f"{POD_IPS['vote']}\n"
        )

    def _netshoot(self, command: list[str]) -> CommandResult:
        tool = command[0]
        if tool == "ip":
            if command[1] == "route":
                return _ok("default via 10.244.1.1 dev eth0\n")
            return _ok("2: eth0@if7: <BROADCAST,UP>\n    inet 10.244.1.20/24 scope global eth0\n")
        if tool == "cat":
            return _ok("7\n")
        if tool == "ping":
            return _ok("3 packets transmitted, 3 received, 0% packet loss, time 2002ms\n")
        if tool == "curl":
            return _ok("Hostname: whoami-1\nRemoteAddr: 10.244.1.20:43210\n")
        if tool != "dig":
            return _ok("", 127, f"world: no netshoot answer for {command}")
        name = command[-1]
        if (
            {"default-deny"} <= self.lab_policies
            and "dns" not in self.lab_policies
            and self.cfg.enforces_network_policy
        ):
            return _ok(
                ";; communications error to 10.96.0.10#53: timed out\n"
                ";; no servers could be reached\n",
                9,
            )
        if "+showsearch" in command:
            return _ok(
                f"{name}.{LAB}.svc.cluster.local. NXDOMAIN\n"
                f"redis.vote.svc.cluster.local.\t30\tIN\tA\t{VIPS['redis']}\n"
            )
        if "SRV" in command:
            return _ok(f"0 100 80 whoami.{LAB}.svc.cluster.local.\n")
        if "whoami-headless" in name:
            return _ok("".join(f"10.244.{i + 1}.30\n" for i in range(self.whoami_replicas)))
        return _ok(f"{VIPS['whoami']}\n")

    def _cilium(self, line: str) -> CommandResult:
        if line.endswith("status"):
            return _ok(
                "KubeProxyReplacement:    True   [eth0]\nRouting:   Network: Tunnel [vxlan]\n"
            )
        return _ok(self._cilium_services())

    def _cilium_services(self) -> str:
        pad = " " * 36
        backends = "".join(
            f"{pad}{i + 1} => 10.244.{i + 1}.5:80/TCP (active)\n"
            for i in range(1, self.vote_replicas)
        )
        vote, result = POD_IPS["vote"], POD_IPS["result"]
        return (
            "ID   Frontend            Service Type   Backend\n"
            f"5    {VIPS['vote']}:8080/TCP  ClusterIP      1 => {vote}:80/TCP (active)\n"
            f"{backends}"
            f"6    {VIPS['result']}:8081/TCP  ClusterIP      1 => {result}:80/TCP (active)\n"
        )

    # -- the participant's machine --------------------------------------------------------------

    def _shell(self, command: str) -> CommandResult:
        special = self._shell_stateful(command)
        if special is not None:
            return special
        for pattern, stdout in self._shell_answers():
            if re.search(pattern, command):
                return _ok(stdout)
        return _ok("", 127, f"world: no shell answer for {command}")

    def _shell_stateful(self, command: str) -> CommandResult | None:
        """Answers that depend on what the participant did (or did not do)."""
        if command.startswith("curl"):
            return self._curl(command)
        if command.startswith("addr=$(curl"):
            if not self.etp_local:
                return _ok("whoami saw: 172.18.0.3\n", 1)
            return _ok(f"whoami saw: {HOST}\n5: br-1a2b inet {HOST}/16\n")
        if command.startswith("git apply"):
            if not self.lazy:
                self.result_calls_redis = "-R" not in command
            return _ok()
        if command.startswith("./invoke matrix") and "--explain" not in command:
            return _ok(self._matrix(cluster="--cluster" in command))
        if command.startswith("./invoke walk"):
            return self._walk(command)
        if command.startswith("./invoke verify"):
            return self._verify()
        if command.startswith("./invoke map"):
            return self._map(command)
        if re.fullmatch(r"cat \S+/learned-intents\.yaml", command):
            if not self.learned_intents:
                return _ok("", 1, "cat: learned-intents.yaml: No such file or directory\n")
            return _ok(LEARNED_INTENTS)
        if command.startswith("latest=$(ls"):
            via = self.last_walk_via
            return _ok(f"{self.walks}/1/\nvia: {via}\n", 0 if via == "loadbalancer" else 1)
        if "ip -4 addr | grep -w" in command:
            return _ok("", 1)
        return None

    def _map(self, command: str) -> CommandResult:
        """``invoke map``: writes the learned intents; with --diff, nothing undeclared seen."""
        if re.search(r"--out \S+/learned-intents\.yaml", command):
            self.learned_intents = True
            return _ok()
        return _ok(
            "observed but not declared:\n  (none)\ndeclared but never seen:\n  (none)\n"
            "connlist diff (ref1: declared, ref2: learned):\n  (none)\n"
        )

    def _verify(self) -> CommandResult:
        """``invoke verify --format json``: clean where the CNI enforces, else its cause."""
        if self.cfg.enforces_network_policy:
            return _ok('{"mismatches": 0, "probes": [], "causes": [], "problems": []}\n')
        cause = "every connection the policies deny reached its pod: the CNI does not enforce"
        return _ok(json.dumps({"mismatches": 3, "probes": [], "causes": [cause]}) + "\n", 1)

    def _shell_answers(self) -> list[tuple[str, str]]:
        """(regex on the command, stdout) for the read-only commands, in real tool formats."""
        cni, vote, redis, worker = (
            self.cfg.cni,
            POD_IPS["vote"],
            POD_IPS["redis"],
            POD_IPS["worker"],
        )
        traefik, vip, replicas = POD_IPS["traefik"], VIPS["vote"], self.vote_replicas
        peer = {
            "kindnet": "veth1a2b",
            "flannel": "veth3c4d",
            "calico": "cali5e6f",
            "cilium": "lxc7a8b",
        }[cni]
        via = {"flannel": "cni0", "cilium": "cilium_host"}.get(cni, peer)
        routes = {
            "kindnet": "10.244.2.0/24 via 172.18.0.4 dev eth0",
            "flannel": "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink",
            "calico": "10.244.2.0/26 via 172.18.0.4 dev eth0 proto 80 onlink",
            "cilium": "10.244.2.0/24 via 10.244.1.1 dev cilium_host",
        }[cni]
        plugin = {"kindnet": "ptp", "cilium": "cilium-cni"}.get(cni, cni)
        conflist = "05-cilium" if cni == "cilium" else f"10-{cni}"
        comment = '-m comment --comment "vote/vote:vote-service'
        sep_rules = "".join(
            f'-A KUBE-SVC-ABC {comment} -> 10.244.{i + 1}.5:80"'
            + (
                f" -m statistic --mode random --probability {1 / (replicas - i):.11f}"
                if i < replicas - 1
                else ""
            )
            + f" -j KUBE-SEP-{i}\n"
            for i in range(replicas)
        )
        context = self.cfg.kube_context or f"kind-{self.cfg.cluster_name}"
        return [
            (r"^sleep ", ""),
            (r"^test [1-9]\d* -gt 0$", ""),  # a registered count that is not zero
            (r"ip -o link \| grep", f"7: {peer}@if2: <BROADCAST,UP> mtu 1500"),
            (r"ip route get", f"10.244.1.20 dev {via} src 10.244.1.1"),
            (r"ip route$", f"default via 172.18.0.1 dev eth0\n{routes}\n"),
            (r"ls -l /etc/cni", f"{conflist}.conflist\n"),
            (r"cat /etc/cni", json.dumps({"plugins": [{"type": plugin}]}, indent=1)),
            (r"/opt/cni/bin", "host-local\nloopback\nportmap\nptp\n"),
            (r"show flannel\.1", "vxlan id 1 local 172.18.0.3 dev eth0 dstport 8472 nolearning\n"),
            (r"show vxlan\.calico", "vxlan id 4096 local 172.18.0.3 dev eth0 dstport 4789\n"),
            (r"show cilium_vxlan", "vxlan external id 0 srcport 0 0 dstport 8472\n"),
            (r"docker port", "30080/tcp -> 127.0.0.1:80\n30443/tcp -> 127.0.0.1:443\n"),
            (r"^ip (neigh|-4 -o addr)", f"5: br-1a2b    inet {HOST}/16 brd 172.18.255.255\n"),
            (r"^for n in", f"{self.cp} 02:42:ac:12:00:02\n"),
            (
                r"KUBE-SERVICES",
                f'-A KUBE-SERVICES -d {vip}/32 -p tcp {comment} cluster IP" '
                "-m tcp --dport 8080 -j KUBE-SVC-ABC\n",
            ),
            (r"KUBE-\(SVC\|SEP\)", f'-A KUBE-SVC-ABC {comment} -> {vote}:80" -j KUBE-SEP-0\n'),
            (
                r"grep DNAT",
                f'-A KUBE-SEP-0 -p tcp {comment}" -m tcp -j DNAT --to-destination {vote}:80\n',
            ),
            (
                r"MARK-MASQ",
                '-A KUBE-POSTROUTING -m comment --comment "kubernetes service '
                'traffic requiring SNAT" -j MASQUERADE --random-fully\n',
            ),
            (r"grep -c KUBE-SVC-", "0\n"),
            (r"'-j KUBE-SEP-'", sep_rules),
            (
                r"KUBE-NODEPORTS",
                "-A KUBE-NODEPORTS -p tcp -m comment --comment "
                '"traefik/traefik:web" -m tcp --dport 30080 -j KUBE-EXT-AAA\n',
            ),
            (r"kube-ipvs0", f"    inet {vip}/32 scope global kube-ipvs0\n"),
            (r"ipvsadm .*grep -c", f"{replicas + 1}\n"),
            (r"ipvsadm", f"TCP  {vip}:8080 rr\n  -> {vote}:80     Masq    1      0      0\n"),
            (r"nft list map", f"{vip} . tcp . 8080 : goto service-ABC-vote/vote/tcp/vote-svc,\n"),
            (
                r"chain service-",
                "chain service-ABC-vote/vote/tcp/vote-service {\n"
                f"  numgen random mod {replicas} vmap {{ 0 : goto endpoint-X }}\n",
            ),
            (r"dnat to", f"    meta l4proto tcp dnat to {vote}:80\n"),
            (
                r"conntrack .*6379",
                f"tcp 6 86399 ESTABLISHED src={worker} dst={VIPS['redis']} "
                f"sport=40000 dport=6379 src={redis} dst={worker} sport=6379 "
                "dport=40000 [ASSURED] mark=0 use=1\n",
            ),
            (
                r"conntrack .*--dport 80$",
                f"tcp 6 100 TIME_WAIT src={traefik} dst={vote} "
                f"sport=50000 dport=80 src={vote} dst={traefik} "
                "sport=80 dport=50000 [ASSURED]\n",
            ),
            (r"conntrack .*--dport 8080", ""),
            (
                r"--orig-port-dst 30080",
                f"tcp 6 100 TIME_WAIT src={HOST} dst=172.18.0.2 "
                f"sport=5000 dport=30080 src={traefik} dst=172.18.0.2 "
                "sport=8000 dport=5000 [ASSURED]\n",
            ),
            (r"dig \+short whoami-headless.*grep -c", f"{self.whoami_replicas}\n"),
            (r"cilium-dbg service list", self._cilium_services()),
            (r"^cat stacks/intents", "apiVersion: k8s.otterize.com/v2beta1\nkind: ClientIntents\n"),
            (r"^grep -E", "  name: worker\n"),
            (r"--explain", "vote/vote[Deployment] -> vote/db[Deployment] on 5432/TCP: DENIED\n"),
            (r"kubectl config current-context", f"{context}\n"),
            (r"^./invoke up", "Lab up\n"),
            (r"^./invoke analyze", '{"flows": [{"translations": [{"kind": "DNAT"}]}]}\n'),
            (r"^ls -td walks", f"{self.walks}/1/\n"),
        ]

    def _curl(self, command: str) -> CommandResult:
        if m := re.search(r"http://127\.0\.0\.1:(\d+)/", command):
            return self._forwarded_curl(command, int(m.group(1)))
        if "whoami.localhost" in command:
            if not self.whoami_ingress:
                return _ok("404 page not found\n")
            return _ok(
                f"Hostname: whoami-1\nRemoteAddr: {POD_IPS['traefik']}:5555\n"
                "X-Forwarded-For: 172.18.0.2\nX-Real-Ip: 172.18.0.2\n"
            )
        if "nothing-here" in command:
            return _ok("404\n")
        if "<title>" in command:
            return _ok("<title>Cats vs Dogs!</title>\n")
        if "/ping" in command:
            return _ok("OK")
        if WHOAMI_LB in command:
            seen = HOST if self.etp_local else "172.18.0.3"
            return _ok(f"Hostname: whoami-1\nRemoteAddr: {seen}:4444\n")
        return _ok("200\n")

    def _forwarded_curl(self, command: str, port: int) -> CommandResult:
        """curl through a port-forward: only while it is open, answered by the pod behind it."""
        forward = self.fake.forwarded(port)
        if forward is None:
            return _ok("", 7, f"curl: (7) Failed to connect to 127.0.0.1 port {port}")
        code = "http_code" in command
        if forward.pod != "vote-7d" or forward.remote_port != 80 or not self.vote_listening:
            return _ok("000\n" if code else "", 52, "curl: (52) Empty reply from server")
        return _ok("200\n" if code else f"          Processed by container ID {forward.pod}\n")

    def _matrix(self, *, cluster: bool) -> str:
        flows = sorted(APP_FLOWS | ({("result", "redis")} if self.result_calls_redis else set()))
        if cluster:
            return "".join(
                f"vote/{a}-5b7[ReplicaSet] => vote/{b}-39f[ReplicaSet] : TCP 1\n".replace(
                    ": TCP 1", ": TCP 5432" if b == "db" else ": TCP 6379"
                )
                for a, b in flows
                if a != "traefik"
            )
        ports = {"redis": "TCP 6379", "db": "TCP 5432", "vote": "TCP 80", "result": "TCP 80"}
        return "".join(
            f"vote/{a}[Deployment] => vote/{b}[Deployment] : {ports[b]}\n" for a, b in flows
        )

    def _walk(self, command: str) -> CommandResult:
        if "--dry-run" in command:
            return _ok("capture points: host, node, traefik, vote\n")
        via = command.split("--via ")[1].split()[0]
        if self.lazy and via == "loadbalancer":
            return _ok()
        self.last_walk_via = via
        return _ok(
            "the node rewrote the destination 172.18.0.2:30080 to traefik-8f "
            "10.244.2.10:8000: kube-proxy's NodePort DNAT.\n"
        )


LEARNED_INTENTS = """apiVersion: k8s.otterize.com/v2beta1
kind: ClientIntents
metadata:
  name: worker
  namespace: vote
spec:
  workload:
    name: worker
    kind: Deployment
  targets:
    # 12 connections, first seen 2026-12-06T23:43:07Z, last seen 2026-12-06T23:43:37Z, ports 5432
    - service: {name: db}
    # 30 connections, first seen 2026-12-06T23:43:07Z, last seen 2026-12-06T23:43:37Z, ports 6379
    - service: {name: redis}
"""
"""What ``invoke map`` writes for the voting app's worker (packetwalk/mapper/output.py)."""

MODULE_IDS = [path.stem for path in MODULE_FILES]
KIND_STACKS = KIND_STACK_NAMES
"""The kind world; tests/test_lab_manifests_gke.py runs the modules in the GKE world."""


def _run_module(
    module: str, world: LabWorld, tmp_path: Path, options: RunOptions | None = None
) -> tuple[RunResult, list[Event]]:
    return run_in_world(LABS / f"{module}.yaml", world.cfg, world.fake, tmp_path, options=options)


def _failures(events: list[Event]) -> list[dict[str, Any]]:
    return [e.data for e in events if e.kind == "task_result" and not e.data["passed"]]


@pytest.mark.parametrize("stack", KIND_STACKS)
@pytest.mark.parametrize("module", MODULE_IDS)
def test_module_passes_when_the_participant_does_the_work(
    module: str, stack: str, tmp_path: Path
) -> None:
    world = LabWorld(stack, tmp_path / "walks", lazy=False)
    result, events = _run_module(module, world, tmp_path)
    assert result.status == "completed", _failures(events)


def _pause_steps(module: str, stack: str) -> list[int]:
    loaded = load_module(LABS / f"{module}.yaml")
    facts = offline_facts(load_stack_config(stack))
    return [
        index
        for index, step in enumerate(loaded.module.steps)
        if any(task.pause for task in step.tasks)
        and (step.when is None or templating.truth(step.when, facts))
    ]


@pytest.mark.parametrize("stack", ["kind", "kind-flannel", "kind-cilium"])
@pytest.mark.parametrize("module", MODULE_IDS)
def test_pause_check_fails_when_the_participant_does_nothing(
    module: str, stack: str, tmp_path: Path
) -> None:
    pauses = _pause_steps(module, stack)
    if not pauses:
        pytest.skip(f"{module} has no pause on {stack}")
    world = LabWorld(stack, tmp_path / "walks", lazy=True)
    result, events = _run_module(module, world, tmp_path)
    assert (result.status, result.step) == ("failed", pauses[0]), _failures(events)
    assert all(f["section"] == "check" for f in _failures(events)), _failures(events)


def test_module_07_captures_inside_the_non_root_traefik_pod(tmp_path: Path) -> None:
    """The Traefik pod capture runs in the pod itself, from a container that is root at container
    level (the fake refuses to start any other in Traefik's non-root pod), and the line shown
    for it is the ``--custom`` one a participant can type."""
    world = LabWorld("kind", tmp_path / "walks", lazy=False)
    result, events = _run_module("07-packet-walk", world, tmp_path)
    assert result.status == "completed", _failures(events)
    [added] = [c for c in world.fake.calls_of("add_ephemeral_container") if c.pod == "traefik-8f"]
    assert added.container == "pw-cap-hop-traefik" and added.detail["run_as_root"] is True
    lines = [e.data["line"] for e in events if e.kind == "command"]
    assert any(
        line.startswith("kubectl debug -n traefik traefik-8f -c pw-cap-hop-traefik")
        and "--profile=netadmin --custom=labs/manifests/capture-as-root.json" in line
        for line in lines
    )
    assert "labs/manifests/capture-as-root.json" in _referenced_manifests()


def test_module_02_port_forward_reaches_the_vote_pod_and_its_check_can_fail(
    tmp_path: Path,
) -> None:
    """The forward goes to port 80 of a vote pod (not the Service's 8080), stays open for its
    step's tasks and check, is closed afterwards, and its check fails when the pod does not
    answer (``--check`` opens the step's forward again)."""
    world = LabWorld("kind", tmp_path / "walks", lazy=False)
    result, events = _run_module("02-services", world, tmp_path)
    assert result.status == "completed", _failures(events)
    [call] = world.fake.calls_of("port_forward")
    assert (call.namespace, call.pod, call.detail["remote_port"]) == ("vote", "vote-7d", 80)
    assert world.fake.port_forwards == {}
    lines = [e.data["line"] for e in events if e.kind == "command"]
    assert "kubectl port-forward -n vote pod/vote-7d :80" in lines
    module = load_module(LABS / "02-services.yaml").module
    [step] = [i for i, s in enumerate(module.steps) if any(t.port_forward for t in s.tasks)]
    check = RunOptions(check=True, step=step + 1)
    assert _run_module("02-services", world, tmp_path, check)[0].status == "checked"
    world.vote_listening = False
    result, events = _run_module("02-services", world, tmp_path, check)
    assert result.status == "check_failed"
    [failure] = _failures(events)
    assert failure["section"] == "check" and world.fake.port_forwards == {}
    yes, events = _run_module("02-services", world, tmp_path, RunOptions(yes=True, step=step + 1))
    assert (yes.status, yes.step) == ("failed", step), _failures(events)


def test_module_08_map_check_fails_without_learned_intents(tmp_path: Path) -> None:
    """The last step of module 08 checks the file ``invoke map`` writes: without it (the map
    never ran) the check fails; after the step's task ran it passes."""
    module = load_module(LABS / "08-zero-trust-intents.yaml").module
    last = len(module.steps)
    world = LabWorld("kind", tmp_path / "walks", lazy=False)
    check = RunOptions(check=True, step=last)
    result, events = _run_module("08-zero-trust-intents", world, tmp_path, check)
    assert result.status == "check_failed"
    assert [f["section"] for f in _failures(events)] == ["check"]
    result, events = _run_module(
        "08-zero-trust-intents", world, tmp_path, RunOptions(yes=True, step=last)
    )
    assert result.status == "completed", _failures(events)
    assert world.learned_intents
