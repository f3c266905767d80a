"""The participant's side of a simulated lab, shared by the kind world (test_lab_manifests) and
the GKE world (gkeworld): what their applies and deletes changed, and what the lab's own
policies then allow. The worlds differ in their tool output, not in this."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from packetwalk.kube.access import CommandResult
from packetwalk.kube.fake import FakeCluster
from packetwalk.lab.config import LabConfig
from packetwalk.lab.participants import Participant
from packetwalk.playbook.events import Emitter, Event
from packetwalk.playbook.facts import cluster_facts
from packetwalk.playbook.loader import load_module
from packetwalk.playbook.progress import ProgressStore
from packetwalk.playbook.runner import LabRunner, RunOptions, RunResult

APP_FLOWS = frozenset(
    {
        ("vote", "redis"),
        ("worker", "redis"),
        ("worker", "db"),
        ("result", "db"),
        ("traefik", "vote"),
        ("traefik", "result"),
    }
)
"""The voting app's declared calls (stacks/intents/voting-app.yaml), Traefik's included."""

_POLICY_MARKERS = (
    ("selftest", "selftest"),
    ("default-deny", "default-deny"),
    ("allow-netshoot", "allow"),
    ("allow-dns", "dns"),
)
"""Manifest file name -> the lab policy it holds (labs/manifests/netpol/)."""


class LabExercises:
    """What the participant did; ``lazy``: they skip every exercise (solutions included)."""

    def __init__(self, *, lazy: bool) -> None:
        self.lazy = lazy
        self.lab_policies: set[str] = set()
        self.debug_policy_fixed = False
        self.result_calls_redis = False
        self.whoami_ingress = False
        self.etp_local = False
        self.whoami_replicas, self.vote_replicas = 2, 1

    def scaled(self, line: str) -> CommandResult:
        """``kubectl scale ... --replicas=N``: the scale a pause asks for (whoami to 3, vote to
        2) is the exercise a lazy participant skips."""
        replicas = int(line.rsplit("=", 1)[1])
        asked = ("whoami" in line and replicas == 3) or ("vote" in line and replicas == 2)
        if not (self.lazy and asked):
            if "whoami" in line:
                self.whoami_replicas = replicas
            else:
                self.vote_replicas = replicas
        return CommandResult((), 0, "deployment.apps/scaled\n")

    def applied(self, line: str) -> CommandResult:
        """``kubectl apply -f <manifest>``: the exercise state it changes."""
        if self.lazy and "solutions/" in line:
            return CommandResult((), 0, "unchanged\n")
        for marker, policy in _POLICY_MARKERS:
            if marker in line:
                self.lab_policies.add(policy)
        self.debug_policy_fixed |= "solutions/debug-to-redis" in line
        self.etp_local |= "whoami-lb-local" in line
        self.whoami_ingress |= "whoami-ingress" in line
        return CommandResult((), 0, "configured\n")

    def deleted(self, line: str, lab_namespace: str) -> None:
        """``kubectl delete ...``: the lab policies it removes."""
        if "selftest" in line:
            self.lab_policies.discard("selftest")
        if f"networkpolicy --all -n {lab_namespace}" in line:
            self.lab_policies.clear()

    def app_flow(self, source: str, target: str) -> bool:
        """A call inside the app (or from Traefik) under the generated policies."""
        extra = {("result", "redis")} if self.result_calls_redis else set()
        return (source, target) in APP_FLOWS | extra

    def lab_flow(
        self, source: str, target: str, *, into_app: bool, via_vip: bool, default_denied: bool
    ) -> bool:
        """A connection from the lab namespace: into the app (only netshoot -> redis, once the
        exercise policy is fixed and the miniature policies are gone), to whoami under the
        module 06 policies (``via_vip``: by its ClusterIP, which needs no DNS), or elsewhere
        (``default_denied``: what the lab's default-deny stops)."""
        if into_app:
            return (
                target == "redis"
                and source.startswith("netshoot")
                and self.debug_policy_fixed
                and not self.lab_policies
            )
        if target == "whoami" and self.lab_policies & {"selftest", "default-deny"}:
            if "selftest" in self.lab_policies or "allow" not in self.lab_policies:
                return False
            return via_vip or "dns" in self.lab_policies
        return not ("default-deny" in self.lab_policies and default_denied)


def run_in_world(
    module: Path,
    cfg: LabConfig,
    fake: FakeCluster,
    tmp_path: Path,
    *,
    participant: Participant | None = None,
    options: RunOptions | None = None,
    watch: Callable[[Event], None] | None = None,
) -> tuple[RunResult, list[Event]]:
    """Run one lab module on a simulated lab as ``invoke lab --yes`` would (the run folder, the
    participant's own progress file and lab folder under ``tmp_path``); returns its events."""
    events: list[Event] = []
    sinks: list[Callable[[Event], None]] = [events.append] + ([watch] if watch else [])
    run_dir = tmp_path / "runs" / module.stem
    run_dir.mkdir(parents=True, exist_ok=True)
    tag = participant.tag if participant is not None else ""
    runner = LabRunner(
        load_module(module),
        cluster_facts(cfg, fake, participant),
        emit=Emitter(*sinks),
        access=fake,
        store=ProgressStore(tmp_path, cfg.stack + (f"-{tag}" if tag else "")),
        run_dir=run_dir,
        ask=lambda prompt: "",
        sleep=lambda seconds: None,
        workdir=tmp_path,
    )
    return runner.run(options or RunOptions(yes=True)), events
