"""The Automation API adapter: a lab is a cluster stack plus an in-cluster (lab) stack.

``up`` brings up the cluster stack, then the lab stack (which reads the cluster's kubeconfig
through a StackReference); ``down`` destroys them in the opposite order. State goes to a file
backend inside the project (``.packetwalk/state``) with the passphrase secrets provider, so no
Pulumi Cloud account is needed; ``PULUMI_BACKEND_URL`` and ``PULUMI_CONFIG_PASSPHRASE[_FILE]``
set by the user win.

Re-running after an interruption: a run killed hard leaves a lock file (and maybe pending
operations) in the state. Before each ``up``/``down`` the lock is removed when it belongs to a
process on this host that no longer exists (``stack.cancel()``, which for the file backend deletes
the lock), and pending operations are cleared with ``refresh --clear-pending-creates`` (resources
whose creation was cut off are then created again; the kind command and the Kubernetes provider
are written to tolerate that). A lock held by a live process is reported, never broken.

A kind cluster deleted by hand (``kind delete cluster``) is still in the cluster stack's state, so
a plain ``up`` would change nothing and the lab stack could not reach the cluster. Before the
cluster stack's ``up`` the state is compared with ``kind get clusters``; when the cluster is gone
its commands are replaced (``up --replace``) and the lab stack is brought up with ``--refresh``
and ``PULUMI_K8S_DELETE_UNREACHABLE``, so the objects of the deleted cluster leave the state and
are created again in the new one. GKE stacks are not checked.

The stack factory is injectable: tests pass a fake that records every operation.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pulumi import automation as auto

from packetwalk.errors import PacketwalkError
from packetwalk.host import probes
from packetwalk.lab.config import LabConfig
from packetwalk.lab.urns import CLUSTER_PROJECT as CLUSTER_PROJECT  # re-exported (tasks, tests)
from packetwalk.lab.urns import KIND_CLUSTER_COMMAND, STACK_TYPE, kind_child_urn, kind_recreate_urns
from packetwalk.lab.urns import LAB_PROJECT as LAB_PROJECT

STATE_DIR = Path(".packetwalk") / "state"
UNCHANGED_OPS = frozenset({"same", "read", "refresh"})


class StackError(PacketwalkError):
    """A Pulumi operation failed; the message says which stack and what Pulumi reported."""


# -- the slice of pulumi.automation.Stack that packetwalk uses ---------------------------------


class PulumiStack(Protocol):
    name: str

    def up(
        self,
        *,
        on_event: Callable[[auto.EngineEvent], None] | None = None,
        replace: list[str] | None = None,
        refresh: bool | None = None,
    ) -> Any: ...

    def preview(self, *, on_event: Callable[[auto.EngineEvent], None] | None = None) -> Any: ...

    def destroy(self, *, on_event: Callable[[auto.EngineEvent], None] | None = None) -> Any: ...

    def refresh(
        self,
        *,
        on_event: Callable[[auto.EngineEvent], None] | None = None,
        clear_pending_creates: bool | None = None,
    ) -> Any: ...

    def outputs(self) -> Mapping[str, auto.OutputValue]: ...

    def export_stack(self) -> auto.Deployment: ...

    def cancel(self) -> None: ...


@dataclass(frozen=True)
class Project:
    name: str
    work_dir: Path


@dataclass(frozen=True)
class StackRequest:
    """Everything a factory needs to open one stack of one project."""

    stack: str
    project: Project
    env: Mapping[str, str]
    create: bool


StackFactory = Callable[[StackRequest], PulumiStack | None]
"""Open a stack (create it if missing when ``create``); None when missing and not ``create``."""


def local_stack(request: StackRequest) -> PulumiStack | None:
    """The real factory: a LocalWorkspace over the committed program in ``work_dir``.

    No ``project_settings`` are passed: they would rewrite the committed Pulumi.yaml.
    """
    opts = auto.LocalWorkspaceOptions(env_vars=dict(request.env), secrets_provider="passphrase")
    work_dir = str(request.project.work_dir)
    try:
        if request.create:
            return auto.create_or_select_stack(request.stack, work_dir=work_dir, opts=opts)
        return auto.select_stack(request.stack, work_dir=work_dir, opts=opts)
    except auto.StackNotFoundError:
        return None
    except FileNotFoundError as err:
        raise StackError(
            f"the pulumi CLI was not found ({err}); run `invoke doctor`, or `invoke tools`"
        ) from err


# -- environment -------------------------------------------------------------------------------


def state_dir(repo: Path) -> Path:
    return repo / STATE_DIR


def pulumi_env(repo: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables every Pulumi command gets, on top of the caller's environment."""
    env = {"PULUMI_SKIP_UPDATE_CHECK": "true"}
    if not environ.get("PULUMI_BACKEND_URL"):
        env["PULUMI_BACKEND_URL"] = f"file://{state_dir(repo)}"
    if "PULUMI_CONFIG_PASSPHRASE" not in environ and "PULUMI_CONFIG_PASSPHRASE_FILE" not in environ:
        # Local labs hold no real secrets (the kind kubeconfig only); an empty passphrase keeps
        # `invoke up` non-interactive. Users who want one export PULUMI_CONFIG_PASSPHRASE.
        env["PULUMI_CONFIG_PASSPHRASE"] = ""
    return env


def backend_dir(env: Mapping[str, str], environ: Mapping[str, str]) -> Path | None:
    """The local folder of a ``file://`` backend, None for buckets and Pulumi Cloud."""
    url = env.get("PULUMI_BACKEND_URL") or environ.get("PULUMI_BACKEND_URL", "")
    if not url.startswith("file://"):
        return None
    raw = url[len("file://") :].split("?", 1)[0]
    return Path(raw).expanduser() if raw not in ("", "~") else Path.home()


# -- stale locks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockInfo:
    path: Path
    pid: int
    hostname: str
    username: str
    timestamp: str


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stack_locks(backend: Path, project: str, stack: str) -> list[LockInfo]:
    """The lock files of one stack in a file backend (project-scoped and legacy layouts)."""
    locks_root = backend / ".pulumi" / "locks"
    folders = [locks_root / "organization" / project / stack, locks_root / stack]
    found = []
    for folder in folders:
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            found.append(
                LockInfo(
                    path,
                    int(data.get("pid", 0)),
                    str(data.get("hostname", "")),
                    str(data.get("username", "")),
                    str(data.get("timestamp", "")),
                )
            )
    return found


def is_stale(lock: LockInfo, hostname: str, alive: Callable[[int], bool] = _pid_alive) -> bool:
    """A lock is provably stale only when its process ran on this host and is gone."""
    return lock.hostname == hostname and lock.pid > 0 and not alive(lock.pid)


# -- events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceEvent:
    """One finished (or failed) resource step, as the progress lines show it."""

    project: str
    op: str
    type: str
    name: str
    seconds: float | None
    failed: bool = False
    planning: bool = False


@dataclass(frozen=True)
class DiagnosticLine:
    project: str
    severity: str
    message: str
    name: str = ""


@dataclass(frozen=True)
class StepStarted:
    """A resource step that will change something has begun (for a "working on..." display)."""

    project: str
    op: str
    type: str
    name: str


ProgressEvent = ResourceEvent | DiagnosticLine | StepStarted
EventSink = Callable[[ProgressEvent], None]


def urn_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1] if "::" in urn else urn


class EventTranslator:
    """Turn the engine's event stream into one :class:`ResourceEvent` per resource step.

    Steps that change nothing (``same``) are counted, not shown: an unchanged lab prints a
    summary instead of sixty identical lines.
    """

    def __init__(
        self, project: str, sink: EventSink, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.project = project
        self.sink = sink
        self.clock = clock
        self.started: dict[str, float] = {}
        self.unchanged = 0

    def __call__(self, event: auto.EngineEvent) -> None:
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            self.started[meta.urn] = self.clock()
            op = meta.op.value if hasattr(meta.op, "value") else str(meta.op)
            if op not in UNCHANGED_OPS and not event.resource_pre_event.planning:
                self.sink(StepStarted(self.project, op, meta.type, urn_name(meta.urn)))
        elif event.res_outputs_event is not None:
            self._step(event.res_outputs_event.metadata, event.res_outputs_event.planning, False)
        elif event.res_op_failed_event is not None:
            self._step(event.res_op_failed_event.metadata, None, True)
        elif event.diagnostic_event is not None:
            diag = event.diagnostic_event
            if diag.severity in ("warning", "error") and not diag.ephemeral:
                message = diag.message.strip()
                if message:
                    self.sink(
                        DiagnosticLine(
                            self.project, diag.severity, message, urn_name(diag.urn or "")
                        )
                    )

    def _step(self, meta: auto.StepEventMetadata, planning: bool | None, failed: bool) -> None:
        op = meta.op.value if hasattr(meta.op, "value") else str(meta.op)
        start = self.started.pop(meta.urn, None)
        seconds = None if start is None or planning else self.clock() - start
        if op in UNCHANGED_OPS and not failed:
            self.unchanged += 1
            return
        self.sink(
            ResourceEvent(
                self.project, op, meta.type, urn_name(meta.urn), seconds, failed, bool(planning)
            )
        )


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectResult:
    project: str
    operation: str
    changes: Mapping[str, int]
    outputs: Mapping[str, object] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return any(count for op, count in self.changes.items() if op not in UNCHANGED_OPS)


@dataclass(frozen=True)
class RunSummary:
    stack: str
    operation: str
    results: tuple[ProjectResult, ...]
    notes: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return any(result.changed for result in self.results)


@dataclass(frozen=True)
class LabOutputs:
    """The two stacks' outputs, with secrets left out (the kubeconfig is never printed)."""

    cluster: Mapping[str, object]
    lab: Mapping[str, object]
    secret_names: frozenset[str] = frozenset()
    kubeconfig: str | None = None

    @property
    def exists(self) -> bool:
        return bool(self.cluster or self.lab)

    def get(self, key: str, default: object = None) -> object:
        if key in self.lab:
            return self.lab[key]
        return self.cluster.get(key, default)


def _op_counts(raw: Mapping[Any, int] | None) -> dict[str, int]:
    counts: dict[str, int] = {}
    for op, count in (raw or {}).items():
        key = op.value if hasattr(op, "value") else str(op)
        counts[key] = counts.get(key, 0) + int(count)
    return counts


def _plain_outputs(outputs: Mapping[str, auto.OutputValue]) -> tuple[dict[str, object], set[str]]:
    plain: dict[str, object] = {}
    secret: set[str] = set()
    for key, value in outputs.items():
        if value.secret:
            secret.add(key)
        else:
            plain[key] = value.value
    return plain, secret


def _failure(project: str, stack: str, operation: str, err: Exception) -> StackError:
    text = str(err).strip()
    if isinstance(err, auto.ConcurrentUpdateError):
        hint = (
            "another Pulumi run holds the stack's lock; wait for it to finish. If none is running, "
            "`invoke up --unlock` removes the lock"
        )
        return StackError(f"{operation} {project}/{stack}: {hint}\n{text}")
    return StackError(f"{operation} {project}/{stack} failed:\n{text}")


# -- a kind cluster deleted behind Pulumi's back ----------------------------------------------

DELETE_UNREACHABLE = {"PULUMI_K8S_DELETE_UNREACHABLE": "true"}
"""Lets the Kubernetes provider drop objects of a cluster that is gone instead of failing."""


def state_resources(deployment: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The resources of an exported deployment by URN."""
    found: dict[str, Mapping[str, Any]] = {}
    for resource in deployment.get("resources") or []:
        if isinstance(resource, Mapping) and isinstance(resource.get("urn"), str):
            found[resource["urn"]] = resource
    return found


def state_outputs(resources: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    """The stack outputs recorded in the state (secrets stay ciphertext mappings)."""
    for resource in resources.values():
        if resource.get("type") == STACK_TYPE and isinstance(resource.get("outputs"), Mapping):
            outputs: Mapping[str, Any] = resource["outputs"]
            return outputs
    return {}


def listed_kind_clusters(stdout: str) -> set[str]:
    """Names from ``kind get clusters`` (one a line; "No kind clusters found." goes to stderr)."""
    return {line.strip() for line in stdout.splitlines() if line.strip()}


@dataclass(frozen=True)
class ClusterCheck:
    """What comparing the state with ``kind get clusters`` found out."""

    replace: tuple[str, ...] = ()
    note: str = ""

    @property
    def recreate(self) -> bool:
        return bool(self.replace)


class LabStacks:
    """The cluster and lab stacks of one packetwalk stack name (``kind``, ``kind-cilium``...)."""

    def __init__(
        self,
        stack: str,
        *,
        repo: Path,
        config: LabConfig | None = None,
        factory: StackFactory = local_stack,
        environ: Mapping[str, str] | None = None,
        sink: EventSink | None = None,
        hostname: str | None = None,
        alive: Callable[[int], bool] = _pid_alive,
        runner: probes.Runner | None = None,
        which: probes.Which | None = None,
    ) -> None:
        self.stack = stack
        self.repo = repo
        self.config = config
        """The settings the task already parsed (None: read what the state holds instead)."""
        self.factory = factory
        self.environ = dict(os.environ if environ is None else environ)
        self.sink: EventSink = sink or (lambda _event: None)
        self.hostname = hostname or socket.gethostname()
        self.alive = alive
        self.runner = runner or probes.subprocess_runner(env=self.environ)
        self.which = which or probes.path_which(self.environ.get("PATH"))
        self.cluster = Project(CLUSTER_PROJECT, repo / "stacks" / "cluster")
        self.lab = Project(LAB_PROJECT, repo / "stacks" / "lab")
        self.env = pulumi_env(repo, self.environ)

    # -- plumbing

    def _open(
        self, project: Project, *, create: bool, extra: Mapping[str, str] | None = None
    ) -> PulumiStack | None:
        env = {**self.env, **(extra or {})}
        if "PULUMI_BACKEND_URL" in env:
            backend = backend_dir(env, self.environ)
            if backend is not None:
                backend.mkdir(parents=True, exist_ok=True)
        return self.factory(StackRequest(self.stack, project, env, create))

    def _translator(self, project: Project) -> EventTranslator:
        return EventTranslator(project.name, self.sink)

    def _recover(
        self, project: Project, stack: PulumiStack, *, unlock: bool
    ) -> tuple[list[str], Mapping[str, Any]]:
        """Make a stack an interrupted run left behind usable again; say what was done.

        Also returns the state as it is afterwards (the exported deployment).
        """
        notes: list[str] = []
        backend = backend_dir(self.env, self.environ)
        locks = stack_locks(backend, project.name, self.stack) if backend else []
        stale = [lock for lock in locks if is_stale(lock, self.hostname, self.alive)]
        if locks and (unlock or len(stale) == len(locks)):
            stack.cancel()
            why = (
                "as asked (--unlock)"
                if unlock and len(stale) < len(locks)
                else "its process is gone"
            )
            notes.append(f"{project.name}: removed the lock of an earlier run ({why})")
        deployment = stack.export_stack().deployment or {}
        pending = deployment.get("pending_operations") or []
        if pending:
            stack.refresh(on_event=self._translator(project), clear_pending_creates=True)
            notes.append(
                f"{project.name}: an earlier run was interrupted with {len(pending)} operation(s) "
                "in flight; refreshed the state from the cluster and cleared them"
            )
            deployment = stack.export_stack().deployment or {}
        return notes, deployment

    def check_kind_cluster(self, deployment: Mapping[str, Any]) -> ClusterCheck:
        """Does the kind cluster the cluster stack's state holds still exist?

        Only a definite "kind lists clusters, and not this one" leads to a recreation; when kind
        cannot be asked the run goes on as before (``invoke up`` checked the tools already).
        """
        cfg = self.config
        resources = state_resources(deployment)
        outputs = state_outputs(resources)
        platform = cfg.platform if cfg is not None else outputs.get("platform", "kind")
        if platform != "kind" or kind_child_urn(self.stack, KIND_CLUSTER_COMMAND) not in resources:
            return ClusterCheck()
        name = outputs.get("clusterName")
        if not isinstance(name, str) or not name:
            name = cfg.cluster_name if cfg is not None else ""
        if not name:
            return ClusterCheck(
                note=f"{self.cluster.name}: the state holds a kind cluster but not its name; "
                "not checking whether it still exists"
            )
        unknown = (
            f"{self.cluster.name}: could not ask kind whether cluster {name!r} still exists "
            "({why}); if you deleted it by hand, run `invoke down` and `invoke up`"
        )
        kind = self.which("kind")
        if kind is None:
            return ClusterCheck(note=unknown.format(why="kind is not on PATH"))
        try:
            answer = self.runner((kind, "get", "clusters"))
        except (FileNotFoundError, PermissionError) as err:
            return ClusterCheck(note=unknown.format(why=str(err)))
        if answer.returncode != 0:
            said = (answer.stderr.strip() or answer.stdout.strip() or "").splitlines()
            why = said[0] if said else f"`kind get clusters` exited {answer.returncode}"
            return ClusterCheck(note=unknown.format(why=why))
        if name in listed_kind_clusters(answer.stdout):
            return ClusterCheck()
        replace = tuple(urn for urn in kind_recreate_urns(self.stack) if urn in resources)
        return ClusterCheck(
            replace,
            f"{self.cluster.name}: kind cluster {name!r} is in the state but `kind get clusters` "
            "does not list it (deleted by hand?); recreating it, then bringing the lab up again "
            "in the new cluster",
        )

    # -- operations

    def up(self, *, unlock: bool = False) -> RunSummary:
        """Create or update the cluster, then the lab; an unchanged lab stays unchanged."""
        results: list[ProjectResult] = []
        notes: list[str] = []
        recreated = False
        for project in (self.cluster, self.lab):
            # After a recreation the lab's objects are in the state but not in the new cluster, and
            # the old cluster's address answers no more: refresh drops them (delete-unreachable),
            # the update creates them again.
            after_recreate = recreated and project is self.lab
            stack = self._open(
                project, create=True, extra=DELETE_UNREACHABLE if after_recreate else None
            )
            assert stack is not None, "factory returned no stack with create=True"
            try:
                recovered, deployment = self._recover(project, stack, unlock=unlock)
                notes += recovered
                replace: list[str] | None = None
                if project is self.cluster:
                    check = self.check_kind_cluster(deployment)
                    if check.note:
                        notes.append(check.note)
                        self.sink(DiagnosticLine(project.name, "warning", check.note))
                    recreated = check.recreate
                    replace = list(check.replace) or None
                translator = self._translator(project)
                result = stack.up(
                    on_event=translator, replace=replace, refresh=True if after_recreate else None
                )
                outputs, _secret = _plain_outputs(stack.outputs())
            except auto.CommandError as err:
                raise _failure(project.name, self.stack, "up", err) from err
            changes = _op_counts(getattr(result.summary, "resource_changes", None))
            results.append(ProjectResult(project.name, "up", changes, outputs))
        return RunSummary(self.stack, "up", tuple(results), tuple(notes))

    def preview(self) -> RunSummary:
        """Preview the cluster stack, and the lab stack once the cluster (its kubeconfig) exists."""
        results: list[ProjectResult] = []
        skipped: list[str] = []
        cluster = self._open(self.cluster, create=True)
        assert cluster is not None
        try:
            preview = cluster.preview(on_event=self._translator(self.cluster))
            results.append(
                ProjectResult(self.cluster.name, "preview", _op_counts(preview.change_summary))
            )
            cluster_outputs = cluster.outputs()
        except auto.CommandError as err:
            raise _failure(self.cluster.name, self.stack, "preview", err) from err
        if "kubeconfig" not in cluster_outputs:
            skipped.append(
                f"{self.lab.name}: not previewed, the cluster does not exist yet (the lab needs "
                "its kubeconfig); `invoke up` creates the cluster, then the lab"
            )
            return RunSummary(self.stack, "preview", tuple(results), skipped=tuple(skipped))
        lab = self._open(self.lab, create=True)
        assert lab is not None
        try:
            preview = lab.preview(on_event=self._translator(self.lab))
        except auto.CommandError as err:
            raise _failure(self.lab.name, self.stack, "preview", err) from err
        results.append(ProjectResult(self.lab.name, "preview", _op_counts(preview.change_summary)))
        return RunSummary(self.stack, "preview", tuple(results))

    def down(self, *, unlock: bool = False) -> RunSummary:
        """Destroy the lab, then the cluster; works when the cluster was already deleted by hand."""
        # Without this the Kubernetes provider refuses to drop objects of a vanished cluster
        # ("configured Kubernetes cluster is unreachable"); with it, their state is dropped.
        extra = DELETE_UNREACHABLE
        results: list[ProjectResult] = []
        notes: list[str] = []
        skipped: list[str] = []
        for project in (self.lab, self.cluster):
            stack = self._open(project, create=False, extra=extra)
            if stack is None:
                skipped.append(
                    f"{project.name}: no stack {self.stack!r} in the state, nothing to destroy"
                )
                continue
            try:
                notes += self._recover(project, stack, unlock=unlock)[0]
                result = stack.destroy(on_event=self._translator(project))
            except auto.CommandError as err:
                raise _failure(project.name, self.stack, "destroy", err) from err
            changes = _op_counts(getattr(result.summary, "resource_changes", None))
            results.append(ProjectResult(project.name, "destroy", changes))
        return RunSummary(self.stack, "down", tuple(results), tuple(notes), tuple(skipped))

    def outputs(self) -> LabOutputs:
        """Both stacks' outputs (empty when a stack was never brought up)."""
        collected: list[dict[str, object]] = []
        secret: set[str] = set()
        kubeconfig: str | None = None
        for project in (self.cluster, self.lab):
            stack = self._open(project, create=False)
            if stack is None:
                collected.append({})
                continue
            try:
                raw = stack.outputs()
            except auto.CommandError as err:
                raise _failure(project.name, self.stack, "outputs", err) from err
            plain, names = _plain_outputs(raw)
            if "kubeconfig" in raw:
                kubeconfig = str(raw["kubeconfig"].value)
            collected.append(plain)
            secret |= names
        return LabOutputs(collected[0], collected[1], frozenset(secret), kubeconfig)
