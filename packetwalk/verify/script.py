"""One shell script per source: every probe in the background, one parseable line each.

A probe line in the script is ``p ID HOST PORT &`` (TCP connect) or ``d ID HOST &`` (a DNS query
over UDP 53); after ``wait`` each has printed ``PW ID RC``. TCP uses bash's ``/dev/tcp`` under
``timeout``, because its exit code tells the three outcomes apart, which ``nc -z`` does not:
0 connected, 1 refused (the host answered: it was reached and nothing listens), 124 (GNU
coreutils) or 143 timed out: dropped on the way. netshoot is Alpine with busybox's ``timeout``
(nicolaka/netshoot ``Dockerfile``: ``bash``, ``bind-tools``, no coreutils), and busybox's
``coreutils/timeout.c`` runs PROG in its own process and has a watcher send it SIGTERM, so the
shell sees 128 + 15 = 143. DNS uses ``dig`` (bind-tools), which exits 0 with an answer and 9
when no server replied. Not yet run against a live netshoot v0.16 container: unverified.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from packetwalk.verify.plan import Probe

Outcome = Literal["open", "closed", "filtered", "error"]
"""open: connected (or DNS answered); closed: refused; filtered: no answer; error: no result."""

MARK = "PW"
TIMEOUT_CODES = (124, 143, 137)
DIG_NO_REPLY = 9
DNS_NAME = "kubernetes.default.svc.cluster.local"

PROBE_LINE = re.compile(
    r"^(?P<kind>[pd]) (?P<id>\d+) (?P<host>[0-9A-Za-z.:-]+)(?: (?P<port>\d+))? &$"
)
"""A probe line of the script (what :class:`~packetwalk.kube.fake.FakeCluster` answers too)."""

RESULT_LINE = re.compile(rf"^{MARK} (?P<id>\d+) (?P<rc>\d+)$")


def build_script(probes: Sequence[Probe], timeout: int = 1) -> str:
    """The bash script one exec runs: all of ``probes`` at once, then ``wait``."""
    lines = [
        f'p() {{ timeout {timeout} bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null; '
        f'echo "{MARK} $1 $?"; }}',
        f'd() {{ dig +time={timeout} +tries=1 +short @"$2" {DNS_NAME} >/dev/null 2>&1; '
        f'echo "{MARK} $1 $?"; }}',
    ]
    for probe in probes:
        host = probe.target.ip
        if not re.fullmatch(r"[0-9A-Za-z.:-]+", host):
            raise ValueError(f"not an address: {host!r}")
        if probe.target_kind == "dns":
            lines.append(f"d {probe.id} {host} &")
        else:
            lines.append(f"p {probe.id} {host} {probe.port} &")
    lines.append("wait")
    return "\n".join(lines) + "\n"


def outcome_of(probe: Probe, rc: int) -> Outcome:
    if probe.target_kind == "dns":
        if rc == 0:
            return "open"
        return "filtered" if rc == DIG_NO_REPLY else "error"
    if rc == 0:
        return "open"
    if rc == 1:
        return "closed"
    if rc in TIMEOUT_CODES:
        return "filtered"
    return "error"


def parse_output(probes: Sequence[Probe], stdout: str) -> dict[int, Outcome]:
    """Each probe's outcome from the script's output; a probe without a line is ``error``."""
    by_id = {p.id: p for p in probes}
    out: dict[int, Outcome] = dict.fromkeys(by_id, "error")
    for line in stdout.splitlines():
        match = RESULT_LINE.match(line.strip())
        if match is None:
            continue
        probe = by_id.get(int(match["id"]))
        if probe is not None:
            out[probe.id] = outcome_of(probe, int(match["rc"]))
    return out
