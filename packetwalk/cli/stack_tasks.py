"""The lab lifecycle tasks: up, down, preview, status, doctor, tools, kind-config.

Every task checks what it can before touching anything: the stack name and its config first
(errors name the file and line), then the tools the platform needs. The collaborators (the Pulumi
stack factory, the probe runner, the downloader, the cluster access) live in :data:`DEPS` so the
tests swap in fakes without a CLI.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from packetwalk.cli import stack_views
from packetwalk.errors import InputError, PacketwalkError
from packetwalk.host import prereqs, probes, toolchain
from packetwalk.host.stacks import LabStacks, StackFactory, local_stack, pulumi_env
from packetwalk.kube.access import ClusterAccess
from packetwalk.lab.cni import PROFILES
from packetwalk.lab.config import (
    DEFAULT_STACK,
    REPO_ROOT,
    LabConfig,
    check_deployable,
    load_stack_config,
    stack_names,
)
from packetwalk.lab.kindconfig import kind_context, render_kind_config

BIN_DIR = Path(".packetwalk") / "bin"

ClusterFactory = Callable[[str | None, str | None], ClusterAccess]
"""``(context, kubeconfig_path) -> ClusterAccess`` for ``invoke status``'s node list."""


def _kubectl_cluster(context: str | None, kubeconfig: str | None) -> ClusterAccess:
    from packetwalk.kube.kubectl import KubectlCluster

    return KubectlCluster(context=context, kubeconfig=kubeconfig)


def _os_name() -> str:
    return {"linux": "linux", "darwin": "darwin"}.get(sys.platform, sys.platform)


@dataclass
class Deps:
    """What the tasks talk to; tests replace fields (``monkeypatch.setattr(DEPS, ...)``)."""

    repo: Path = REPO_ROOT
    environ: MutableMapping[str, str] = field(default_factory=lambda: os.environ)
    factory: StackFactory = local_stack
    runner: probes.Runner | None = None
    os_name: str = field(default_factory=_os_name)
    console: Console = field(default_factory=Console)
    fetcher: toolchain.Fetcher = toolchain.urllib_fetcher
    host: Callable[[], tuple[str, str]] = toolchain.host_platform
    cluster: ClusterFactory = _kubectl_cluster

    @property
    def stacks_dir(self) -> Path:
        return self.repo / "stacks"

    @property
    def bin_dir(self) -> Path:
        return self.repo / BIN_DIR


DEPS = Deps()


# -- shared steps --------------------------------------------------------------------------------


def use_local_tools(deps: Deps) -> str:
    """Put ``.packetwalk/bin`` (``invoke tools``) and this venv's bin first on PATH; return PATH.

    The venv's bin matters because the Pulumi CLI starts the stack programs with ``python3``
    from PATH, and ``./invoke`` runs without an activated venv.
    """
    first = [str(deps.bin_dir), str(Path(sys.executable).parent)]
    rest = [p for p in deps.environ.get("PATH", "").split(os.pathsep) if p and p not in first]
    path = os.pathsep.join(first + rest)
    deps.environ["PATH"] = path
    return path


def _fail(err: PacketwalkError) -> Exit:
    return Exit(f"error: {err}", code=1)


def resolve_stack(stack: str, deps: Deps) -> LabConfig:
    """Validate the stack name and its config; InputError names the file, line and the choices."""
    known = stack_names(deps.stacks_dir)
    if stack not in known:
        raise InputError(
            f"unknown stack {stack!r}",
            source=str(deps.stacks_dir / f"Pulumi.{stack}.yaml"),
            choices=known,
        )
    return load_stack_config(stack, deps.stacks_dir)


def run_checks(
    requirements: Sequence[prereqs.Requirement], deps: Deps
) -> list[prereqs.CheckResult]:
    path = use_local_tools(deps)
    runner = deps.runner or probes.subprocess_runner(env=dict(deps.environ))
    found = probes.probe_all(requirements, runner, probes.path_which(path), env=deps.environ)
    return prereqs.check_all(requirements, found, deps.os_name)


def require(requirements: Sequence[prereqs.Requirement], deps: Deps) -> None:
    """Stop (before anything is touched) when a prerequisite is missing, saying how to get it."""
    results = run_checks(requirements, deps)
    if prereqs.failures(results):
        deps.console.print(
            stack_views.doctor_table(prereqs.failures(results), title="missing prerequisites")
        )
        raise Exit(prereqs.missing_message(results), code=1)


def _lab(cfg: LabConfig, deps: Deps, printer: stack_views.EventPrinter | None = None) -> LabStacks:
    return LabStacks(
        cfg.stack,
        config=cfg,
        repo=deps.repo,
        factory=deps.factory,
        environ=deps.environ,
        sink=printer or stack_views.EventPrinter(deps.console),
    )


def _only(names: Sequence[str], platform: str) -> list[prereqs.Requirement]:
    return [r for r in prereqs.requirements_for(platform) if r.name in names]


# -- tasks ---------------------------------------------------------------------------------------

STACK_HELP = "stack name: a stacks/Pulumi.<name>.yaml (default: kind)"
INTERRUPTED = (
    "interrupted. Run `invoke {task}` again: it clears what the interruption left behind "
    "(a stale lock, operations in flight) and carries on."
)


@task(
    help={
        "stack": STACK_HELP,
        "unlock": "remove the stack's lock even when its owner may still run (after a crash)",
    }
)
def up(c: Context, stack: str = DEFAULT_STACK, unlock: bool = False) -> None:
    """Create or update the lab: the cluster stack, then the in-cluster stack. Safe to re-run."""
    deps = DEPS
    try:
        cfg = resolve_stack(stack, deps)
        check_deployable(cfg)
        require(prereqs.requirements_for(cfg.platform), deps)
        deps.console.print(f"[bold]invoke up[/] stack [cyan]{stack}[/] ({cfg.platform}, {cfg.cni})")
        printer = stack_views.EventPrinter(deps.console)
        lab = _lab(cfg, deps, printer)
        with deps.console.status("starting pulumi...") as printer.status:
            summary = lab.up(unlock=unlock)
        outputs = lab.outputs()
    except PacketwalkError as err:
        raise _fail(err) from err
    except KeyboardInterrupt:
        raise Exit(INTERRUPTED.format(task="up"), code=130) from None
    deps.console.print(stack_views.run_summary(summary, outputs))


@task(help={"stack": STACK_HELP, "unlock": "remove a leftover lock first (see `invoke up`)"})
def down(c: Context, stack: str = DEFAULT_STACK, unlock: bool = False) -> None:
    """Destroy the lab and its cluster; succeeds when the cluster was already deleted by hand."""
    deps = DEPS
    try:
        cfg = resolve_stack(stack, deps)
        require(prereqs.requirements_for(cfg.platform), deps)
        printer = stack_views.EventPrinter(deps.console)
        with deps.console.status("starting pulumi...") as printer.status:
            summary = _lab(cfg, deps, printer).down(unlock=unlock)
    except PacketwalkError as err:
        raise _fail(err) from err
    except KeyboardInterrupt:
        raise Exit(INTERRUPTED.format(task="down"), code=130) from None
    deps.console.print(stack_views.run_summary(summary))
    deps.console.print(f"Stack {stack!r} is down.", style="green")


@task(help={"stack": STACK_HELP})
def preview(c: Context, stack: str = DEFAULT_STACK) -> None:
    """Show what `invoke up` would change, without changing anything."""
    deps = DEPS
    try:
        cfg = resolve_stack(stack, deps)
        check_deployable(cfg)
        require(_only(["pulumi"], cfg.platform), deps)
        summary = _lab(cfg, deps).preview()
    except PacketwalkError as err:
        raise _fail(err) from err
    deps.console.print(stack_views.run_summary(summary))


def _nodes(
    cfg: LabConfig, context: str | None, kubeconfig: str | None, deps: Deps
) -> tuple[list[stack_views.NodeRow] | None, str]:
    """Live node rows through kubectl, or None and why not."""
    kubectl = run_checks(_only(["kubectl"], cfg.platform), deps)
    if prereqs.failures(kubectl):
        return None, "kubectl not available; nodes shown from the stack outputs"
    if kubeconfig is None:
        return None, "no kubeconfig output; nodes shown from the stack outputs"
    fd, path = tempfile.mkstemp(prefix="packetwalk-kubeconfig-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(kubeconfig)
        items = deps.cluster(context, path).get_objects("nodes")
    except PacketwalkError as err:
        return None, f"cluster not reachable ({err}); nodes shown from the stack outputs"
    finally:
        Path(path).unlink(missing_ok=True)
    return stack_views.node_rows(items), ""


@task(help={"stack": STACK_HELP})
def status(c: Context, stack: str = DEFAULT_STACK) -> None:
    """Show the lab: stack outputs, nodes, CNI, kube-proxy mode and the vote/result URLs."""
    deps = DEPS
    try:
        cfg = resolve_stack(stack, deps)
        require(_only(["pulumi"], cfg.platform), deps)
        outputs = _lab(cfg, deps).outputs()
    except PacketwalkError as err:
        raise _fail(err) from err
    nodes: list[stack_views.NodeRow] | None = None
    note = ""
    if outputs.exists:
        context = outputs.get("kubeContext")
        fallback = kind_context(cfg) if cfg.platform == "kind" else None
        nodes, note = _nodes(cfg, str(context) if context else fallback, outputs.kubeconfig, deps)
    configured = {
        "platform": cfg.platform,
        "cluster_name": cfg.cluster_name,
        "cni": cfg.cni,
        "kube_proxy_mode": cfg.kube_proxy_mode,
        "app_namespace": cfg.app_namespace,
    }
    deps.console.print(
        stack_views.status_view(stack, outputs, configured=configured, nodes=nodes, nodes_note=note)
    )


@task(help={"stack": STACK_HELP + "; its platform decides which tools are checked"})
def doctor(c: Context, stack: str = DEFAULT_STACK) -> None:
    """Check the tools a lab needs (versions, Docker daemon, credentials) and how to fix each."""
    deps = DEPS
    problem = ""
    try:
        platform = resolve_stack(stack, deps).platform
    except PacketwalkError as err:
        problem = str(err)
        platform = "gke" if stack.startswith("gke") else "kind"
    results = run_checks(prereqs.requirements_for(platform), deps)
    deps.console.print(stack_views.doctor_table(results, title=f"prerequisites for {platform}"))
    deps.console.print(stack_views.doctor_details(results), end="", highlight=False)
    env = pulumi_env(deps.repo, deps.environ)
    backend = env.get("PULUMI_BACKEND_URL") or deps.environ.get("PULUMI_BACKEND_URL", "")
    deps.console.print(f"state backend: {backend}", highlight=False)
    if problem:
        deps.console.print(f"stack config: {problem}", style="red", highlight=False)
    deps.console.print(stack_views.doctor_summary(results))
    if problem or prereqs.failures(results):
        raise Exit(code=1)


class _Bars:
    """rich download bars keyed by label."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.ids: dict[str, TaskID] = {}

    def __call__(self, label: str, done: int, total: int | None) -> None:
        if label not in self.ids:
            self.ids[label] = self.progress.add_task(label, total=total)
        self.progress.update(self.ids[label], completed=done, total=total)


@task(help={"only": "install only these tools (comma-separated: kind,kubectl,pulumi)"})
def tools(c: Context, only: str = "") -> None:
    """Install pinned kind, kubectl and pulumi into .packetwalk/bin, checking published SHA-256s."""
    deps = DEPS
    try:
        os_name, arch = deps.host()
        specs = toolchain.tool_specs(os_name, arch)
        wanted = [name.strip() for name in only.split(",") if name.strip()]
        unknown = sorted(set(wanted) - {spec.name for spec in specs})
        if unknown:
            raise InputError(
                f"unknown tool(s) {', '.join(unknown)}",
                source="--only",
                choices=[spec.name for spec in specs],
            )
        chosen = [spec for spec in specs if not wanted or spec.name in wanted]
        chain = toolchain.Toolchain(deps.bin_dir, deps.fetcher)
        done: list[toolchain.Installed] = []
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=deps.console,
        ) as progress:
            bars = _Bars(progress)
            for spec in chosen:
                done.append(chain.install(spec, bars))
    except PacketwalkError as err:
        raise _fail(err) from err
    table = Table(title=f"tools in {deps.bin_dir}", title_justify="left")
    for column in ("tool", "version", "result", "files"):
        table.add_column(column)
    for item in done:
        table.add_row(item.name, item.version, item.action, ", ".join(sorted(item.files)))
    deps.console.print(table)
    deps.console.print(
        "The invoke tasks use these automatically. For your shell: "
        f"export PATH={deps.bin_dir}:$PATH",
        highlight=False,
    )


def _flannel_plugins(cfg: LabConfig, given: str, fetch: bool, c: Context, deps: Deps) -> str | None:
    """The CNI plugins folder a Flannel kind config mounts (None for other CNIs)."""
    if not PROFILES[cfg.cni].needs_cni_plugins:
        return None
    folder = Path(given).resolve() if given else toolchain.cni_plugins_dir(deps.repo)
    if fetch:
        result = c.run(toolchain.cni_plugins_script(folder), hide=True, warn=True, in_stream=False)
        if result is None or not result.ok:
            err = result.stderr.strip() if result is not None else ""
            raise PacketwalkError(f"fetching the CNI plugins into {folder} failed: {err}")
    if not (folder / "bridge").is_file():
        raise InputError(
            f"Flannel needs the reference CNI plugins (with `bridge`) in {folder}; run "
            f"`invoke kind-config --stack {cfg.stack} --fetch-cni-plugins` or `invoke up`",
            source=cfg.source,
            location="key packetwalk:cni",
        )
    return str(folder)


@task(
    help={
        "stack": STACK_HELP,
        "out": "write the config to this file instead of printing it",
        "cni_plugins_dir": "host folder with the CNI plugins for Flannel stacks "
        "(default: .packetwalk/lab/cni-plugins/<version>, where `invoke up` puts them)",
        "fetch_cni_plugins": "download and verify the CNI plugins into that folder first (CI)",
        "force": "overwrite --out when it holds something else",
    }
)
def kind_config(
    c: Context,
    stack: str = DEFAULT_STACK,
    out: str = "",
    cni_plugins_dir: str = "",
    fetch_cni_plugins: bool = False,
    force: bool = False,
) -> None:
    """Print (or write) the kind cluster config of a stack, e.g. for helm/kind-action in CI."""
    deps = DEPS
    try:
        cfg = resolve_stack(stack, deps)
        if cfg.platform != "kind":
            raise InputError(
                f"stack {stack!r} is platform {cfg.platform!r}; only kind stacks have one",
                source=cfg.source,
                location="key packetwalk:platform",
                choices=[name for name in stack_names(deps.stacks_dir) if name.startswith("kind")],
            )
        plugins = _flannel_plugins(cfg, cni_plugins_dir, fetch_cni_plugins, c, deps)
        text = render_kind_config(cfg, cni_plugins_dir=plugins)
        if not out:
            sys.stdout.write(text)
            return
        target = Path(out)
        if target.exists() and not force and target.read_text() != text:
            raise InputError(
                "exists with different content; not overwriting it (use --force)", source=out
            )
        target.write_text(text)
    except PacketwalkError as err:
        raise _fail(err) from err
    except OSError as err:
        raise Exit(f"error: cannot write {out}: {err}", code=1) from err
    deps.console.print(f"wrote {out} (kind config of stack {stack!r})", highlight=False)
