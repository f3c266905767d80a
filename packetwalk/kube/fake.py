"""An in-memory cluster for tests: pods, nodes and objects held in dicts, scripted command answers.

:class:`FakeCluster` implements :class:`~packetwalk.kube.access.ClusterAccess` without any network
or subprocess. Tests script what ``kubectl``, ``shell`` and ``exec`` answer by matching the command
(a regex searched in the shell-quoted command line, or a callable deciding itself), give canned
bytes to ``stream`` per ``(namespace, pod, container)``, and read back :attr:`FakeCluster.calls`
to assert what the code under test did. Ephemeral containers and node debug pods are book-kept
the way the API server does it: an ephemeral container name can be added once per pod, ever.
Refusals (PodSecurity, RBAC) and pods that run as non-root are scriptable too, and ``kubectl
delete pod`` removes a pod unless a script answers it first. Port-forwards open no socket: they
are book-kept while open (:meth:`FakeCluster.forwarded`), so a scripted ``curl 127.0.0.1:PORT``
can answer as the pod behind that port would, and fail once the forward is closed.

The fake can also model a CNI's enforcement (:meth:`FakeCluster.model_enforcement`): the probe
scripts of ``invoke verify`` (:mod:`packetwalk.verify.script`) are answered by evaluating the
NetworkPolicies among its objects with :mod:`packetwalk.netpol`, as an enforcing CNI would, or
by letting everything through, as a non-enforcing one (Flannel) does; a policy the dataplane
ignores (a broken policy) shows as a difference. ``exec_latency`` makes every exec take that
long, and the peak number of execs running at once is recorded.
"""

from __future__ import annotations

import json
import re
import shlex
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import BinaryIO, Literal

from packetwalk.cluster.model import NodeInfo, Origin, Pod, PodInfo
from packetwalk.cluster.pods import read_pod_info
from packetwalk.errors import PacketwalkError
from packetwalk.kube.access import (
    DEBUG_CONTAINER,
    DEBUG_NAMESPACE,
    ClusterRefused,
    CommandResult,
    EphemeralContainer,
)
from packetwalk.netpol.evaluator import Analysis, analyze
from packetwalk.netpol.loader import cluster_from_objects

CommandKind = Literal["kubectl", "shell", "exec"]

Matcher = str | re.Pattern[str] | Callable[["Call"], bool]
"""Selects a scripted answer: a regex searched in :attr:`Call.line`, or a predicate on the call."""

Answer = CommandResult | str | Callable[["Call"], CommandResult | str]
"""A scripted answer: a full result, just stdout (exit code 0), or a function of the call."""


@dataclass(frozen=True)
class Call:
    """One operation the code under test asked of the cluster."""

    kind: str
    """``kubectl``, ``shell``, ``exec``, ``pods``, ``nodes``, ``get_objects``,
    ``add_ephemeral_container``, ``wait_container_running``, ``node_debug_pod``, ``stream`` or
    ``port_forward``."""
    command: tuple[str, ...] = ()
    namespace: str | None = None
    pod: str | None = None
    container: str | None = None
    detail: Mapping[str, object] = field(default_factory=dict)

    @property
    def line(self) -> str:
        """The command as one shell-quoted line (what matchers search)."""
        return shlex.join(self.command)


@dataclass
class _Script:
    kind: CommandKind
    matcher: Matcher
    answer: Answer
    times: int | None
    used: int = 0

    def matches(self, call: Call) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        if callable(self.matcher) and not isinstance(self.matcher, re.Pattern):
            return bool(self.matcher(call))
        return re.search(self.matcher, call.line) is not None

    def answer_for(self, call: Call) -> CommandResult:
        self.used += 1
        answer = self.answer(call) if callable(self.answer) else self.answer
        if isinstance(answer, str):
            return CommandResult(call.command, 0, answer, "")
        return replace(answer, command=call.command)


class _FakeStream:
    def __init__(self, exit_code: int) -> None:
        self._exit_code = exit_code
        self.stopped = False

    def stop(self, timeout: float = 10.0) -> int:
        self.stopped = True
        return self._exit_code

    def poll(self) -> int | None:
        return self._exit_code


class FakePortForward:
    """An open port-forward of the fake: which pod and port a local port leads to."""

    def __init__(
        self, cluster: FakeCluster, namespace: str, pod: str, remote_port: int, local_port: int
    ) -> None:
        self._cluster = cluster
        self.namespace, self.pod, self.remote_port = namespace, pod, remote_port
        self._local_port = local_port
        self.closed = False

    @property
    def local_port(self) -> int:
        return self._local_port

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._cluster.port_forwards.pop(self._local_port, None)

    def __enter__(self) -> FakePortForward:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass(frozen=True)
class Enforcement:
    """How the fake dataplane treats connections between pods (see ``model_enforcement``)."""

    enforcing: bool = True
    """False: a CNI that does not enforce NetworkPolicy; every connection gets through."""
    ignored_policies: frozenset[str] = frozenset()
    """``namespace/name`` of policies the dataplane does not apply (a broken policy)."""
    external_reachable: bool = True
    """Whether addresses outside the cluster answer (a lab without internet: False)."""


PROBE_SCRIPT_LINE = re.compile(
    r"^(?P<kind>[pd]) (?P<id>\d+) (?P<host>[0-9A-Za-z.:-]+)(?: (?P<port>\d+))? &$"
)
"""A probe line of a ``invoke verify`` script (:data:`packetwalk.verify.script.PROBE_LINE`):
``p ID HOST PORT &`` connects over TCP, ``d ID HOST &`` asks a DNS server over UDP 53."""

RESOURCE_OF_KIND = {"Namespace": "namespaces", "Pod": "pods", "NetworkPolicy": "networkpolicies"}


class FakeCluster:
    """A scriptable in-memory :class:`ClusterAccess`.

    Scripts are tried newest first, so a test can override a general answer with a specific one.
    A command nothing matches fails with exit code 127 and says so on stderr, which makes a
    missing script show up in the test's failure message instead of passing silently.
    """

    def __init__(
        self,
        *,
        pods: Sequence[PodInfo] = (),
        nodes: Sequence[NodeInfo] = (),
        objects: Mapping[str, Sequence[Mapping[str, object]]] | None = None,
    ) -> None:
        self._pods: dict[tuple[str, str], PodInfo] = {(p.namespace, p.name): p for p in pods}
        self._nodes: dict[str, NodeInfo] = {n.name: n for n in nodes}
        self.objects: dict[str, list[dict[str, object]]] = {
            resource: [dict(item) for item in items] for resource, items in (objects or {}).items()
        }
        self._scripts: list[_Script] = []
        self.stream_payloads: dict[tuple[str, str, str | None], bytes] = {}
        self.stream_exit_codes: dict[tuple[str, str, str | None], int] = {}
        self.stream_default: bytes = b""
        """What ``stream`` writes for a ``(namespace, pod, container)`` without its own payload."""
        self.unstartable_containers: set[tuple[str, str, str]] = set()
        """``(namespace, pod, container)`` that never reach Running (image pull errors...)."""
        self.non_root_pods: set[tuple[str, str]] = set()
        """``(namespace, pod)`` whose pod securityContext says ``runAsNonRoot: true``: an
        ephemeral container added without ``run_as_root`` never starts there, as the kubelet
        refuses to run the root netshoot image."""
        self.refusals: dict[tuple[str, str], str] = {}
        """``(namespace, pod)`` -> the API's message: adding an ephemeral container raises
        :class:`ClusterRefused` (a PodSecurity level that rejects NET_ADMIN or root, RBAC)."""
        self.ephemeral_specs: dict[tuple[str, str, str], EphemeralContainer] = {}
        self.port_forwards: dict[int, FakePortForward] = {}
        """The open port-forwards by local port; closing one removes it."""
        self.next_local_port = 40000
        """The local port the next forward asking for port 0 gets (then counts up)."""
        self.calls: list[Call] = []
        self.exec_latency = 0.0
        """Seconds every exec takes (``invoke verify``'s parallelism is measured with it)."""
        self.enforcement: Enforcement | None = None
        """Set by :meth:`model_enforcement`: probe scripts are answered from the policies."""
        self.peak_execs = 0
        """The most execs that ran at the same time."""
        self._running_execs = 0
        self._exec_lock = threading.Lock()
        self.role_namespaces: frozenset[str] | None = None
        """RBAC of a namespace-scoped role: set, every read outside these namespaces (any
        cluster-wide list, nodes) raises :class:`ClusterRefused` with a 403, as the API does
        for a participant whose credentials cover only their own namespaces."""

    def _authorize(self, verb: str, resource: str, namespace: str | None) -> None:
        allowed = self.role_namespaces
        if allowed is None or (namespace is not None and namespace in allowed):
            return
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        raise ClusterRefused(
            f'{resource} is forbidden: User "participant" cannot {verb} resource "{resource}"'
            f" {scope}",
            status=403,
        )

    @classmethod
    def from_objects(
        cls, objects: Sequence[Mapping[str, object]], *, nodes: Sequence[NodeInfo] = ()
    ) -> FakeCluster:
        """A fake holding ``objects`` (by resource: ``pods``, ``networkpolicies``, ...) whose
        running pods are the Pod objects among them, read as the real reader reads them."""
        by_resource: dict[str, list[Mapping[str, object]]] = {}
        for obj in objects:
            kind = str(obj.get("kind"))
            by_resource.setdefault(RESOURCE_OF_KIND.get(kind, kind.lower() + "s"), []).append(obj)
        pods = [read_pod_info(obj, Origin("fake")) for obj in by_resource.get("pods", [])]
        return cls(pods=pods, nodes=nodes, objects=by_resource)

    def model_enforcement(
        self,
        *,
        enforcing: bool = True,
        ignored_policies: Sequence[str] = (),
        external_reachable: bool = True,
    ) -> None:
        """Answer ``invoke verify`` probe scripts by evaluating this fake's own objects.

        A connection gets through when the CNI does not enforce or the policies (less the
        ignored ones) allow it; then it connects when the destination declares the port (DNS:
        UDP 53), else it is refused. A blocked one times out. A node (a host-network pod)
        always reaches the pods on its own node.
        """
        self.enforcement = Enforcement(enforcing, frozenset(ignored_policies), external_reachable)

    # -- set-up ---------------------------------------------------------------------------------

    def add_pod(self, pod: PodInfo) -> None:
        self._pods[(pod.namespace, pod.name)] = pod

    def add_node(self, node: NodeInfo) -> None:
        self._nodes[node.name] = node

    def delete_pod(self, namespace: str, name: str) -> bool:
        """Remove a pod with its ephemeral containers; False if there was none."""
        if self._pods.pop((namespace, name), None) is None:
            return False
        for key in [k for k in self.ephemeral_specs if k[:2] == (namespace, name)]:
            del self.ephemeral_specs[key]
        return True

    def on(
        self, kind: CommandKind, matcher: Matcher, answer: Answer, *, times: int | None = None
    ) -> None:
        """Answer ``kind`` commands ``matcher`` selects with ``answer`` (``times`` limits uses)."""
        self._scripts.append(_Script(kind, matcher, answer, times))

    def on_kubectl(self, matcher: Matcher, answer: Answer, *, times: int | None = None) -> None:
        self.on("kubectl", matcher, answer, times=times)

    def on_shell(self, matcher: Matcher, answer: Answer, *, times: int | None = None) -> None:
        self.on("shell", matcher, answer, times=times)

    def on_exec(self, matcher: Matcher, answer: Answer, *, times: int | None = None) -> None:
        self.on("exec", matcher, answer, times=times)

    def calls_of(self, kind: str) -> list[Call]:
        return [call for call in self.calls if call.kind == kind]

    # -- ClusterAccess --------------------------------------------------------------------------

    def kubectl(
        self, args: Sequence[str], *, stdin: str | None = None, timeout: float = 60.0
    ) -> CommandResult:
        call = Call("kubectl", ("kubectl", *args), detail={"stdin": stdin, "timeout": timeout})
        self.calls.append(call)
        scripted = self._answer("kubectl", call)
        if scripted is not None:
            return scripted
        builtin = self._builtin_get(list(args), call) or self._builtin_delete(list(args), call)
        return builtin if builtin is not None else self._unscripted(call)

    def shell(self, command: str, *, timeout: float = 60.0) -> CommandResult:
        call = Call("shell", ("sh", "-c", command), detail={"timeout": timeout})
        self.calls.append(call)
        return self._answer("shell", call) or self._unscripted(call)

    def exec(
        self,
        namespace: str,
        pod: str,
        command: Sequence[str],
        *,
        container: str | None = None,
        timeout: float = 60.0,
    ) -> CommandResult:
        call = Call("exec", tuple(command), namespace, pod, container, detail={"timeout": timeout})
        self.calls.append(call)
        if (namespace, pod) not in self._pods:
            return CommandResult(call.command, 1, "", f'pods "{pod}" not found in {namespace}')
        if container is not None and container not in self._container_names(namespace, pod):
            return CommandResult(
                call.command, 1, "", f"container {container} not found in pod {pod}"
            )
        with self._exec_lock:
            self._running_execs += 1
            self.peak_execs = max(self.peak_execs, self._running_execs)
        try:
            if self.exec_latency:
                time.sleep(self.exec_latency)
            scripted = self._answer("exec", call)
            if scripted is None and self.enforcement is not None:
                scripted = self._answer_probes(call, self.enforcement)
            return scripted or self._unscripted(call)
        finally:
            with self._exec_lock:
                self._running_execs -= 1

    def pods(self, namespace: str | None = None, *, selector: str | None = None) -> list[PodInfo]:
        self.calls.append(Call("pods", namespace=namespace, detail={"selector": selector}))
        self._authorize("list", "pods", namespace)
        wanted = _parse_selector(selector)
        return [
            pod
            for (ns, _), pod in sorted(self._pods.items())
            if (namespace is None or ns == namespace) and _selected(pod.labels, wanted)
        ]

    def nodes(self) -> list[NodeInfo]:
        self.calls.append(Call("nodes"))
        self._authorize("list", "nodes", None)
        return [self._nodes[name] for name in sorted(self._nodes)]

    def get_objects(
        self, resource: str, *, namespace: str | None = None
    ) -> list[dict[str, object]]:
        self.calls.append(Call("get_objects", namespace=namespace, detail={"resource": resource}))
        self._authorize("list", resource, namespace)
        items = self.objects.get(resource, [])
        if namespace is None:
            return [dict(item) for item in items]
        return [dict(item) for item in items if _object_namespace(item) == namespace]

    def add_ephemeral_container(self, namespace: str, pod: str, spec: EphemeralContainer) -> bool:
        self.calls.append(
            Call(
                "add_ephemeral_container",
                spec.command,
                namespace,
                pod,
                spec.name,
                detail={
                    "image": spec.image,
                    "target": spec.target_container,
                    "run_as_root": spec.run_as_root,
                },
            )
        )
        info = self._pods.get((namespace, pod))
        if info is None:
            raise ClusterRefused(f'pods "{pod}" not found in namespace {namespace}', status=404)
        if spec.name in self._container_names(namespace, pod):
            return False
        refused = self.refusals.get((namespace, pod))
        if refused is not None:
            raise ClusterRefused(
                f"the API server refused ephemeral container {spec.name} in pod "
                f"{namespace}/{pod}: {refused}",
                status=403,
            )
        self._pods[(namespace, pod)] = replace(
            info, ephemeral_containers=(*info.ephemeral_containers, spec.name)
        )
        self.ephemeral_specs[(namespace, pod, spec.name)] = spec
        return True

    def wait_container_running(
        self, namespace: str, pod: str, container: str, *, timeout: float = 60.0
    ) -> bool:
        self.calls.append(Call("wait_container_running", (), namespace, pod, container))
        if (namespace, pod) not in self._pods:
            return False
        if (namespace, pod, container) in self.unstartable_containers:
            return False
        spec = self.ephemeral_specs.get((namespace, pod, container))
        if spec is not None and not spec.run_as_root and (namespace, pod) in self.non_root_pods:
            return False  # CreateContainerConfigError: image will run as root
        return container in self._container_names(namespace, pod)

    def node_debug_pod(self, node: str, *, name: str, image: str) -> PodInfo:
        self.calls.append(
            Call("node_debug_pod", (), DEBUG_NAMESPACE, name, detail={"node": node, "image": image})
        )
        if node not in self._nodes:
            raise ClusterRefused(
                f'cannot run a debug pod on node {node}: nodes "{node}" not found'
                f" (nodes: {', '.join(sorted(self._nodes)) or 'none'})",
                status=404,
            )
        existing = self._pods.get((DEBUG_NAMESPACE, name))
        if existing is not None:
            if existing.node != node:
                raise PacketwalkError(
                    f"pod {DEBUG_NAMESPACE}/{name} already runs on node {existing.node}, not "
                    f"{node}: delete it (kubectl delete pod -n {DEBUG_NAMESPACE} {name})"
                )
            return existing
        info = PodInfo(
            namespace=DEBUG_NAMESPACE,
            name=name,
            ip=self._nodes[node].internal_ip,
            node=node,
            labels={"app.kubernetes.io/managed-by": "packetwalk"},
            containers=(DEBUG_CONTAINER,),
            host_network=True,
        )
        self._pods[(DEBUG_NAMESPACE, name)] = info
        return info

    def stream(
        self,
        namespace: str,
        pod: str,
        command: Sequence[str],
        sink: BinaryIO,
        *,
        container: str | None = None,
    ) -> _FakeStream:
        self.calls.append(Call("stream", tuple(command), namespace, pod, container))
        key = (namespace, pod, container)
        sink.write(self.stream_payloads.get(key, self.stream_default))
        sink.flush()
        return _FakeStream(self.stream_exit_codes.get(key, 0))

    def port_forward(
        self, namespace: str, pod: str, remote_port: int, *, local_port: int = 0
    ) -> FakePortForward:
        self.calls.append(
            Call(
                "port_forward",
                (),
                namespace,
                pod,
                detail={"remote_port": remote_port, "local_port": local_port},
            )
        )
        info = self._pods.get((namespace, pod))
        if info is None:
            raise ClusterRefused(
                f'cannot forward to pod {namespace}/{pod}: pods "{pod}" not found', status=404
            )
        if info.phase != "Running":
            raise PacketwalkError(f"cannot forward to pod {namespace}/{pod}: it is {info.phase}")
        if local_port == 0:
            while self.next_local_port in self.port_forwards:
                self.next_local_port += 1
            local_port, self.next_local_port = self.next_local_port, self.next_local_port + 1
        elif local_port in self.port_forwards:
            raise PacketwalkError(f"cannot listen on 127.0.0.1:{local_port}: address in use")
        forward = FakePortForward(self, namespace, pod, remote_port, local_port)
        self.port_forwards[local_port] = forward
        return forward

    def forwarded(self, local_port: int) -> FakePortForward | None:
        """The open forward listening on ``local_port``, if any."""
        return self.port_forwards.get(local_port)

    # -- helpers --------------------------------------------------------------------------------

    def _container_names(self, namespace: str, pod: str) -> tuple[str, ...]:
        info = self._pods[(namespace, pod)]
        return (*info.containers, *info.ephemeral_containers)

    def _answer(self, kind: CommandKind, call: Call) -> CommandResult | None:
        for script in reversed(self._scripts):
            if script.kind == kind and script.matches(call):
                return script.answer_for(call)
        return None

    def _builtin_get(self, args: list[str], call: Call) -> CommandResult | None:
        """``kubectl get <resource> [-n NS | -A] -o json`` from the in-memory objects."""
        if len(args) < 2 or args[0] != "get" or "-o" not in args:
            return None
        out = args.index("-o")
        if out + 1 >= len(args) or args[out + 1] != "json":
            return None
        resource = args[1]
        if resource not in self.objects:
            return None
        namespace = args[args.index("-n") + 1] if "-n" in args[:-1] else None
        items = self.get_objects(resource, namespace=namespace)
        self.calls.pop()  # the nested get_objects is an implementation detail of this kubectl
        body = {"apiVersion": "v1", "kind": "List", "items": items}
        return CommandResult(call.command, 0, json.dumps(body), "")

    def _builtin_delete(self, args: list[str], call: Call) -> CommandResult | None:
        """``kubectl delete pod [-n NS] NAME... [--ignore-not-found] [--wait=false]``, as the
        API server answers it: the pods go, and a missing one is NotFound (exit 1)."""
        if len(args) < 3 or args[0] != "delete" or args[1] not in ("pod", "pods", "po"):
            return None
        namespace, names, ignore, rest = "default", [], False, iter(args[2:])
        for arg in rest:
            if arg in ("-n", "--namespace"):
                namespace = next(rest, namespace)
            elif arg.startswith("--namespace="):
                namespace = arg.split("=", 1)[1]
            elif arg in ("--ignore-not-found", "--ignore-not-found=true"):
                ignore = True
            elif arg.startswith("-"):
                continue  # --wait=false, --now, --grace-period=0: nothing to wait for here
            else:
                names.append(arg)
        if not names:
            return None
        out, err = [], []
        for name in names:
            if self.delete_pod(namespace, name):
                out.append(f'pod "{name}" deleted\n')
            elif not ignore:
                err.append(f'Error from server (NotFound): pods "{name}" not found\n')
        return CommandResult(call.command, 1 if err else 0, "".join(out), "".join(err))

    def _answer_probes(self, call: Call, model: Enforcement) -> CommandResult | None:
        """``PW ID RC`` for each probe line of a verify script, as the modelled dataplane would
        answer; None when the command is not such a script."""
        script = call.command[-1] if call.command else ""
        lines = [PROBE_SCRIPT_LINE.match(line.strip()) for line in script.splitlines()]
        probes = [m for m in lines if m is not None]
        if not probes or call.namespace is None or call.pod is None:
            return None
        objects: list[Mapping[str, object]] = []
        for resource, kind in (
            ("namespaces", "Namespace"),
            ("pods", "Pod"),
            ("networkpolicies", "NetworkPolicy"),
        ):
            for item in self.objects.get(resource, []):
                if kind == "NetworkPolicy" and _object_ref(item) in model.ignored_policies:
                    continue
                objects.append({"kind": kind, **item})
        analysis = analyze(cluster_from_objects(objects, source="fake dataplane"))
        by_ip = {p.ip: p for p in analysis.cluster.pods if p.ip and not p.host_network}
        source = self._pods[(call.namespace, call.pod)]
        src_pod = None if source.host_network else by_ip.get(source.ip or "")
        src_atom = analysis.external_for_ip(source.ip or "", as_source=True)
        infos = {(p.namespace, p.name): p for p in self._pods.values()}
        out = []
        for match in probes:
            host, dns = match["host"], match["kind"] == "d"
            protocol, port = ("UDP", 53) if dns else ("TCP", int(match["port"] or 0))
            dst = by_ip.get(host)
            if dst is None:
                reached = model.external_reachable and (
                    not model.enforcing
                    or src_pod is None
                    or _external_allowed(analysis, src_pod, host, protocol, port)
                )
                listening = reached
            else:
                dst_info = infos.get((dst.namespace, dst.name))
                same_node = dst_info is not None and dst_info.node == source.node
                if not model.enforcing or (source.host_network and same_node):
                    reached = True
                elif src_pod is not None:
                    reached = analysis.pod_conn(src_pod, dst).allows(protocol, port)
                else:
                    reached = src_atom is not None and any(
                        analysis.from_external(src_atom, cls.index).allows(protocol, port)
                        for cls in analysis.classes
                        if dst in cls.pods
                    )
                listening = any(p.port == port and p.protocol == protocol for p in dst.ports)
            if dns:
                rc = 0 if reached and listening else 9
            else:
                rc = (0 if listening else 1) if reached else 124
            out.append(f"PW {match['id']} {rc}\n")
        return CommandResult(call.command, 0, "".join(out), "")

    @staticmethod
    def _unscripted(call: Call) -> CommandResult:
        return CommandResult(
            call.command, 127, "", f"FakeCluster: no scripted {call.kind} answer for: {call.line}"
        )


def _object_namespace(item: Mapping[str, object]) -> str | None:
    metadata = item.get("metadata")
    if isinstance(metadata, Mapping):
        namespace = metadata.get("namespace")
        return namespace if isinstance(namespace, str) else None
    return None


def _object_ref(item: Mapping[str, object]) -> str:
    metadata = item.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return f"{_object_namespace(item)}/{name}"


def _external_allowed(analysis: Analysis, src: Pod, host: str, protocol: str, port: int) -> bool:
    atom = analysis.external_for_ip(host, as_source=False)
    if atom is None:
        return False
    return analysis.to_external(analysis.class_of[id(src)], atom).allows(protocol, port)


def _parse_selector(selector: str | None) -> list[tuple[str, str, str]]:
    """Equality-based selectors (``a=b,c!=d,e``): enough for lab modules."""
    if not selector:
        return []
    terms: list[tuple[str, str, str]] = []
    for raw in selector.split(","):
        term = raw.strip()
        if "!=" in term:
            key, value = term.split("!=", 1)
            terms.append((key.strip(), "!=", value.strip()))
        elif "=" in term:
            key, value = term.split("=", 1)
            terms.append((key.strip(), "=", value.strip().lstrip("=")))
        else:
            terms.append((term, "exists", ""))
    return terms


def _selected(labels: Mapping[str, str], terms: list[tuple[str, str, str]]) -> bool:
    for key, op, value in terms:
        if op == "=" and labels.get(key) != value:
            return False
        if op == "!=" and labels.get(key) == value:
            return False
        if op == "exists" and key not in labels:
            return False
    return True
