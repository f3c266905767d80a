"""A fake Pulumi workspace for the stack tasks: records operations, plays engine events.

It stands in at our own seam (``packetwalk.host.stacks.StackFactory``), with the SDK's real event
and
error classes, so the code under test sees what the Automation API would hand it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pulumi import automation as auto

from packetwalk.host.probes import RunResult
from packetwalk.host.stacks import CLUSTER_PROJECT, LAB_PROJECT, StackRequest
from packetwalk.lab.urns import COMMAND_TYPE, KIND_CLUSTER_COMMAND, KIND_CLUSTER_TYPE

STACK_TYPE = "pulumi:pulumi:Stack"


def urn(stack: str, project: str, typ: str, name: str) -> str:
    return f"urn:pulumi:{stack}::{project}::{typ}::{name}"


def step_events(urn_: str, typ: str, op: str, *, planning: bool = False) -> list[auto.EngineEvent]:
    meta = {"op": op, "urn": urn_, "type": typ, "provider": ""}
    pre = {
        "sequence": 1,
        "timestamp": 0,
        "resourcePreEvent": {"metadata": meta, "planning": planning},
    }
    out = {
        "sequence": 2,
        "timestamp": 0,
        "resOutputsEvent": {"metadata": meta, "planning": planning},
    }
    return [auto.EngineEvent.from_json(pre), auto.EngineEvent.from_json(out)]


def command_error(
    stderr: str, cls: type[auto.CommandError] = auto.CommandError
) -> auto.CommandError:
    return cls(auto.CommandResult(stdout="", stderr=stderr, code=255))


UNREACHABLE = (
    "error: configured Kubernetes cluster is unreachable: unable to load schema information from "
    'the API server: Get "https://127.0.0.1:41235/openapi/v2?timeout=32s": dial tcp '
    "127.0.0.1:41235: connect: connection refused"
)

DEFAULT_RESOURCES: dict[str, list[tuple[str, str]]] = {
    CLUSTER_PROJECT: [
        ("packetwalk:cluster:KindCluster", "lab"),
        ("command:local:Command", "lab-create"),
        ("command:local:Command", "lab-kubeconfig"),
    ],
    LAB_PROJECT: [
        ("pulumi:providers:kubernetes", "lab-k8s"),
        ("kubernetes:core/v1:Namespace", "vote"),
        ("kubernetes:apps/v1:Deployment", "vote"),
        ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "default-deny"),
    ],
}

KIND_RESOURCES: list[tuple[str, str]] = [
    # the real shape of components/kind_cluster.py (children of the KindCluster component)
    (KIND_CLUSTER_TYPE, "packetwalk"),
    (f"{KIND_CLUSTER_TYPE}${COMMAND_TYPE}", KIND_CLUSTER_COMMAND),
    (f"{KIND_CLUSTER_TYPE}${COMMAND_TYPE}", "kubeconfig"),
    (f"{KIND_CLUSTER_TYPE}${COMMAND_TYPE}", "kind-network"),
]
"""Cluster-stack resources for tests of a kind cluster deleted by hand; with them the world keeps
track of the clusters ``kind get clusters`` lists."""

DEFAULT_OUTPUTS: dict[str, dict[str, auto.OutputValue]] = {
    CLUSTER_PROJECT: {
        "kubeconfig": auto.OutputValue("apiVersion: v1\nkind: Config\n", secret=True),
        "kubeContext": auto.OutputValue("kind-packetwalk", secret=False),
        "clusterName": auto.OutputValue("packetwalk", secret=False),
        "platform": auto.OutputValue("kind", secret=False),
        "cni": auto.OutputValue("kindnet", secret=False),
        "kubeProxyMode": auto.OutputValue("iptables", secret=False),
        "nodes": auto.OutputValue(
            ["packetwalk-control-plane", "packetwalk-worker", "packetwalk-worker2"], secret=False
        ),
        "lbAddressRange": auto.OutputValue("172.18.255.200-172.18.255.250", secret=False),
    },
    LAB_PROJECT: {
        "voteUrl": auto.OutputValue("http://vote.localhost", secret=False),
        "resultUrl": auto.OutputValue("http://result.localhost", secret=False),
        "ingressAddress": auto.OutputValue("127.0.0.1", secret=False),
        "appNamespace": auto.OutputValue("vote", secret=False),
    },
}


@dataclass
class FakeWorld:
    """The state behind every fake stack: which stacks exist, what was done, what fails."""

    resources: dict[str, list[tuple[str, str]]] = field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_RESOURCES.items()}
    )
    outputs_when_up: dict[str, dict[str, auto.OutputValue]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_OUTPUTS.items()}
    )
    deployed: dict[tuple[str, str], bool] = field(default_factory=dict)
    existing: set[tuple[str, str]] = field(default_factory=set)
    pending: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    cluster_vanished: bool = False
    locked: set[tuple[str, str]] = field(default_factory=set)
    log: list[tuple[str, str, str]] = field(default_factory=list)
    requests: list[StackRequest] = field(default_factory=list)
    fail: dict[tuple[str, str], auto.CommandError] = field(default_factory=dict)
    # kind, modelled when the cluster stack holds a `kind-cluster` command (KIND_RESOURCES)
    kind_clusters: set[str] = field(default_factory=set)
    cluster_generation: int = 0
    lab_generation: int = 0
    up_args: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    kind_calls: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def tracks_kind(self) -> bool:
        return any(name == KIND_CLUSTER_COMMAND for _t, name in self.resources[CLUSTER_PROJECT])

    @property
    def cluster_name(self) -> str:
        value = DEFAULT_OUTPUTS[CLUSTER_PROJECT]["clusterName"].value
        out = self.outputs_when_up[CLUSTER_PROJECT].get("clusterName")
        return str(out.value if out is not None else value)

    def kind_runner(self, argv: Sequence[str]) -> RunResult:
        """A :data:`packetwalk.host.probes.Runner` answering ``kind get clusters`` from this
        world."""
        self.kind_calls.append(tuple(argv))
        if list(argv[1:]) != ["get", "clusters"]:
            return RunResult(2, "", f"fake kind: unexpected {list(argv)}")
        if not self.kind_clusters:
            return RunResult(0, "", "No kind clusters found.\n")
        return RunResult(0, "".join(f"{name}\n" for name in sorted(self.kind_clusters)))

    def factory(self, request: StackRequest) -> FakeStack | None:
        self.requests.append(request)
        key = (request.project.name, request.stack)
        if key not in self.existing:
            if not request.create:
                return None
            self.existing.add(key)
            self.log.append((request.project.name, request.stack, "init"))
        return FakeStack(self, request)


class FakeStack:
    def __init__(self, world: FakeWorld, request: StackRequest) -> None:
        self.world = world
        self.request = request
        self.name = request.stack
        self.project = request.project.name
        self.key = (self.project, self.name)

    # -- helpers

    def _record(self, op: str) -> None:
        self.world.log.append((self.project, self.name, op))
        failure = self.world.fail.get((self.project, op))
        if failure is not None:
            raise failure
        if self.key in self.world.locked:
            raise command_error(
                "error: the stack is currently locked by 1 lock(s). Either wait for the other "
                "process(es) to end or delete the lock file with `pulumi cancel`.",
                auto.ConcurrentUpdateError,
            )

    def _items(self) -> list[tuple[str, str]]:
        return [(STACK_TYPE, f"{self.project}-{self.name}"), *self.world.resources[self.project]]

    def _play(
        self,
        on_event: Callable[[auto.EngineEvent], None] | None,
        op: str,
        planning: bool = False,
        replace: Sequence[str] = (),
    ) -> dict[str, int]:
        counts: dict[str, int] = {}
        for typ, name in self._items():
            urn_ = urn(self.name, self.project, typ, name)
            step = "replace" if urn_ in replace else op
            counts[step] = counts.get(step, 0) + 1
            for event in step_events(urn_, typ, step, planning=planning):
                if on_event is not None:
                    on_event(event)
        return counts

    def _kind_up(self, creating: bool, replace: Sequence[str]) -> None:
        """The cluster stack's kind command runs on create and on replace, never on "same"."""
        cluster = urn(
            self.name, self.project, f"{KIND_CLUSTER_TYPE}${COMMAND_TYPE}", KIND_CLUSTER_COMMAND
        )
        if creating or cluster in replace:
            self.world.kind_clusters.add(self.world.cluster_name)
            self.world.cluster_generation += 1

    def _lab_up(self, refresh: bool | None) -> bool:
        """Whether the lab's objects must be created (again); raises what Pulumi would."""
        if self.world.cluster_name not in self.world.kind_clusters:
            raise command_error(UNREACHABLE)
        if not self.world.deployed.get(self.key):
            return True
        if self.world.lab_generation == self.world.cluster_generation:
            return False
        # The objects in the state live in a cluster that is gone; only a refresh that may drop
        # unreachable objects gets them out of the way.
        if refresh and self.request.env.get("PULUMI_K8S_DELETE_UNREACHABLE") == "true":
            return True
        raise command_error(UNREACHABLE)

    # -- the Stack surface packetwalk uses

    def up(
        self,
        *,
        on_event: Callable[[auto.EngineEvent], None] | None = None,
        replace: list[str] | None = None,
        refresh: bool | None = None,
    ) -> Any:
        self._record("up")
        self.world.up_args.append((self.project, {"replace": replace, "refresh": refresh}))
        creating = not self.world.deployed.get(self.key)
        if self.world.tracks_kind and self.project == CLUSTER_PROJECT:
            self._kind_up(creating, replace or ())
        elif self.world.tracks_kind and self.project == LAB_PROJECT:
            creating = self._lab_up(refresh)
            self.world.lab_generation = self.world.cluster_generation
        changes = self._play(on_event, "create" if creating else "same", replace=replace or ())
        self.world.deployed[self.key] = True
        self.world.pending.pop(self.key, None)
        return SimpleNamespace(
            summary=SimpleNamespace(resource_changes=changes, result="succeeded")
        )

    def preview(self, *, on_event: Callable[[auto.EngineEvent], None] | None = None) -> Any:
        self._record("preview")
        op = "same" if self.world.deployed.get(self.key) else "create"
        return SimpleNamespace(change_summary=self._play(on_event, op, planning=True))

    def destroy(self, *, on_event: Callable[[auto.EngineEvent], None] | None = None) -> Any:
        self._record("destroy")
        kube = self.project == LAB_PROJECT
        if (
            kube
            and self.world.cluster_vanished
            and self.request.env.get("PULUMI_K8S_DELETE_UNREACHABLE") != "true"
        ):
            raise command_error(UNREACHABLE)
        changes = self._play(on_event, "delete") if self.world.deployed.get(self.key) else {}
        self.world.deployed[self.key] = False
        if self.project == CLUSTER_PROJECT and self.world.tracks_kind:
            self.world.kind_clusters.discard(self.world.cluster_name)
        return SimpleNamespace(
            summary=SimpleNamespace(resource_changes=changes, result="succeeded")
        )

    def refresh(
        self,
        *,
        on_event: Callable[[auto.EngineEvent], None] | None = None,
        clear_pending_creates: bool | None = None,
    ) -> Any:
        self._record(f"refresh(clear_pending_creates={clear_pending_creates})")
        if clear_pending_creates:
            self.world.pending.pop(self.key, None)
        return SimpleNamespace(summary=SimpleNamespace(resource_changes={"same": 1}))

    def outputs(self) -> Mapping[str, auto.OutputValue]:
        self.world.log.append((self.project, self.name, "outputs"))
        if not self.world.deployed.get(self.key):
            return {}
        return dict(self.world.outputs_when_up.get(self.project, {}))

    def export_stack(self) -> auto.Deployment:
        self.world.log.append((self.project, self.name, "export"))
        deployment: dict[str, Any] = {"manifest": {}, "resources": self._state_resources()}
        pending = self.world.pending.get(self.key)
        if pending:
            deployment["pending_operations"] = pending
        return auto.Deployment(version=3, deployment=deployment)

    def _state_resources(self) -> list[dict[str, Any]]:
        """What ``pulumi stack export`` lists: the root stack with its outputs, then the rest."""
        if not self.world.deployed.get(self.key):
            return []
        resources: list[dict[str, Any]] = []
        for typ, name in self._items():
            resource: dict[str, Any] = {"urn": urn(self.name, self.project, typ, name), "type": typ}
            if typ == STACK_TYPE:
                resource["outputs"] = {
                    key: {
                        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                        "ciphertext": "v1:AAAA",
                    }
                    if value.secret
                    else value.value
                    for key, value in self.world.outputs_when_up.get(self.project, {}).items()
                }
            resources.append(resource)
        return resources

    def cancel(self) -> None:
        self.world.log.append((self.project, self.name, "cancel"))
        self.world.locked.discard(self.key)


def write_lock(
    backend: Path, project: str, stack: str, *, pid: int, hostname: str | None = None
) -> Path:
    """A lock file as the file backend writes it (``.pulumi/locks/organization/<p>/<s>/``)."""
    folder = backend / ".pulumi" / "locks" / "organization" / project / stack
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "3f1c9a2e-0000-4000-8000-000000000001.json"
    path.write_text(
        json.dumps(
            {
                "pid": pid,
                "username": "participant",
                "hostname": hostname or socket.gethostname(),
                "timestamp": "2026-11-26T21:00:00Z",
            }
        )
    )
    return path
