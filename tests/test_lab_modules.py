"""Every project module: valid against every stack's facts, and runnable end to end.

The end-to-end runs use the in-memory cluster. Real command output cannot exist here, so each
command's answer is synthesized from the task's own expectation (a string its ``stdout`` regex
matches, JSON with the value its ``json`` path wants, the exit code it expects), plus a few
scripted answers where an ``until`` expression wants more. That proves the engine side of every
module: templates resolve with cluster facts and registered results, ``when`` gates per stack,
pause steps run their solution, captures and probes go through ephemeral containers, and every
check is evaluated. A second run per module makes one check fail and expects the step to fail
with its hint. Whether the commands teach the right thing on a real cluster is not shown here.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from packetwalk.lab.config import STACKS_DIR, load_stack_config, stack_names

if TYPE_CHECKING:  # typeshed types the same modules under their pre-3.11 (deprecated) names
    import sre_constants as sre_c
    import sre_parse
else:
    import re._constants as sre_c
    import re._parser as sre_parse
from packetwalk.kube.access import CommandResult, NodeInfo, PodInfo
from packetwalk.kube.fake import Call, FakeCluster
from packetwalk.playbook import templating
from packetwalk.playbook.catalog import all_offline_facts, module_paths
from packetwalk.playbook.events import Emitter, Event
from packetwalk.playbook.facts import cluster_facts, offline_facts, select_participant
from packetwalk.playbook.loader import LoadedModule, load_module
from packetwalk.playbook.model import Expect, Task
from packetwalk.playbook.progress import ProgressStore
from packetwalk.playbook.runner import LabRunner, RunOptions, refusal
from packetwalk.playbook.validate import validate_module

MODULES = module_paths()
STACKS = stack_names()


def test_there_are_eight_modules() -> None:
    assert [p.name[:2] for p in MODULES] == [f"0{i}" for i in range(1, 9)]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_module_is_valid_for_every_stack(path: Path) -> None:
    problems, checked = validate_module(load_module(path), all_offline_facts())
    assert [str(p) for p in problems] == []
    assert checked, f"{path.name} runs on no stack"


# -- synthesizing answers -------------------------------------------------------------------------


def _class_char(items: list[tuple[Any, Any]]) -> str:
    negate = any(op is sre_c.NEGATE for op, _ in items)
    candidates = "a1x Z-_.:/"
    for char in candidates:
        if _in_class(char, items) != negate:
            return char
    raise AssertionError(f"no character for class {items}")


def _in_class(char: str, items: list[tuple[Any, Any]]) -> bool:
    code = ord(char)
    for op, arg in items:
        if op is sre_c.LITERAL and arg == code:
            return True
        if op is sre_c.RANGE and arg[0] <= code <= arg[1]:
            return True
        if op is sre_c.CATEGORY:
            probe = {
                sre_c.CATEGORY_DIGIT: char.isdigit(),
                sre_c.CATEGORY_NOT_DIGIT: not char.isdigit(),
                sre_c.CATEGORY_SPACE: char.isspace(),
                sre_c.CATEGORY_NOT_SPACE: not char.isspace(),
                sre_c.CATEGORY_WORD: char.isalnum() or char == "_",
                sre_c.CATEGORY_NOT_WORD: not (char.isalnum() or char == "_"),
            }
            if probe.get(arg, False):
                return True
    return False


def _synth(parsed: Any) -> str:
    out: list[str] = []
    for op, arg in parsed:
        if op is sre_c.LITERAL:
            out.append(chr(arg))
        elif op is sre_c.NOT_LITERAL:
            out.append("x" if arg != ord("x") else "y")
        elif op is sre_c.ANY:
            out.append("x")
        elif op is sre_c.IN:
            out.append(_class_char(arg))
        elif op is sre_c.BRANCH:
            out.append(_synth(arg[1][0]))
        elif op is sre_c.SUBPATTERN:
            out.append(_synth(arg[-1]))
        elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT):
            low, _, body = arg
            out.append(_synth(body) * max(low, 1))
        elif op is sre_c.AT and arg is sre_c.AT_BOUNDARY:
            out.append("")
    return "".join(out)


def synth(pattern: str) -> str:
    """A string ``re.search(pattern, text, re.M)`` finds."""
    text = _synth(sre_parse.parse(pattern))
    assert re.search(pattern, text, re.MULTILINE), (pattern, text)
    return text


def _json_for(path: str, value: Any) -> Any:
    document: Any = value
    for segment in reversed([s for s in path.split(".") if s]):
        key, _, rest = segment.partition("[")
        for index in reversed(re.findall(r"\[(-?\d+|\*)\]", "[" + rest if rest else "")):
            size = 1 if index in ("*", "-1") else int(index) + 1
            document = [document] * size
        if key:
            document = {key: document}
    return document


def answer(expect: Expect | None) -> CommandResult:
    import json

    rc = 0
    if expect is not None and expect.failed:
        rc = 1
    elif expect is not None and expect.rc is not None:
        rc = int(expect.rc)
    stdout = stderr = ""
    if expect is not None and expect.json_ is not None:
        spec = expect.json_
        value = spec.equals if spec.equals is not None else synth(spec.matches or "x")
        stdout = json.dumps(_json_for(spec.path, value))
    elif expect is not None and expect.stdout is not None:
        stdout = synth(expect.stdout)
    if expect is not None and expect.stderr is not None:
        stderr = synth(expect.stderr)
    return CommandResult((), rc, stdout, stderr)


def pcap(packets: int) -> bytes:
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    return header + (struct.pack("<IIII", 0, 0, 40, 40) + b"\x00" * 40) * packets


SPECIAL: dict[str, str] = {
    # until: expressions that want more than the expectation says
    r"records": "3",
}


class ModuleCluster:
    """A fake cluster that answers each command from the task that is running."""

    def __init__(self, cfg: Any) -> None:
        if cfg.platform == "kind":
            nodes = [
                NodeInfo(
                    name,
                    f"172.18.0.{i + 2}",
                    {"node-role.kubernetes.io/control-plane": ""} if i == 0 else {},
                )
                for i, name in enumerate(offline_facts(cfg)["nodes"])
            ]
        else:  # GKE shows no control plane; its node names carry the pool and a hash
            nodes = [
                NodeInfo(f"gke-{cfg.cluster_name}-pool-1a2b3c4d-{suffix}", f"10.132.0.{i + 2}")
                for i, suffix in enumerate(("x1k2", "q7m4", "z9p3"))
            ]
        self.fake = FakeCluster(nodes=nodes)
        self.fake.stream_default = pcap(4)
        self.task: Task | None = None
        self.break_check = False
        self.broken: list[str] = []
        for kind in ("kubectl", "shell", "exec"):
            self.fake.on(kind, lambda call: True, self._answer)

    def ensure_pod(
        self,
        namespace: str,
        name: str | None = None,
        selector: str | None = None,
        container: str | None = None,
    ) -> None:
        labels = dict(term.split("=", 1) for term in (selector or "").split(",") if "=" in term)
        pod_name = name or "pod-" + "-".join(v for v in labels.values())[:40]
        known = {p.name: p for p in self.fake.pods(namespace)}
        containers = known[pod_name].containers if pod_name in known else ("main",)
        if container and container not in containers:
            containers = (*containers, container)
        self.fake.add_pod(PodInfo(namespace, pod_name, "10.244.1.9", "w", labels, containers))

    def _answer(self, call: Call) -> CommandResult:
        task = self.task
        if task is None:
            return CommandResult((), 0, "", "")
        if call.kind == "exec" and call.command[:1] == ("ip",):
            return CommandResult((), 0, "2: eth0@if7: <UP>\n", "")
        breaking = self.breaking  # the opposite of what the first check expects, every attempt
        if breaking:
            self.broken.append(call.line)
        if task.probe is not None:
            allowed = (task.probe.expect == "allow") != breaking
            return CommandResult((), 0, f"pw-probe-rc={0 if allowed else 1}\n", "")
        if breaking:
            wanted = answer(task.expect)
            return CommandResult((), 0 if wanted.exit_code else 97, "", "broken on purpose")
        for key, text in SPECIAL.items():
            if task.register_ and re.search(key, task.register_):
                return CommandResult((), 0, text + "\n", "")
        return answer(task.expect)

    breaking = False

    def watch(self, event: Event) -> None:
        if event.kind == "task_start":
            self.breaking = self.break_check and event.data["section"] == "check"
            if self.breaking:
                self.break_check = False


def run_module(
    loaded: LoadedModule,
    stack: str,
    tmp_path: Path,
    *,
    break_check: bool = False,
    participant: int = 0,
    stacks_dir: Path = STACKS_DIR,
) -> tuple[Any, list[Event]]:
    cfg = load_stack_config(stack, stacks_dir)
    cluster = ModuleCluster(cfg)
    events: list[Event] = []
    lab = LabRunner(
        loaded,
        cluster_facts(cfg, cluster.fake, select_participant(cfg, participant)),
        emit=Emitter(events.append, cluster.watch),
        access=cluster.fake,
        store=ProgressStore(tmp_path, stack),
        run_dir=tmp_path / "run",
        ask=lambda _: "",
        sleep=lambda _: None,
        workdir=tmp_path,
    )
    assert lab.executor is not None
    original = lab.executor.run

    def run(task: Task) -> Any:
        cluster.task = task
        for ref in _pod_refs(task):
            cluster.ensure_pod(**ref)
        node = (task.capture and task.capture.node) or (task.exec and task.exec.node)
        if node and node not in [n.name for n in cluster.fake.nodes()]:
            cluster.fake.add_node(NodeInfo(node, "172.18.0.99"))  # a name a command printed
        return original(task)

    lab.executor.run = run  # type: ignore[method-assign]
    cluster.break_check = break_check
    result = lab.run(RunOptions(yes=True))
    return result, events


def _pod_refs(task: Task) -> list[dict[str, Any]]:
    refs = []
    if task.exec is not None and task.exec.namespace:
        refs.append(
            {
                "namespace": task.exec.namespace,
                "name": task.exec.pod,
                "selector": task.exec.selector,
                "container": task.exec.container,
            }
        )
    if task.probe is not None:
        source = task.probe.from_
        refs.append(
            {
                "namespace": source.namespace,
                "name": source.name,
                "selector": source.selector,
                "container": source.container,
            }
        )
        target = task.probe.to
        if target.namespace:
            refs.append(
                {"namespace": target.namespace, "name": target.name, "selector": target.selector}
            )
    if task.port_forward is not None:
        forward = task.port_forward
        refs.append(
            {"namespace": forward.namespace, "name": forward.pod, "selector": forward.selector}
        )
    if task.capture is not None and task.capture.pod is not None:
        pod = task.capture.pod
        refs.append(
            {
                "namespace": pod.namespace,
                "name": pod.name,
                "selector": pod.selector,
                "container": pod.container,
            }
        )
    return refs


CASES = [(path, stack) for path in MODULES for stack in STACKS]


@pytest.mark.parametrize(("path", "stack"), CASES, ids=[f"{p.stem}-{s}" for p, s in CASES])
def test_module_runs_end_to_end(path: Path, stack: str, tmp_path: Path) -> None:
    loaded = load_module(path)
    if refusal(loaded, offline_facts(load_stack_config(stack))) is not None:
        pytest.skip(f"{loaded.id} is not for stack {stack}")
    result, events = run_module(loaded, stack, tmp_path)
    failed = [
        e.data
        for e in events
        if e.kind == "task_result" and not e.data["passed"] and not e.data["ignored"]
    ]
    names = [e.data["name"] for e in events if e.kind == "task_start"]
    assert result.status == "completed", (failed, names[-1:])
    starts = [e.data["index"] for e in events if e.kind in ("step_start", "step_skipped")]
    assert starts == list(range(len(loaded.module.steps)))
    checks = [e.data for e in events if e.kind == "check_result"]
    ran = [s for s in loaded.module.steps if s.check]
    assert all(c["passed"] for c in checks) and (checks or not ran)


BREAK_CASES = [(path, stack) for path in MODULES for stack in [*STACKS, "gke-workshop"]]


@pytest.mark.parametrize(
    ("path", "stack"), BREAK_CASES, ids=[f"{p.stem}-{s}" for p, s in BREAK_CASES]
)
def test_a_failing_check_fails_its_step(path: Path, stack: str, tmp_path: Path) -> None:
    """On every stack (and for a workshop participant) the first check a module reaches can
    fail: its step fails, says why and shows the hint."""
    loaded = load_module(path)
    workshop = stack == "gke-workshop"
    stacks_dir = Path(__file__).parent / "data" / "workshop" if workshop else STACKS_DIR
    if not any(step.check for step in loaded.module.steps):
        pytest.skip("no checks")
    result, events = run_module(
        loaded,
        stack,
        tmp_path,
        break_check=True,
        participant=12 if workshop else 0,
        stacks_dir=stacks_dir,
    )
    checks = [e.data for e in events if e.kind == "check_result"]
    assert result.status == "failed"
    assert checks and checks[-1]["passed"] is False
    step = loaded.module.steps[result.step or 0]
    assert step.check
    problems = [p for e in events if e.kind == "task_result" for p in e.data["problems"]]
    assert problems, "the failing check says nothing"
    if step.hint:
        assert any(e.kind == "hint" for e in events)
    assert templating.has_template(step.name) or step.name


# -- workshop participants ------------------------------------------------------------------------

WORKSHOP = Path(__file__).parent / "data" / "workshop"
WORKSHOP_STACK = "gke-workshop"
PARTICIPANTS = (1, 12)

HARD_CODED = re.compile(
    r"""(?x)
    [-\s,\[]-n,?\s+["']?vote\b(?!-)      # -n vote / [.., -n, vote]
    | --namespace[=\s]+vote\b(?!-)
    | namespace:\s*["']?vote\b(?![-.])
    | \b(?:vote|result)\.localhost\b      # the kind hosts
    | (?<![\w}-])vote/(?:vote|result|worker|redis|db)\b  # ns/name of the app
    | \b(?:redis|db|vote|result)\.vote\b(?!-)  # name.namespace DNS names
    | \bpacketwalk-lab\b(?!-p\d)         # the lone lab's own namespace
    | \bwhoami\.localhost\b
    """
)


MANIFESTS = sorted((Path(__file__).parent.parent / "labs" / "manifests").rglob("*.yaml"))


def test_modules_take_the_app_namespace_and_hosts_from_the_facts() -> None:
    """A participant of a workshop has their own namespaces and hosts: no module, and no
    manifest a module renders, may name the single lab's (``-n vote``, ``vote.localhost``,
    ``vote/db``, ``redis.vote``, ``packetwalk-lab``)."""
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in [*MODULES, *MANIFESTS]
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if HARD_CODED.search(line)
    ]
    assert found == []


@pytest.mark.parametrize(
    "line",
    [
        "kubectl: [get, pods, -n, vote, -o, wide]",
        "shell: kubectl get pods -n vote",
        "curl -H 'Host: vote.localhost' http://127.0.0.1/",
        "expect: {stdout: 'vote/worker => vote/db'}",
        "to: {host: redis.vote, port: 6379}",
        "exec: {namespace: vote, selector: app=vote}",
        "kubectl: [get, pods, -n, packetwalk-lab]",
        "curl -H 'Host: whoami.localhost' http://127.0.0.1/",
    ],
)
def test_the_hard_coded_check_sees_the_single_labs_names(line: str) -> None:
    assert HARD_CODED.search(line)


@pytest.mark.parametrize(
    "line",
    [
        "kubectl: [get, pods, -n, '{{ app_namespace }}', -o, wide]",
        "curl -H 'Host: {{ app_hosts.vote }}' http://127.0.0.1/",
        "grep '{{ app_namespace }}/vote'",
        "to: {host: 'redis.{{ app_namespace }}', port: 6379}",
        "kubectl get pods -n vote-p03",
        "The vote pod resolves redis",
        "kubectl get pods -n packetwalk-lab-p03",
        "namespace: '{{ lab_namespace }}'",
    ],
)
def test_the_hard_coded_check_lets_templates_pass(line: str) -> None:
    assert not HARD_CODED.search(line)


WORKSHOP_CASES = [(path, n) for path in MODULES for n in PARTICIPANTS]


@pytest.mark.parametrize(
    ("path", "participant"),
    WORKSHOP_CASES,
    ids=[f"{p.stem}-participant{n}" for p, n in WORKSHOP_CASES],
)
def test_module_for_workshop_participants(path: Path, participant: int, tmp_path: Path) -> None:
    """Participants 1 and 12 of a 12-participant GKE stack: the module validates and runs end to
    end in their namespaces, and nothing it runs, shows or renders names another participant's
    namespaces or lab folder. Its templates also take the participant's facts on the kind
    stack's facts with participant N's names laid over them."""
    cfg = load_stack_config(WORKSHOP_STACK, WORKSHOP)
    who = select_participant(cfg, participant)
    loaded = load_module(path)
    facts = offline_facts(cfg, who)
    theirs = {name: facts[name] for name in PARTICIPANT_FACTS}
    kind = {**offline_facts(load_stack_config("kind")), **theirs}
    problems, checked = validate_module(loaded, {"kind": kind})
    assert [str(p) for p in problems] == [] and checked == ["kind"]
    events: list[Event] = []
    LabRunner(loaded, kind, emit=Emitter(events.append)).run(RunOptions(dry_run=True))
    lines = [str(e.data["line"]) for e in events if e.kind == "command"]
    named = " ".join(lines) + " ".join(str(e.data.get("explain", "")) for e in events)
    assert who.namespace in named
    assert _participants_named(named) <= {who.name}
    assert not [line for line in lines if HARD_CODED.search(line)]
    assert refusal(loaded, facts) is None, "every module runs for a workshop participant"
    problems, checked = validate_module(loaded, {WORKSHOP_STACK: facts})
    assert [str(p) for p in problems] == [] and checked == [WORKSHOP_STACK]
    result, events = run_module(
        loaded, WORKSHOP_STACK, tmp_path, participant=participant, stacks_dir=WORKSHOP
    )
    assert result.status == "completed"
    shown = [
        str(e.data.get(key, ""))
        for e in events
        for key in ("line", "explain", "text", "prompt")
        if e.kind in ("command", "step_start", "hint", "pause")
    ]
    rendered = [f.read_text() for f in (tmp_path / ".packetwalk").rglob("*.yaml")]
    assert _participants_named(" ".join(shown + rendered)) <= {who.name}
    for text in rendered:
        assert who.lab_namespace in text or who.namespace in text


PARTICIPANT_FACTS = (
    "app_namespace",
    "app_hosts",
    "participant",
    "lab_namespace",
    "lab_dir",
    "lab_hosts",
)
"""The facts that differ between participants of one workshop."""


def _participants_named(text: str) -> set[str]:
    """The participant tags (``p03``) a text names through a namespace, lab folder or host."""
    return set(re.findall(r"(?:vote|packetwalk-lab|gke-workshop|result|whoami)-(p\d\d)\b", text))
