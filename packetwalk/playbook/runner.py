"""Stepping through a lab module: explain, show each command, run it, judge it, save progress.

The runner is the engine behind ``invoke lab``. It talks to the cluster only through
:class:`~packetwalk.kube.access.ClusterAccess`, to the participant only through ``emit`` (events
the view renders and the run folder keeps) and ``ask`` (one line of input), and to the disk
only through the progress store and the run folder, so tests drive it end to end with the
in-memory cluster and a scripted ``ask``.

With ``publish=True`` every save of the progress is also applied, as a ConfigMap in the
participant's namespace (``app_namespace``), through ``kubectl apply -f -``: the step the
participant is on and the checks that failed, for ``invoke workshop``. A refused apply is a
warning event, never a failed step: the participant's lab goes on without the instructor view.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from packetwalk.errors import InputError, PacketwalkError
from packetwalk.kube.access import ClusterAccess
from packetwalk.playbook import expect as expectations
from packetwalk.playbook import templating
from packetwalk.playbook.actions import (
    Executor,
    Outcome,
    PendingCapture,
    register_value,
    skipped_value,
)
from packetwalk.playbook.actions import finish_capture as _finish_capture
from packetwalk.playbook.events import Emitter
from packetwalk.playbook.loader import LoadedModule, validation_problems
from packetwalk.playbook.model import Step, Task
from packetwalk.playbook.progress import (
    ModuleProgress,
    ProgressStore,
    module_record,
    progress_configmap,
)
from packetwalk.playbook.validate import NOT_TEMPLATED, requires_mismatch

Ask = Callable[[str], str]


@dataclass(frozen=True)
class RunOptions:
    step: int | None = None
    """1-based step to start at (default: where the participant left off)."""
    check: bool = False
    yes: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class RunResult:
    status: str
    """``completed``, ``failed``, ``stopped``, ``checked``, ``check_failed``, ``dry_run``."""
    step: int | None = None
    """0-based index of the step the run ended at."""
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("completed", "stopped", "checked", "dry_run")


class _Quit(Exception):
    """The participant typed q at a prompt."""


def refusal(loaded: LoadedModule, facts: Mapping[str, Any]) -> str | None:
    """Why a module cannot run on the stack these facts describe (None when it can)."""
    reason = requires_mismatch(loaded.module.requires, facts)
    if reason is None:
        return None
    return f"module {loaded.id} is not for stack {facts.get('stack')}: it {reason}"


class LabRunner:
    """Runs one module against one stack."""

    def __init__(
        self,
        loaded: LoadedModule,
        facts: Mapping[str, Any],
        *,
        emit: Emitter,
        access: ClusterAccess | None = None,
        store: ProgressStore | None = None,
        run_dir: Path | None = None,
        ask: Ask = input,
        sleep: Callable[[float], None] = time.sleep,
        publish: bool = False,
        workdir: Path | None = None,
    ) -> None:
        self.loaded = loaded
        self.module = loaded.module
        self.facts = dict(facts)
        self.emit = emit
        self.access = access
        self.store = store
        self.run_dir = run_dir
        self._ask = ask
        self.sleep = sleep
        self.publish = publish
        self.failed_checks: tuple[str, ...] = ()
        """The names of the checks that failed in the last check run (for the instructor)."""
        self.registered: dict[str, Any] = {}
        self.vars: dict[str, Any] = {}
        self._pending: list[PendingCapture] = []
        self._lenient = False
        self.executor = (
            Executor(
                access,
                run_dir=run_dir,
                announce=lambda line: self.emit("command", line=line),
                render_file=self._file_text,
                lab_dir=str(self.facts.get("lab_dir", "")),
                workdir=workdir,
            )
            if access is not None
            else None
        )

    # -- entry point ----------------------------------------------------------------------------

    def run(self, options: RunOptions) -> RunResult:
        reason = refusal(self.loaded, self.facts)
        if reason is not None:
            raise PacketwalkError(reason)
        total = len(self.module.steps)
        if options.step is not None and not 1 <= options.step <= total:
            raise InputError(
                f"module {self.loaded.id} has steps 1 to {total}, not {options.step}",
                choices=[str(i) for i in range(1, total + 1)],
            )
        if options.dry_run:
            return self._dry_run(options)
        if self.executor is None or self.store is None:
            raise PacketwalkError("a run needs cluster access and a progress store")
        progress = self.store.load(self.loaded.id)
        self.registered = dict(progress.registered)
        self._render_vars()
        start = progress.current if options.step is None else options.step - 1
        note = ""
        if options.step is None and progress.finished:
            start, note = 0, "you finished this module before; starting again at step 1"
        start = min(max(start, 0), total - 1)
        mode = "check" if options.check else ("yes" if options.yes else "interactive")
        self.emit(
            "run_start",
            module=self.loaded.id,
            title=self.module.title,
            stack=self.facts.get("stack"),
            mode=mode,
            step=start,
            run_dir=str(self.run_dir) if self.run_dir else None,
            note=note,
        )
        try:
            if options.check:
                return self._check_only(start, progress)
            return self._steps(start, progress, options)
        except _Quit:
            self._save(progress, "stopped")
            self.emit(
                "run_end",
                status="stopped",
                step=progress.current,
                message=f"stopped; `invoke lab {self.loaded.id}` resumes at step "
                f"{progress.current + 1}",
            )
            return RunResult("stopped", progress.current)
        except PacketwalkError as error:  # a template or expression broke at run time
            self._save(progress, "failed")
            self.emit("run_end", status="failed", step=progress.current, message=str(error))
            return RunResult("failed", progress.current, str(error))
        finally:
            self._abandon_captures()
            self._close_forwards()

    # -- the step loop --------------------------------------------------------------------------

    def _steps(self, start: int, progress: ModuleProgress, options: RunOptions) -> RunResult:
        total = len(self.module.steps)
        for index in range(start, total):
            progress.current = index
            status = self._step(index, options)
            if status == "failed":
                self._save(progress, "failed")
                self.emit(
                    "run_end",
                    status="failed",
                    step=index,
                    message=self._failed_message(index),
                )
                return RunResult("failed", index)
            progress.complete(index, total)
            self._save(progress, "completed" if index + 1 == total else "running")
            if not options.yes and index + 1 < total:
                self.ask("Enter: next step · q: stop here")
        self.emit(
            "run_end", status="completed", step=total - 1, message=f"module {self.loaded.id} done"
        )
        return RunResult("completed", total - 1)

    def _failed_message(self, index: int) -> str:
        ident = self.loaded.id
        if self.module.steps[index].check:
            return (
                f"step {index + 1} did not pass: fix what is marked ✘, then"
                f" `invoke lab {ident} --check` (verify only) or `invoke lab {ident}` (run again)"
            )
        return f"step {index + 1} did not pass: fix what is marked ✘, then `invoke lab {ident}`"

    def _step(self, index: int, options: RunOptions) -> str:
        try:
            return self._step_body(index, options)
        finally:  # a port-forward lives for its step, whatever the step's outcome
            self._close_forwards()

    def _close_forwards(self) -> None:
        if self.executor is not None:
            self.executor.close_forwards()

    def _step_body(self, index: int, options: RunOptions) -> str:
        step = self.module.steps[index]
        raw = self._raw_step(index)
        name = self._text(step.name)
        if step.when is not None and not self._truth(step.when):
            self._skip_step(index, name, step.when)
            return "skipped"
        self.emit(
            "step_start",
            index=index,
            total=len(self.module.steps),
            name=name,
            explain=self._text(step.explain),
        )
        if not options.yes:
            self.ask("Enter: run this step · q: stop here")
        if not self._section(step, raw, "tasks", step.tasks, options):
            self._finish_captures()
            return self._step_failed(step, index)
        if not self._finish_captures():
            return self._step_failed(step, index)
        while step.check:
            if self._run_check(step, raw):
                break
            if options.yes:
                return self._step_failed(step, index)
            self._hint(step)
            self.ask("Enter: check again · q: stop here")
        self.emit("step_end", index=index, status="passed")
        return "passed"

    def _step_failed(self, step: Step, index: int) -> str:
        self._hint(step)
        self.emit("step_end", index=index, status="failed")
        return "failed"

    def _skip_step(self, index: int, name: str, when: str | None) -> None:
        self.emit(
            "step_skipped",
            index=index,
            name=name,
            reason=f"when: {when} is false on stack {self.facts.get('stack')}",
        )

    def _check_only(self, index: int, progress: ModuleProgress) -> RunResult:
        step = self.module.steps[index]
        name = self._text(step.name)
        if not step.check:
            message = f"step {index + 1} ({name}) has no check; run `invoke lab {self.loaded.id}`"
            self.emit("run_end", status="checked", step=index, message=message)
            return RunResult("checked", index, message)
        self.emit(
            "step_start",
            index=index,
            total=len(self.module.steps),
            name=name,
            explain="",
            check_only=True,
        )
        raw = self._raw_step(index)
        try:  # the check may use the step's port-forwards: open them again for it
            for position, task in enumerate(step.tasks):
                if task.port_forward is not None:
                    self._task("tasks", position, task, self._raw_task(raw, "tasks", position))
            passed = self._run_check(step, raw)
        finally:
            self._close_forwards()
        if passed:
            progress.complete(index, len(self.module.steps))
            self._save(progress, "checked")
            self.emit("run_end", status="checked", step=index, message=f"step {index + 1} passes")
            return RunResult("checked", index)
        self._hint(step)
        self._save(progress, "check_failed")
        self.emit(
            "run_end",
            status="check_failed",
            step=index,
            message=f"step {index + 1} does not pass yet",
        )
        return RunResult("check_failed", index)

    def _run_check(self, step: Step, raw: Mapping[str, Any]) -> bool:
        failed = 0
        names: list[str] = []
        for position, task in enumerate(step.check):
            if not self._task("check", position, task, self._raw_task(raw, "check", position)):
                failed += 1
                names.append(self._text(task.name or f"check {position + 1}"))
        self.failed_checks = tuple(names)
        self.emit("check_result", passed=failed == 0, failed=failed, total=len(step.check))
        return failed == 0

    def _section(
        self,
        step: Step,
        raw: Mapping[str, Any],
        section: str,
        tasks: Sequence[Task],
        options: RunOptions,
    ) -> bool:
        for position, task in enumerate(tasks):
            if task.pause is not None:
                self._pause(step, raw, task, options)
                continue
            if not self._task(section, position, task, self._raw_task(raw, section, position)):
                return False
        return True

    def _pause(self, step: Step, raw: Mapping[str, Any], task: Task, options: RunOptions) -> None:
        prompt = self._text(task.pause.prompt if task.pause else "")
        self.emit("pause", prompt=prompt, auto=options.yes)
        if not options.yes:
            self.ask("Enter when done · q: stop here")
            return
        if step.solution:
            self.emit("solution", count=len(step.solution))
            for position, solution in enumerate(step.solution):
                self._task(
                    "solution", position, solution, self._raw_task(raw, "solution", position)
                )

    # -- one task -------------------------------------------------------------------------------

    def _task(self, section: str, position: int, task: Task, raw: Mapping[str, Any]) -> bool:
        if task.when is not None and not self._truth(task.when):
            self.emit(
                "task_skipped",
                section=section,
                index=position,
                name=self._text(task.name or task.action),
                reason=f"when: {task.when} is false",
            )
            if task.register_:
                self.registered[task.register_] = skipped_value()
            return True
        try:
            rendered = self._render_task(raw)
        except PacketwalkError as error:
            self.emit(
                "task_result",
                section=section,
                index=position,
                passed=False,
                ignored=False,
                problems=[self._explain_undefined(str(error))],
                attempts=0,
            )
            return False
        assert self.executor is not None
        self.emit(
            "task_start",
            section=section,
            index=position,
            action=rendered.action,
            name=rendered.name or "",
        )
        attempts = 1
        if rendered.until is not None or "retries" in rendered.model_fields_set:
            attempts = int(rendered.retries) + 1
        outcome: Outcome | None = None
        problems: list[str] = []
        for attempt in range(1, attempts + 1):
            try:
                outcome = self.executor.run(rendered)
            except PacketwalkError as error:  # ActionError, or the cluster refused
                outcome, problems = None, [str(error)]
            else:
                if outcome.pending is not None:
                    self._pending.append(outcome.pending)
                self.emit(
                    "task_output",
                    rc=outcome.rc,
                    stdout=outcome.stdout,
                    stderr=outcome.stderr,
                    background=outcome.pending is not None,
                )
                problems = self._judge(rendered, outcome)
                if rendered.register_:
                    self.registered[rendered.register_] = register_value(outcome, problems, attempt)
                if rendered.until is not None:
                    if not self._truth(rendered.until):
                        problems = problems or [f"until: {rendered.until} is still false"]
                    else:
                        problems = []
            if not problems or attempt == attempts:
                break
            self.emit(
                "retry", attempt=attempt, attempts=attempts, delay=rendered.delay, problems=problems
            )
            self.sleep(float(rendered.delay))
        passed = not problems
        message = outcome.extra.get("message", "") if outcome is not None else ""
        self.emit(
            "task_result",
            section=section,
            index=position,
            passed=passed,
            ignored=not passed and rendered.ignore_errors,
            problems=problems,
            attempts=attempt,
            message=message,
        )
        return passed or rendered.ignore_errors

    @staticmethod
    def _judge(task: Task, outcome: Outcome) -> list[str]:
        if outcome.verdict is not None:
            return list(outcome.problems)
        return expectations.failures(task.expect, outcome.rc, outcome.stdout, outcome.stderr)

    def _finish_captures(self) -> bool:
        ok = True
        while self._pending:
            pending = self._pending.pop(0)
            outcome = _finish_capture(pending)
            self.emit(
                "capture_saved",
                name=pending.name,
                file=str(pending.path),
                packets=outcome.extra.get("packets", 0),
                bytes=outcome.extra.get("bytes", 0),
                rc=outcome.rc,
                problems=outcome.problems,
            )
            if pending.register:
                self.registered[pending.register] = register_value(outcome, outcome.problems, 1)
            ok = ok and not outcome.problems
        return ok

    def _abandon_captures(self) -> None:
        for pending in self._pending:
            pending.handle.stop(timeout=0)
            pending.sink.close()
        self._pending.clear()

    def _explain_undefined(self, message: str) -> str:
        """Say which step registers a missing name (after ``--step N`` skipped it)."""
        match = re.search(r"'(\w+)' is undefined", message)
        if match is None:
            return message
        for index, step in enumerate(self.module.steps):
            for task in (*step.tasks, *step.solution, *step.check):
                if task.register_ == match.group(1):
                    return (
                        f"{message}: step {index + 1} registers it; run `invoke lab"
                        f" {self.loaded.id} --step {index + 1}` first"
                    )
        return message

    def _hint(self, step: Step) -> None:
        if step.hint:
            self.emit("hint", text=self._text(step.hint))

    # -- dry run --------------------------------------------------------------------------------

    def _dry_run(self, options: RunOptions) -> RunResult:
        self._lenient = True
        self._render_vars()
        self.emit(
            "run_start",
            module=self.loaded.id,
            title=self.module.title,
            stack=self.facts.get("stack"),
            mode="dry-run",
            step=0,
            run_dir=None,
            note="",
        )
        indexes = range(len(self.module.steps))
        if options.step is not None:
            indexes = range(options.step - 1, options.step)
        for index in indexes:
            step = self.module.steps[index]
            raw = self._raw_step(index)
            name = self._text(step.name)
            decided = self._maybe(step.when) if step.when is not None else True
            if decided is False:
                self._skip_step(index, name, step.when)
                continue
            self.emit(
                "step_start",
                index=index,
                total=len(self.module.steps),
                name=name,
                explain=self._text(step.explain),
                when=None if decided is True else f"{step.when} (decided on the cluster)",
            )
            for section, tasks in (
                ("tasks", step.tasks),
                ("solution", step.solution),
                ("check", step.check),
            ):
                for position, task in enumerate(tasks):
                    self._dry_task(section, position, task, self._raw_task(raw, section, position))
            if step.hint:
                self.emit("hint", text=self._text(step.hint), dry=True)
        self.emit("run_end", status="dry_run", step=None, message="dry run: nothing was run")
        return RunResult("dry_run")

    def _dry_task(self, section: str, position: int, task: Task, raw: Mapping[str, Any]) -> None:
        condition = None
        if task.when is not None:
            decided = self._maybe(task.when)
            if decided is False:
                self.emit(
                    "task_skipped",
                    section=section,
                    index=position,
                    name=self._text(task.name or task.action),
                    reason=f"when: {task.when} is false",
                )
                return
            condition = None if decided else f"when {task.when} (decided on the cluster)"
        rendered = self._render_task(raw)
        self.emit(
            "task_start",
            section=section,
            index=position,
            action=rendered.action,
            name=rendered.name or "",
            when=condition,
            dry=True,
        )
        for line in Executor.describe(rendered, str(self.facts.get("lab_dir", ""))):
            self.emit("command", line=line, dry=True)
        if task.register_:
            self.registered[task.register_] = templating.Unknown(task.register_)

    def _maybe(self, expression: str) -> bool | None:
        try:
            return self._truth(expression)
        except templating.UnknownValueError:
            return None

    # -- templates ------------------------------------------------------------------------------

    def _context(self) -> dict[str, Any]:
        return {**self.facts, **self.vars, **self.registered}

    def _render_vars(self) -> None:
        for name, value in self.module.vars.items():
            self.vars[name] = self._value(value, {**self.facts, **self.vars})

    def _value(self, value: Any, context: Mapping[str, Any]) -> Any:
        if not self._lenient:
            return templating.render(value, context, skip=NOT_TEMPLATED)
        return templating.render_lenient(value, context, skip=NOT_TEMPLATED)

    def _text(self, text: str) -> str:
        """Render text a participant reads; a broken template shows as written, not a crash."""
        try:
            return str(self._value(text, self._context()))
        except PacketwalkError:
            return text

    def _file_text(self, text: str, source: str) -> str:
        """A ``template`` file rendered with everything a task sees (facts, vars, results)."""
        return templating.render_file_text(text, self._context(), source)

    def _truth(self, expression: str) -> bool:
        return templating.truth(expression, self._context())

    def _render_task(self, raw: Mapping[str, Any]) -> Task:
        data = self._value(dict(raw), self._context())
        try:
            return Task.model_validate(templating.plain(data))
        except pydantic.ValidationError as error:
            positions = self.loaded.positions
            problems = validation_problems(error, positions)
            details = "; ".join(p.message for p in problems)
            raise PacketwalkError(f"after templating, the task is invalid: {details}") from error

    def _raw_step(self, index: int) -> Mapping[str, Any]:
        steps = self.loaded.data.get("steps")
        assert isinstance(steps, list)
        raw = steps[index]
        assert isinstance(raw, dict)
        return raw

    @staticmethod
    def _raw_task(raw: Mapping[str, Any], section: str, position: int) -> Mapping[str, Any]:
        tasks = raw.get(section)
        assert isinstance(tasks, list)
        task = tasks[position]
        assert isinstance(task, dict)
        return task

    # -- participant ----------------------------------------------------------------------------

    def ask(self, prompt: str) -> None:
        try:
            answer = self._ask(prompt)
        except EOFError as error:
            raise _Quit from error
        if answer.strip().lower() in ("q", "quit", "exit"):
            raise _Quit

    def _save(self, progress: ModuleProgress, status: str) -> None:
        if self.store is None:
            return
        progress.registered = {
            name: value
            for name, value in self.registered.items()
            if not isinstance(value, templating.Unknown)
        }
        self.store.save(progress)
        if status in ("completed", "running", "checked"):
            self.failed_checks = ()
        if self.publish:
            self._publish(progress, status)

    def _publish(self, progress: ModuleProgress, status: str) -> None:
        """Apply the progress ConfigMap in the participant's namespace (see the module doc)."""
        if self.access is None:
            return
        participant = self.facts.get("participant")
        name = participant.get("name") if isinstance(participant, Mapping) else None
        namespace = str(self.facts.get("app_namespace"))
        record = module_record(
            progress,
            namespace=namespace,
            participant=str(name or "lab"),
            steps=len(self.module.steps),
            status=status,
            failed_checks=self.failed_checks,
        )
        manifest = progress_configmap(record, stack=str(self.facts.get("stack")))
        args = ["apply", "-n", namespace, "-f", "-"]
        try:
            result = self.access.kubectl(args, stdin=json.dumps(manifest))
        except PacketwalkError as error:
            problem = str(error)
        else:
            if result.ok:
                return
            problem = (result.stderr or result.stdout).strip() or f"exit code {result.exit_code}"
        self.emit(
            "warning",
            message=f"could not record your progress for the instructor in {namespace} "
            f"(kubectl {' '.join(args)}): {problem}",
        )
