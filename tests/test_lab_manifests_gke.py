"""The eight modules on a simulated GKE lab (tests/gkeworld.py), the counterpart of the kind
runs in tests/test_lab_manifests.py.

For the stacks ``gke`` (Dataplane V2, Gateway front) and ``gke-calico`` (Calico with kube-proxy
in iptables mode, GKE Ingress front), and for participant 3 of the 12-participant workshop
fixture (one Dataplane V2 cluster, namespaces ``vote-p03`` and ``packetwalk-lab-p03``, hosts
under ``lab.example.org``): every module completes when the participant does the exercises, and
when they do nothing every pause step that runs on the stack fails, at its check and nowhere
else. Unlike tests/test_lab_modules.py, the answers come from a model of the cluster in the
real tools' formats, not from each task's own ``expect``: a check that passes whatever the
participant does, or a regex that cannot match what the tool prints, fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gkeworld import GkeWorld, world_for
from labexercises import run_in_world

from packetwalk.kube.captures import NODE_DEBUG_PREFIX, NODE_ENTER
from packetwalk.playbook import templating
from packetwalk.playbook.events import Event
from packetwalk.playbook.facts import cluster_facts, offline_facts
from packetwalk.playbook.loader import load_module
from packetwalk.playbook.runner import RunOptions, RunResult

LABS = Path(__file__).resolve().parent.parent / "labs"
MODULE_IDS = [path.stem for path in sorted(LABS.glob("[0-9][0-9]-*.yaml"))]
CASES = ["gke", "gke-calico", "gke-workshop"]
"""The two GKE stacks, and participant 3 of the workshop fixture (tests/data/workshop)."""


def _run_module(
    module: str,
    world: GkeWorld,
    tmp_path: Path,
    options: RunOptions | None = None,
    watch: Callable[[Event], None] | None = None,
) -> tuple[RunResult, list[Event]]:
    return run_in_world(
        LABS / f"{module}.yaml",
        world.cfg,
        world.fake,
        tmp_path,
        participant=world.who,
        options=options,
        watch=watch,
    )


def _failures(events: list[Event]) -> list[dict[str, Any]]:
    """Each failed task with the step, its name, the last command it ran and what went wrong."""
    found, step, name, line = [], None, None, None
    for event in events:
        if event.kind == "step_start":
            step = event.data.get("index")
        elif event.kind == "task_start":
            name = event.data.get("name")
        elif event.kind == "command":
            line = event.data.get("line")
        elif event.kind == "task_result" and not event.data["passed"]:
            found.append({**event.data, "step": step, "name": name, "line": line})
    return found


def _why(events: list[Event]) -> str:
    return "\n".join(
        f"step {f['step']} {f['section']} {f['name']!r}: {f['problems']} (ran: {f['line']})"
        for f in _failures(events)
    )


def _pause_steps(module: str, world: GkeWorld) -> list[int]:
    loaded = load_module(LABS / f"{module}.yaml")
    facts = offline_facts(world.cfg, world.who)
    return [
        index
        for index, step in enumerate(loaded.module.steps)
        if any(task.pause for task in step.tasks)
        and (step.when is None or templating.truth(step.when, facts))
    ]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("module", MODULE_IDS)
def test_module_passes_on_gke_when_the_participant_does_the_work(
    module: str, case: str, tmp_path: Path
) -> None:
    world = world_for(case, tmp_path, lazy=False)
    result, events = _run_module(module, world, tmp_path)
    assert result.status == "completed", _why(events)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("module", MODULE_IDS)
def test_every_pause_check_fails_on_gke_when_the_participant_does_nothing(
    module: str, case: str, tmp_path: Path
) -> None:
    """For each pause step that runs on the stack: the participant does every exercise before
    it (``--yes``), then stops doing anything from that step on. The run must fail at that
    step, and only at its check (an ignored task may fail on the way, as it would anyway)."""
    pauses = _pause_steps(module, world_for(case, tmp_path / "probe", lazy=True))
    if not pauses:
        pytest.skip(f"{module} has no pause on {case}")
    for pause in pauses:
        workdir = tmp_path / f"pause-{pause}"
        workdir.mkdir()
        world = world_for(case, workdir, lazy=False)

        def stop_working(event: Event, world: GkeWorld = world, pause: int = pause) -> None:
            if event.kind == "step_start" and event.data["index"] == pause:
                world.lazy = True

        result, events = _run_module(module, world, workdir, watch=stop_working)
        assert (result.status, result.step) == ("failed", pause), _why(events)
        failed = [f for f in _failures(events) if not f["ignored"]]
        assert failed and all(f["section"] == "check" for f in failed), _why(events)
        assert {f["step"] for f in failed} == {pause}, _why(events)


def test_node_commands_reach_the_node_as_gke_runs_them(tmp_path: Path) -> None:
    """On gke-calico the node's own iptables-save runs behind nsenter in a pw-node pod, and
    netshoot's conntrack without it (COS ships no conntrack); the hosts came from the app's
    Ingress rules (no domain: nip.io names with the load balancer's address)."""
    world = world_for("gke-calico", tmp_path, lazy=False)
    result, events = _run_module("03-kube-proxy", world, tmp_path)
    assert result.status == "completed", _why(events)
    node_execs = [
        c for c in world.fake.calls_of("exec") if (c.pod or "").startswith(NODE_DEBUG_PREFIX)
    ]
    iptables = [c for c in node_execs if "iptables-save" in c.line]
    conntrack = [c for c in node_execs if "conntrack" in c.line]
    assert iptables and all(c.command[: len(NODE_ENTER)] == NODE_ENTER for c in iptables)
    assert conntrack and all(c.command[0] == "conntrack" for c in conntrack)
    facts = cluster_facts(world.cfg, world.fake, world.who)
    assert facts["app_hosts"]["vote"] == "vote.34.117.20.5.nip.io"
    assert facts["control_plane"] is None and len(facts["workers"]) == 2


def test_the_world_answers_an_unknown_command_with_a_failure(tmp_path: Path) -> None:
    """A command the world does not know fails (exit 127) instead of passing silently."""
    world = world_for("gke", tmp_path, lazy=False)
    assert world.fake.kubectl(["get", "frobnicators"]).exit_code == 127
    assert world.fake.shell("nmap 10.0.0.0/24").exit_code == 127
