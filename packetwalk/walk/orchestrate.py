"""Run a planned packet walk on a cluster: attach captures, send the request, collect the pcaps.

The adapter between :mod:`packetwalk.walk.plan` and :class:`~packetwalk.kube.access.ClusterAccess`.
Pod points get a named ephemeral netshoot container (``pw-cap-<point>``, reused when it exists:
ephemeral containers can never be removed) that runs as root with NET_ADMIN/NET_RAW even in a
non-root pod such as Traefik's; node points use a host-network debug pod on the node; the
host point runs tcpdump on the participant's machine. Each capture is the capture toolkit's
``tcpdump ... -w -`` (:mod:`packetwalk.kube.captures`, shared with the lab modules) streamed
into ``<folder>/<point>.pcap`` (containers and debug pods are attached in parallel, since each
may wait for an image pull); a capture counts as ready once its pcap file header has arrived
(tcpdump writes it right after opening the interface), and the request is sent only when every
capture that could start is ready.

One failing point never loses the others: its error is recorded, the rest is captured, written
to ``walk.yaml`` and analysed. The one planned fallback: when the API server refuses the
capture container in the Traefik pod (a PodSecurity level stricter than ``privileged``), the
capture on Traefik's node, which sees the same packets on the pod's veth, stands in for it.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import yaml

from packetwalk.capture.pcapread import parse_ip_link
from packetwalk.cluster.state import ClusterState
from packetwalk.errors import PacketwalkError
from packetwalk.host.tcpdump import LocalTcpdump
from packetwalk.kube.access import (
    DEBUG_CONTAINER,
    DEBUG_NAMESPACE,
    ClusterAccess,
    ClusterRefused,
    CommandResult,
    StreamHandle,
    access_errors,
    api_message,
)
from packetwalk.kube.captures import (
    IP_LINK_COMMAND,
    links_file_name,
    node_debug_pod_name,
    stop_command,
    stoppable_command,
)
from packetwalk.lab.versions import NETSHOOT_IMAGE
from packetwalk.walk.facts import ClusterFacts, facts_from_state
from packetwalk.walk.plan import CapturePoint, WalkPlan
from packetwalk.walk.plandata import capture_container, plan_as_dict


def describe_error(error: BaseException) -> str:
    """One line for a person: the API's reason and message rather than a response dump."""
    message = api_message(error)
    if message:
        reason = getattr(error, "reason", None)
        return f"{reason}: {message}" if reason else message
    return str(error) or type(error).__name__


PCAP_HEADER_BYTES = 24
"""A pcap global header; tcpdump -U writes it as soon as the capture is open (pcapng: 28+)."""


class PointProgress(Protocol):
    """Shows each capture point's state while a walk runs (the task draws it with rich)."""

    def begin(self, points: Sequence[str]) -> None: ...

    def update(self, point: str, text: str) -> None: ...

    def end(self) -> None: ...


class NoProgress:
    """:class:`PointProgress` that shows nothing (library use, tests)."""

    def begin(self, points: Sequence[str]) -> None:
        del points

    def update(self, point: str, text: str) -> None:
        del point, text

    def end(self) -> None:
        pass


class HostCapture(Protocol):
    """Runs a capture on the participant's own machine (the ``host`` point)."""

    def start(self, command: Sequence[str], sink: BinaryIO) -> StreamHandle: ...

    def stop_command(self, handle: StreamHandle) -> None:
        """Ask the capture to end cleanly (tcpdump flushes on SIGINT)."""
        ...


class CountingSink(io.BufferedWriter):
    """A pcap file that knows how many bytes arrived; flushed per write so the file is live."""

    def __init__(self, path: Path) -> None:
        super().__init__(io.FileIO(path, "wb"))
        self.count = 0

    def write(self, data: Any) -> int:
        written = super().write(data)
        self.count += written
        super().flush()
        return written


@dataclass
class PointResult:
    point: CapturePoint
    file: str
    state: str = "planned"
    """planned, attaching, refused (until decided), capturing, stopped, failed, skipped."""
    error: str | None = None
    reused: bool = False
    bytes: int = 0
    exit_code: int | None = None
    interfaces: dict[int, str] = field(default_factory=dict)
    target: tuple[str, str, str] | None = None
    """``(namespace, pod, container)`` the capture runs in (pod and node points)."""
    sink: CountingSink | None = None
    handle: StreamHandle | None = None
    created: tuple[str, str] | None = None
    """The node debug pod this point created, if it did."""


@dataclass
class WalkRun:
    folder: Path
    plan: WalkPlan
    points: list[PointResult]
    request: CommandResult | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    analysis: Any = None

    @property
    def created_debug_pods(self) -> list[tuple[str, str]]:
        """Node debug pods this run created (and so removes unless --keep), in point order."""
        return [r.created for r in self.points if r.created is not None]

    @property
    def ok(self) -> bool:
        return not self.errors and all(
            p.state == "stopped" for p in self.points if p.point.kind != "host"
        )


# -- cluster facts -----------------------------------------------------------------------------


def gather_facts(
    access: ClusterAccess,
    *,
    app_namespace: str = "vote",
    platform: str = "kind",
    cni: str | None = None,
    kube_proxy_mode: str | None = None,
) -> ClusterFacts:
    """Read what the planner needs; ``cni``/``kube_proxy_mode`` None means detect them."""
    host_ip = None
    if platform == "kind":
        result = access.shell(
            "docker network inspect kind -f '{{range .IPAM.Config}}{{.Gateway}} {{end}}'",
            timeout=15,
        )
        if result.ok:
            host_ip = next((g for g in result.stdout.split() if re.fullmatch(r"[\d.]+", g)), None)
    return facts_from_state(
        ClusterState(access),
        app_namespace=app_namespace,
        platform=platform,
        cni=cni,
        kube_proxy_mode=kube_proxy_mode,
        host_ip=host_ip,
    )


# -- helpers -----------------------------------------------------------------------------------


def walk_yaml(run: WalkRun) -> dict[str, Any]:
    """The issue-5 contract: the captures that produced a pcap, the inventory, the point order."""
    captures: list[dict[str, Any]] = []
    for result in run.points:
        if result.bytes < PCAP_HEADER_BYTES:
            continue
        entry: dict[str, Any] = {
            "file": result.file,
            "point": result.point.name,
            "kind": result.point.kind,
        }
        if result.interfaces and result.point.interface == "any":
            entry["interfaces"] = dict(sorted(result.interfaces.items()))
        captures.append(entry)
    return {
        "captures": captures,
        "inventory": {k: dict(v) for k, v in run.plan.inventory.items()},
        "path": path_hint(run, [entry["point"] for entry in captures]),
    }


def path_hint(run: WalkRun, captured: Sequence[str]) -> list[str]:
    """The captured points in request order, as walk.yaml's ``path`` hint for hop ordering.

    A node on several hops (the MetalLB leader that also hosts the backend) is left out: one
    order for all flows would put it wrong for some, and the analysis orders it by causality
    and time instead (kind nodes share the host's clock).
    """
    multi = {r.point.name for r in run.points if r.point.roles > 1}
    return [name for name in captured if name not in multi]


def plan_record(run: WalkRun, image: str) -> dict[str, Any]:
    """The plan and how each point went (``plan.yaml`` next to walk.yaml, for people)."""
    record = plan_as_dict(run.plan, image)
    record.pop("inventory")
    results = results_by_point(run)
    for point in record["points"]:
        result = results[point["name"]]
        point.update(
            {
                "state": result.state,
                "error": result.error,
                "reusedContainer": result.reused,
                "bytes": result.bytes,
            }
        )
    request = run.request
    record["request"].update(
        {
            "exitCode": request.exit_code if request else None,
            "output": (request.stdout.strip() or request.stderr.strip()) if request else None,
        }
    )
    record["errors"] = list(run.errors)
    record["warnings"] = list(run.warnings)
    return record


# -- the run -----------------------------------------------------------------------------------


class WalkRunner:
    """Executes one :class:`WalkPlan`; see the module docstring for the sequence."""

    def __init__(
        self,
        access: ClusterAccess,
        *,
        image: str = NETSHOOT_IMAGE,
        keep: bool = False,
        progress: PointProgress | None = None,
        host_capture: HostCapture | None = None,
        ready_timeout: float = 30.0,
        settle: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.access = access
        self.image = image
        self.keep = keep
        self.progress = progress or NoProgress()
        self.errors = access_errors(access)
        """What a point's cluster call may raise without aborting the other points."""
        self.host_capture = host_capture if host_capture is not None else LocalTcpdump()
        self.ready_timeout = ready_timeout
        self.settle = settle
        self._sleep = sleep
        self._clock = clock

    def run(
        self, plan: WalkPlan, folder: Path, analyze: Callable[[Path], Any] | None = None
    ) -> WalkRun:
        folder.mkdir(parents=True, exist_ok=True)
        if any(folder.iterdir()):
            raise PacketwalkError(
                f"{folder} is not empty; a walk writes into a new folder "
                "(nothing there is overwritten)"
            )
        run = WalkRun(
            folder=folder, plan=plan, points=[PointResult(p, f"{p.name}.pcap") for p in plan.points]
        )
        self.progress.begin([r.point.name for r in run.points])
        try:

            def show(result: PointResult, text: str) -> None:
                self.progress.update(result.point.name, text)

            try:
                self._prepare_all(run, show)
                for result in run.points:
                    if result.state == "attaching":
                        self._start(run, result, show)
                self._wait_ready(run, show)
                if any(r.state == "capturing" for r in run.points):
                    try:
                        self._send(run)
                    except self.errors as error:
                        run.errors.append(f"sending the request: {describe_error(error)}")
                    self._sleep(self.settle)
                else:
                    run.errors.append("no capture could start, so the request was not sent")
            finally:
                for result in run.points:
                    self._stop(run, result, show)
                self._write(run)
                self._cleanup(run)
        finally:
            self.progress.end()
        if analyze is not None and any(r.bytes >= PCAP_HEADER_BYTES for r in run.points):
            try:
                run.analysis = analyze(folder)
            except PacketwalkError as error:
                run.errors.append(f"analysis: {error}")
        return run

    # -- steps --------------------------------------------------------------------------------

    def _prepare_all(self, run: WalkRun, show: Callable[[PointResult, str], None]) -> None:
        """Attach every capture container and debug pod at once: each may wait for an image
        pull and a pod start, and they do not depend on each other."""
        pool = ThreadPoolExecutor(
            max_workers=max(1, len(run.points)), thread_name_prefix="pw-prepare"
        )
        try:
            futures = [pool.submit(self._prepare, run, result, show) for result in run.points]
            for future in futures:
                future.result()
            for result in run.points:
                if result.state == "refused":
                    self._fail_or_skip(run, result, result.error or "refused", show, refused=True)
            # The threads finish in any order; report in the order of the walk.
            order = {r.point.name: i for i, r in enumerate(run.points)}
            for messages in (run.errors, run.warnings):
                messages.sort(key=lambda m: order.get(m.split(": ", 1)[0], len(order)))
        finally:
            # On Ctrl-C do not wait for pods still starting; what they created is cleaned up
            # from the results as far as it is known.
            pool.shutdown(wait=False, cancel_futures=True)

    def _fail(
        self,
        run: WalkRun,
        result: PointResult,
        message: str,
        show: Callable[[PointResult, str], None],
    ) -> None:
        result.state, result.error = "failed", message
        run.errors.append(f"{result.point.name}: {message}")
        show(result, f"[red]failed: {message}")

    def _prepare(
        self, run: WalkRun, result: PointResult, show: Callable[[PointResult, str], None]
    ) -> None:
        point = result.point
        try:
            if point.kind == "pod":
                assert point.namespace and point.pod
                show(result, f"attaching {point.container} to {point.pod}")
                # The same spec the shown `kubectl debug` line is derived from.
                spec = capture_container(point, self.image)
                try:
                    result.reused = not self.access.add_ephemeral_container(
                        point.namespace, point.pod, spec
                    )
                except ClusterRefused as refused:
                    # Decided once every point is prepared: whether the node capture that would
                    # stand in for this one started is not known yet.
                    result.state, result.error = "refused", describe_error(refused)
                    return
                if not self.access.wait_container_running(
                    point.namespace, point.pod, point.container, timeout=120
                ):
                    self._fail(
                        run,
                        result,
                        (
                            f"container {point.container} in pod {point.namespace}/{point.pod} is "
                            "not "
                            "running"
                            + (
                                " (it exists from an earlier walk and has ended; ephemeral "
                                "containers never restart: delete the pod to get a new one)"
                                if result.reused
                                else " (image pull or start error: see "
                                f"kubectl describe pod -n {point.namespace} {point.pod})"
                            )
                        ),
                        show,
                    )
                    return
                result.target = (point.namespace, point.pod, point.container)
            elif point.kind == "node":
                assert point.node
                show(result, f"starting debug pod on {point.node}")
                name = node_debug_pod_name(point.node)
                existed = any(p.name == name for p in self.access.pods(DEBUG_NAMESPACE))
                pod = self.access.node_debug_pod(point.node, name=name, image=self.image)
                if not existed:
                    result.created = (pod.namespace, pod.name)
                result.reused = existed
                result.target = (pod.namespace, pod.name, DEBUG_CONTAINER)
                links = self.access.exec(
                    pod.namespace, pod.name, IP_LINK_COMMAND, container=DEBUG_CONTAINER, timeout=30
                )
                self._save_links(run, result, links)
            else:
                links = self.access.shell(shlex.join(IP_LINK_COMMAND), timeout=15)
                self._save_links(run, result, links)
            result.state = "attaching"
        except self.errors as error:
            self._fail(run, result, describe_error(error), show)

    def _save_links(self, run: WalkRun, result: PointResult, links: CommandResult) -> None:
        if links.ok:
            (run.folder / links_file_name(result.point.name)).write_text(links.stdout)
            result.interfaces = parse_ip_link(links.stdout)
        else:
            run.warnings.append(
                f"{result.point.name}: could not list interfaces (ip -o link: "
                f"{links.stderr.strip() or links.exit_code}); 'any' captures will "
                "show interface numbers only"
            )

    def _start(
        self, run: WalkRun, result: PointResult, show: Callable[[PointResult, str], None]
    ) -> None:
        point = result.point
        try:
            result.sink = CountingSink(run.folder / result.file)
            if point.kind == "host":
                result.handle = self.host_capture.start(point.tcpdump_command(), result.sink)
            else:
                assert result.target
                namespace, pod, container = result.target
                # Stopped through its pid file (see _stop), not by ending the exec stream.
                command = stoppable_command(point.name, point.tcpdump_command())
                result.handle = self.access.stream(
                    namespace, pod, command, result.sink, container=container
                )
            result.state = "starting"
            show(result, f"starting tcpdump -i {point.interface}")
        except self.errors as error:
            self._fail_or_skip(run, result, describe_error(error), show)

    def _fail_or_skip(
        self,
        run: WalkRun,
        result: PointResult,
        message: str,
        show: Callable[[PointResult, str], None],
        *,
        refused: bool = False,
    ) -> None:
        """Skip with a warning where another capture sees the same packets, else fail.

        The host point is a bonus (its packets reach the first node unchanged). The Traefik pod
        is captured like any pod; only when the API server refuses its capture container does
        its node's capture, which sees the pod's veth, stand in for it.
        """
        point = result.point
        cover = next(
            (
                r.point.name
                for r in run.points
                if r.point.kind == "node"
                and r.point.node == point.node
                and r.state not in ("failed", "skipped")
            ),
            None,
        )
        if point.kind == "host" or (refused and point.role == "traefik" and cover):
            result.state, result.error = "skipped", message
            seen_by = f" (node capture {cover} sees its packets)" if point.kind != "host" else ""
            run.warnings.append(f"{point.name}: skipped: {message}{seen_by}")
            show(result, f"[yellow]skipped: {message}")
        else:
            self._fail(run, result, message, show)

    def _wait_ready(self, run: WalkRun, show: Callable[[PointResult, str], None]) -> None:
        deadline = self._clock() + self.ready_timeout
        while True:
            pending = [r for r in run.points if r.state == "starting"]
            for result in pending:
                assert result.sink is not None and result.handle is not None
                if result.sink.count >= PCAP_HEADER_BYTES:
                    result.state = "capturing"
                    show(result, f"capturing on {result.point.interface}")
                    continue
                code = result.handle.poll()
                if code is not None:
                    result.exit_code = code
                    with contextlib.suppress(*self.errors):
                        result.handle.stop(timeout=1)  # collects tcpdump's complaint (stderr)
                    self._fail_or_skip(
                        run,
                        result,
                        f"tcpdump ended before capturing (exit code {code}){self._stderr(result)}",
                        show,
                    )
            if not [r for r in run.points if r.state == "starting"]:
                return
            if self._clock() >= deadline:
                for result in run.points:
                    if result.state == "starting":
                        self._fail_or_skip(
                            run, result, f"no capture header after {self.ready_timeout:.0f}s", show
                        )
                return
            self._sleep(0.2)

    @staticmethod
    def _stderr(result: PointResult) -> str:
        stderr = getattr(result.handle, "stderr", b"")
        text = stderr.decode(errors="replace").strip() if isinstance(stderr, bytes) else ""
        return f": {text.splitlines()[-1]}" if text else ""

    def _send(self, run: WalkRun) -> None:
        request = run.plan.request
        command = request.command()
        if request.origin == "host":
            run.request = self.access.shell(shlex.join(command), timeout=30)
        else:
            client = next(r for r in run.points if r.point.name == request.point)
            if client.target is None:
                run.errors.append(
                    f"{client.point.name}: cannot send the request: its capture "
                    "container is not running"
                )
                return
            namespace, pod, container = client.target
            run.request = self.access.exec(namespace, pod, command, container=container, timeout=30)
        if not run.request.ok:
            run.errors.append(
                f"request {shlex.join(command)} failed (exit code "
                f"{run.request.exit_code}): {run.request.stderr.strip()}"
            )

    def _stop(
        self, run: WalkRun, result: PointResult, show: Callable[[PointResult, str], None]
    ) -> None:
        if result.handle is None:
            return
        handle, result.handle = result.handle, None
        try:
            if result.point.kind == "host":
                self.host_capture.stop_command(handle)
            elif result.target is not None:
                namespace, pod, container = result.target
                self.access.exec(
                    namespace, pod, stop_command(result.point.name), container=container, timeout=15
                )
            code = handle.stop(timeout=5)
        except self.errors as error:
            code = None
            run.errors.append(f"{result.point.name}: stopping the capture: {describe_error(error)}")
        if result.sink is not None:
            result.sink.close()
            result.bytes = result.sink.count
        if result.exit_code is None:
            result.exit_code = code
        if result.state in ("capturing", "starting"):
            result.state = "stopped"
            show(result, f"[green]stopped: {result.bytes} bytes in {result.file}")

    def _write(self, run: WalkRun) -> None:
        (run.folder / "walk.yaml").write_text(yaml.safe_dump(walk_yaml(run), sort_keys=False))
        (run.folder / "plan.yaml").write_text(
            yaml.safe_dump(plan_record(run, self.image), sort_keys=False)
        )

    def _cleanup(self, run: WalkRun) -> None:
        if self.keep:
            return
        for namespace, name in run.created_debug_pods:
            result = self.access.kubectl(["delete", "pod", "-n", namespace, name, "--wait=false"])
            if not result.ok:
                run.errors.append(
                    f"could not delete debug pod {namespace}/{name}: "
                    f"{result.stderr.strip() or result.exit_code}"
                )


def results_by_point(run: WalkRun) -> Mapping[str, PointResult]:
    return {r.point.name: r for r in run.points}
