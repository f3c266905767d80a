"""Benchmark: map 1,000,000 packets of mixed traffic into ClientIntents.

    .venv/bin/python benchmarks/bench_map.py [--packets 1000000] [--keep DIR]

Generates one map folder: a raw-IP pcap of a node's traffic (per connection: the client's SYN
to a ClusterIP, the same SYN after DNAT to a pod, the SYN-ACK, then data packets, as an
unfiltered capture would hold; plus DNS answers, UDP exchanges and SYNs to external addresses
that get no reply), a ``conntrack -L`` listing, and an inventory of 300 pods under 60
Deployments behind 60 Services. Then maps it with ``invoke map --from``'s code
(:func:`packetwalk.mapper.folder.map_folder`, reading with ``invoke analyze``'s reader) in a
child process and reports its wall time and peak RSS (``wait4``). Targets: under 10 s and 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PODS, SERVICES = 300, 60
MAP_CODE = """
import json, sys, time
from pathlib import Path
from packetwalk.mapper.folder import load_map_folder, map_folder
start = time.perf_counter()
result = map_folder(load_map_folder(Path(sys.argv[1])))
print(json.dumps({"seconds": time.perf_counter() - start, "intents": len(result.intents),
                  "connections": result.connections, "attempted": len(result.attempted)}))
"""


def ip(a: int, b: int, c: int, d: int) -> bytes:
    return bytes((a, b, c, d))


def pod_ip(i: int) -> bytes:
    return ip(10, 244, i // 250, i % 250 + 2)


def svc_ip(i: int) -> bytes:
    return ip(10, 96, 1, i + 10)


def tcp(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int) -> bytes:
    header = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0x4000, 64, 6, 0, src, dst) + header


def udp(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    header = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    total = 28 + len(payload)
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 17, 0, src, dst) + (
        header + payload
    )


def generate(folder: Path, packets: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
    record = struct.Struct("<IIII")
    ts = 1_760_000_000.0
    written = 0
    conntrack: list[str] = []

    def add(frame: bytes) -> None:
        nonlocal written, ts
        ts += 0.00001
        sec = int(ts)
        out.extend(record.pack(sec, int((ts - sec) * 1e6), len(frame), len(frame)))
        out.extend(frame)
        written += 1

    port = 30000
    while written < packets:
        client, svc = rng.randrange(PODS), rng.randrange(SERVICES)
        backend = svc * 5 + rng.randrange(5)
        port = port + 1 if port < 60999 else 30000
        kind = rng.random()
        src = pod_ip(client)
        if kind < 0.80:  # a connection to a Service, seen before and after DNAT, with data
            isn = rng.getrandbits(32)
            add(tcp(src, svc_ip(svc), port, 80, isn, 0, 0x02))
            add(tcp(src, pod_ip(backend), port, 8080, isn, 0, 0x02))
            add(tcp(pod_ip(backend), src, 8080, port, 99, isn + 1, 0x12))
            for _ in range(5):
                add(tcp(src, pod_ip(backend), port, 8080, isn + 1, 100, 0x10))
        elif kind < 0.90:  # a DNS answer from kube-dns
            add(udp(ip(10, 96, 0, 10), src, 53, port, b"\x12\x34\x81\x80" + b"\x00" * 8))
        elif kind < 0.97:  # UDP to a pod, answered
            add(udp(src, pod_ip(backend), port, 5353, b"ping"))
            add(udp(pod_ip(backend), src, 5353, port, b"pong"))
        else:  # a SYN to the internet that gets no answer
            add(tcp(src, ip(203, 0, 113, rng.randrange(250)), port, 443, rng.getrandbits(32), 0, 2))
            if len(conntrack) < 10000:
                conntrack.append(
                    f"tcp 6 431999 ESTABLISHED src={'.'.join(map(str, src))} "
                    f"dst={'.'.join(map(str, svc_ip(svc)))} sport={port} dport=80 "
                    f"src={'.'.join(map(str, pod_ip(backend)))} "
                    f"dst={'.'.join(map(str, src))} sport=8080 dport={port} [ASSURED]"
                )
    (folder / "node.pcap").write_bytes(out)
    (folder / "node.conntrack-before.txt").write_text("\n".join(conntrack) + "\n")
    (folder / "walk.yaml").write_text(
        yaml.safe_dump({"captures": [{"file": "node.pcap", "point": "node", "kind": "node"}]})
    )
    (folder / "inventory.yaml").write_text(yaml.safe_dump_all(inventory(), sort_keys=False))
    return written


def text(address: bytes) -> str:
    return ".".join(map(str, address))


def inventory() -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for i in range(PODS):
        app = f"app{i // 5}"
        objects.append(
            {
                "kind": "Pod",
                "metadata": {
                    "name": f"{app}-5d8f7-{i}",
                    "namespace": "bench",
                    "labels": {"app": app, "pod-template-hash": "5d8f7"},
                    "ownerReferences": [
                        {"kind": "ReplicaSet", "name": f"{app}-5d8f7", "controller": True}
                    ],
                },
                "spec": {"containers": [{"name": "main", "ports": [{"containerPort": 8080}]}]},
                "status": {"phase": "Running", "podIP": text(pod_ip(i))},
            }
        )
    for i in range(SERVICES):
        objects.append(
            {
                "kind": "Service",
                "metadata": {"name": f"app{i}", "namespace": "bench"},
                "spec": {
                    "clusterIP": text(svc_ip(i)),
                    "selector": {"app": f"app{i}"},
                    "ports": [{"port": 80, "targetPort": 8080}],
                },
            }
        )
    return objects


def measure(folder: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", MAP_CODE, str(folder)], stdout=subprocess.PIPE, env=env
    )
    start = time.perf_counter()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    assert proc.stdout is not None
    data: dict[str, Any] = json.loads(proc.stdout.read() or b"{}")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("mapping failed")
    data.update(wall_seconds=round(wall, 2), peak_rss_mb=round(usage.ru_maxrss / 1024, 1))
    return data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="pw-bench-map-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        count = generate(folder, args.packets)
        size = (folder / "node.pcap").stat().st_size / 1e6
        result = measure(folder)
        print(json.dumps({"packets": count, "pcap_mb": round(size, 1), **result}, indent=2))
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
