"""Running one rendered task through :class:`~packetwalk.kube.access.ClusterAccess`.

Each kind shows the command a participant could type before it runs it (``announce``), so the
lab teaches the commands, not just the outcome. Probes and captures bring their own tools in
netshoot ephemeral containers (``pw-probe``, ``pw-cap-<name>``) that idle and are reused by name,
because ephemeral containers can never be removed and the voting app images lack ``nc`` and
``tcpdump``. Node-level work happens in a privileged host-network debug pod per node.

The ``kubectl debug`` line announced for such a container is one a participant can type: the
code goes through the API with the container's ``securityContext`` set to root, and the line
carries the same fields through ``--custom``
(:data:`~packetwalk.kube.captures.ROOT_PROFILE`). Names, containers and the tcpdump command come
from the capture toolkit, :mod:`packetwalk.kube.captures`, which packet walks use too.
"""

from __future__ import annotations

import re
import shlex
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from packetwalk.errors import PacketwalkError
from packetwalk.kube.access import (
    DEBUG_CONTAINER,
    DEBUG_NAMESPACE,
    ClusterAccess,
    EphemeralContainer,
    PodInfo,
    PortForward,
    StreamHandle,
)
from packetwalk.kube.captures import (
    IP_LINK_COMMAND,
    NODE_ENTER,
    PROBE_CONTAINER,
    capture_container_name,
    debug_command,
    links_file_name,
    node_debug_pod_name,
    tcpdump_command,
    timed_command,
    tool_container,
)
from packetwalk.kube.tools import attach_tool_container
from packetwalk.lab.config import REPO_ROOT
from packetwalk.lab.versions import NETSHOOT_IMAGE
from packetwalk.playbook.expect import parse_json
from packetwalk.playbook.files import LabFileError, default_dest, write_lab_file
from packetwalk.playbook.model import (
    ArgList,
    CaptureAction,
    ExecAction,
    PodRef,
    PortForwardAction,
    ProbeAction,
    Task,
    TemplateAction,
    WaitAction,
)

DEFAULT_TIMEOUT = 60.0
_PROBE_MARK = "pw-probe-rc="


class ActionError(PacketwalkError):
    """A task could not run at all (no pod matches, a debug container does not start)."""


@dataclass
class PendingCapture:
    """A capture streaming into its file while the step goes on."""

    name: str
    path: Path
    handle: StreamHandle
    sink: BinaryIO
    duration: float
    register: str | None = None


@dataclass
class Outcome:
    """What a task did: its result plus, for probes and captures, its own verdict."""

    command: str
    rc: int = 0
    stdout: str = ""
    stderr: str = ""
    problems: list[str] = field(default_factory=list)
    verdict: bool | None = None
    """For probes and captures: whether the action itself passed (``expect`` is not used)."""
    extra: dict[str, Any] = field(default_factory=dict)
    pending: PendingCapture | None = None


_PLACEHOLDER = re.compile(r"^(\{\{.*\}\}|<[^<>]*>)$")


def display_join(parts: Sequence[str]) -> str:
    """``shlex.join``, except that dry-run placeholders (``{{ x.stdout }}``, ``<pod app=vote>``)
    stay readable: they are not values a shell would see."""
    return " ".join(p if _PLACEHOLDER.match(p) else shlex.quote(p) for p in parts)


def args_of(value: ArgList) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else [str(item) for item in value]


def node_command(action: ExecAction) -> list[str]:
    """An exec on a node: in the node's own namespaces (``tools: node``), or netshoot's."""
    command = args_of(action.command)
    return [*NODE_ENTER, *command] if action.tools == "node" else command


def template_dest(action: TemplateAction, lab_dir: str) -> str:
    return action.dest or default_dest(lab_dir, action.src)


def template_line(action: TemplateAction, lab_dir: str) -> str:
    """What a ``template`` task shows: the file, where its rendering goes."""
    return f"# template {action.src} -> {template_dest(action, lab_dir)}"


def capture_command(action: CaptureAction) -> list[str]:
    """The toolkit's tcpdump bounded by ``timeout``: the stream ends by itself."""
    tcpdump = tcpdump_command(action.interface, action.filter, count=action.count)
    return list(timed_command(action.duration, tcpdump))


def probe_command(host: str, port: int | str, timeout: int | str) -> list[str]:
    """``nc -z`` with its exit code echoed, so an exec that failed is not taken for a deny."""
    line = f"nc -z -w {int(timeout)} {shlex.quote(host)} {int(port)}; echo {_PROBE_MARK}$?"
    return ["sh", "-c", line]


def count_pcap_packets(data: bytes) -> int | None:
    """Records in a classic pcap stream (what ``tcpdump -w -`` writes); None if not pcap."""
    if len(data) < 24:
        return None
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        return None
    offset, packets = 24, 0
    while offset + 16 <= len(data):
        (captured,) = struct.unpack_from(endian + "I", data, offset + 8)
        if offset + 16 + captured > len(data):
            break  # a record cut short when tcpdump was stopped
        offset += 16 + captured
        packets += 1
    return packets


class Executor:
    """Runs tasks against a cluster; ``announce`` receives each command line before it runs."""

    def __init__(
        self,
        access: ClusterAccess,
        *,
        run_dir: Path | None,
        announce: Callable[[str], None],
        image: str = NETSHOOT_IMAGE,
        render_file: Callable[[str, str], str] | None = None,
        lab_dir: str = "",
        project: Path = REPO_ROOT,
        workdir: Path | None = None,
    ) -> None:
        self.access = access
        self.run_dir = run_dir
        self.announce = announce
        self.image = image
        self.render_file = render_file
        """Renders a template file's text (``text, source``) with the run's facts."""
        self.lab_dir = lab_dir
        self.project = project
        self.workdir = workdir
        self.forwards: list[PortForward] = []
        """Open port-forwards; the runner closes them at the end of their step."""

    # -- descriptions (dry runs) ----------------------------------------------------------------

    @staticmethod
    def describe(task: Task, lab_dir: str = "") -> list[str]:
        """The commands a task would run, for ``--dry-run`` (pods named by their selector)."""
        timeout = task.timeout
        if task.template is not None:
            return [template_line(task.template, lab_dir)]
        if task.kubectl is not None:
            return [display_join(["kubectl", *args_of(task.kubectl)])]
        if task.shell is not None:
            return [task.shell]
        if task.exec is not None:
            action = task.exec
            if action.node is not None:
                return [
                    _exec_line(
                        DEBUG_NAMESPACE,
                        node_debug_pod_name(action.node),
                        DEBUG_CONTAINER,
                        node_command(action),
                    )
                ]
            pod = action.pod or f"<pod {action.selector}>"
            namespace = action.namespace or ""
            if not action.debug:
                return [_exec_line(namespace, pod, action.container, args_of(action.command))]
            return [
                _debug_line(namespace, pod, PROBE_CONTAINER, action.container),
                _exec_line(namespace, pod, PROBE_CONTAINER, args_of(action.command)),
            ]
        if task.wait is not None:
            return [display_join(["kubectl", *wait_args(task.wait)])]
        if task.probe is not None:
            probe = task.probe
            host = probe.to.host or f"<ip of pod {probe.to.name or probe.to.selector}>"
            pod = _ref_text(probe.from_)
            command = probe_command("HOST", probe.to.port, probe.timeout)
            command[-1] = command[-1].replace("HOST", host)
            return [
                _debug_line(probe.from_.namespace, pod, PROBE_CONTAINER, probe.from_.container),
                _exec_line(probe.from_.namespace, pod, PROBE_CONTAINER, command)
                + f"   # expect {probe.expect}",
            ]
        if task.capture is not None:
            cap = task.capture
            command, pcap = capture_command(cap), f" > captures/{cap.name}.pcap"
            if cap.node is not None:
                debug_pod = node_debug_pod_name(cap.node)
                return [_exec_line(DEBUG_NAMESPACE, debug_pod, DEBUG_CONTAINER, command) + pcap]
            assert cap.pod is not None
            pod, name = _ref_text(cap.pod), capture_container_name(cap.name)
            return [
                _debug_line(cap.pod.namespace, pod, name, cap.pod.container),
                _exec_line(cap.pod.namespace, pod, name, command) + pcap,
            ]
        if task.port_forward is not None:
            forward = task.port_forward
            pod = forward.pod or f"<pod {forward.selector}>"
            return [forward_line(forward.namespace, pod, forward.local_port, forward.port)]
        assert task.pause is not None
        del timeout
        return [f"(pause) {task.pause.prompt}"]

    # -- running --------------------------------------------------------------------------------

    def run(self, task: Task) -> Outcome:
        timeout = float(task.timeout) if task.timeout is not None else DEFAULT_TIMEOUT
        if task.kubectl is not None:
            args = args_of(task.kubectl)
            line = display_join(["kubectl", *args])
            self.announce(line)
            return _outcome(line, self.access.kubectl(args, timeout=timeout))
        if task.shell is not None:
            self.announce(task.shell)
            return _outcome(task.shell, self.access.shell(task.shell, timeout=timeout))
        if task.exec is not None:
            return self._exec(task.exec, timeout)
        if task.wait is not None:
            args = wait_args(task.wait)
            line = display_join(["kubectl", *args])
            self.announce(line)
            wait_timeout = float(task.wait.timeout) + 30
            return _outcome(line, self.access.kubectl(args, timeout=wait_timeout))
        if task.probe is not None:
            return self._probe(task.probe)
        if task.capture is not None:
            return self._capture(task.capture, task.register_)
        if task.port_forward is not None:
            return self._port_forward(task.port_forward)
        if task.template is not None:
            return self._template(task.template)
        raise AssertionError("pauses are handled by the runner")

    def pod(self, ref: PodRef) -> PodInfo:
        """The pod a reference names: by name, or the first running pod of a selector."""
        if ref.name is not None:
            found = [p for p in self.access.pods(ref.namespace) if p.name == ref.name]
            if not found:
                raise ActionError(f"pod {ref.name} not found in namespace {ref.namespace}")
            return found[0]
        return self._select(ref.namespace, ref.selector or "")

    def _select(self, namespace: str, selector: str) -> PodInfo:
        pods = self.access.pods(namespace, selector=selector)
        running = sorted((p for p in pods if p.phase == "Running"), key=lambda p: p.name)
        if not running:
            state = f"{len(pods)} pod(s), none Running" if pods else "no pod"
            raise ActionError(
                f"{state} with {selector} in namespace {namespace}: is the app up? "
                f"(kubectl get pods -n {namespace} -l {selector})"
            )
        return running[0]

    def _exec(self, action: ExecAction, timeout: float) -> Outcome:
        command = args_of(action.command)
        if action.node is not None:
            command = node_command(action)
            debug = self._node_pod(action.node)
            line = _exec_line(debug.namespace, debug.name, DEBUG_CONTAINER, command)
            self.announce(line)
            result = self.access.exec(
                debug.namespace, debug.name, command, container=DEBUG_CONTAINER, timeout=timeout
            )
            return _outcome(line, result)
        namespace = action.namespace or ""
        if action.pod is not None:
            pod = action.pod
            info = None
        else:
            info = self._select(namespace, action.selector or "")
            pod = info.name
        container = action.container
        if action.debug:
            if info is None:
                info = self.pod(PodRef(namespace=namespace, name=pod))
            container = self._tool_container(info, PROBE_CONTAINER, action.container)
        line = _exec_line(namespace, pod, container, command)
        self.announce(line)
        result = self.access.exec(namespace, pod, command, container=container, timeout=timeout)
        return _outcome(line, result)

    def _tool_container(self, pod: PodInfo, name: str, target: str | None) -> str:
        """Attach (once) an idle netshoot ephemeral container and wait until it runs."""

        def show(spec: EphemeralContainer) -> None:
            self.announce(display_join(debug_command(pod.namespace, pod.name, spec)))

        if not attach_tool_container(
            self.access, pod, name, self.image, target=target, announce=show
        ):
            raise ActionError(
                f"ephemeral container {name} in pod {pod.namespace}/{pod.name} is not running"
                f" (image pull, PodSecurity level, or it has ended: ephemeral containers never"
                f" restart; recreate the pod). See kubectl describe pod -n {pod.namespace}"
                f" {pod.name}"
            )
        return name

    def _node_pod(self, node: str) -> PodInfo:
        name = node_debug_pod_name(node)
        self.announce(f"# debug pod {DEBUG_NAMESPACE}/{name}: privileged, host network, on {node}")
        return self.access.node_debug_pod(node, name=name, image=self.image)

    def _probe(self, probe: ProbeAction) -> Outcome:
        source = self.pod(probe.from_)
        target = probe.to
        if target.host is not None:
            host = target.host
        else:
            ref = PodRef(
                namespace=target.namespace or "", name=target.name, selector=target.selector
            )
            peer = self.pod(ref)
            if not peer.ip:
                raise ActionError(f"pod {peer.namespace}/{peer.name} has no IP yet")
            host = peer.ip
        container = self._tool_container(source, PROBE_CONTAINER, probe.from_.container)
        command = probe_command(host, target.port, probe.timeout)
        line = _exec_line(source.namespace, source.name, container, command)
        self.announce(line)
        result = self.access.exec(
            source.namespace,
            source.name,
            command,
            container=container,
            timeout=float(probe.timeout) + 30,
        )
        outcome = _outcome(line, result)
        marks = [s for s in result.stdout.splitlines() if s.startswith(_PROBE_MARK)]
        if not marks:
            outcome.verdict = False
            outcome.problems.append(
                f"the probe did not run (exit {result.exit_code}): "
                f"{result.stderr.strip() or result.stdout.strip() or 'no output'}"
            )
            return outcome
        code = int(marks[-1].removeprefix(_PROBE_MARK) or 1)
        outcome.stdout = "".join(
            line
            for line in result.stdout.splitlines(keepends=True)
            if not line.startswith(_PROBE_MARK)
        )
        allowed = code == 0
        where = f"{source.namespace}/{source.name} -> {host}:{target.port}"
        outcome.extra = {
            "allowed": allowed,
            "source": f"{source.namespace}/{source.name}",
            "target": f"{host}:{target.port}",
        }
        outcome.rc = code
        outcome.verdict = allowed == (probe.expect == "allow")
        verb = "connected" if allowed else "could not connect"
        if not outcome.verdict:
            outcome.problems.append(f"{where}: {verb}, expected {probe.expect}")
        else:
            outcome.extra["message"] = f"{where}: {verb} ({probe.expect} as expected)"
        return outcome

    def _capture(self, action: CaptureAction, register: str | None) -> Outcome:
        if self.run_dir is None:
            raise ActionError("captures need a run folder")
        if action.node is not None:
            debug = self._node_pod(action.node)
            namespace, pod, container = debug.namespace, debug.name, DEBUG_CONTAINER
        else:
            assert action.pod is not None
            info = self.pod(action.pod)
            namespace, pod = info.namespace, info.name
            container = self._tool_container(
                info, capture_container_name(action.name), action.pod.container
            )
        folder = self.run_dir / "captures"
        folder.mkdir(parents=True, exist_ok=True)
        links = self.access.exec(namespace, pod, IP_LINK_COMMAND, container=container)
        if links.ok:  # -i any pcaps only hold interface indexes: keep the names beside them
            (folder / links_file_name(action.name)).write_text(links.stdout, encoding="utf-8")
        path = folder / f"{action.name}.pcap"
        command = capture_command(action)
        line = f"{_exec_line(namespace, pod, container, command)} > {path}"
        self.announce(line)
        sink = path.open("wb")
        handle = self.access.stream(namespace, pod, command, sink, container=container)
        pending = PendingCapture(action.name, path, handle, sink, float(action.duration), register)
        outcome = Outcome(command=line, extra={"file": str(path)})
        if action.background:
            outcome.pending = pending
            outcome.verdict = True
            return outcome
        return finish_capture(pending)

    def _template(self, action: TemplateAction) -> Outcome:
        if self.render_file is None:
            raise ActionError("template tasks need the run's facts (run them through a lab)")
        dest = template_dest(action, self.lab_dir)
        line = template_line(action, self.lab_dir)
        self.announce(line)
        try:
            written = write_lab_file(
                action.src,
                dest,
                project=self.project,
                workdir=self.workdir or Path.cwd(),
                render=self.render_file,
            )
        except LabFileError as error:
            raise ActionError(str(error)) from error
        return Outcome(
            command=line,
            stdout=written.message + "\n",
            verdict=True,
            extra={"file": written.dest, "status": written.status, "message": written.message},
        )

    def _port_forward(self, action: PortForwardAction) -> Outcome:
        ref = PodRef(namespace=action.namespace, name=action.pod, selector=action.selector)
        info = self.pod(ref)
        port, wanted = int(action.port), int(action.local_port)
        line = forward_line(info.namespace, info.name, wanted, port)
        self.announce(line)
        forward = self.access.port_forward(info.namespace, info.name, port, local_port=wanted)
        self.forwards.append(forward)
        local = forward.local_port
        return Outcome(
            command=line,
            stdout=f"Forwarding from 127.0.0.1:{local} -> {port}\n",
            verdict=True,
            extra={
                "local_port": local,
                "port": port,
                "namespace": info.namespace,
                "pod": info.name,
                "pod_ip": info.ip,
            },
        )

    def close_forwards(self) -> int:
        """Close every open port-forward (the end of a step); returns how many were open."""
        count = len(self.forwards)
        while self.forwards:
            forward = self.forwards.pop()
            forward.close()
            self.announce(f"# port-forward from 127.0.0.1:{forward.local_port} closed")
        return count


def forward_line(namespace: str, pod: str, local_port: int | str, port: int | str) -> str:
    """The ``kubectl port-forward`` line; ``:PORT`` is kubectl's own "any free local port"."""
    local = "" if local_port in (0, "0") else str(local_port)
    target = f"pod/{pod}" if _PLACEHOLDER.match(pod) else shlex.quote(f"pod/{pod}")
    start = display_join(["kubectl", "port-forward", "-n", namespace])
    return f"{start} {target} {display_join([f'{local}:{port}'])}"


def finish_capture(pending: PendingCapture) -> Outcome:
    """Wait for a capture to end (its duration plus a grace period), close and count its file."""
    code = pending.handle.stop(timeout=pending.duration + 15)
    pending.sink.close()
    data = pending.path.read_bytes()
    packets = count_pcap_packets(data)
    outcome = Outcome(command=f"capture {pending.name}", rc=code)
    outcome.extra = {"file": str(pending.path), "packets": packets or 0, "bytes": len(data)}
    if packets is None:
        outcome.verdict = False
        outcome.problems.append(
            f"capture {pending.name}: no pcap data (tcpdump exit {code}); is the interface right?"
        )
    else:
        outcome.verdict = True
        outcome.stdout = f"{packets} packets, {len(data)} bytes in {pending.path}"
    return outcome


def wait_args(action: WaitAction) -> list[str]:
    args = ["wait", f"--for={action.for_}"]
    if action.namespace:
        args += ["-n", action.namespace]
    args.append(f"{action.resource}/{action.name}" if action.name else action.resource)
    if action.selector:
        args += ["-l", action.selector]
    if action.all:
        args.append("--all")
    args.append(f"--timeout={action.timeout}s")
    return args


def _ref_text(ref: PodRef) -> str:
    return ref.name or f"<pod {ref.selector}>"


def _debug_line(namespace: str, pod: str, name: str, target: str | None) -> str:
    """The dry run's ``kubectl debug`` line; without a named target the run picks the pod's first
    container, which a dry run does not know (the network namespace is pod-wide anyway)."""
    spec = tool_container(name, NETSHOOT_IMAGE, target)
    return display_join(debug_command(namespace, pod, spec)) + "   # once per pod"


def _exec_line(namespace: str, pod: str, container: str | None, command: Sequence[str]) -> str:
    parts = ["kubectl", "exec", "-n", namespace, pod]
    if container:
        parts += ["-c", container]
    return display_join([*parts, "--", *command])


def _outcome(line: str, result: Any) -> Outcome:
    return Outcome(command=line, rc=result.exit_code, stdout=result.stdout, stderr=result.stderr)


def register_value(outcome: Outcome, problems: list[str], attempts: int) -> dict[str, Any]:
    """What ``register: x`` makes visible to later templates (Ansible's result keys)."""
    return {
        "rc": outcome.rc,
        "stdout": outcome.stdout,
        "stderr": outcome.stderr,
        "stdout_lines": outcome.stdout.splitlines(),
        "json": parse_json(outcome.stdout),
        "command": outcome.command,
        "failed": bool(problems),
        "skipped": False,
        "attempts": attempts,
        **outcome.extra,
    }


def skipped_value() -> dict[str, Any]:
    """The registered result of a task its ``when`` skipped."""
    return {
        "rc": None,
        "stdout": "",
        "stderr": "",
        "stdout_lines": [],
        "json": None,
        "command": "",
        "failed": False,
        "skipped": True,
        "attempts": 0,
    }
