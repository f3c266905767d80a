"""Run our Pulumi programs under ``pulumi.runtime`` mocks and record every registration.

No Pulumi CLI runs here, so the engine is replaced by :class:`RecordingMonitor`, a ``MockMonitor``
that also keeps what the stock one drops: parents, ``depends_on`` URNs, resource options and
duplicate registrations (the stock monitor stores resources in a dict by URN, so a second
``Namespace("vote")`` would silently replace the first). :class:`LabMocks` answers the few
outputs the programs read: a kind kubeconfig, ``docker network inspect kind``, and the cluster
stack's outputs for the lab stack's ``StackReference``.

Inputs reach the mocks the way the engine would see them: camelCase keys, numbers as floats
(``80`` -> ``80.0``), so :func:`normalise` converts integral floats back to int before manifests
are validated.
"""

from __future__ import annotations

import json
import runpy
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
import yaml
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from packetwalk.lab.config import load_stack_config
from packetwalk.lab.kindconfig import control_plane_node

REPO_ROOT = Path(__file__).resolve().parents[1]
STACKS_DIR = REPO_ROOT / "stacks"
CLUSTER_PROGRAM = STACKS_DIR / "cluster" / "__main__.py"
LAB_PROGRAM = STACKS_DIR / "lab" / "__main__.py"


def _control_planes() -> dict[str, dict[str, str]]:
    """Every kind stack's control-plane node as ``docker network inspect`` lists it
    (``Containers``: id -> name and addresses), 172.18.0.2 onwards."""
    names = sorted(
        {
            control_plane_node(load_stack_config(path.stem.removeprefix("Pulumi."), STACKS_DIR))
            for path in STACKS_DIR.glob("Pulumi.kind*.yaml")
        }
    )
    return {
        f"{index:064x}": {
            "Name": name,
            "IPv4Address": f"172.18.0.{index}/16",
            "IPv6Address": f"fc00:f853:ccd:e793::{index}/64",
        }
        for index, name in enumerate(names, start=2)
    }


KIND_NETWORK_INSPECT = json.dumps(
    [
        {
            "Name": "kind",
            "Driver": "bridge",
            "EnableIPv6": True,
            "Containers": _control_planes(),
            "IPAM": {
                "Driver": "default",
                "Options": {},
                "Config": [
                    {"Subnet": "fc00:f853:ccd:e793::/64", "Gateway": "fc00:f853:ccd:e793::1"},
                    {"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"},
                ],
            },
        }
    ]
)
"""What ``docker network inspect kind`` prints on a typical Linux host (IPv6 listed first)."""

KIND_LB_RANGE = "172.18.255.200-172.18.255.250"


def fake_kubeconfig(cluster: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": f"kind-{cluster}",
                    "cluster": {
                        "server": "https://127.0.0.1:40123",
                        "certificate-authority-data": "bW9jaw==",
                    },
                }
            ],
            "contexts": [
                {
                    "name": f"kind-{cluster}",
                    "context": {"cluster": f"kind-{cluster}", "user": f"kind-{cluster}"},
                }
            ],
            "current-context": f"kind-{cluster}",
            "users": [{"name": f"kind-{cluster}", "user": {"client-key-data": "bW9jaw=="}}],
        }
    )


@dataclass
class Registration:
    """One RegisterResource (or ReadResource) call as the engine would receive it."""

    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    remote: bool
    inputs: dict[str, Any]
    dependencies: list[str]
    provider: str
    providers: dict[str, str]
    delete_before_replace: bool
    additional_secret_outputs: list[str]
    replace_on_changes: list[str]
    custom_timeouts: dict[str, str]
    read: bool = False

    @property
    def manifest(self) -> dict[str, Any]:
        """The Kubernetes object a ``kubernetes:*`` custom resource stands for."""
        return {key: normalise(item) for key, item in self.inputs.items()}


def is_secret(value: Any) -> bool:
    """True for an input the SDK sent as a secret (the engine would encrypt it in the state)."""
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def reveal(value: Any) -> Any:
    """The plain value inside a secret input (anything else unchanged)."""
    return value["value"] if is_secret(value) else value


def normalise(value: Any) -> Any:
    """Undo the protobuf Struct round-trip: integral floats back to int, recursively."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: normalise(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalise(item) for item in value]
    return value


class RecordingMonitor(MockMonitor):
    def __init__(
        self, mocks: pulumi.runtime.Mocks, registrations: list[Registration] | None = None
    ) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = [] if registrations is None else registrations

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(self._record(request, response.urn, read=False))
        return response

    def ReadResource(self, request: Any) -> Any:
        response = super().ReadResource(request)  # type: ignore[no-untyped-call]
        self.registrations.append(self._record(request, response.urn, read=True))
        return response

    @staticmethod
    def _record(request: Any, urn: str, *, read: bool) -> Registration:
        payload = request.properties if read else request.object
        inputs = rpc.deserialize_properties(payload)
        timeouts = getattr(request, "customTimeouts", None)
        return Registration(
            urn=urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            custom=True if read else bool(request.custom),
            remote=False if read else bool(request.remote),
            inputs=dict(inputs),
            dependencies=list(getattr(request, "dependencies", [])),
            provider=request.provider,
            providers=dict(getattr(request, "providers", {})),
            delete_before_replace=bool(getattr(request, "deleteBeforeReplace", False)),
            additional_secret_outputs=list(getattr(request, "additionalSecretOutputs", [])),
            replace_on_changes=list(getattr(request, "replaceOnChanges", [])),
            custom_timeouts=(
                {"create": timeouts.create, "update": timeouts.update, "delete": timeouts.delete}
                if timeouts is not None
                else {}
            ),
            read=read,
        )


GKE_ENDPOINT = "203.0.113.10"
GKE_CA = "bW9jay1na2UtY2E="
GKE_ADDRESS_PREFIX = "198.51.100."
"""Documentation ranges (RFC 5737): what the mock GKE API hands out."""


class LabMocks(pulumi.runtime.Mocks):
    """Answers for the outputs our programs read; everything else echoes its inputs."""

    def __init__(
        self,
        stack_outputs: Mapping[str, Any] | None = None,
        network_inspect: str = KIND_NETWORK_INSPECT,
        *,
        preview: bool = False,
    ) -> None:
        self.preview = preview
        self.stack_outputs = dict(stack_outputs or {})
        self.network_inspect = network_inspect
        self.calls: list[pulumi.runtime.MockCallArgs] = []
        self.addresses: dict[str, str] = {}

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            state["outputs"] = dict(self.stack_outputs)
            state["secretOutputNames"] = ["kubeconfig", "kubeconfigs"]
            return args.resource_id or args.name, state
        if args.typ == "gcp:container/cluster:Cluster" and not self.preview:
            # The engine returns camelCase; the program reads master_auth["cluster_ca_..."].
            state.update(endpoint=GKE_ENDPOINT, masterAuth={"clusterCaCertificate": GKE_CA})
        if args.typ == "gcp:compute/globalAddress:GlobalAddress" and not self.preview:
            address = self.addresses.setdefault(
                args.name, f"{GKE_ADDRESS_PREFIX}{len(self.addresses) + 1}"
            )
            state["address"] = address
        if args.typ == "command:local:Command" and not self.preview:
            # In a preview nothing runs: stdout stays unknown, as the engine would leave it.
            create = str(args.inputs.get("create", ""))
            stdout = ""
            if "kind get kubeconfig" in create:
                name = create.split("--name", 1)[1].split()[0].strip("'\"")
                stdout = fake_kubeconfig(name)
            elif "docker network inspect" in create:
                stdout = self.network_inspect
            state.update(stdout=stdout, stderr="")
        return f"{args.name}-id", state

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        self.calls.append(args)
        return {}, None  # no outputs, no failures


def engine_config(stack: str, stacks_dir: Path = STACKS_DIR) -> dict[str, str]:
    """A stack file's ``config:`` as the engine hands it to a program: every value a string."""
    document = yaml.safe_load((stacks_dir / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8"))
    values = (document or {}).get("config") or {}
    return {key: _engine_string(value) for key, value in values.items()}


def _engine_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


@dataclass
class ProgramRun:
    project: str
    stack: str
    registrations: list[Registration]
    outputs: dict[str, Any]
    secret_outputs: set[str] = field(default_factory=set)
    calls: list[Any] = field(default_factory=list)

    def of_type(self, typ: str) -> list[Registration]:
        return [reg for reg in self.registrations if reg.type == typ]

    def named(self, name: str, typ: str | None = None) -> Registration:
        found = [
            reg
            for reg in self.registrations
            if reg.name == name and (typ is None or reg.type == typ)
        ]
        if len(found) != 1:
            raise AssertionError(
                f"expected one registration named {name!r} ({typ}), found {len(found)}"
            )
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(reg for reg in self.registrations if reg.urn == urn)

    def kubernetes_objects(self) -> list[Registration]:
        """Every Kubernetes object the program registers itself (not the charts' contents)."""
        return [
            reg
            for reg in self.registrations
            if reg.custom
            and reg.type.startswith("kubernetes:")
            and not reg.type.startswith("kubernetes:helm.sh/")
            and reg.type != "pulumi:providers:kubernetes"
        ]

    def depends_transitively(self, child: Registration, ancestor: Registration) -> bool:
        """True when ``child`` (or a component it sits in) depends on ``ancestor``."""
        seen: set[str] = set()
        frontier = [child.urn]
        while frontier:
            urn = frontier.pop()
            if urn in seen:
                continue
            seen.add(urn)
            reg = self.by_urn(urn)
            if ancestor.urn in reg.dependencies:
                return True
            frontier.extend(reg.dependencies)
            if reg.parent:
                frontier.append(reg.parent)
        return False

    def deletion_order(self) -> list[str]:
        """URNs in the order ``pulumi destroy`` deletes them: a resource before everything it
        depends on (itself or through its parent component), a component's children first.

        The engine deletes in reverse of the dependency order it built on create; a component's
        ``depends_on`` reaches all of the component's children, as in the engine.
        """
        children: dict[str, list[str]] = {}
        for reg in self.registrations:
            children.setdefault(reg.parent, []).append(reg.urn)

        def expanded(urn: str) -> set[str]:
            found, frontier = set(), [urn]
            while frontier:
                current = frontier.pop()
                if current not in found:
                    found.add(current)
                    frontier.extend(children.get(current, []))
            return found

        def needs(reg: Registration) -> set[str]:
            """What must still exist while ``reg`` is deleted."""
            required: set[str] = set()
            parent: str = reg.urn
            while parent:
                current = self.by_urn(parent) if parent != reg.urn else reg
                for dependency in current.dependencies:
                    required |= expanded(dependency)
                parent = (
                    current.parent if current.parent in {r.urn for r in self.registrations} else ""
                )
            return required - {reg.urn}

        remaining = {reg.urn: needs(reg) for reg in self.registrations}
        order: list[str] = []
        while remaining:
            # deletable: nothing left depends on it, and its children are gone
            blocked = {dep for deps in remaining.values() for dep in deps}
            blocked |= {self.by_urn(urn).parent for urn in remaining}
            ready = sorted(urn for urn in remaining if urn not in blocked)
            if not ready:
                raise AssertionError(f"dependency cycle among {sorted(remaining)}")
            order.extend(ready)
            for urn in ready:
                del remaining[urn]
        return order


def run_program(
    program: Path,
    *,
    project: str,
    stack: str,
    config: Mapping[str, str],
    preview: bool = False,
    stack_outputs: Mapping[str, Any] | None = None,
    network_inspect: str = KIND_NETWORK_INSPECT,
    registrations: list[Registration] | None = None,
    organization: str = "organization",
) -> ProgramRun:
    """Run ``program`` (a ``__main__.py``) the way ``pulumi up``/``preview`` would, under mocks.

    ``registrations``, if given, receives every registration as it happens, so a test can look
    at them even when the program raises.
    """
    pulumi_settings.ROOT.set(None)  # a fresh Stack resource per run, named for this project
    mocks = LabMocks(stack_outputs, network_inspect, preview=preview)
    monitor = RecordingMonitor(mocks, registrations)
    pulumi.runtime.set_mocks(
        mocks,
        project=project,
        stack=stack,
        preview=preview,
        monitor=monitor,
        organization=organization,
    )
    pulumi.runtime.set_all_config(dict(config))
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()

    outputs: dict[str, Any] = {}
    secret: set[str] = set()

    def body() -> Any:
        runpy.run_path(str(program), run_name="__main__")
        root = pulumi_settings.get_root_resource()
        exported: dict[str, Any] = dict(getattr(root, "outputs", {}))

        async def collect() -> None:
            for key, value in exported.items():
                out = pulumi.Output.from_input(value)
                outputs[key] = await out.future()
                if await out.is_secret():
                    secret.add(key)

        return collect()

    saved_path = list(sys.path)
    try:
        _sync_await(run_pulumi_func(lambda: _sync_await(body())))
    finally:
        sys.path[:] = saved_path
    return ProgramRun(project, stack, monitor.registrations, outputs, secret, mocks.calls)
