"""Build small Kubernetes-like topologies from network namespaces, capture real traffic in them.

Used by the root tests of the capture analysis and to (re)make the committed fixtures:

    sudo .venv/bin/python -m tests.netns tests/data/captures

Every namespace name carries a per-run tag, and :meth:`Lab.close` removes them all (tests use it
as a context manager), so a failed run leaves nothing behind and parallel runs do not collide.
Traffic stays inside the namespaces: only 10.x and 172.18.x addresses on veth pairs.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import yaml

TOOLS = ("ip", "tcpdump", "conntrack")


def missing_prerequisites(firewall: str = "iptables") -> str | None:
    """Why the namespace tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth pairs, tcpdump)"
    for tool in (*TOOLS, firewall):
        if shutil.which(tool) is None:
            return (
                f"needs `{tool}` (Debian: apt-get install -y tcpdump iproute2 {firewall} conntrack)"
            )
    probe = f"pwprobe{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


@dataclass
class Capture:
    point: str
    kind: str
    file: str
    process: subprocess.Popen[bytes]
    links_file: str | None = None


@dataclass
class Lab:
    """Namespaces, veths and captures of one test; a context manager that always cleans up."""

    folder: Path
    tag: str = field(default_factory=lambda: f"pw{secrets.token_hex(3)}")
    namespaces: list[str] = field(default_factory=list)
    captures: list[Capture] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __enter__(self) -> Lab:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- building ---------------------------------------------------------------------------

    def ns(self, name: str) -> str:
        full = f"{self.tag}-{name}"
        sh("ip", "netns", "add", full)
        self.namespaces.append(full)
        self.run(name, "ip", "link", "set", "lo", "up")
        return full

    def full(self, name: str) -> str:
        return f"{self.tag}-{name}"

    def veth(self, ns_a: str, if_a: str, ns_b: str, if_b: str) -> None:
        """A veth pair from ``ns_a``/``if_a`` to ``ns_b``/``if_b``, both up."""
        sh(
            "ip",
            "-n",
            self.full(ns_a),
            "link",
            "add",
            if_a,
            "type",
            "veth",
            "peer",
            "name",
            if_b,
            "netns",
            self.full(ns_b),
        )
        self.run(ns_a, "ip", "link", "set", if_a, "up")
        self.run(ns_b, "ip", "link", "set", if_b, "up")

    def run(self, ns: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.full(ns), *cmd, check=check)

    def script(self, ns: str, text: str) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.full(ns), "sh", "-ec", text)

    def popen(self, ns: str, *cmd: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.full(ns), *cmd],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.processes.append(proc)
        return proc

    # --- traffic ----------------------------------------------------------------------------

    def serve_http(self, ns: str, address: str, port: int) -> None:
        """A Python HTTP server; returns once it accepts connections (before any capture)."""
        content = Path(tempfile.mkdtemp(prefix="pw-www-"))
        (content / "index.html").write_text(f"hello from {ns}\n")
        self.popen(
            ns,
            sys.executable,
            "-m",
            "http.server",
            "--bind",
            address,
            str(port),
            "--directory",
            str(content),
        )
        self.wait_port(ns, address, port)

    def serve_proxy(self, ns: str, listen: tuple[str, int], backend: tuple[str, int]) -> None:
        """A tiny TCP proxy: every accepted connection gets its own new connection to the backend
        (what Traefik does), so the walk shows two flows."""
        code = textwrap.dedent(PROXY_CODE)
        self.popen(
            ns, sys.executable, "-c", code, listen[0], str(listen[1]), backend[0], str(backend[1])
        )
        self.wait_port(ns, *listen)

    def wait_port(self, ns: str, address: str, port: int, timeout: float = 10) -> None:
        probe = (
            "import socket,sys,time\n"
            f"end=time.time()+{timeout}\n"
            "while True:\n"
            "  try:\n"
            f"    socket.create_connection(({address!r},{port}),1).close(); break\n"
            "  except OSError:\n"
            "    if time.time()>end: sys.exit('not listening')\n"
            "    time.sleep(0.05)\n"
        )
        self.run(ns, sys.executable, "-c", probe)

    def http_get(self, ns: str, url: str, timeout: float = 5) -> str:
        code = (
            "import sys,urllib.request\n"
            f"r=urllib.request.urlopen({url!r},timeout={timeout}); sys.stdout.write(str(r.status))"
        )
        return self.run(ns, sys.executable, "-c", code).stdout

    # --- captures ---------------------------------------------------------------------------

    def capture(
        self, ns: str, point: str, kind: str, interface: str = "eth0", extra: Sequence[str] = ()
    ) -> None:
        """tcpdump -U -w into ``<point>.pcap``; on ``any`` also saves ``ip -o link`` next to it."""
        file = f"{point}.pcap"
        links_file = None
        if interface == "any":
            links_file = f"{point}-links.txt"
            (self.folder / links_file).write_text(self.run(ns, "ip", "-o", "link").stdout)
        # --immediate-mode: without it, packets still in libpcap's ring block when SIGINT arrives
        # are never written (seen here: "2 packets received by filter", 0 captured)
        cmd = [
            "tcpdump",
            "-U",
            "--immediate-mode",
            "-n",
            "-Z",
            "root",
            "-i",
            interface,
            *extra,
            "-w",
            str(self.folder / file),
            "tcp or udp",
        ]
        proc = self.popen(ns, *cmd)
        _wait_listening(proc)
        self.captures.append(Capture(point, kind, file, proc, links_file))

    def capture_pcapng(self, ns: str, point: str, kind: str, interfaces: Sequence[str]) -> None:
        """dumpcap on several interfaces: one pcapng whose interface blocks carry the names."""
        file = f"{point}.pcapng"
        cmd = ["dumpcap", "-q", "-n"]
        for name in interfaces:
            cmd += ["-i", name, "-f", "tcp or udp"]
        cmd += ["-w", str(self.folder / file)]
        proc = self.popen(ns, *cmd)
        _wait_file(self.folder / file)
        time.sleep(0.5)  # dumpcap writes the file before every interface is open
        self.captures.append(Capture(point, kind, file, proc))

    def stop_captures(self) -> None:
        time.sleep(0.3)  # let the last replies reach every capture
        for cap in self.captures:
            if cap.process.poll() is None:
                cap.process.send_signal(signal.SIGINT)
        for cap in self.captures:
            try:
                cap.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                cap.process.kill()
                cap.process.wait()

    def write_walk(self, inventory: dict[str, dict[str, str]], path: Sequence[str] = ()) -> Path:
        entries = []
        for cap in self.captures:
            entry: dict[str, object] = {"file": cap.file, "point": cap.point, "kind": cap.kind}
            if cap.links_file:
                entry["interfaces"] = cap.links_file
            entries.append(entry)
        doc: dict[str, object] = {"captures": entries, "inventory": inventory}
        if path:
            doc["path"] = list(path)
        target = self.folder / "walk.yaml"
        target.write_text(yaml.safe_dump(doc, sort_keys=False))
        return target

    def close(self) -> None:
        for proc in [c.process for c in self.captures] + self.processes:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            if proc.stderr:
                proc.stderr.close()
        failed = []
        for ns in reversed(self.namespaces):
            # a just-killed process can keep the namespace mount busy for a moment
            for _attempt in range(20):
                result = sh("ip", "netns", "del", ns, check=False)
                if result.returncode == 0 or not Path(f"/run/netns/{ns}").exists():
                    break
                time.sleep(0.1)
            else:
                failed.append(f"{ns}: {result.stderr.strip()}")
        self.namespaces.clear()
        if failed:
            raise RuntimeError("could not delete namespaces: " + "; ".join(failed))


PROXY_CODE = """
import socket, sys, threading
host, port, bhost, bport = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])

def pump(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

def handle(client):
    with client, socket.create_connection((bhost, bport), 5) as upstream:
        back = threading.Thread(target=pump, args=(upstream, client))
        back.start()
        pump(client, upstream)
        back.join(10)

server = socket.create_server((host, port))
while True:
    conn, _ = server.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
"""


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def _wait_listening(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """tcpdump says "listening on ..." on stderr once packets will be captured."""
    assert proc.stderr is not None
    end = time.time() + timeout
    seen = b""
    while time.time() < end:
        ready, _, _ = select.select([proc.stderr], [], [], 0.2)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
            if b"listening on" in seen:
                return
    raise RuntimeError(f"tcpdump did not start: {seen.decode(errors='replace')}")


def _wait_file(path: Path, timeout: float = 10) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if path.exists() and path.stat().st_size > 0:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{path} was not created")


# --- topologies (docs/design/packet-walk-and-capture.md section 6) ---------------------------

POD_A, POD_B, TRAEFIK = "10.244.1.10", "10.244.2.20", "10.244.3.30"
VIP, TRAEFIK_VIP, HOST, NODE = "10.96.0.10", "10.96.0.20", "172.18.0.1", "172.18.0.2"


def pods_and_node(lab: Lab, with_traefik: bool = False) -> None:
    """pod-a and pod-b (and traefik) behind veths on one node, routed like kindnet."""
    pods = [("pod-a", "veth-a", POD_A, "10.244.1.1"), ("pod-b", "veth-b", POD_B, "10.244.2.1")]
    if with_traefik:
        pods.append(("traefik", "veth-t", TRAEFIK, "10.244.3.1"))
    lab.ns("node")
    lab.run("node", "sysctl", "-qw", "net.ipv4.ip_forward=1")
    for pod, host_if, address, gateway in pods:
        lab.ns(pod)
        lab.veth("node", host_if, pod, "eth0")
        lab.run("node", "ip", "addr", "add", f"{gateway}/24", "dev", host_if)
        lab.run(pod, "ip", "addr", "add", f"{address}/24", "dev", "eth0")
        lab.run(pod, "ip", "route", "add", "default", "via", gateway)


def dnat_iptables(lab: Lab, vip: str, port: int, target: str, target_port: int) -> None:
    lab.run(
        "node",
        "iptables",
        "-t",
        "nat",
        "-A",
        "PREROUTING",
        "-d",
        f"{vip}/32",
        "-p",
        "tcp",
        "--dport",
        str(port),
        "-j",
        "DNAT",
        "--to-destination",
        f"{target}:{target_port}",
    )


def dnat_nft(lab: Lab, vip: str, port: int, target: str, target_port: int) -> None:
    rules = (
        "table ip kubeproxy {\n chain prerouting {\n"
        "  type nat hook prerouting priority dstnat; policy accept;\n"
        f"  ip daddr {vip} tcp dport {port} dnat to {target}:{target_port}\n }}\n}}\n"
    )
    proc = subprocess.run(
        ["ip", "netns", "exec", lab.full("node"), "nft", "-f", "-"],
        input=rules,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"nft failed: {proc.stderr}")


def nodeport(lab: Lab) -> None:
    """host -> node:31000 -> pod-b:8080 with DNAT and masquerade; pod-b routed kindnet-style
    (no address on the node's veth), so masquerade picks the node's own address."""
    lab.ns("host")
    lab.ns("node")
    lab.ns("pod-b")
    lab.run("node", "sysctl", "-qw", "net.ipv4.ip_forward=1")
    lab.veth("host", "eth0", "node", "eth0")
    lab.run("host", "ip", "addr", "add", f"{HOST}/24", "dev", "eth0")
    lab.run("node", "ip", "addr", "add", f"{NODE}/24", "dev", "eth0")
    lab.veth("node", "veth-b", "pod-b", "eth0")
    lab.run("pod-b", "ip", "addr", "add", f"{POD_B}/24", "dev", "eth0")
    lab.run("pod-b", "ip", "route", "add", "default", "dev", "eth0")
    lab.run("node", "ip", "route", "add", f"{POD_B}/32", "dev", "veth-b")
    lab.run("node", "sysctl", "-qw", "net.ipv4.conf.veth-b.proxy_arp=1")
    lab.run(
        "node",
        "iptables",
        "-t",
        "nat",
        "-A",
        "PREROUTING",
        "-d",
        f"{NODE}/32",
        "-p",
        "tcp",
        "--dport",
        "31000",
        "-j",
        "DNAT",
        "--to-destination",
        f"{POD_B}:8080",
    )
    lab.run(
        "node",
        "iptables",
        "-t",
        "nat",
        "-A",
        "POSTROUTING",
        "-d",
        f"{POD_B}/32",
        "-p",
        "tcp",
        "--dport",
        "8080",
        "-j",
        "MASQUERADE",
    )


def conntrack_entries(lab: Lab) -> str:
    return lab.run("node", "conntrack", "-L", check=False).stdout


def make_clusterip(folder: Path, firewall: str = "iptables", requests: int = 1) -> Path:
    with Lab(folder) as lab:
        pods_and_node(lab)
        (dnat_iptables if firewall == "iptables" else dnat_nft)(lab, VIP, 80, POD_B, 8080)
        lab.serve_http("pod-b", POD_B, 8080)
        lab.capture("pod-a", "pod-a", "pod")
        lab.capture("node", "node", "node", "any")
        lab.capture("pod-b", "pod-b", "pod")
        for _ in range(requests):
            lab.http_get("pod-a", f"http://{VIP}/")
        lab.stop_captures()
        (folder / "conntrack.txt").write_text(conntrack_entries(lab))
        inventory = {"pods": {"pod-a": POD_A, "pod-b": POD_B}, "services": {"web": VIP}}
        return lab.write_walk(inventory)


def make_nodeport(folder: Path) -> Path:
    with Lab(folder) as lab:
        nodeport(lab)
        lab.serve_http("pod-b", POD_B, 8080)
        lab.capture("host", "host", "host")
        lab.capture("node", "node", "node", "any")
        lab.capture("pod-b", "pod-b", "pod")
        lab.http_get("host", f"http://{NODE}:31000/")
        lab.stop_captures()
        (folder / "conntrack.txt").write_text(conntrack_entries(lab))
        inventory = {"pods": {"pod-b": POD_B}, "nodes": {"node": NODE}}
        return lab.write_walk(inventory)


def make_traefik(folder: Path, node_capture: str = "any") -> Path:
    """pod-a -> Service VIP (DNAT) -> traefik:8000; traefik opens its own connection to pod-b."""
    with Lab(folder) as lab:
        pods_and_node(lab, with_traefik=True)
        dnat_iptables(lab, TRAEFIK_VIP, 80, TRAEFIK, 8000)
        lab.serve_http("pod-b", POD_B, 8080)
        lab.serve_proxy("traefik", (TRAEFIK, 8000), (POD_B, 8080))
        lab.capture("pod-a", "pod-a", "pod")
        if node_capture == "pcapng":
            lab.capture_pcapng("node", "node", "node", ["veth-a", "veth-t", "veth-b"])
        else:
            lab.capture("node", "node", "node", "any")
        lab.capture("traefik", "traefik", "pod")
        lab.capture("pod-b", "pod-b", "pod")
        lab.http_get("pod-a", f"http://{TRAEFIK_VIP}/")
        lab.stop_captures()
        inventory = {
            "pods": {"pod-a": POD_A, "traefik": TRAEFIK, "pod-b": POD_B},
            "services": {"traefik": TRAEFIK_VIP},
        }
        return lab.write_walk(inventory)


def make_sll1(folder: Path) -> Path:
    """The ClusterIP walk with the node captured as Linux cooked v1 (`-y LINUX_SLL`)."""
    with Lab(folder) as lab:
        pods_and_node(lab)
        dnat_iptables(lab, VIP, 80, POD_B, 8080)
        lab.serve_http("pod-b", POD_B, 8080)
        lab.capture("node", "node", "node", "any", extra=["-y", "LINUX_SLL"])
        lab.http_get("pod-a", f"http://{VIP}/")
        lab.stop_captures()
        return lab.write_walk({"pods": {"pod-a": POD_A, "pod-b": POD_B}, "services": {"web": VIP}})


def make_fixtures(root: Path) -> None:
    """Regenerate tests/data/captures/ (a few KB each)."""
    make_clusterip(root / "clusterip-iptables")
    make_clusterip(root / "clusterip-nft", firewall="nft")
    make_nodeport(root / "nodeport-masquerade")
    make_traefik(root / "traefik")
    make_traefik(root / "traefik-pcapng", node_capture="pcapng")
    make_sll1(root / "clusterip-sll1")


if __name__ == "__main__":
    reason = missing_prerequisites()
    if reason:
        sys.exit(reason)
    make_fixtures(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/captures"))
