"""Lab module tasks: list modules (``labs``), run one (``lab``), validate them (``lab-validate``).

Tasks stay thin: they parse arguments, call :mod:`packetwalk.playbook` and print through
:mod:`packetwalk.cli.lab_views`. The cluster and the prompt are collaborators in :data:`DEPS`
so tests run every task against the in-memory cluster without a terminal.

On a workshop stack (``packetwalk:participants``) ``--participant N`` says whose lab to use: the
facts (``app_namespace``...) are that participant's, local progress is kept per participant, and
``lab`` records progress in a ConfigMap of the participant's namespace for ``invoke workshop``.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from packetwalk.cli import lab_views
from packetwalk.cli.clusters import participant_help
from packetwalk.errors import PacketwalkError
from packetwalk.kube.access import ClusterAccess
from packetwalk.lab import config
from packetwalk.lab.contexts import credentials_hint, kube_context
from packetwalk.lab.participants import Participant
from packetwalk.playbook import catalog, validate
from packetwalk.playbook.events import Emitter, EventLog, new_run_dir
from packetwalk.playbook.facts import (
    cluster_facts,
    offline_facts,
    select_participant,
    static_facts,
)
from packetwalk.playbook.loader import LoadedModule, PlaybookError, load_module
from packetwalk.playbook.progress import ModuleProgress, ProgressStore
from packetwalk.playbook.runner import LabRunner, RunOptions, refusal

ClusterFactory = Callable[[config.LabConfig, str | None], ClusterAccess]
"""``(stack config, kube context) -> ClusterAccess``."""


def _kubectl_cluster(cfg: config.LabConfig, context: str | None) -> ClusterAccess:
    from packetwalk.host.process import run_process
    from packetwalk.kube.kubectl import KubectlCluster

    # Module commands name repo-relative files (labs/manifests/...): run them from the repo.
    run = functools.partial(run_process, cwd=str(DEPS.repo))
    return KubectlCluster(context=context, kubeconfig=cfg.kubeconfig, run=run)


@dataclass
class Deps:
    """What the tasks talk to; tests replace fields (``monkeypatch.setattr(DEPS, ...)``)."""

    repo: Path = config.REPO_ROOT
    labs_dir: Path = catalog.LABS_DIR
    stacks_dir: Path = config.STACKS_DIR
    cluster: ClusterFactory = _kubectl_cluster
    ask: Callable[[str], str] = lab_views.ask


DEPS = Deps()


def _fail(error: PacketwalkError) -> Exit:
    return Exit(lab_views.error_text(error), code=1)


PARTICIPANT_HELP = participant_help("your namespace (vote-pNN) and hosts")


def progress_store(cfg: config.LabConfig, participant: Participant) -> ProgressStore:
    """The local progress of one participant: per stack, and per participant on a shared
    cluster (``.packetwalk/progress/<stack>-p03.json``)."""
    key = f"{cfg.stack}-{participant.name}" if participant.shares_cluster else cfg.stack
    return ProgressStore(DEPS.repo, key)


def _connect(
    cfg: config.LabConfig, participant: Participant
) -> tuple[ClusterAccess, dict[str, object]]:
    """Cluster access and facts, or one clear error when the lab's cluster does not answer."""
    context = kube_context(cfg, participant.cluster)
    try:
        access = DEPS.cluster(cfg, context)
        return access, cluster_facts(cfg, access, participant)
    except PacketwalkError:
        raise
    except Exception as error:  # client/config/connection errors from the adapter
        raise Exit(
            f"cannot reach the cluster of stack {cfg.stack} ({context or 'the current context'}):"
            f" {type(error).__name__}: {error}\n{credentials_hint(cfg, participant.cluster)}",
            code=1,
        ) from error


@task(
    help={
        "stack": f"the stack whose progress to show (default: {config.DEFAULT_STACK})",
        "participant": PARTICIPANT_HELP,
    }
)
def labs(c: Context, stack: str = config.DEFAULT_STACK, participant: int = 0) -> None:
    """List the lab modules, one line each, with your progress on the stack."""
    try:
        cfg = config.load_stack_config(stack, DEPS.stacks_dir)
        who = select_participant(cfg, participant)
        store = progress_store(cfg, who)
        entries: list[tuple[LoadedModule, ModuleProgress]] = []
        broken: list[PlaybookError] = []
        for path in catalog.module_paths(DEPS.labs_dir):
            try:
                loaded = load_module(path)
            except PlaybookError as error:  # list the others; say which file to fix
                broken.append(error)
                continue
            entries.append((loaded, store.load(loaded.id)))
    except PacketwalkError as error:
        raise _fail(error) from error
    lab_views.print_module_list(entries, cfg, who)
    for problem in broken:
        lab_views.print_broken_module(problem)
    if broken:
        raise Exit(f"{len(broken)} module file(s) do not load: `invoke lab-validate`", code=1)


@task(
    help={
        "paths": "comma-separated module files or folders (default: every module in labs/)",
        "stack": "validate against this stack only (default: every stacks/Pulumi.*.yaml)",
    },
)
def lab_validate(c: Context, paths: str = "", stack: str = "") -> None:
    """Check lab modules: schema, templates against every stack's facts, when expressions.

    Problems print as FILE:LINE:COL: message; the task exits non-zero when there is any.
    """
    files: list[Path] = []
    for item in (p.strip() for p in paths.split(",") if p.strip()):
        path = Path(item)
        files.extend(catalog.module_paths(path) if path.is_dir() else [path])
    if not paths:
        files = catalog.module_paths(DEPS.labs_dir)
    if not files:
        raise Exit("no lab modules to validate (labs/NN-slug.yaml)", code=1)
    try:
        if stack:
            from packetwalk.playbook.facts import offline_facts

            stacks = {stack: offline_facts(config.load_stack_config(stack, DEPS.stacks_dir))}
        else:
            stacks = catalog.all_offline_facts(DEPS.stacks_dir)
    except PacketwalkError as error:
        raise _fail(error) from error
    reports = validate.validate_files(files, stacks)
    lab_views.print_validation(reports)
    count = sum(len(report.problems) for report in reports)
    if count:
        raise Exit(f"{count} problem(s) in {len(reports)} module file(s)", code=1)


@task(
    help={
        "module": "module id (01-pod-networking) or its number (1)",
        "step": "start at this step (1-based; default: where you left off)",
        "stack": f"the lab's stack (default: {config.DEFAULT_STACK})",
        "check": "only verify the current step (or --step), like a Killercoda verify",
        "yes": "run without pauses; pause steps run their solution (instructors, CI)",
        "dry_run": "print every step's commands with the stack config's values; no cluster",
        "reset": "forget your progress on this module first",
        "participant": PARTICIPANT_HELP,
    },
    positional=["module"],
)
def lab(
    c: Context,
    module: str,
    step: int = 0,
    stack: str = config.DEFAULT_STACK,
    check: bool = False,
    yes: bool = False,
    dry_run: bool = False,
    reset: bool = False,
    participant: int = 0,
) -> None:
    """Run a lab module step by step: explanation, each command, its output, the checks.

    Progress is saved per stack: run it again to resume; --check verifies the current step.
    """
    options = RunOptions(step=step or None, check=check, yes=yes, dry_run=dry_run)
    view = lab_views.RunView()
    try:
        cfg = config.load_stack_config(stack, DEPS.stacks_dir)
        who = select_participant(cfg, participant)
        loaded = load_module(catalog.find_module(module, DEPS.labs_dir))
        if dry_run:
            runner = LabRunner(loaded, offline_facts(cfg, who), emit=Emitter(view))
            runner.run(options)
            return
        reason = refusal(loaded, static_facts(cfg, who))
        if reason is not None:
            raise Exit(reason, code=1)
        store = progress_store(cfg, who)
        if reset:
            store.reset(loaded.id)
        access, facts = _connect(cfg, who)
        run_dir = new_run_dir(DEPS.repo, loaded.id)
        log = EventLog(run_dir / "events.jsonl")
        try:
            runner = LabRunner(
                loaded,
                facts,
                emit=Emitter(log, view),
                access=access,
                store=store,
                run_dir=run_dir,
                ask=DEPS.ask,
                publish=True,
                workdir=DEPS.repo,
            )
            result = runner.run(options)
        finally:
            log.close()
            if log.path.stat().st_size == 0:  # refused before anything ran: leave no trace
                shutil.rmtree(run_dir)
    except PacketwalkError as error:
        raise _fail(error) from error
    if not result.ok:
        raise Exit(code=1)


@task(help={"run": "a run folder (runs/<timestamp>-<module>) or its events.jsonl"})
def lab_replay(c: Context, run: str) -> None:
    """Show a finished lab run again from its events.jsonl."""
    path = Path(run)
    if path.is_dir():
        path = path / "events.jsonl"
    if not path.is_file():
        raise Exit(f"{path}: no such events file (runs/<timestamp>-<module>/events.jsonl)", code=1)
    lab_views.replay(path)
