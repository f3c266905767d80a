"""``invoke render``: every object a stack creates, charts rendered with the real Helm library."""

from __future__ import annotations

from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task
from rich.console import Console

from packetwalk.cli import stack_tasks
from packetwalk.cli.stack_tasks import STACK_HELP, resolve_stack
from packetwalk.errors import PacketwalkError
from packetwalk.lab.charts import ChartSpec
from packetwalk.lab.config import DEFAULT_STACK, LabConfig
from packetwalk.render import conformance
from packetwalk.render.chartcache import ChartCache
from packetwalk.render.desired import ClusterAddresses, desired_state
from packetwalk.render.output import component_files, write_files

CACHE_DIR = Path(".packetwalk/lab/charts")
ERR = Console(stderr=True, highlight=False)


def _facts(cfg: LabConfig, lb_range: str, address: str) -> tuple[ClusterAddresses, list[str]]:
    """The cluster-only facts to render with, and a note for each one that was assumed."""
    defaults = ClusterAddresses()
    notes: list[str] = []
    if cfg.platform == "kind" and not lb_range:
        notes.append(
            f"MetalLB range {defaults.lb_address_range} assumed (Docker's usual kind "
            "network); `invoke status` shows the real one, pass --lb-range to use it"
        )
    if cfg.platform == "gke" and not address and (cfg.gke is None or cfg.gke.domain is None):
        notes.append(
            f"ingress address {defaults.ingress_address} assumed (a documentation "
            "address); `invoke status` shows the reserved one, pass --address"
        )
    return ClusterAddresses(
        lb_address_range=lb_range or defaults.lb_address_range,
        ingress_address=address or defaults.ingress_address,
    ), notes


@task(
    help={
        "stack": STACK_HELP,
        "out": "folder for the YAML files (default: rendered/<stack>)",
        "charts": "folder with the pinned chart packages (default: the cache in "
        ".packetwalk/lab/charts, filled from the chart repositories)",
        "lb_range": "kind: the MetalLB address range to render with (see `invoke status`)",
        "address": "GKE: the ingress address to render the nip.io hosts with",
        "force": "replace files in --out that differ",
    }
)
def render(
    c: Context,
    stack: str = DEFAULT_STACK,
    out: str = "",
    charts: str = "",
    lb_range: str = "",
    address: str = "",
    force: bool = False,
) -> None:
    """Write every object the stack creates, in apply order, one YAML file per component.

    The desired state is then checked (namespaces created before use, Pod Security levels that
    admit the pods, chart values the charts know); a problem exits 1 after the files are written.
    """
    deps = stack_tasks.DEPS  # looked up now: tests replace it, as for the other stack tasks
    target = Path(out) if out else deps.repo / "rendered" / stack
    try:
        cfg = resolve_stack(stack, deps)
        cache = ChartCache(deps.repo / CACHE_DIR, source=Path(charts) if charts else None)
        facts, notes = _facts(cfg, lb_range, address)
        with ERR.status(f"rendering stack {stack!r} with Helm ...") as status:

            def locate(spec: ChartSpec) -> Path:
                status.update(f"rendering {spec.chart} {spec.version} with Helm ...")
                return cache.locate(spec)

            components = desired_state(cfg, locate, facts)
            status.update("checking namespaces, Pod Security levels and chart values ...")
            problems = conformance.problems(components, cache.locate)
        files = component_files(stack, components, notes)
    except PacketwalkError as err:
        raise Exit(f"error: {err}", code=1) from err
    except OSError as err:  # e.g. an unreadable chart package or cache folder
        raise Exit(f"error: {err}", code=1) from err
    try:
        write_files(target, files, force=force)
    except PacketwalkError as err:
        raise Exit(f"error: {err}", code=1) from err
    except OSError as err:
        raise Exit(f"error: cannot write {target}: {err}", code=1) from err
    for note in notes:
        ERR.print(f"note: {note}")
    total = sum(len(component.objects) for component in components)
    for (name, _), component in zip(files.items(), components, strict=True):
        hooks = f", {len(component.hooks)} hook(s) dropped" if component.hooks else ""
        print(f"{target / name}: {len(component.objects)} objects{hooks}")
    print(f"{total} objects for stack {stack!r} in {target}")
    if problems:
        for problem in problems:
            ERR.print(f"problem: {problem}", highlight=False, markup=False, soft_wrap=True)
        raise Exit(
            f"error: the stack would not apply cleanly ({len(problems)} problem(s) above; "
            "the files are written for review)",
            code=1,
        )
