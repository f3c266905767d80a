"""Benchmark: analyse a 1,000,000-packet walk, side by side with tshark on the same files.

    .venv/bin/python benchmarks/bench_analyze.py [--packets 1000000] [--keep DIR]

Generates one walk with NAT at three points (client pod: Ethernet pcap; node ``-i any``: Linux
cooked v2 pcap with every packet seen in and out, DNAT + SNAT; backend pod: pcapng), then times
in separate child processes, each measured with ``wait4`` (wall time, peak RSS):

* ``analyze_folder`` on the folder (parse + correlate + order + link), and
* ``tshark -r FILE -T fields -e frame.time_epoch -e ip.src -e ip.dst -e tcp.srcport
  -e tcp.dstport -e tcp.seq_raw`` on each file, one after the other (only field extraction).
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

ROOT = Path(__file__).resolve().parent.parent
TSHARK_FIELDS = [
    "frame.time_epoch",
    "ip.src",
    "ip.dst",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.seq_raw",
]


def ip(text: str) -> bytes:
    return bytes(int(x) for x in text.split("."))


def ipv4_tcp(
    src: bytes,
    dst: bytes,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    ipid: int,
    payload: bytes,
) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    total = 20 + len(tcp) + len(payload)
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ipid, 0x4000, 64, 6, 0, src, dst)
    return iph + tcp + payload


def connection(
    rng: random.Random, client: bytes, vip: bytes, pod: bytes, node: bytes, index: int, packets: int
) -> list[tuple[bool, int, int, int, int, bytes]]:
    """(request?, seq, ack, flags, ipid, payload) for one connection of ``packets`` packets."""
    del client, vip, pod, node, index
    cseq, sseq = rng.getrandbits(32), rng.getrandbits(32)
    cid, sid = rng.getrandbits(16), rng.getrandbits(16)
    out = [(True, cseq, 0, 0x02, cid, b""), (False, sseq, (cseq + 1) % 2**32, 0x12, sid, b"")]
    cseq, sseq = (cseq + 1) % 2**32, (sseq + 1) % 2**32
    out.append((True, cseq, sseq, 0x10, (cid + 1) % 65536, b""))
    cid, sid = (cid + 2) % 65536, (sid + 1) % 65536
    request = b"GET /%d HTTP/1.1\r\nHost: vote\r\n\r\n" % rng.getrandbits(32)
    body = bytes(rng.getrandbits(8) for _ in range(64))
    while len(out) < packets - 1:
        if len(out) % 2:
            out.append((True, cseq, sseq, 0x18, cid, request))
            cseq = (cseq + len(request)) % 2**32
            cid = (cid + 1) % 65536
        else:
            out.append((False, sseq, cseq, 0x18, sid, body))
            sseq = (sseq + len(body)) % 2**32
            sid = (sid + 1) % 65536
    out.append((True, cseq, sseq, 0x11, cid, b""))
    return out


def generate(folder: Path, total_packets: int, seed: int = 7) -> int:
    """Write the three captures + walk.yaml; returns the number of packets written."""
    rng = random.Random(seed)
    host, node, vip, pod = ip("10.244.1.10"), ip("172.18.0.3"), ip("10.96.12.3"), ip("10.244.2.20")
    per_conn = 50
    conns = max(1, total_packets // (4 * per_conn))
    eth = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
    written = 0
    rec = struct.Struct("<IIII")
    with (
        (folder / "client.pcap").open("wb") as client_f,
        (folder / "node.pcap").open("wb") as node_f,
        (folder / "server.pcapng").open("wb") as server_f,
    ):
        client_f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        node_f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 276))
        shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
        idb_opts = struct.pack("<HH", 2, 4) + b"eth0" + struct.pack("<HH", 0, 0)
        idb_len = 20 + len(idb_opts)
        idb = (
            struct.pack("<IIHHI", 1, idb_len, 1, 0, 262144) + idb_opts + struct.pack("<I", idb_len)
        )
        server_f.write(shb + idb)
        t0 = 1_795_000_000_000_000
        for c in range(conns):
            sport = 20000 + c % 40000
            nat_port = 30000 + c % 30000
            start = t0 + c * 2000
            for i, (req, seq, ack, flags, ipid, payload) in enumerate(
                connection(rng, host, vip, pod, node, c, per_conn)
            ):
                ts = start + i * 20
                if req:
                    pre = ipv4_tcp(host, vip, sport, 80, seq, ack, flags, ipid, payload)
                    post = ipv4_tcp(node, pod, nat_port, 8080, seq, ack, flags, ipid, payload)
                    client_pkt, node_in, node_out, server_pkt = pre, (2, pre), (3, post), post
                    order = (node_in, node_out)
                else:
                    post = ipv4_tcp(pod, node, 8080, nat_port, seq, ack, flags, ipid, payload)
                    pre = ipv4_tcp(vip, host, 80, sport, seq, ack, flags, ipid, payload)
                    client_pkt, server_pkt = pre, post
                    order = ((3, post), (2, pre))
                frame = eth + client_pkt
                client_f.write(rec.pack(ts // 1_000_000, ts % 1_000_000, len(frame), len(frame)))
                client_f.write(frame)
                for k, (ifindex, pkt) in enumerate(order):
                    direction = 0 if k == 0 else 4
                    sll2 = struct.pack(
                        "!HHIHBB8s", 0x0800, 0, ifindex, 1, direction, 6, b"\x02" * 6
                    )
                    frame = sll2 + pkt
                    nts = ts + 5 + k * 3
                    node_f.write(
                        rec.pack(nts // 1_000_000, nts % 1_000_000, len(frame), len(frame))
                    )
                    node_f.write(frame)
                frame = eth + server_pkt
                sts = ts + 12
                pad = (-len(frame)) % 4
                blen = 32 + len(frame) + pad
                server_f.write(
                    struct.pack(
                        "<IIIIIII", 6, blen, 0, sts >> 32, sts & 0xFFFFFFFF, len(frame), len(frame)
                    )
                )
                server_f.write(frame + b"\0" * pad + struct.pack("<I", blen))
                written += 4
    (folder / "walk.yaml").write_text(
        "captures:\n"
        "  - {file: client.pcap, point: vote-client, kind: pod}\n"
        "  - {file: node.pcap, point: kind-worker, kind: node, interfaces: {2: eth0, 3: veth1}}\n"
        "  - {file: server.pcapng, point: vote-pod, kind: pod}\n"
        "inventory:\n"
        "  pods: {vote-client: 10.244.1.10, vote-pod: 10.244.2.20}\n"
        "  nodes: {kind-worker: 172.18.0.3}\n"
        "  services: {vote: 10.96.12.3}\n"
    )
    return written


def measure(cmd: list[str], stdout: int | None = subprocess.DEVNULL) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit status) of one child, from wait4."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"{' '.join(cmd)} failed: {err}")
    if proc.stderr:
        proc.stderr.close()
    return wall, usage.ru_maxrss / 1024, status


ANALYZE = """
import sys, json
from pathlib import Path
from packetwalk.capture import analyze_folder
a = analyze_folder(Path(sys.argv[1]))
hops = sum(len(f.hops) for f in a.flows)
nat = sum(len(f.translations) for f in a.flows)
print(json.dumps({"flows": len(a.flows), "hops": hops, "translations": nat,
                  "packets": sum(c.packets for c in a.captures)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the captures here and keep them")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="pw-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        written = generate(folder, args.packets)
        size = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
        print(
            f"generated {written:,} packets ({size:.0f} MiB, 3 files) in "
            f"{time.perf_counter() - t:.1f} s: {folder}"
        )
        out = subprocess.run(
            [sys.executable, "-c", ANALYZE, str(folder)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout.strip()
        print(f"analysis result: {out}")
        result = json.loads(out)
        conns = written // 200  # 50 packets per connection at each of 4 sightings
        if (result["flows"], result["hops"], result["translations"]) != (
            conns,
            4 * conns,
            2 * conns,
        ):
            raise SystemExit(f"wrong analysis: expected {conns} flows, 4 hops and DNAT+SNAT each")
        ours = measure([sys.executable, "-c", ANALYZE, str(folder)])
        rows = [("packetwalk analyze_folder (all 3 files)", ours[0], ours[1])]
        tshark = shutil.which("tshark")
        if tshark:
            total, peak = 0.0, 0.0
            for name in ("client.pcap", "node.pcap", "server.pcapng"):
                cmd = [tshark, "-r", str(folder / name), "-T", "fields"]
                for f in TSHARK_FIELDS:
                    cmd += ["-e", f]
                wall, rss, _ = measure(cmd)
                rows.append((f"  tshark -T fields {name}", wall, rss))
                total += wall
                peak = max(peak, rss)
            rows.append(("tshark -T fields (all 3 files)", total, peak))
        else:
            print("tshark not found: apt-get install -y tshark")
        print(f"\n{'':44}{'wall s':>9}{'peak RSS MiB':>14}{'packets/s':>12}")
        for label, wall, rss in rows:
            rate = f"{written / wall:12,.0f}" if "all" in label else f"{'-':>12}"
            print(f"{label:44}{wall:9.2f}{rss:14.0f}{rate}")
        if tshark:
            print(f"\nratio tshark / packetwalk: {rows[-1][1] / ours[0]:.2f}x")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
