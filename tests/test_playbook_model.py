"""The module model and its loader: strict keys and booleans, errors at FILE:LINE:COL."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from packetwalk.errors import InputError
from packetwalk.playbook.loader import PlaybookError, load_module, parse_yaml
from packetwalk.playbook.model import ExecAction, Module

DATA = Path(__file__).parent / "data" / "playbooks"


def problems(path: Path | str, text: str | None = None) -> list[str]:
    with pytest.raises(PlaybookError) as caught:
        load_module(Path(path), text=text)
    assert isinstance(caught.value, InputError)
    return [str(p) for p in caught.value.problems]


def test_tour_module_loads_with_every_task_kind() -> None:
    loaded = load_module(DATA / "01-tour.yaml")
    assert loaded.id == "01-tour"
    actions = [t.action for s in loaded.module.steps for t in (*s.tasks, *s.solution, *s.check)]
    assert set(actions) == {"kubectl", "shell", "exec", "wait", "capture", "pause", "probe"}
    probe = loaded.module.steps[2].check[0].probe
    assert probe is not None and probe.from_.selector == "app=vote" and probe.expect == "deny"
    assert loaded.module.steps[0].tasks[0].register_ == "vote_pods"


def test_typo_yes_and_wrong_type_point_at_their_lines() -> None:
    path = DATA / "bad-keys.yaml"
    found = problems(path)
    assert found == [
        f"{path}:6:9: unknown key 'kubctl', did you mean 'kubectl'? (valid: name, kubectl, shell,"
        " exec, capture, probe, wait, pause, port_forward, template, register, when, until,"
        " retries, delay, expect, ignore_errors, tags, timeout)",
        f"{path}:8:24: ignore_errors: 'yes' is not a boolean here: write true or false",
        f"{path}:9:62: timeout: expected an integer or a {{{{ template }}}}, got 'soon'",
    ]


def test_error_message_starts_with_file_line_col() -> None:
    with pytest.raises(PlaybookError) as caught:
        load_module(DATA / "bad-keys.yaml")
    assert str(caught.value).startswith(f"{DATA / 'bad-keys.yaml'}:6:9: unknown key 'kubctl'")
    assert str(caught.value).count("\n") == 2


def test_checks_must_be_able_to_fail() -> None:
    path = DATA / "bad-check.yaml"
    assert problems(path) == [
        f"{path}:8:9: a check cannot be a pause task"
        " (use one of kubectl, shell, exec, probe, wait)",
        f"{path}:9:9: a check with ignore_errors: true can never fail",
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("  - name: s\n    tasks:\n      - {}\n", "6:9: a task needs exactly one of kubectl"),
        (
            "  - name: s\n    tasks:\n      - {shell: a, kubectl: b}\n",
            "(found: kubectl, shell)",
        ),
        ("  - name: s\n", "4:5: a step needs tasks, a check or both"),
        ("  - name: s\n    tasks:\n      - pause: {prompt: p}\n", "needs a check"),
        (
            "  - name: s\n    tasks:\n      - probe: {from: {namespace: a, selector: b},"
            " to: {host: h, port: 1}, expect: maybe}\n",
            "expect: Input should be 'allow' or 'deny'",
        ),
        (
            "  - name: s\n    tasks:\n      - exec: {namespace: a, command: [ls]}\n",
            "give exactly one of pod, selector or node",
        ),
        (
            "  - name: s\n    tasks:\n      - capture: {name: Bad_Name, node: n}\n",
            "name: 'Bad_Name' is not valid",
        ),
        ("  - name: s\n    tasks:\n      - shell: a\n        register: 2x\n", "register: '2x'"),
        ("  - name: s\n    tasks:\n      - shell: a\n        shell: b\n", "7:9: duplicate key"),
        ("  - name: s\n    tasks:\n      - shell: [a\n", "YAML syntax error"),
        ("  - name: s\n    tasks:\n      - shell: a\n        retries: true\n", "the boolean"),
        (
            "  - name: s\n    tasks:\n      - port_forward: {namespace: a, port: 80}\n"
            "        register: pf\n",
            "give exactly one of pod or selector",
        ),
        (
            "  - name: s\n    tasks:\n      - port_forward: {namespace: a, pod: p, port: 70000}\n"
            "        register: pf\n",
            "port must be 1-65535, not 70000",
        ),
        (
            "  - name: s\n    tasks:\n      - port_forward: {namespace: a, pod: p, port: 80}\n",
            "needs register: NAME, so later tasks can use {{ NAME.local_port }}",
        ),
        (
            "  - name: s\n    tasks: [{shell: a}]\n    check:\n"
            "      - port_forward: {namespace: a, pod: p, port: 80, local_port: 8080}\n",
            "a check cannot be a port_forward task",
        ),
        (
            "  - name: s\n    tasks:\n      - port_forward: {namespace: a, pod: p, port: 80,"
            " local_port: 8080, bind: x}\n",
            "unknown key 'bind'",
        ),
    ],
)
def test_model_errors(body: str, expected: str) -> None:
    text = "title: t\nsummary: s\nsteps:\n" + body
    found = problems("m.yaml", text)
    assert any(expected in p for p in found), found
    assert all(p.startswith("m.yaml:") for p in found)


def test_missing_keys_point_at_the_enclosing_mapping() -> None:
    found = problems("m.yaml", "title: t\nsteps:\n  - name: s\n    tasks: [{shell: a}]\n")
    assert found == ["m.yaml:1:1: missing required key 'summary'"]


def test_yaml_12_scalars() -> None:
    data, positions = parse_yaml("a: yes\nb: on\nc: true\nd: 0x1f\ne: 1.5\nf: ~\n", "x.yaml")
    assert data == {"a": "yes", "b": "on", "c": True, "d": 31, "e": 1.5, "f": None}
    assert positions.at(("b",)) == (2, 4)
    assert positions.at(("b",), key=True) == (2, 1)


def test_empty_and_non_mapping_files() -> None:
    assert problems("e.yaml", "") == ["e.yaml:1:1: the file is empty"]
    assert "a lab module is a mapping" in problems("l.yaml", "- a\n")[0]


def test_templates_allowed_where_numbers_go() -> None:
    module = Module.model_validate(
        {
            "title": "t",
            "summary": "s",
            "steps": [
                {
                    "name": "n",
                    "tasks": [{"wait": {"resource": "pod", "for": "delete", "timeout": "{{ t }}"}}],
                }
            ],
        }
    )
    wait = module.steps[0].tasks[0].wait
    assert wait is not None and wait.timeout == "{{ t }}"


def test_tools_is_only_for_node_commands() -> None:
    node = ExecAction.model_validate({"node": "n", "tools": "netshoot", "command": ["ipvsadm"]})
    assert node.tools == "netshoot"
    assert ExecAction.model_validate({"node": "n", "command": ["ip", "route"]}).tools == "node"
    with pytest.raises(pydantic.ValidationError, match="tools is for node"):
        ExecAction.model_validate(
            {"namespace": "v", "selector": "app=v", "tools": "node", "command": ["ls"]}
        )
    with pytest.raises(pydantic.ValidationError, match=r"node|netshoot"):
        ExecAction.model_validate({"node": "n", "tools": "busybox", "command": ["ls"]})
