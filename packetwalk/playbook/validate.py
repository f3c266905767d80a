"""Static checks of a module against every stack: requires values, templates, ``when`` expressions.

A module that passes the schema can still break mid-workshop: ``{{ worker[0] }}`` (a typo),
``{{ pods.stdout }}`` before ``register: pods``, ``when: cni = 'x'``. This walks a module in the
order the runner would, once per stack whose facts satisfy ``requires``, with the stack's static
facts and :class:`~packetwalk.playbook.templating.Unknown` for what only the cluster knows, and
reports each problem at its FILE:LINE:COL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packetwalk.errors import did_you_mean
from packetwalk.lab import cni
from packetwalk.lab.config import REPO_ROOT
from packetwalk.playbook import templating
from packetwalk.playbook.expect import json_path
from packetwalk.playbook.loader import LoadedModule, Loc, PlaybookError, Problem, load_module
from packetwalk.playbook.model import Module, Requires, Task

NOT_TEMPLATED = frozenset({"when", "until", "register", "tags"})
"""Task/step keys that are never rendered as templates (expressions and names)."""

REQUIRE_CHOICES: Mapping[str, tuple[str, ...]] = {
    "platform": cni.PLATFORMS,
    "cni": tuple(dict.fromkeys((*cni.cnis_for("kind"), *cni.cnis_for("gke")))),
    "kube_proxy_mode": cni.KUBE_PROXY_MODES,
}


def requires_mismatch(requires: Requires, facts: Mapping[str, Any]) -> str | None:
    """Why a stack's facts do not satisfy ``requires`` (None when they do)."""
    for key in ("platform", "cni", "kube_proxy_mode"):
        wanted: list[str] | None = getattr(requires, key)
        if wanted is not None and facts.get(key) not in wanted:
            return f"needs {key} {' or '.join(wanted)}, the stack has {facts.get(key)}"
    return None


def requires_problems(loaded: LoadedModule) -> list[Problem]:
    problems = []
    for key, choices in REQUIRE_CHOICES.items():
        values: list[str] | None = getattr(loaded.module.requires, key)
        for index, value in enumerate(values or []):
            if value not in choices:
                extra = did_you_mean(value, choices, sep=", ")
                problems.append(
                    loaded.positions.problem(
                        ("requires", key, index),
                        f"unknown {key} {value!r}{extra} (valid: {', '.join(choices)})",
                    )
                )
    return problems


@dataclass
class _Walk:
    loaded: LoadedModule
    context: dict[str, Any]
    problems: list[Problem]
    registers: frozenset[str] = frozenset()
    reserved: frozenset[str] = frozenset()

    def problem(self, loc: Loc, message: str) -> None:
        self.problems.append(self.loaded.positions.problem(loc, message))

    def names_known(self, names: Iterable[str], loc: Loc, text: str) -> bool:
        ok = True
        for name in sorted(names):
            if name in self.context:
                continue
            ok = False
            if name in self.registers:
                self.problem(
                    loc,
                    f"{name!r} is not registered yet here (a later task, or one"
                    f" skipped on this stack, registers it) in {text!r}",
                )
                continue
            extra = did_you_mean(name, self.context, sep=", ")
            self.problem(loc, f"{name!r} is undefined{extra} in {text!r}")
        return ok

    def template(self, value: Any, loc: Loc) -> Any:
        """Check and render every string under ``value``; returns the rendered value."""
        if isinstance(value, str):
            try:
                names = templating.template_names(value)
            except templating.TemplateError as error:
                self.problem(loc, str(error))
                return value
            if not self.names_known(names, loc, value):
                return value
            try:
                return templating.render_string(value, self.context)
            except templating.UnknownValueError:
                return value
            except templating.TemplateError as error:
                self.problem(loc, str(error))
                return value
        if isinstance(value, Mapping):
            return {
                key: item if key in NOT_TEMPLATED else self.template(item, (*loc, key))
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self.template(item, (*loc, i)) for i, item in enumerate(value)]
        return value

    def expression(self, text: str, loc: Loc, extra: Sequence[str] = ()) -> bool | None:
        """Check an expression; its truth when the static facts decide it, else None."""
        try:
            names = templating.expression_names(text)
        except templating.TemplateError as error:
            self.problem(loc, str(error))
            return None
        saved = {name: self.context.get(name) for name in extra}
        self.context.update({name: templating.Unknown(name) for name in extra})
        try:
            if not self.names_known(names, loc, text):
                return None
            try:
                return bool(templating.evaluate(text, self.context))
            except templating.UnknownValueError:
                return None
            except templating.TemplateError as error:
                self.problem(loc, str(error))
                return None
        finally:
            for name, value in saved.items():
                if value is None:
                    self.context.pop(name, None)
                else:
                    self.context[name] = value

    def template_file(self, src: str, loc: Loc) -> None:
        """A ``template`` file must exist and read only names the task could read."""
        if templating.has_template(src):
            return
        path = REPO_ROOT / src
        if not path.is_file():
            self.problem(loc, f"template {src}: no such file in the project")
            return
        try:
            names = templating.file_template_names(path.read_text(encoding="utf-8"), src)
        except templating.TemplateError as error:
            self.problem(loc, str(error))
            return
        self.names_known(names, loc, src)

    def patterns(self, task: Task, loc: Loc) -> None:
        """Regexes and JSON paths that hold no template must compile now, not mid-workshop."""
        expect = task.expect
        if expect is None:
            return
        fields = [
            ("stdout", expect.stdout),
            ("stderr", expect.stderr),
            ("stdout_not", expect.stdout_not),
        ]
        if expect.json_ is not None:
            fields.append(("matches", expect.json_.matches))
            try:
                json_path({}, expect.json_.path)
            except ValueError as error:
                self.problem((*loc, "expect", "json", "path"), str(error))
        for key, pattern in fields:
            if pattern is None or templating.has_template(pattern):
                continue
            try:
                re.compile(pattern)
            except re.error as error:
                where = (*loc, "expect", "json", key) if key == "matches" else (*loc, "expect", key)
                self.problem(where, f"{key}: invalid regex /{pattern}/: {error}")

    def tasks(self, tasks: Sequence[Task], raw: list[Any], loc: Loc) -> None:
        for index, (task, data) in enumerate(zip(tasks, raw, strict=True)):
            here = (*loc, index)
            runs = True
            if task.when is not None:
                runs = self.expression(task.when, (*here, "when")) is not False
            if runs:
                self.template(data, here)
                self.patterns(task, here)
                if task.template is not None:
                    self.template_file(task.template.src, (*here, "template", "src"))
            if task.until is not None:
                if task.register_ is None:
                    self.problem(
                        (*here, "until"),
                        "until needs register: it names the result the expression tests",
                    )
                else:
                    self.expression(task.until, (*here, "until"), extra=[task.register_])
            if task.register_ is not None:
                if task.register_ in self.reserved:
                    self.problem(
                        (*here, "register"),
                        f"register: {task.register_} hides the"
                        f" fact or var of that name; choose another name",
                    )
                self.context[task.register_] = templating.Unknown(task.register_)


def _raw_list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def validate_for_stack(loaded: LoadedModule, facts: Mapping[str, Any]) -> list[Problem]:
    """Problems of one module under one stack's offline facts (its requires must match)."""
    module: Module = loaded.module
    registers = frozenset(
        task.register_
        for step in module.steps
        for task in (*step.tasks, *step.solution, *step.check)
        if task.register_
    )
    walk = _Walk(loaded, dict(facts), [], registers, frozenset((*facts, *module.vars)))
    data = loaded.data
    if templating.has_template(module.title):
        walk.problem(("title",), "the title is shown without stack facts: no templates here")
    walk.template(module.summary, ("summary",))
    raw_vars = data.get("vars")
    if not isinstance(raw_vars, dict):
        raw_vars = {}
    for name in module.vars:
        walk.context[name] = walk.template(raw_vars.get(name), ("vars", name))
    raw_steps = _raw_list(data, "steps")
    for index, (step, raw) in enumerate(zip(module.steps, raw_steps, strict=True)):
        loc: Loc = ("steps", index)
        if step.when is not None and walk.expression(step.when, (*loc, "when")) is False:
            walk.template(step.name, (*loc, "name"))
            continue
        for key in ("name", "explain"):
            walk.template(raw.get(key), (*loc, key))
        walk.tasks(step.tasks, _raw_list(raw, "tasks"), (*loc, "tasks"))
        walk.tasks(step.solution, _raw_list(raw, "solution"), (*loc, "solution"))
        walk.tasks(step.check, _raw_list(raw, "check"), (*loc, "check"))
        if step.hint is not None:
            walk.template(step.hint, (*loc, "hint"))
    return walk.problems


def validate_module(
    loaded: LoadedModule, stacks: Mapping[str, Mapping[str, Any]]
) -> tuple[list[Problem], list[str]]:
    """Problems across every stack (each once) and the stacks the module was checked against.

    A problem found for only some stacks names them.
    """
    problems = requires_problems(loaded)
    checked: list[str] = []
    found: dict[Problem, list[str]] = {}
    for stack, facts in stacks.items():
        if requires_mismatch(loaded.module.requires, facts) is not None:
            continue
        checked.append(stack)
        for problem in validate_for_stack(loaded, facts):
            found.setdefault(problem, [])
            if stack not in found[problem]:
                found[problem].append(stack)
    for problem, where in found.items():
        if len(where) == len(checked):
            problems.append(problem)
        else:
            problems.append(
                Problem(
                    problem.source,
                    problem.line,
                    problem.column,
                    f"{problem.message} [stack {', '.join(where)}]",
                )
            )
    if stacks and not checked:
        problems.append(
            loaded.positions.problem(
                ("requires",), f"no stack satisfies requires (stacks: {', '.join(stacks)})"
            )
        )
    problems.sort(key=lambda p: (p.line, p.column, p.message))
    return problems, checked


@dataclass(frozen=True)
class FileReport:
    """The outcome of validating one file."""

    path: str
    problems: tuple[Problem, ...]
    stacks: tuple[str, ...]


def validate_files(
    paths: Sequence[Path], stacks: Mapping[str, Mapping[str, Any]]
) -> list[FileReport]:
    """Load and validate each file; schema problems stop that file, not the others."""
    reports = []
    for path in paths:
        try:
            loaded = load_module(path)
        except PlaybookError as error:
            reports.append(FileReport(str(path), error.problems, ()))
            continue
        problems, checked = validate_module(loaded, stacks)
        reports.append(FileReport(str(path), tuple(problems), tuple(checked)))
    return reports
