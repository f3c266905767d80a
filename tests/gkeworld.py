"""A simulated GKE lab for the lab modules: the GKE counterpart of ``LabWorld``
(tests/test_lab_manifests.py), which only knows kind.

:class:`GkeWorld` answers, through :class:`~packetwalk.kube.fake.FakeCluster`, every command the
eight modules run on a GKE stack (``gke``: Dataplane V2 behind a Gateway; ``gke-calico``: Calico
and kube-proxy in iptables mode behind a GKE Ingress; a workshop participant of a shared
Dataplane V2 cluster), in the formats the real tools print there:

- nodes are Container-Optimized OS VMs named ``gke-<cluster>-default-pool-<hash>-<id>``, with
  ``/32`` addresses on ``eth0`` in the VPC subnet ``10.0.0.0/24`` and the default route to the
  VPC gateway ``10.0.0.1``, which also carries the other node's pod range (alias IP ranges,
  VPC-native: no per-node route, no tunnel);
- node commands arrive at ``exec`` in the ``pw-node-<node>`` debug pod, with the ``nsenter``
  prefix when they use the node's own programs, without it for netshoot's (conntrack, curl);
- cluster DNS is kube-dns (``kubedns``, ``dnsmasq``, ``sidecar`` containers), the node's search
  domains follow the cluster's in ``resolv.conf``;
- Traefik is a ClusterIP Service; Google's front ends reach its pod from ``130.211.0.0/22`` and
  ``35.191.0.0/16`` (NEGs), and requests to the app's hosts from the participant's machine go
  through that load balancer;
- on Dataplane V2 the nat table has no ``KUBE-SVC`` chain and ``kube-system`` runs ``anetd``;
  on gke-calico each node runs the static pod ``kube-proxy-<node>`` and ``calico-node``.

Pipelines whose logic matters (``grep``, ``sed``, ``cut``, ``case`` in the modules' scripts) run
in a real ``/bin/sh``: the node's or netshoot's tools are shell functions printing the world's
answer (``iptables-save``, ``ip``, ``curl``, ``kubectl``), the CNI files lie in a folder standing
for the node's root, and the walk folders are real folders with a ``plan.yaml`` shaped like the
walk's own (``plan_as_dict``). So a regex or a script that cannot work with the real output
fails here too.

Where the exact output of a GKE tool is not captured from a real cluster, the answer is
marked ``modelled``: the smallest typical form, not a recording. The world is a model, not a
cluster: it shows that the modules' commands, templates and checks fit outputs of that form
and that every exercise's check fails when the participant skips it; it does not prove what a
real GKE cluster prints.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import struct
import subprocess
from collections.abc import Mapping
from pathlib import Path

import yaml
from labexercises import LabExercises

from packetwalk.kube.access import CommandResult, NodeInfo, PodInfo
from packetwalk.kube.captures import NODE_DEBUG_PREFIX, NODE_ENTER
from packetwalk.kube.fake import Call, FakeCluster
from packetwalk.lab.config import STACKS_DIR, load_stack_config
from packetwalk.lab.participants import Participant
from packetwalk.lab.votingapp import FRONTENDS
from packetwalk.playbook.facts import LAB_APPS, hosts_fact, select_participant

LB_ADDRESS = "34.117.20.5"
"""The reserved global address of the load balancer (nip.io names carry it without a domain)."""
GATEWAY = "10.0.0.1"
"""The VPC subnet's gateway: every node's default route, and the way to the other pod ranges."""
GFE = "35.191.10.140"
"""A Google Front End / health checker address, in 35.191.0.0/16."""
NODE_IPS = ("10.0.0.3", "10.0.0.4")
NODE_SUFFIXES = ("f3k2", "q7m4")
DNS_VIP = "10.96.0.10"

# The pods: (namespace key, name, app label, node index, container, last octet). Node 0 gets
# 10.244.0.x, node 1 10.244.1.x: each node's /24 of the pod range (alias IP range).
APP_PODS = (
    ("vote", "vote-7d9f8b6c4-k2x7p", 0, "vote", 5),
    ("result", "result-6c8d7f9b5-m4q2z", 1, "result", 6),
    ("worker", "worker-5b7c9d8f6-p8w3n", 0, "worker", 7),
    ("redis", "redis-4a6b8c7d5-r5t9v", 1, "redis", 8),
    ("db", "db-39f8e7d6c-h6j2k", 0, "postgres", 9),
)
VIP_OCTETS = {"vote": (3, 21), "result": (3, 22), "redis": (3, 23), "db": (3, 24)}
LAB_VIP_OCTETS = {"whoami": (7, 41)}
TRAEFIK_POD, TRAEFIK_IP = "traefik-8f6d5c7b9-w2n4x", "10.244.1.10"
TRAEFIK_VIP = "10.96.5.10"


def _ok(stdout: str = "", rc: int = 0, stderr: str = "") -> CommandResult:
    return CommandResult((), rc, stdout, stderr)


def _pcap(packets: int) -> bytes:
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    return header + (struct.pack("<IIII", 0, 0, 60, 60) + b"\x00" * 60) * packets


def run_sh(script: str, stubs: Mapping[str, Mapping[str, str]], cwd: Path) -> CommandResult:
    """``script`` in a real ``/bin/sh``, each stubbed command an executable first on PATH that
    prints the answer for its arguments (``"$*"``; ``*`` is any other; a command without an
    answer for its arguments fails with 127, as a missing tool would)."""
    bin_dir = cwd / ".gkeworld-bin"
    if bin_dir.exists():
        for old in bin_dir.iterdir():
            old.unlink()
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, answers in stubs.items():
        cases = "".join(
            f"  {'*' if args == '*' else shlex.quote(args)}) printf '%s' {shlex.quote(out)} ;;\n"
            for args, out in sorted(answers.items(), key=lambda item: item[0] == "*")
        )
        fallback = (
            "" if "*" in answers else f'  *) echo "{name}: no answer for $*" >&2; exit 127 ;;\n'
        )
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\ncase "$*" in\n{cases}{fallback}esac\n')
        path.chmod(0o755)
    done = subprocess.run(
        ["/bin/sh", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "LC_ALL": "C"},
    )
    return _ok(done.stdout, done.returncode, done.stderr)


class GkeWorld(LabExercises):
    """A GKE lab of one stack (and participant) as FakeCluster answers; ``lazy``: the
    participant does nothing at the pauses."""

    def __init__(
        self,
        stack: str,
        workdir: Path,
        *,
        lazy: bool,
        participant: int = 0,
        stacks_dir: Path = STACKS_DIR,
    ) -> None:
        self.cfg = load_stack_config(stack, stacks_dir)
        assert self.cfg.platform == "gke" and self.cfg.gke is not None
        self.who: Participant = select_participant(self.cfg, participant)
        self.app, self.lab = self.who.namespace, self.who.lab_namespace
        self.workdir = workdir
        LabExercises.__init__(self, lazy=lazy)
        self.dpv2 = self.cfg.cni == "dataplane-v2"
        name = self.cfg.cluster_name
        self.nodes = [f"gke-{name}-default-pool-1a2b3c4d-{s}" for s in NODE_SUFFIXES]
        self.node_ips = dict(zip(self.nodes, NODE_IPS, strict=True))
        self.app_hosts: dict[str, str] = hosts_fact(
            self.cfg, self.who, FRONTENDS, "app_hosts", LB_ADDRESS
        )  # type: ignore[assignment]
        self.lab_hosts: dict[str, str] = hosts_fact(
            self.cfg, self.who, LAB_APPS, "lab_hosts", LB_ADDRESS
        )  # type: ignore[assignment]
        self.ips = {app: f"10.244.{node}.{octet}" for app, _, node, _, octet in APP_PODS}
        self.ips["traefik"] = TRAEFIK_IP
        self.vips = {app: f"10.96.{a}.{b}" for app, (a, b) in VIP_OCTETS.items()}
        self.vips.update({app: f"10.96.{a}.{b}" for app, (a, b) in LAB_VIP_OCTETS.items()})
        self.vips["kube-dns"] = DNS_VIP
        self.netshoot = {self.nodes[0]: ("netshoot-7k2mq", "10.244.0.20")}
        self.netshoot[self.nodes[1]] = ("netshoot-r9x4d", "10.244.1.21")
        self.whoami = {self.nodes[0]: ("whoami-5d8c7b9f6-a1b2c", "10.244.0.30")}
        self.whoami[self.nodes[1]] = ("whoami-5d8c7b9f6-d3e4f", "10.244.1.31")
        # what the participant changed, beyond LabExercises
        self.whoami_np = False
        self.mypod = False
        self.learned_intents = False
        self.walks = 0
        self.fake = self._cluster()
        self.node_root = workdir / "gke-node-root"
        self._node_files()

    # -- set-up ---------------------------------------------------------------------------------

    def _cluster(self) -> FakeCluster:
        n = self.nodes
        pods = [
            PodInfo(self.app, pod, self.ips[app], n[node], {"app": app}, (container,))
            for app, pod, node, container, _ in APP_PODS
        ]
        pods.append(
            PodInfo(
                "traefik",
                TRAEFIK_POD,
                TRAEFIK_IP,
                n[1],
                {"app.kubernetes.io/name": "traefik"},
                ("traefik",),
            )
        )
        for node, (pod, ip) in self.netshoot.items():
            pods.append(PodInfo(self.lab, pod, ip, node, {"app": "netshoot"}, ("netshoot",)))
        for node, (pod, ip) in self.whoami.items():
            pods.append(PodInfo(self.lab, pod, ip, node, {"app": "whoami"}, ("whoami",)))
        # GKE shows no control-plane node; the labels are the pool's (modelled, a subset)
        nodes = [
            NodeInfo(node, self.node_ips[node], {"cloud.google.com/gke-nodepool": "default-pool"})
            for node in n
        ]
        ingresses = [
            {
                "metadata": {"name": app, "namespace": self.app},
                "spec": {
                    "ingressClassName": "traefik",
                    "rules": [
                        {
                            "host": self.app_hosts[app],
                            "http": {
                                "paths": [
                                    {
                                        "path": "/",
                                        "pathType": "Prefix",
                                        "backend": {
                                            "service": {
                                                "name": app,
                                                "port": {"number": 8080 + i},
                                            }
                                        },
                                    }
                                ]
                            },
                        }
                    ],
                },
            }
            for i, app in enumerate(FRONTENDS)
        ]
        fake = FakeCluster(
            pods=pods, nodes=nodes, objects={"services": [], "pods": [], "ingresses": ingresses}
        )
        fake.non_root_pods.add(("traefik", TRAEFIK_POD))
        fake.stream_default = _pcap(3)
        fake.on_kubectl(lambda call: True, lambda call: self._kubectl(list(call.command[1:])))
        fake.on_shell(lambda call: True, lambda call: self._shell(call.command[-1]))
        fake.on_exec(lambda call: True, self._exec)
        return fake

    def _node_files(self) -> None:
        """The node's CNI configuration and plugin binaries, under a folder standing for its
        root. GKE's netd writes ``10-gke-ptp.conflist`` (ptp, host-local, portmap; Dataplane
        V2 chains ``cilium-cni``); with Calico ``10-calico.conflist`` (calico with host-local
        ``usePodCidr``, Calico's usual ``policy`` and ``kubernetes`` blocks). Modelled from the
        public sources the module cites, not captured from a node."""
        net_d = self.node_root / "etc" / "cni" / "net.d"
        bin_dir = self.node_root / "home" / "kubernetes" / "bin"
        net_d.mkdir(parents=True, exist_ok=True)
        bin_dir.mkdir(parents=True, exist_ok=True)
        (self.node_root / "opt" / "cni" / "bin").mkdir(parents=True, exist_ok=True)
        if self.cfg.cni == "calico":
            name, plugins = (
                "10-calico.conflist",
                [
                    {
                        "type": "calico",
                        "mtu": 1460,
                        "datastore_type": "kubernetes",
                        "ipam": {"type": "host-local", "subnet": "usePodCidr"},
                        "policy": {"type": "k8s"},
                        "kubernetes": {"kubeconfig": "/etc/cni/net.d/calico-kubeconfig"},
                    },
                    {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
                ],
            )
            (net_d / "calico-kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
            binaries = ["calico", "calico-ipam", "host-local", "portmap", "loopback"]
        else:
            name, plugins = (
                "10-gke-ptp.conflist",
                [
                    {
                        "type": "ptp",
                        "mtu": 1460,
                        "ipam": {
                            "type": "host-local",
                            "ranges": [[{"subnet": "10.244.0.0/24"}]],
                            "routes": [{"dst": "0.0.0.0/0"}],
                        },
                    },
                    {"type": "portmap", "capabilities": {"portMappings": True}, "noSnat": True},
                    {"type": "cilium-cni"},
                ],
            )
            binaries = ["ptp", "host-local", "portmap", "loopback", "cilium-cni"]
        conflist = {"name": "gke-pod-network", "cniVersion": "0.3.1", "plugins": plugins}
        (net_d / name).write_text(json.dumps(conflist, indent=2) + "\n")
        for binary in binaries:
            path = bin_dir / binary
            path.write_text("#!/bin/sh\n")
            path.chmod(0o755)

    # -- the node -------------------------------------------------------------------------------

    def _veth(self, ip: str) -> str:
        """The host end of a pod's veth: ``gke…`` from GKE's ptp, ``cali…`` from Calico
        (the module says so too), then a hash (modelled)."""
        prefix = "cali" if self.cfg.cni == "calico" else "gke"
        return prefix + hashlib.sha1(ip.encode()).hexdigest()[:11]

    @staticmethod
    def ifindex(ip: str) -> int:
        """The node-side interface index of a pod's veth (what the pod's iflink holds)."""
        return 10 + int(ip.rsplit(".", 1)[1])

    def _local_ips(self, node: str) -> list[str]:
        return sorted(
            p.ip for p in self.fake.pods() if p.node == node and p.ip and not p.host_network
        )

    def _node_addrs(self, node: str) -> str:
        """``ip -4 -o addr show`` on a COS node: eth0 a /32 from the VPC, docker0's unused
        link-local bridge, and the pod range's gateway on every ptp veth (modelled)."""
        index = self.nodes.index(node)
        ip, gw = self.node_ips[node], f"10.244.{index}.1"
        lines = [
            "1: lo    inet 127.0.0.1/8 scope host lo\\       "
            "valid_lft forever preferred_lft forever",
            f"2: eth0    inet {ip}/32 metric 1024 scope global dynamic eth0\\       "
            "valid_lft 3275sec preferred_lft 3275sec",
            "3: docker0    inet 169.254.123.1/24 brd 169.254.123.255 scope global docker0\\"
            "       valid_lft forever preferred_lft forever",
        ]
        if self.dpv2:
            lines.append(
                f"5: cilium_host    inet {gw}/32 scope global cilium_host\\       "
                "valid_lft forever preferred_lft forever"
            )
        elif self.cfg.cni != "calico":  # ptp puts the gateway address on every host veth
            lines += [
                f"{self.ifindex(ip)}: {self._veth(ip)}    inet {gw}/32 scope global "
                f"{self._veth(ip)}\\       valid_lft forever preferred_lft forever"
                for ip in self._local_ips(node)
            ]
        return "\n".join(lines) + "\n"

    def _route_get(self, node: str, dest: str) -> str:
        index = self.nodes.index(node)
        ip = self.node_ips[node]
        if dest.startswith(f"10.244.{index}."):
            return f"{dest} dev {self._veth(dest)} src 10.244.{index}.1 uid 0 \n    cache \n"
        return f"{dest} via {GATEWAY} dev eth0 src {ip} uid 0 \n    cache \n"

    def _default_route(self, node: str) -> str:
        return f"default via {GATEWAY} dev eth0 proto dhcp src {self.node_ips[node]} metric 1024\n"

    def _routes(self, node: str) -> str:
        """The node's routing table: the VPC gateway, a host route per local pod (ptp and
        Calico write them); no route per remote node, no tunnel. Modelled."""
        return (
            self._default_route(node)
            + f"{GATEWAY} dev eth0 proto dhcp scope link src {self.node_ips[node]} metric 1024\n"
            + "169.254.123.0/24 dev docker0 proto kernel scope link src 169.254.123.1 linkdown\n"
            + "".join(f"{ip} dev {self._veth(ip)} scope host\n" for ip in self._local_ips(node))
        )

    def _nat_table(self) -> str:
        """``iptables-save -t nat`` of a node. gke-calico: kube-proxy's chains in the real
        format (comments, KUBE-MARK-MASQ, --probability with 11 decimals); Dataplane V2: no
        kube-proxy chain, only the kubelet's canary and ip-masq-agent's chain (modelled)."""
        head = "# Generated by iptables-save v1.8.9 on Mon Dec  7 10:00:00 2026\n*nat\n"
        ipmasq = (
            ":IP-MASQ - [0:0]\n"
            '-A POSTROUTING -m comment --comment "ip-masq: ensure nat POSTROUTING directs all '
            'non-LOCAL destination traffic to our custom IP-MASQ chain" -m addrtype ! '
            "--dst-type LOCAL -j IP-MASQ\n"
            '-A IP-MASQ -d 10.244.0.0/16 -m comment --comment "ip-masq: pod cidr is not '
            'subject to MASQUERADE" -j RETURN\n'
            '-A IP-MASQ -m comment --comment "ip-masq: outbound traffic is subject to '
            'MASQUERADE (must be last in chain)" -j MASQUERADE\n'
        )
        tail = "COMMIT\n# Completed on Mon Dec  7 10:00:00 2026\n"
        if self.dpv2:
            return head + ":KUBE-KUBELET-CANARY - [0:0]\n" + ipmasq + tail
        ns, vip, n = self.app, self.vips["vote"], self.vote_replicas
        svc = f"{ns}/vote:vote-service"
        chains = ":KUBE-MARK-MASQ - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-POSTROUTING - [0:0]\n"
        chains += ":KUBE-SERVICES - [0:0]\n:KUBE-SVC-Q4GHXN6LYAYX3HLV - [0:0]\n"
        seps = [f"KUBE-SEP-{tag}" for tag in ("7ZQ2RVLJ4DAEWSDA", "BXQ5XG7UHZXKJ6NH")[:n]]
        rules = '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n'
        rules += '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\n'
        rules += (
            '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" '
            "-j KUBE-POSTROUTING\n"
            "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n"
            "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n"
            "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n"
            '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring '
            'SNAT" -j MASQUERADE --random-fully\n'
        )
        for i, sep in enumerate(seps):
            ip = self.ips["vote"] if i == 0 else "10.244.1.15"
            chains += f":{sep} - [0:0]\n"
            rules += (
                f'-A {sep} -s {ip}/32 -m comment --comment "{svc}" -j KUBE-MARK-MASQ\n'
                f'-A {sep} -p tcp -m comment --comment "{svc}" -m tcp -j DNAT '
                f"--to-destination {ip}:80\n"
            )
        rules += (
            f'-A KUBE-SERVICES -d {vip}/32 -p tcp -m comment --comment "{svc} cluster IP" '
            "-m tcp --dport 8080 -j KUBE-SVC-Q4GHXN6LYAYX3HLV\n"
            '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this '
            'must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\n'
            f"-A KUBE-SVC-Q4GHXN6LYAYX3HLV ! -s 10.244.0.0/16 -d {vip}/32 -p tcp -m comment "
            f'--comment "{svc} cluster IP" -m tcp --dport 8080 -j KUBE-MARK-MASQ\n'
        )
        for i, sep in enumerate(seps):
            ip = self.ips["vote"] if i == 0 else "10.244.1.15"
            stat = (
                f" -m statistic --mode random --probability {1 / (n - i):.11f}" if i < n - 1 else ""
            )
            rules += (
                f'-A KUBE-SVC-Q4GHXN6LYAYX3HLV -m comment --comment "{svc} -> {ip}:80"'
                f"{stat} -j {sep}\n"
            )
        calico = (
            ":cali-PREROUTING - [0:0]\n"
            '-A PREROUTING -m comment --comment "cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING\n'
        )
        return head + chains + calico + rules + ipmasq + tail

    def _node_exec(self, node: str, command: list[str]) -> CommandResult:
        """A command in the node debug pod: the node's own tools behind ``nsenter``, else
        netshoot's in the node's network namespace (host network)."""
        own = tuple(command[: len(NODE_ENTER)]) == NODE_ENTER
        if own:
            command = command[len(NODE_ENTER) :]
        line = shlex.join(command)
        script = command[2] if command[:2] == ["sh", "-c"] else None
        stubs: dict[str, dict[str, str]] = {
            "ip": {
                "-4 addr": self._node_addrs(node),
                "-4 -o addr show": self._node_addrs(node),
                "-o link": self._links(node),
                "route": self._routes(node),
                "route show default": self._default_route(node),
            },
            "iptables-save": {"-t nat": self._nat_table()},
        }
        for dest in [*self.ips.values(), *(ip for _, ip in self.netshoot.values())]:
            stubs["ip"][f"route get {dest}"] = self._route_get(node, dest)
        if not own:  # netshoot's tools: curl to the node port, conntrack
            stubs.pop("iptables-save")
            stubs["curl"] = self._node_curl_answers(node)
        paths = ("/etc/cni", "/home/kubernetes", "/opt/cni")
        if any(p in line for p in paths):
            return self._node_files_command(command)
        if script is not None:
            return run_sh(script, stubs, self.workdir)
        if command[0] == "conntrack" and not own:
            return self._conntrack(node, command)
        if command[0] == "curl" and not own:
            return _ok(self._node_curl_answers(node).get(" ".join(command[1:]), ""), 0)
        if command[0] == "ip":
            answer = stubs["ip"].get(" ".join(command[1:]))
            if answer is not None:
                return _ok(answer)
        return _ok("", 127, f"gke world: no node answer for {line}")

    def _links(self, node: str) -> str:
        veths = "".join(
            f"{self.ifindex(ip)}: {self._veth(ip)}@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu "
            "1460 qdisc noqueue state UP mode DEFAULT group default \\    link/ether "
            "9e:3c:51:0d:7a:12 brd ff:ff:ff:ff:ff:ff link-netns cni-5b2f1c7e-3d9a-4e8b-a1f6-"
            "0c2d7e9b4a13\n"
            for ip in self._local_ips(node)
        )
        return (
            "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT "
            "group default qlen 1000\\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n"
            "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1460 qdisc mq state UP mode DEFAULT "
            "group default qlen 1000\\    link/ether 42:01:0a:00:00:03 brd ff:ff:ff:ff:ff:ff\n"
            + veths
        )

    def _node_files_command(self, command: list[str]) -> CommandResult:
        """A command reading the node's CNI folders, run on the folder standing for its root;
        the paths in its output are the node's again."""
        root = str(self.node_root)
        rewritten = [
            re.sub(r"(/etc/cni|/home/kubernetes|/opt/cni)", lambda m: root + m.group(1), part)
            for part in command
        ]
        if rewritten[:2] == ["sh", "-c"]:
            done = run_sh(rewritten[2], {}, self.workdir)
        else:
            done = run_sh(shlex.join(rewritten), {}, self.workdir)
        return _ok(done.stdout.replace(root, ""), done.exit_code, done.stderr.replace(root, ""))

    def _node_curl_answers(self, node: str) -> dict[str, str]:
        """curl from a node to whoami-np on the entry node (module 02), and to kube-proxy's
        metrics port (module 03, gke-calico)."""
        client = self.node_ips[node]
        entry_node = self.nodes[1]
        entry_ip = self.node_ips[entry_node]
        # Local keeps the client's address; Cluster masquerades to the entry node's
        seen = client if self.etp_local or client == entry_ip else entry_ip
        pod = self.whoami[entry_node][0]
        body = (
            f"Hostname: {pod}\nIP: 127.0.0.1\nIP: {self.whoami[entry_node][1]}\n"
            f"RemoteAddr: {seen}:51234\nGET / HTTP/1.1\nHost: {entry_ip}:31234\n"
            "User-Agent: curl/8.14.1\nAccept: */*\n\n"
        )
        answers = {"*": ""}
        if self.whoami_np:
            url = f"http://{entry_ip}:31234/"
            answers[f"-s --max-time 5 {url}"] = body
        if not self.dpv2:
            answers["-s --max-time 3 http://127.0.0.1:10249/proxyMode"] = "iptables"
        return answers

    def _conntrack(self, node: str, command: list[str]) -> CommandResult:
        """netshoot's conntrack in the node's network namespace: entries in conntrack -L's
        format (the count line goes to stderr). Only the legacy datapath (gke-calico) is
        asked; Dataplane V2's eBPF connection tracking would not show here."""
        args = " ".join(command)
        stderr = "conntrack v1.4.8 (conntrack-tools): {} flow entries have been shown.\n"
        entries: list[str] = []
        traefik, vote, worker, redis = (
            TRAEFIK_IP,
            self.ips["vote"],
            self.ips["worker"],
            self.ips["redis"],
        )
        if not self.dpv2:
            if f"-d {self.vips['redis']} --dport 6379" in args and node == self.nodes[0]:
                entries.append(
                    f"tcp      6 86397 ESTABLISHED src={worker} dst={self.vips['redis']} "
                    f"sport=40312 dport=6379 src={redis} dst={worker} sport=6379 dport=40312 "
                    "[ASSURED] mark=0 use=1"
                )
            if f"-s {traefik} -d {vote} --dport 80" in args:
                entries.append(
                    f"tcp      6 117 TIME_WAIT src={traefik} dst={vote} sport=51876 dport=80 "
                    f"src={vote} dst={traefik} sport=80 dport=51876 [ASSURED] mark=0 use=1"
                )
            if args.endswith(f"-p tcp -d {traefik}") and node == self.nodes[1]:
                entries += [
                    f"tcp      6 431998 ESTABLISHED src={GFE} dst={traefik} sport=61022 "
                    f"dport=8000 src={traefik} dst={GFE} sport=8000 dport=61022 [ASSURED] "
                    "mark=0 use=1",
                    f"tcp      6 118 TIME_WAIT src=130.211.2.77 dst={traefik} sport=44810 "
                    f"dport=8080 src={traefik} dst=130.211.2.77 sport=8080 dport=44810 "
                    "[ASSURED] mark=0 use=1",
                ]
        out = "".join(e + "\n" for e in entries)
        return _ok(out, 0, stderr.format(len(entries)))

    # -- exec in pods ---------------------------------------------------------------------------

    def _exec(self, call: Call) -> CommandResult:
        command = list(call.command)
        if (call.pod or "").startswith(NODE_DEBUG_PREFIX):
            node = next(p.node for p in self.fake.pods("default") if p.name == call.pod)
            assert node is not None
            return self._node_exec(node, command)
        line = shlex.join(command)
        if match := re.search(r"nc -z -w \d+ (\S+) \d+", line):
            allowed = self._allowed(call.namespace or "", call.pod or "", match.group(1))
            return _ok(f"pw-probe-rc={0 if allowed else 1}\n")
        if command[0] == "cat" and command[1] == "/etc/resolv.conf":
            project = self.cfg.gke.project if self.cfg.gke else "project"
            zone = self.cfg.gke.zone if self.cfg.gke else "zone"
            # GKE appends the node's search domains (modelled on Compute Engine's defaults)
            return _ok(
                f"search {call.namespace}.svc.cluster.local svc.cluster.local cluster.local "
                f"{zone}.c.{project}.internal c.{project}.internal google.internal\n"
                f"nameserver {DNS_VIP}\noptions ndots:5\n"
            )
        if command[:2] == ["getent", "hosts"]:
            return _ok(f"{self.vips['redis']}    redis.{self.app}.svc.cluster.local\n")
        if call.namespace == self.lab and (call.pod or "").startswith("netshoot"):
            return self._netshoot_exec(call.pod or "", command)
        return _ok("", 127, f"gke world: no exec answer for {line}")

    def _traefik_answer(self, host: str, path: str, client_ip: str) -> tuple[int, str]:
        """What Traefik answers for a Host header (and path), from inside the cluster."""
        if path == "/ping":
            return 200, "OK"
        if host == self.app_hosts["vote"]:
            return 200, "<!DOCTYPE html>\n<html>\n<head>\n<title>Cats vs Dogs!</title>\n"
        if host == self.app_hosts["result"]:
            return 200, "<!DOCTYPE html>\n<html>\n<head>\n<title>Cats vs Dogs -- Result</title>\n"
        if host == self.lab_hosts["whoami"] and self.whoami_ingress:
            pod, ip = self.whoami[self.nodes[0]]
            return 200, (
                f"Hostname: {pod}\nIP: 127.0.0.1\nIP: {ip}\nRemoteAddr: {TRAEFIK_IP}:39104\n"
                f"GET / HTTP/1.1\nHost: {host}\nUser-Agent: curl/8.14.1\nAccept: */*\n"
                f"Accept-Encoding: gzip\nX-Forwarded-For: {client_ip}\n"
                f"X-Forwarded-Host: {host}\nX-Forwarded-Port: 80\nX-Forwarded-Proto: http\n"
                f"X-Forwarded-Server: {TRAEFIK_POD}\nX-Real-Ip: {client_ip}\n\n"
            )
        return 404, "404 page not found\n"

    def _netshoot_exec(self, pod: str, command: list[str]) -> CommandResult:
        """A command in a netshoot pod of the lab namespace (exec or kubectl exec)."""
        client_ip = next(ip for name, ip in self.netshoot.values() if name == pod)
        if command[:2] == ["sh", "-c"]:
            curls = {"*": ""}
            for host in [
                *self.app_hosts.values(),
                *self.lab_hosts.values(),
                "nothing-here.invalid",
            ]:
                status, body = self._traefik_answer(host, "/", client_ip)
                curls[
                    f"-s --max-time 5 -H Host: {host} http://traefik.traefik.svc.cluster.local/"
                ] = body
                del status
            return run_sh(command[2], {"curl": curls}, self.workdir)
        tool = command[0]
        if tool == "curl":
            url = command[-1]
            host = next((a.split(": ", 1)[1] for a in command if a.startswith("Host: ")), "")
            if url.startswith("http://traefik.traefik.svc.cluster.local"):
                path = url.removeprefix("http://traefik.traefik.svc.cluster.local")
                status, body = self._traefik_answer(host, path, client_ip)
                return _ok(f"{status}\n" if "%{http_code}\\n" in command else body)
            if url == f"http://whoami.{self.lab}/":
                pod_name, ip = self.whoami[self.nodes[0]]
                return _ok(
                    f"Hostname: {pod_name}\nIP: 127.0.0.1\nIP: {ip}\n"
                    f"RemoteAddr: {client_ip}:43210\nGET / HTTP/1.1\n"
                    f"Host: whoami.{self.lab}\nUser-Agent: curl/8.14.1\nAccept: */*\n\n"
                )
        if tool == "ip":
            index = next(i for i, n in enumerate(self.nodes) if self.netshoot[n][0] == pod)
            if command[1] == "route":
                # a ptp pod: the default route via the node's pod-range gateway (modelled)
                return _ok(
                    f"default via 10.244.{index}.1 dev eth0 mtu 1460 \n"
                    f"10.244.{index}.1 dev eth0 scope link \n"
                )
            return _ok(
                f"3: eth0@if{self.ifindex(client_ip)}: <BROADCAST,MULTICAST,UP,LOWER_UP> "
                "mtu 1460 qdisc noqueue state UP "
                "group default qlen 1000 link-netnsid 0\n"
                f"    inet {client_ip}/24 brd 10.244.{index}.255 scope global eth0\n"
                "       valid_lft forever preferred_lft forever\n"
            )
        if command == ["cat", "/sys/class/net/eth0/iflink"]:
            return _ok(f"{self.ifindex(client_ip)}\n")
        if tool == "ping":
            target = command[-1]
            known = target in {p.ip for p in self.fake.pods()}
            lost = "0%" if known else "100%"
            received = command[2] if known else "0"
            return _ok(
                f"PING {target} ({target}) 56(84) bytes of data.\n\n"
                f"--- {target} ping statistics ---\n"
                f"{command[2]} packets transmitted, {received} received, {lost} packet loss, "
                "time 1002ms\n",
                0 if known else 1,
            )
        if tool == "dig":
            return self._dig(command)
        return _ok("", 127, f"gke world: no netshoot answer for {command}")

    def _dig(self, command: list[str]) -> CommandResult:
        name = command[-1]
        if "default-deny" in self.lab_policies and "dns" not in self.lab_policies:
            return _ok(
                f";; communications error to {DNS_VIP}#53: timed out\n"
                ";; no servers could be reached\n",
                9,
            )
        if "+showsearch" in command:
            fqdn = f"{name}.svc.cluster.local."
            if name.startswith("redis."):
                answer = f"{fqdn}\t30\tIN\tA\t{self.vips['redis']}\n"
            else:
                answer = ""
            return _ok(
                f"; <<>> DiG 9.20.7 <<>> +search +showsearch {name}\n;; global options: +cmd\n"
                ";; Got answer:\n;; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 1201\n"
                f";; QUESTION SECTION:\n;{name}.{self.lab}.svc.cluster.local. IN\tA\n\n"
                f"; <<>> DiG 9.20.7 <<>> +search +showsearch {name}\n;; Got answer:\n"
                ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1202\n"
                f";; QUESTION SECTION:\n;{fqdn}\t\tIN\tA\n\n;; ANSWER SECTION:\n{answer}\n"
                f";; SERVER: {DNS_VIP}#53({DNS_VIP}) (UDP)\n"
            )
        if "SRV" in command:  # kube-dns answers with priority 10, weight 100 (skydns; modelled)
            return _ok(f"10 100 80 whoami.{self.lab}.svc.cluster.local.\n")
        if name.startswith("whoami-headless."):
            ips = ["10.244.0.30", "10.244.1.31", "10.244.0.32"][: self.whoami_replicas]
            return _ok("".join(ip + "\n" for ip in ips))
        if name.startswith("whoami."):
            return _ok(f"{self.vips['whoami']}\n")
        return _ok("", 0)

    # -- probes ---------------------------------------------------------------------------------

    def _source_app(self, namespace: str, pod: str) -> str:
        labels = next(p.labels for p in self.fake.pods(namespace) if p.name == pod)
        return labels.get("app") or labels.get("app.kubernetes.io/name") or pod

    def _allowed(self, namespace: str, pod: str, host: str) -> bool:
        """The lab's policies as Dataplane V2 and Calico enforce them (both do)."""
        source = self._source_app(namespace, pod)
        by_ip = {ip: app for app, ip in self.ips.items()}
        by_ip.update({ip: "whoami" for _, ip in self.whoami.values()})
        by_ip[self.vips["whoami"]] = "whoami"
        target = by_ip.get(host) or host.split(".")[0]
        in_app = host.endswith(f".{self.app}") or (
            host.split(".")[0] == host and namespace == self.app
        )
        if namespace in (self.app, "traefik"):
            return self.app_flow(source, target)
        return self.lab_flow(
            source,
            target,
            into_app=in_app or host in self.ips.values(),
            via_vip=host == self.vips["whoami"],
            default_denied=True,
        )

    # -- kubectl --------------------------------------------------------------------------------

    def _kubectl(self, args: list[str]) -> CommandResult:
        line = " ".join(args)
        verb = args[0]
        if verb == "exec" and args[2] == self.lab:
            return self._netshoot_exec(args[3], args[args.index("--") + 1 :])
        if verb == "-n" and "ds/anetd" in line:
            return self._anetd()
        handler = {
            "apply": self._apply,
            "delete": self._delete,
            "scale": self._scale,
            "run": self._run,
            "wait": self._wait,
            "get": self._get,
            "describe": self._describe,
            "expose": self._expose,
            "patch": self._patch,
        }.get(verb)
        if handler is not None:
            return handler(line)
        if verb == "rollout":
            return _ok(f'deployment "{args[3]}" successfully rolled out\n')
        if verb == "logs":
            return _ok(f'{TRAEFIK_IP} - - [07/Dec/2026 10:00:00] "GET / HTTP/1.1" 200 -\n')
        return _ok("", 127, f"gke world: no kubectl answer for {line}")

    def _apply(self, line: str) -> CommandResult:
        return self.applied(line)

    def _delete(self, line: str) -> CommandResult:
        self.deleted(line, self.lab)
        if "svc whoami-np" in line:
            self.whoami_np = self.etp_local = False
        if "ingress --all" in line:
            self.whoami_ingress = False
        if line.startswith("delete pod mypod"):
            self.mypod = False
            self.fake.delete_pod(self.lab, "mypod")
        return _ok("deleted\n")

    def _expose(self, line: str) -> CommandResult:
        self.whoami_np = True
        return _ok("service/whoami-np exposed\n")

    def _patch(self, line: str) -> CommandResult:
        if not self.lazy and "whoami-np" in line and '"Local"' in line:
            self.etp_local = True
        return _ok("service/whoami-np patched\n")

    def _scale(self, line: str) -> CommandResult:
        return self.scaled(line)

    def _run(self, line: str) -> CommandResult:
        self.mypod = not self.lazy
        if self.mypod:
            node = re.search(r'"nodeName": "([^"]+)"', line)
            assert node is not None
            self.fake.add_pod(
                PodInfo(
                    self.lab, "mypod", "10.244.1.40", node.group(1), {"run": "mypod"}, ("mypod",)
                )
            )
        return _ok("pod/mypod created\n")

    def _wait(self, line: str) -> CommandResult:
        if "pod/mypod" in line and not self.mypod:
            return _ok("", 1, 'Error from server (NotFound): pods "mypod" not found\n')
        return _ok("pod/condition met\n")

    def _describe(self, line: str) -> CommandResult:
        apps = "vote worker" + (" result" if self.result_calls_redis else "")
        froms = "".join(f"    PodSelector: app={a}\n" for a in apps.split())
        return _ok(
            f"Name:         redis-access\nNamespace:    {self.app}\nSpec:\n"
            f"  PodSelector:     app=redis\n  Allowing ingress traffic:\n"
            f"    To Port: 6379/TCP\n    From:\n{froms}"
        )

    def _anetd(self) -> CommandResult:
        """``cilium service list`` in an anetd pod (Cilium's format; not verified on GKE)."""
        vote = self.ips["vote"]
        return _ok(
            "ID   Frontend            Service Type   Backend\n"
            f"12   {self.vips['vote']}:8080/TCP  ClusterIP      1 => {vote}:80/TCP (active)\n"
        )

    def _pods_table(self, namespace: str, wide: bool = True) -> str:
        rows = ["NAME                      READY   STATUS    RESTARTS   AGE   IP            NODE"]
        for pod in self.fake.pods(namespace):
            rows.append(f"{pod.name}   1/1     Running   0          3h    {pod.ip}   {pod.node}")
        return "\n".join(rows) + "\n"

    def _kube_system_pods(self, node: str) -> str:
        """``-o name`` of the kube-system pods on a node (a subset of GKE's, modelled)."""
        agents = ["anetd-7xk2p"] if self.dpv2 else ["calico-node-4mz8q", f"kube-proxy-{node}"]
        others = [
            "fluentbit-gke-9d2lq",
            "gke-metadata-server-wq6hn",
            "netd-c8v5k",
            "pdcsi-node-f3r7s",
        ]
        return "".join(f"pod/{name}\n" for name in sorted(agents + others))

    def _get(self, line: str) -> CommandResult:
        lab, app = self.lab, self.app
        if m := re.search(
            r"-l app=netshoot --field-selector spec\.nodeName=(\S+) -o "
            r"jsonpath=\{\.items\[0\]\.(metadata\.name|status\.podIP)\}",
            line,
        ):
            name, ip = self.netshoot[m.group(1)]
            return _ok(name if m.group(2) == "metadata.name" else ip)
        if m := re.search(
            r"-l app=netshoot --field-selector spec\.nodeName!=(\S+) -o jsonpath", line
        ):
            return _ok(next(n for node, (n, _) in self.netshoot.items() if node != m.group(1)))
        if "-l app=netshoot --field-selector status.phase=Running" in line:
            return _ok(self.netshoot[self.nodes[0]][0])
        if m := re.search(r"get pod -n \S+ (netshoot-\w+) -o jsonpath=\{\.status\.podIP\}", line):
            return _ok(next(ip for n, ip in self.netshoot.values() if n == m.group(1)))
        if f"get pods -n {lab} -l app=netshoot -o wide" in line:
            return _ok(self._pods_table(lab))
        if "get pod mypod" in line:
            if not self.mypod:
                return _ok("", 1, 'Error from server (NotFound): pods "mypod" not found\n')
            return _ok(self.nodes[1] if "nodeName" in line else "10.244.1.40")
        if m := re.search(
            r"-l app=whoami --field-selector spec\.nodeName!=(\S+),status\.phase=Running", line
        ):
            return _ok(next(node for node in self.whoami if node != m.group(1)))
        if m := re.search(
            r"-l (?:app|app\.kubernetes\.io/name)=(\w+) -o jsonpath=\{\.items\[0\]\."
            r"(status\.podIP|spec\.nodeName|spec\.containers\[0\]\.ports|metadata\.name)\}",
            line,
        ):
            want, field = m.groups()
            pod = next(
                p
                for p in self.fake.pods()
                if want in (p.labels.get("app"), p.labels.get("app.kubernetes.io/name"))
            )
            if field == "metadata.name":
                return _ok(pod.name)
            if field == "status.podIP":
                return _ok(pod.ip or "")
            if field == "spec.nodeName":
                return _ok(pod.node or "")
            return _ok(
                '[{"containerPort":9100,"name":"metrics","protocol":"TCP"},'
                '{"containerPort":8080,"name":"traefik","protocol":"TCP"},'
                '{"containerPort":8000,"name":"web","protocol":"TCP"},'
                '{"containerPort":8443,"name":"websecure","protocol":"TCP"}]'
            )
        if m := re.search(r"get svc (\S+) -n \S+ -o jsonpath=\{\.spec\.clusterIP\}", line):
            return _ok(self.vips[m.group(1)])
        if "get svc traefik -n traefik -o jsonpath={.spec.type} {.spec.ports[*].nodePort}" in line:
            return _ok("ClusterIP ")  # no nodePort field: the jsonpath prints nothing after it
        if "get svc traefik -n traefik -o jsonpath={.spec.type}" in line:
            return _ok("ClusterIP")
        if "get svc traefik -n traefik -o jsonpath={.metadata.annotations}" in line:
            return _ok(json.dumps(self._traefik_annotations(), separators=(",", ":")))
        if "get svc -n traefik traefik -o wide" in line:
            return _ok(
                "NAME      TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)                    AGE   "
                "SELECTOR\n"
                f"traefik   ClusterIP   {TRAEFIK_VIP}   <none>        "
                "80/TCP,443/TCP,8080/TCP    3h    "
                "app.kubernetes.io/instance=traefik-traefik,app.kubernetes.io/name=traefik\n"
            )
        if f"get svc -n {app} -o wide" in line or f"get svc vote -n {app} -o wide" in line:
            return _ok(
                "NAME     TYPE        CLUSTER-IP    EXTERNAL-IP   PORT(S)    AGE   SELECTOR\n"
                f"vote     ClusterIP   {self.vips['vote']}    <none>        "
                "8080/TCP   3h    app=vote\n"
            )
        if "get svc whoami-np" in line:
            if not self.whoami_np:
                return _ok("", 1, 'Error from server (NotFound): services "whoami-np" not found\n')
            if "nodePort" in line:
                return _ok("31234")
            return _ok("Local" if self.etp_local else "Cluster")
        if m := re.search(r"get node (\S+) -o jsonpath=", line):
            return _ok(self.node_ips[m.group(1)])
        if line.startswith("get nodes -o custom-columns"):
            rows = ["NAME   INTERNAL-IP   POD-CIDR"]
            rows += [
                f"{n}   {ip}   10.244.{i}.0/24" for i, (n, ip) in enumerate(self.node_ips.items())
            ]
            return _ok("\n".join(rows) + "\n")
        if line == "get nodes -o wide":
            rows = ["NAME   STATUS   ROLES    AGE   VERSION   INTERNAL-IP   EXTERNAL-IP   OS-IMAGE"]
            rows += [
                f"{n}   Ready    <none>   3h    v1.34.1-gke.1431000   {ip}   <none>   "
                "Container-Optimized OS from Google"
                for n, ip in self.node_ips.items()
            ]
            return _ok("\n".join(rows) + "\n")
        if f"get pods -n {app} -o wide" in line:
            return _ok(self._pods_table(app))
        if f"get pod {APP_PODS[0][1]} -n {app} -o wide" in line:
            return _ok(self._pods_table(app))
        if "endpointslices" in line:
            return self._endpointslices(line)
        if "get pods -n kube-system --field-selector spec.nodeName=" in line:
            return _ok(self._kube_system_pods(line.split("spec.nodeName=")[1].split()[0]))
        if "get daemonset anetd" in line:
            return _ok(
                "NAME    DESIRED   CURRENT   READY   UP-TO-DATE   AVAILABLE   "
                "NODE SELECTOR            "
                "AGE   CONTAINERS              IMAGES\n"
                "anetd   2         2         2       2            2           "
                "kubernetes.io/os=linux   "
                "3h    cilium-agent            gke.gcr.io/cilium/cilium:v1.16.9-gke.1\n"
            )
        if "get pods -n kube-system -l k8s-app=kube-dns" in line:
            return _ok(
                "NAME                        READY   STATUS    RESTARTS   AGE   IP           NODE\n"
                "kube-dns-5f8c9d7b6-2pq8m    4/4     Running   0          3h    10.244.0.3   "
                f"{self.nodes[0]}\n"
                "kube-dns-5f8c9d7b6-v7n4t    4/4     Running   0          3h    10.244.1.3   "
                f"{self.nodes[1]}\n"
            )
        if "get deployment kube-dns" in line:
            if "containers[*].name" in line:
                return _ok("kubedns dnsmasq sidecar prometheus-to-sd")
            return _ok("Default")
        if "get configmap kube-dns" in line:  # absent on a fresh cluster (the module allows it)
            return _ok("", 1, 'Error from server (NotFound): configmaps "kube-dns" not found\n')
        if "get deploy,pods,svc -n traefik" in line:
            return _ok(
                "NAME                      READY   UP-TO-DATE   AVAILABLE   AGE\n"
                "deployment.apps/traefik   1/1     1            1           3h\n\n"
                f"NAME                          READY   STATUS    RESTARTS   AGE   IP\n"
                f"pod/{TRAEFIK_POD}   1/1     Running   0          3h    {TRAEFIK_IP}\n\n"
                "NAME              TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)\n"
                f"service/traefik   ClusterIP   {TRAEFIK_VIP}   <none>        "
                "80/TCP,443/TCP,8080/TCP\n"
            )
        if "get pods -A -o wide -l app.kubernetes.io/name=traefik" in line:
            return _ok(
                "NAMESPACE   NAME                      READY   STATUS    RESTARTS   AGE   IP\n"
                f"traefik     {TRAEFIK_POD}   1/1     Running   0          3h    {TRAEFIK_IP}\n"
            )
        if "get ingressclass -o yaml" in line:
            return _ok(
                "apiVersion: v1\nitems:\n- apiVersion: networking.k8s.io/v1\n  kind: IngressClass\n"
                "  metadata:\n    annotations:\n"
                '      ingressclass.kubernetes.io/is-default-class: "true"\n'
                "      meta.helm.sh/release-name: traefik\n    name: traefik\n"
                "  spec:\n    controller: traefik.io/ingress-controller\nkind: List\nmetadata:\n"
                '  resourceVersion: ""\n'
            )
        if line.startswith("get gateways.gateway.networking.k8s.io,"):
            return _ok(self._front_objects())
        if f"get ingress -n {app}" in line:
            rows = ["NAME     CLASS     HOSTS                         ADDRESS   PORTS   AGE"]
            rows += [
                f"{a}   traefik   {self.app_hosts[a]}             80      3h" for a in FRONTENDS
            ]
            return _ok("\n".join(rows) + "\n")
        if f"get ingress vote -n {app} -o jsonpath" in line:
            return _ok(self.app_hosts["vote"])
        if f"get ingress -n {lab}" in line:
            return _ok(self.lab_hosts["whoami"] if self.whoami_ingress else "")
        if f"get networkpolicy -n {app}" in line:
            names = [
                "default-deny",
                "db-access",
                "redis-access",
                "result-access",
                "vote-access",
                "worker-access",
            ]
            return _ok(
                "NAME   POD-SELECTOR   AGE\n" + "".join(f"{n}   <none>   3h\n" for n in names)
            )
        if "networkpolicy default-deny" in line:
            return _ok("spec:\n  podSelector: {}\n  policyTypes:\n  - Ingress\n  - Egress\n")
        if "networkpolicy worker-access" in line:
            return _ok(
                "spec:\n  egress:\n  - to:\n    - namespaceSelector:\n        matchLabels:\n"
                "          kubernetes.io/metadata.name: kube-system\n      podSelector:\n"
                "        matchLabels:\n          k8s-app: kube-dns\n"
            )
        if "networkpolicy redis-access" in line:
            return _ok("vote worker" + (" result" if self.result_calls_redis else ""))
        if f"get namespace {lab} --show-labels" in line:
            return _ok(
                "NAME   STATUS   AGE   LABELS\n"
                f"{lab}   Active   3h    kubernetes.io/metadata.name={lab},"
                "pod-security.kubernetes.io/enforce=privileged\n"
            )
        if f"get pods -n {lab} -l app=whoami -o wide" in line:
            return _ok(self._pods_table(lab))
        return _ok("", 127, f"gke world: no kubectl get answer for {line}")

    def _traefik_annotations(self) -> dict[str, str]:
        annotations = {
            "meta.helm.sh/release-name": "traefik",
            "meta.helm.sh/release-namespace": "traefik",
        }
        neg = (
            '{"network_endpoint_groups":{"80":"k8s1-5e6f7a8b-traefik-traefik-80-1c2d3e4f"},'
            '"zones":["europe-west1-b"]}'
        )
        annotations["cloud.google.com/neg-status"] = neg
        if self.cfg.gke is not None and self.cfg.gke.ingress_mode == "ingress":
            annotations["cloud.google.com/neg"] = '{"ingress": true}'
            annotations["cloud.google.com/backend-config"] = '{"default": "traefik"}'
        return annotations

    def _front_objects(self) -> str:
        """The load balancer's objects in namespace traefik, as ``kubectl get … -o wide``
        lists several kinds (only the kinds that have objects)."""
        if self.cfg.gke is not None and self.cfg.gke.ingress_mode == "ingress":
            return (
                "NAME                                CLASS    HOSTS   ADDRESS        PORTS   AGE\n"
                f"ingress.networking.k8s.io/traefik   <none>   *       {LB_ADDRESS}   80      3h\n"
            )
        return (
            "NAME                                        CLASS                            "
            "ADDRESS        PROGRAMMED   AGE\n"
            "gateway.gateway.networking.k8s.io/traefik   gke-l7-global-external-managed   "
            f"{LB_ADDRESS}   True         3h\n\n"
            "NAME                                          HOSTNAMES   AGE\n"
            "httproute.gateway.networking.k8s.io/traefik               3h\n"
        )

    def _endpointslices(self, line: str) -> CommandResult:
        vote = self.ips["vote"]
        addresses = [vote, "10.244.1.15"][: self.vote_replicas]
        if "conditions.ready" in line:
            return _ok("".join(a + "\n" for a in addresses))
        if line.endswith("-o json"):
            return _ok(
                json.dumps(
                    {
                        "items": [
                            {
                                "addressType": "IPv4",
                                "endpoints": [
                                    {"addresses": [a], "conditions": {"ready": True}}
                                    for a in addresses
                                ],
                                "ports": [{"name": "vote-service", "port": 80, "protocol": "TCP"}],
                            }
                        ]
                    }
                )
            )
        return _ok(
            "NAME         ADDRESSTYPE   PORTS   ENDPOINTS     AGE\n"
            f"vote-8xk2q   IPv4          80      {','.join(addresses)}   3h\n"
        )

    # -- the participant's machine --------------------------------------------------------------

    def _shell(self, command: str) -> CommandResult:
        if m := re.search(r"http://127\.0\.0\.1:(\d+)/", command):
            return self._forwarded_curl(command, int(m.group(1)))
        if command.startswith("curl"):
            return self._lb_curl(command)
        if re.fullmatch(r"sleep \d+", command):
            return _ok()
        if m := re.fullmatch(r"test (\S+) -gt 0", command):
            return _ok("", 0 if int(m.group(1)) > 0 else 1)
        if command.startswith(f"kubectl --context {self.cfg_context()} exec -n {self.lab} "):
            dig = self._dig(shlex.split(command.split(" -- ", 1)[1].split(" | ")[0]))
            return run_sh(command, {"kubectl": {"*": dig.stdout}}, self.workdir)
        if command == "kubectl config current-context":
            return _ok(self.cfg_context() + "\n")
        if command.startswith("./invoke walk"):
            return self._walk(command)
        if command.startswith("./invoke analyze"):
            return self._analyze()
        if " && ./invoke analyze " in command:  # analyse the newest walk if its plan says so
            guard = run_sh(command.split(" && ./invoke analyze ", 1)[0], {}, self.workdir)
            return self._analyze() if guard.ok else guard
        if "ls -td walks/" in command:
            return run_sh(command, {}, self.workdir)
        if command.startswith("./invoke verify"):
            return _ok('{"mismatches": 0, "probes": [], "causes": [], "problems": []}\n')
        if command.startswith("./invoke map"):
            if re.search(r"--out \S+/learned-intents\.yaml", command):
                self.learned_intents = True
                return _ok()
            return _ok(
                "observed but not declared:\n  (none)\ndeclared but never seen:\n  (none)\n"
                "connlist diff (ref1: declared, ref2: learned):\n  (none)\n"
            )
        if re.fullmatch(r"cat \S+/learned-intents\.yaml", command):
            if not self.learned_intents:
                return _ok("", 1, "cat: learned-intents.yaml: No such file or directory\n")
            return _ok(learned_intents(self.app))
        if command.startswith("./invoke matrix"):
            return self._matrix(command)
        if command.startswith("git apply"):
            if not self.lazy:
                self.result_calls_redis = "-R" not in command
            return _ok()
        if command.startswith("cat stacks/intents"):
            return _ok("apiVersion: k8s.otterize.com/v2beta1\nkind: ClientIntents\n")
        if command.startswith("grep -E"):
            return _ok("  name: worker\n")
        if command.startswith("./invoke up"):
            return _ok("Lab up\n")
        return _ok("", 127, f"gke world: no shell answer for {command}")

    def cfg_context(self) -> str:
        gke = self.cfg.gke
        assert gke is not None
        return f"gke_{gke.project}_{gke.zone}_{self.cfg.cluster_name}"

    def _forwarded_curl(self, command: str, port: int) -> CommandResult:
        """curl through a port-forward: only while it is open, answered by the pod behind it."""
        forward = self.fake.forwarded(port)
        if forward is None:
            return _ok("", 7, f"curl: (7) Failed to connect to 127.0.0.1 port {port}")
        code = "http_code" in command
        if forward.pod != APP_PODS[0][1] or forward.remote_port != 80:
            return _ok("000\n" if code else "", 52, "curl: (52) Empty reply from server")
        if code:
            return _ok("200\n")
        page = f"<title>Cats vs Dogs!</title>\n          Processed by container ID {forward.pod}\n"
        return run_sh(command, {"curl": {"*": page}}, self.workdir)

    def _lb_curl(self, command: str) -> CommandResult:
        """curl from the participant's machine to an app host: DNS gives the load balancer's
        address, a GFE forwards to Traefik. Anything else does not resolve."""
        host = re.search(r"http://([^/\s]+)/", command)
        name = host.group(1) if host else ""
        if name not in self.app_hosts.values():
            return _ok(
                "000\n" if "http_code" in command else "",
                6,
                f"curl: (6) Could not resolve host: {name}",
            )
        status, body = self._traefik_answer(name, "/", GFE)
        if "http_code" in command:
            return _ok(f"{status}\n")
        return run_sh(command, {"curl": {"*": body}}, self.workdir)

    def _walk(self, command: str) -> CommandResult:
        """``invoke walk``: the dry run prints its plan; a run writes a folder whose
        ``plan.yaml`` has the keys ``plan_as_dict`` writes first, and prints the analysis."""
        to = command.split("--to ")[1].split()[0]
        source = command.split("--from ")[1].split()[0]
        via = command.split("--via ")[1].split()[0]
        if "--dry-run" in command:
            return _ok(f"points: {source} (pod), {self.nodes[0]} (node), {TRAEFIK_POD} (pod)\n")
        if self.lazy and to == "result":
            return _ok()
        self.walks += 1
        folder = self.workdir / "walks" / f"2026120{self.walks}-100000"
        folder.mkdir(parents=True)
        plan = {
            "to": f"{self.app}/{to}",
            "from": source,
            "via": via,
            "cni": self.cfg.cni,
            "kubeProxyMode": self.cfg.kube_proxy_mode,
        }
        (folder / "plan.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
        stamp = 1_800_000_000 + self.walks * 60
        os.utime(folder, (stamp, stamp))
        return _ok(
            f"Flow 2 was opened by pod traefik/{TRAEFIK_POD} ({TRAEFIK_IP}) while it served "
            f"flow 1, seen at {TRAEFIK_POD}: a proxy making its own connection to the backend, "
            f"not NAT.\ncaptures, walk.yaml and plan.yaml are in {folder}\n"
        )

    def _analyze(self) -> CommandResult:
        """``invoke analyze <newest walk> --format json`` (render_json's keys, trimmed)."""
        folders = sorted((self.workdir / "walks").glob("*/"), key=lambda p: p.stat().st_mtime)
        if not folders:
            return _ok("", 1, "no such folder\n")
        body = {
            "flows": [{"translations": []}, {"translations": []}],
            "links": [{"inbound": 0, "outbound": 1, "proxy": TRAEFIK_IP, "point": TRAEFIK_POD}],
        }
        return _ok(json.dumps(body, indent=2) + "\n")

    def _matrix(self, command: str) -> CommandResult:
        ns = self.app
        flows = sorted(
            {
                ("vote", "redis"),
                ("worker", "redis"),
                ("worker", "db"),
                ("result", "db"),
            }
            | ({("result", "redis")} if self.result_calls_redis else set())
        )
        if "--explain" in command:
            if "/result " in command and "/redis " in command and self.result_calls_redis:
                return _ok(
                    f"{ns}/result[Deployment] -> {ns}/redis[Deployment] on 6379/TCP: ALLOWED\n"
                    "  allowed connections: TCP 6379\n"
                    f"egress of the source ({ns}/result[Deployment]): isolated by "
                    f"{ns}/default-deny, {ns}/result-access; allows TCP 5432,6379; UDP 53\n"
                    f"  + {ns}/result-access spec.egress[1]: peer matches -> TCP 6379\n"
                    f"ingress of the destination ({ns}/redis[Deployment]): isolated by "
                    f"{ns}/default-deny, {ns}/redis-access; allows TCP 6379\n"
                    f"  + {ns}/redis-access spec.ingress[0]: peer matches -> TCP 6379\n"
                )
            src, dst = re.findall(rf"{re.escape(ns)}/(\w+)", command)[:2]
            return _ok(
                f"{ns}/{src}[Deployment] -> {ns}/{dst}[Deployment] on "
                f"{'5432' if dst == 'db' else '6379'}/TCP: DENIED\n"
            )
        if "--cluster" in command:
            return _ok(
                "".join(
                    f"{ns}/{a}-5b7c9d8f6[ReplicaSet] => {ns}/{b}-39f8e7d6c[ReplicaSet] : "
                    f"TCP {5432 if b == 'db' else 6379}\n"
                    for a, b in flows
                )
            )
        return _ok(
            "".join(
                f"{ns}/{a}[Deployment] => {ns}/{b}[Deployment] : "
                f"TCP {5432 if b == 'db' else 6379}\n"
                for a, b in flows
            )
        )


def learned_intents(namespace: str) -> str:
    """What ``invoke map`` writes for the voting app's worker (packetwalk/mapper/output.py)."""
    return f"""apiVersion: k8s.otterize.com/v2beta1
kind: ClientIntents
metadata:
  name: worker
  namespace: {namespace}
spec:
  workload:
    name: worker
    kind: Deployment
  targets:
    # 12 connections, first seen 2026-12-06T23:43:07Z, last seen 2026-12-06T23:43:37Z, ports 5432
    - service: {{name: db}}
    # 30 connections, first seen 2026-12-06T23:43:07Z, last seen 2026-12-06T23:43:37Z, ports 6379
    - service: {{name: redis}}
"""


def world_for(case: str, workdir: Path, *, lazy: bool) -> GkeWorld:
    """``gke``, ``gke-calico`` or ``gke-workshop`` (participant 3 of the workshop fixture)."""
    if case == "gke-workshop":
        fixture = Path(__file__).parent / "data" / "workshop"
        return GkeWorld(case, workdir, lazy=lazy, participant=3, stacks_dir=fixture)
    return GkeWorld(case, workdir, lazy=lazy)
