"""The lab module format: typed models of a ``labs/NN-slug.yaml`` playbook.

Modelled on Ansible plays (a module is a play, a step a block of tasks, ``register``/``until``/
``when`` as in Ansible). Every model forbids unknown keys, so a misspelt key is an error rather
than a silently ignored line, and booleans are strict (``yes`` is not ``true``). Numbers that may
come from a template (``timeout: "{{ t }}"``) accept either an integer or a string holding a
``{{ ... }}`` template; the runner validates the rendered task again, so a template that renders
to ``"ten"`` fails there with the same message.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    WithJsonSchema,
    model_validator,
)

TEMPLATE_MARK = re.compile(r"\{\{|\{%")
ACTIONS = (
    "kubectl",
    "shell",
    "exec",
    "capture",
    "probe",
    "wait",
    "pause",
    "port_forward",
    "template",
)
"""Task kinds; a task holds exactly one of these keys."""

CHECK_ACTIONS = ("kubectl", "shell", "exec", "probe", "wait")
"""Task kinds a check may use: each can fail, none waits for a person."""


def _number(value: object, *, integer: bool) -> int | float | str:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got the boolean {str(value).lower()}")
    if isinstance(value, int) or (not integer and isinstance(value, float)):
        if value < 0:
            raise ValueError(f"expected a number >= 0, got {value}")
        return value
    if isinstance(value, str) and TEMPLATE_MARK.search(value):
        return value
    kind = "an integer" if integer else "a number"
    raise ValueError(f"expected {kind} or a {{{{ template }}}}, got {value!r}")


def _int_or_template(value: object) -> int | str:
    result = _number(value, integer=True)
    assert not isinstance(result, float)
    return result


_TEMPLATE_SCHEMA = {"type": "string", "pattern": r"\{\{"}

IntOrTemplate = Annotated[
    int | str,
    PlainValidator(_int_or_template),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 0}, _TEMPLATE_SCHEMA]}),
]
"""A non-negative integer, or a template that renders to one."""

NumberOrTemplate = Annotated[
    float | int | str,
    PlainValidator(lambda v: _number(v, integer=False)),
    WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0}, _TEMPLATE_SCHEMA]}),
]

Name = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=40)]
"""A DNS-label-like name (captures), short enough for ``pw-cap-<name>`` container names."""

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
"""A variable name usable in templates (``register: pods`` then ``{{ pods.stdout }}``)."""

ArgList = list[str | int] | str
"""Command arguments: a list (numbers allowed) or one string split like a shell would."""


class _Model(BaseModel):
    # Numbers rendered into text fields (``stdout: "{{ port }}"``) become strings.
    model_config = ConfigDict(
        extra="forbid", populate_by_name=False, frozen=True, coerce_numbers_to_str=True
    )


class Requires(_Model):
    """Stack facts a module needs; each list is any-of, and an omitted key accepts everything."""

    platform: list[str] | None = None
    cni: list[str] | None = None
    kube_proxy_mode: list[str] | None = None


class JsonExpect(_Model):
    """A value inside the command's JSON output (``items[0].status.podIP``, ``items[*].x``)."""

    path: str
    matches: str | None = Field(
        default=None, description="regex searched in the value (every value for [*])"
    )
    equals: Any = Field(default=None, description="the value must equal this (a list for [*])")
    exists: StrictBool | None = Field(default=None, description="false: the path must not exist")


class Expect(_Model):
    """What a passing result looks like. Without ``expect``, a task passes when it exits 0."""

    rc: IntOrTemplate | None = None
    stdout: str | None = Field(default=None, description="regex searched in stdout (multiline)")
    stderr: str | None = Field(default=None, description="regex searched in stderr (multiline)")
    stdout_not: str | None = Field(default=None, description="regex that must NOT occur in stdout")
    json_: JsonExpect | None = Field(default=None, alias="json")
    failed: StrictBool | None = Field(
        default=None, description="true: the command must exit non-zero (instead of rc)"
    )

    @model_validator(mode="after")
    def _rc_or_failed(self) -> Expect:
        if self.failed is not None and self.rc is not None:
            raise ValueError("give rc or failed, not both")
        return self


class PodRef(_Model):
    """One pod: by name, or the first running pod a label selector picks."""

    namespace: str
    name: str | None = None
    selector: str | None = None
    container: str | None = Field(
        default=None, description="the container to target (default: the pod's first container)"
    )

    @model_validator(mode="after")
    def _one_of(self) -> PodRef:
        if (self.name is None) == (self.selector is None):
            raise ValueError("give exactly one of name or selector")
        return self


class ExecAction(_Model):
    """A command in a pod's container (or, with ``node``, in a privileged debug pod on the node)."""

    namespace: str | None = None
    pod: str | None = None
    selector: str | None = None
    node: str | None = None
    container: str | None = None
    debug: StrictBool = Field(
        default=False,
        description="run in the netshoot ephemeral container pw-probe attached to the pod",
    )
    tools: Literal["node", "netshoot"] = Field(
        default="node",
        description="with node: the node's own programs and files (node, as docker exec on a"
        " kind node) or netshoot's in the node's network namespace (netshoot: ipvsadm)",
    )
    command: ArgList

    @model_validator(mode="after")
    def _target(self) -> ExecAction:
        chosen = [key for key in ("pod", "selector", "node") if getattr(self, key) is not None]
        if len(chosen) != 1:
            raise ValueError("give exactly one of pod, selector or node")
        if self.node is None and self.namespace is None:
            raise ValueError("namespace is required with pod or selector")
        if self.node is not None and (self.namespace or self.container or self.debug):
            raise ValueError("node runs in the node debug pod: drop namespace, container, debug")
        if self.node is None and "tools" in self.model_fields_set:
            raise ValueError("tools is for node: a pod's command runs with the pod's own tools")
        return self


class CaptureAction(_Model):
    """tcpdump on a pod (ephemeral container ``pw-cap-<name>``) or a node (host-network debug pod).

    The capture runs in the background while the step's next tasks make traffic; the step waits
    for it (``duration`` or ``count``) before its check, and the pcap lands in the run folder.
    """

    name: Name
    pod: PodRef | None = None
    node: str | None = None
    interface: str = "eth0"
    filter: str = ""
    duration: IntOrTemplate = 10
    count: IntOrTemplate | None = None
    background: StrictBool = True

    @model_validator(mode="after")
    def _target(self) -> CaptureAction:
        if (self.pod is None) == (self.node is None):
            raise ValueError("give exactly one of pod or node")
        return self


class ProbeTarget(_Model):
    """Where a probe connects: a host (Service DNS name or IP), or a pod by name or selector."""

    host: str | None = None
    namespace: str | None = None
    name: str | None = None
    selector: str | None = None
    port: IntOrTemplate

    @model_validator(mode="after")
    def _one_of(self) -> ProbeTarget:
        pod = self.name is not None or self.selector is not None
        if self.host is not None and (pod or self.namespace is not None):
            raise ValueError("give either host, or namespace with name or selector")
        one_pod = self.namespace is not None and (self.name is None) != (self.selector is None)
        if self.host is None and not one_pod:
            raise ValueError("give host, or namespace with exactly one of name or selector")
        return self


class ProbeAction(_Model):
    """Can a pod open a TCP connection to a target? Runs ``nc -z`` from the pw-probe container."""

    from_: PodRef = Field(alias="from")
    to: ProbeTarget
    protocol: Literal["tcp"] = "tcp"
    expect: Literal["allow", "deny"]
    timeout: IntOrTemplate = 3


class WaitAction(_Model):
    """``kubectl wait``: a condition on a resource, with a timeout in seconds."""

    resource: str = Field(description="pod, deployment, pod/NAME, ...")
    namespace: str | None = None
    name: str | None = None
    selector: str | None = None
    all: StrictBool = False
    for_: str = Field(alias="for", description="condition=Ready, delete, jsonpath=...")
    timeout: IntOrTemplate = 60


class PortForwardAction(_Model):
    """``kubectl port-forward``: 127.0.0.1:``local_port`` reaches ``port`` inside one pod.

    The forward stays open until the end of its step (also when the step fails), so the step's
    later tasks and its check can use it: ``{{ pf.local_port }}`` with ``register: pf``.
    """

    namespace: str
    pod: str | None = None
    selector: str | None = Field(default=None, description="first Running pod, by name")
    port: IntOrTemplate = Field(description="the port in the pod (a container port)")
    local_port: IntOrTemplate = Field(
        default=0, description="port on 127.0.0.1; 0 (default): any free port"
    )

    @model_validator(mode="after")
    def _target(self) -> PortForwardAction:
        if (self.pod is None) == (self.selector is None):
            raise ValueError("give exactly one of pod or selector")
        if isinstance(self.port, int) and not 0 < self.port < 65536:
            raise ValueError(f"port must be 1-65535, not {self.port}")
        if isinstance(self.local_port, int) and self.local_port > 65535:
            raise ValueError(f"local_port must be 0-65535, not {self.local_port}")
        return self


class TemplateAction(_Model):
    """A file of the lab rendered with the facts into the participant's folder (Ansible's
    ``template``): their namespace and hosts in a manifest they then apply, read or edit.

    A copy the participant has changed since packetwalk wrote it is kept, never overwritten.
    """

    src: str = Field(description="the file, relative to the project (labs/manifests/...)")
    dest: str | None = Field(
        default=None, description="where the rendering goes (default: {{ lab_dir }}/<file name>)"
    )


class PauseAction(_Model):
    """The participant's turn: show the prompt and wait; the step's ``check`` verifies the work."""

    prompt: str


class Task(_Model):
    """One action plus Ansible-style control keys."""

    name: str | None = None
    kubectl: ArgList | None = None
    shell: str | None = None
    exec: ExecAction | None = None
    capture: CaptureAction | None = None
    probe: ProbeAction | None = None
    wait: WaitAction | None = None
    pause: PauseAction | None = None
    port_forward: PortForwardAction | None = None
    template: TemplateAction | None = None
    register_: Identifier | None = Field(
        default=None,
        alias="register",
        description="name under which later templates see the result",
    )
    when: str | None = Field(
        default=None, description="Jinja expression; the task is skipped when false"
    )
    until: str | None = Field(default=None, description="Jinja expression; retried until true")
    retries: IntOrTemplate = 3
    delay: NumberOrTemplate = 5
    expect: Expect | None = None
    ignore_errors: StrictBool = False
    tags: list[str] = Field(default_factory=list)
    timeout: IntOrTemplate | None = Field(
        default=None, description="seconds for kubectl/shell/exec (default 60)"
    )

    @model_validator(mode="after")
    def _one_action(self) -> Task:
        present = self.actions_present()
        if len(present) != 1:
            found = ", ".join(present) if present else "none"
            raise ValueError(f"a task needs exactly one of {', '.join(ACTIONS)} (found: {found})")
        forward = self.port_forward
        if forward is not None and forward.local_port == 0 and self.register_ is None:
            raise ValueError(
                "a port_forward to any free port needs register: NAME, so later tasks can"
                " use {{ NAME.local_port }} (or give local_port)"
            )
        return self

    def actions_present(self) -> list[str]:
        return [key for key in ACTIONS if getattr(self, key) is not None]

    @property
    def action(self) -> str:
        return self.actions_present()[0]


class Step(_Model):
    """What the participant reads (``explain``) and runs (``tasks``), and how it is verified."""

    name: str
    explain: str = ""
    when: str | None = Field(
        default=None, description="Jinja expression; the step is skipped when false"
    )
    tasks: list[Task] = Field(default_factory=list)
    check: list[Task] = Field(default_factory=list)
    hint: str | None = Field(default=None, description="what to do when the check fails")
    solution: list[Task] = Field(
        default_factory=list,
        description="tasks doing what a pause asks; run instead of waiting with --yes",
    )
    tags: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _coherent(self) -> Step:
        if not self.tasks and not self.check:
            raise ValueError("a step needs tasks, a check or both")
        pauses = any(task.pause is not None for task in self.tasks)
        if pauses and not self.check:
            raise ValueError(
                "a step with a pause needs a check that verifies the participant's work"
            )
        if self.solution and not pauses:
            raise ValueError("solution is only for steps with a pause")
        return self


class Module(_Model):
    """A lab module; its id is the file name without ``.yaml`` (``01-pod-networking``)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        coerce_numbers_to_str=True,
        json_schema_extra={"title": "packetwalk lab module"},
    )

    title: str
    summary: str
    requires: Requires = Field(default_factory=Requires)
    vars: dict[Identifier, Any] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)


def check_problems(task: Task) -> list[str]:
    """Why ``task`` cannot serve as a check (a check must be able to fail), if it cannot."""
    problems = []
    if task.action not in CHECK_ACTIONS:
        problems.append(
            f"a check cannot be a {task.action} task (use one of {', '.join(CHECK_ACTIONS)})"
        )
    if task.ignore_errors:
        problems.append("a check with ignore_errors: true can never fail")
    if task.expect is not None and task.expect.rc is not None and task.action == "probe":
        problems.append("a probe's outcome is its own expect: allow|deny, not expect.rc")
    return problems
