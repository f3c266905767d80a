"""The capture toolkit: names, commands and container specs for captures, probes and debug pods.

Lab modules (:mod:`packetwalk.playbook.actions`) and packet walks (:mod:`packetwalk.walk`) both
attach netshoot containers and run tcpdump in a cluster; everything they send for that is built
here, so a lab capture and a walk capture are the same command in the same kind of container.
Pure, like :mod:`packetwalk.kube.specs` (lightkube's sans-I/O lesson): plain data in, argv
tuples, names and :class:`~packetwalk.kube.access.EphemeralContainer` specs out; no cluster, no
subprocess. :mod:`packetwalk.kube.specs` turns those specs into the API's request bodies.

Saved ``ip -o link`` output is read by the analysis core's parser,
:func:`packetwalk.capture.pcapread.parse_ip_link`; this module only says how it is listed and
where it is saved.
"""

from __future__ import annotations

import shlex

from packetwalk.kube.access import IDLE_COMMAND, EphemeralContainer

CAPTURE_PREFIX = "pw-cap-"
"""Capture containers are ``pw-cap-<name>``: the lab task's name, or the walk point's pod."""

PROBE_CONTAINER = "pw-probe"
"""The idle netshoot container probes and ``exec: {debug: true}`` tasks run in."""

NODE_DEBUG_PREFIX = "pw-node-"
"""Node debug pods are ``pw-node-<node>`` (in :data:`~packetwalk.kube.access.DEBUG_NAMESPACE`)."""

NODE_ENTER: tuple[str, ...] = (
    "nsenter",
    "--target",
    "1",
    "--mount",
    "--uts",
    "--ipc",
    "--net",
    "--pid",
    "--",
)
"""Prefix that runs a command of the node debug pod (hostPID, privileged) in the node's own
namespaces, with the node's own programs and files: what ``docker exec <node>`` gives on a kind
node, and the only way to read ``iptables`` with the backend kube-proxy wrote (iptables-nft or
legacy: netshoot's own iptables may be the other one) and ``/etc/cni/net.d`` on any node.
``nsenter`` is util-linux's, which netshoot installs (``util-linux`` in its Dockerfile's
``apk add``, nicolaka/netshoot main)."""

NAME_LIMIT = 63
"""A container name is a DNS label (63 characters at most); node debug pod names are kept to
the same length so the pod's hostname is its name."""

ROOT_PROFILE = "labs/manifests/capture-as-root.json"
"""The partial container spec ``kubectl debug --custom`` (kubectl 1.31 or later) merges over
``--profile=netadmin``: ``runAsUser: 0``, ``runAsNonRoot: false`` and NET_ADMIN/NET_RAW, the
``securityContext`` :class:`~packetwalk.kube.access.EphemeralContainer` sends with
``run_as_root``. Without it the container inherits a non-root pod's user (Traefik: 65532,
``runAsNonRoot``), so the kubelet refuses the root netshoot image or tcpdump runs without its
capabilities. Relative to the project folder, where lab commands run."""

IP_LINK_COMMAND: tuple[str, ...] = ("ip", "-o", "link")
"""Lists the interfaces of a capture's network namespace, one per line: a ``-i any`` pcap holds
only interface indexes, so this output is saved beside it to name them."""


# -- names -------------------------------------------------------------------------------------


def _bounded_name(prefix: str, name: str) -> str:
    """``prefix + name`` cut to :data:`NAME_LIMIT`; a cut must not leave the name ending in
    ``-`` or ``.`` (Kubernetes names end in a letter or digit)."""
    return f"{prefix}{name}"[:NAME_LIMIT].rstrip("-.")


def capture_container_name(name: str) -> str:
    """The ephemeral capture container for a lab capture or a walk point (``pw-cap-<name>``).

    Ephemeral containers can never be removed, so the same name is reused by later runs."""
    return _bounded_name(CAPTURE_PREFIX, name)


def node_debug_pod_name(node: str) -> str:
    """The host-network debug pod on ``node`` (``pw-node-<node>``), created once and reused."""
    return _bounded_name(NODE_DEBUG_PREFIX, node)


def links_file_name(name: str) -> str:
    """Where a capture's ``ip -o link`` output is saved, beside ``<name>.pcap``."""
    return f"{name}.links.txt"


# -- containers --------------------------------------------------------------------------------


def tool_container(
    name: str, image: str, target_container: str | None = None
) -> EphemeralContainer:
    """An idle netshoot ephemeral container to exec probes and captures in.

    Root at container level (``run_as_root``) with NET_ADMIN/NET_RAW, so tcpdump keeps NET_RAW
    even in a pod that runs as non-root (Traefik); ``target_container`` shares that container's
    process namespace, as ``kubectl debug --target`` does.
    """
    return EphemeralContainer(
        name=name,
        image=image,
        command=IDLE_COMMAND,
        target_container=target_container,
        run_as_root=True,
    )


def debug_command(namespace: str, pod: str, spec: EphemeralContainer) -> list[str]:
    """The ``kubectl debug`` argv that adds ``spec`` to ``pod`` as the API call does.

    Derived from the spec that is sent, so the line shown cannot drift from what runs. netadmin
    adds exactly NET_ADMIN and NET_RAW, the default capabilities; ``--custom`` adds root.
    """
    parts = [
        "kubectl",
        "debug",
        "-n",
        namespace,
        pod,
        "-c",
        spec.name,
        f"--image={spec.image}",
        "--profile=netadmin",
    ]
    if spec.run_as_root:
        parts.append(f"--custom={ROOT_PROFILE}")
    if spec.target_container:
        parts.append(f"--target={spec.target_container}")
    return [*parts, "--", *spec.command]


# -- commands ----------------------------------------------------------------------------------


TCPDUMP_FLAGS: tuple[str, ...] = ("--immediate-mode", "-U", "-n", "-s", "0", "-Z", "root")
"""How every capture runs tcpdump, labs and walks alike.

``--immediate-mode``: hand each packet over at once; libpcap otherwise holds packets in the
kernel ring for up to a second, and the ones still there when tcpdump is stopped are lost.
``-U``: flush each packet so the stream is live; ``-n``: no name lookups; ``-s 0``: whole
packets (HTTP headers are evidence); ``-Z root``: no privilege drop to user tcpdump."""


MAP_CAPTURE_FILTER = (
    "(tcp[tcpflags] & tcp-syn != 0) or (ip6 and ip6[6] == 6 and ip6[53] & 2 != 0) "
    "or (udp src port 53)"
)
"""What ``invoke map`` captures: TCP SYNs and SYN-ACKs (who calls whom, and whether it was
answered) and DNS answers, nothing else, so a busy node's capture stays small. ``tcp[]`` reads
IPv4 only, hence the IPv6 term (flags byte of a TCP header right after a plain IPv6 header).
Everything else (UDP, connections older than the capture) comes from ``conntrack -L``."""

CONNTRACK_COMMAND: tuple[str, ...] = ("conntrack", "-L")
"""Lists the node's connection tracking table (the map's before and after listings)."""


def tcpdump_command(
    interface: str, capture_filter: str = "", *, count: int | str | None = None
) -> tuple[str, ...]:
    """tcpdump writing a live pcap stream to stdout (``-w -``), losing no packet when stopped.

    ``count`` (``-c``) ends the capture after that many packets; it may be a template
    placeholder in a dry run, hence ``str``. The filter comes last, after every option.
    """
    command = ["tcpdump", *TCPDUMP_FLAGS, "-i", interface, "-w", "-"]
    if count is not None:
        command += ["-c", str(count)]
    if capture_filter:
        command.append(capture_filter)
    return tuple(command)


def timed_command(seconds: int | str, command: tuple[str, ...]) -> tuple[str, ...]:
    """``command`` bounded by ``timeout -s INT``: SIGINT lets tcpdump flush and end cleanly, so
    the stream ends by itself (labs)."""
    return ("timeout", "-s", "INT", str(seconds), *command)


def pid_file(name: str) -> str:
    """Where :func:`stoppable_command` records the pid of capture ``name``."""
    return f"/tmp/{CAPTURE_PREFIX}{name}.pid"


def stoppable_command(name: str, command: tuple[str, ...]) -> tuple[str, ...]:
    """``command`` wrapped so :func:`stop_command` can stop it by pid (walks): killing the exec
    stream alone would leave tcpdump running in the container (and in a hostPID debug pod,
    ``pkill tcpdump`` would hit every capture on the node)."""
    return ("sh", "-c", f"echo $$ > {pid_file(name)}; exec {shlex.join(command)}")


def stop_command(name: str) -> tuple[str, ...]:
    """SIGINT to the capture :func:`stoppable_command` started (tcpdump flushes on SIGINT)."""
    return ("sh", "-c", f"kill -INT $(cat {pid_file(name)}) 2>/dev/null; rm -f {pid_file(name)}")
