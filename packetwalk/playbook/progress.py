"""A participant's progress per stack: ``<repo>/.packetwalk/progress/<stack>.json``.

Progress is per stack because a module means different commands on kind-cilium than on kind.
Registered results are kept too: a later step (or ``--check``) may read ``{{ client.stdout }}``
from a step that ran yesterday. Writes go through a temporary file and ``os.replace`` so an
interrupted run never leaves half a file; a file we cannot read is reported, never overwritten.

Progress is also kept where the instructor can see it: :func:`progress_configmap` builds one
ConfigMap per module in the participant's own namespace (``packetwalk-progress-<module>``, so
a participant's credentials need nothing outside that namespace, and a run writes its module
only, never merging with other modules' records). :func:`read_progress_configmap` reads one
back and :func:`workshop_table` makes the instructor's participants x modules table of them.
Both are pure: the runner applies the manifest through ``ClusterAccess``, ``invoke workshop``
reads the ConfigMaps.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from packetwalk.errors import InputError

FORMAT_VERSION = 1


@dataclass
class ModuleProgress:
    """Where a participant is in one module (step indices are 0-based)."""

    module: str
    completed: list[int] = field(default_factory=list)
    current: int = 0
    finished: bool = False
    registered: dict[str, Any] = field(default_factory=dict)
    updated: str = ""

    @property
    def started(self) -> bool:
        return bool(self.completed) or self.current > 0 or self.finished

    def complete(self, step: int, total: int) -> None:
        """Mark ``step`` done; resume at the next step (the last one once all are done)."""
        if step not in self.completed:
            self.completed.append(step)
            self.completed.sort()
        self.finished = all(i in self.completed for i in range(total))
        self.current = min(step + 1, total - 1)


class ProgressStore:
    """Reads and writes the progress file of one stack."""

    def __init__(self, repo: Path, stack: str) -> None:
        self.path = repo / ".packetwalk" / "progress" / f"{stack}.json"
        self.stack = stack

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"version": FORMAT_VERSION, "stack": self.stack, "modules": {}}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise InputError(
                f"cannot read the progress file ({error}); move it away to start afresh",
                source=str(self.path),
            ) from error
        if not isinstance(data, dict) or not isinstance(data.get("modules"), dict):
            raise InputError(
                "not a packetwalk progress file; move it away to start afresh",
                source=str(self.path),
            )
        return data

    def load(self, module: str) -> ModuleProgress:
        raw = self._read()["modules"].get(module)
        if not isinstance(raw, dict):
            return ModuleProgress(module)
        return ModuleProgress(
            module=module,
            completed=[int(i) for i in raw.get("completed", []) if isinstance(i, int)],
            current=int(raw.get("current", 0)),
            finished=bool(raw.get("finished", False)),
            registered=dict(raw.get("registered", {})),
            updated=str(raw.get("updated", "")),
        )

    def save(self, progress: ModuleProgress) -> None:
        data = self._read()
        progress.updated = datetime.now(UTC).isoformat(timespec="seconds")
        data["modules"][progress.module] = asdict(progress)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".progress-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=2, sort_keys=True, default=str)
                out.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def reset(self, module: str) -> None:
        data = self._read()
        if module in data["modules"]:
            self.save(ModuleProgress(module))


# -- the instructor's copy: a ConfigMap per module in the participant's namespace -----------------

PROGRESS_PREFIX: Final = "packetwalk-progress-"
PROGRESS_LABEL: Final = "packetwalk.dev/progress"
"""Label on every progress ConfigMap; its value is the module id."""
PARTICIPANT_LABEL: Final = "packetwalk.dev/participant"


@dataclass(frozen=True)
class ModuleRecord:
    """What one participant's ConfigMap says about one module."""

    namespace: str
    participant: str
    module: str
    step: int
    """1-based: the step the participant is on."""
    steps: int
    completed: tuple[int, ...] = ()
    """1-based step numbers."""
    finished: bool = False
    status: str = ""
    """How the last run ended (``completed``, ``failed``, ``check_failed``, ``stopped``...)."""
    failed_checks: tuple[str, ...] = ()
    """The checks of the current step that failed in the last run (empty when they passed)."""
    updated: str = ""


def progress_configmap_name(module: str) -> str:
    return f"{PROGRESS_PREFIX}{module}"


def progress_configmap(
    record: ModuleRecord, *, stack: str, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    """The ConfigMap that records ``record`` in the participant's namespace (for kubectl apply)."""
    data = {
        "module": record.module,
        "stack": stack,
        "participant": record.participant,
        "step": str(record.step),
        "steps": str(record.steps),
        "completed": ",".join(str(i) for i in record.completed),
        "finished": "true" if record.finished else "false",
        "status": record.status,
        "failedChecks": json.dumps(list(record.failed_checks)),
        "updated": record.updated,
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": progress_configmap_name(record.module),
            "namespace": record.namespace,
            "labels": {
                "app.kubernetes.io/managed-by": "packetwalk",
                PROGRESS_LABEL: record.module,
                PARTICIPANT_LABEL: record.participant,
                **(labels or {}),
            },
        },
        "data": data,
    }


def module_record(
    progress: ModuleProgress,
    *,
    namespace: str,
    participant: str,
    steps: int,
    status: str = "",
    failed_checks: tuple[str, ...] = (),
) -> ModuleRecord:
    """The record of a module's local progress (0-based steps become 1-based)."""
    return ModuleRecord(
        namespace=namespace,
        participant=participant,
        module=progress.module,
        step=progress.current + 1,
        steps=steps,
        completed=tuple(i + 1 for i in progress.completed),
        finished=progress.finished,
        status=status,
        failed_checks=failed_checks,
        updated=progress.updated,
    )


def read_progress_configmap(obj: Mapping[str, Any]) -> ModuleRecord | None:
    """The record a progress ConfigMap holds; None for any other or a damaged ConfigMap."""
    metadata = obj.get("metadata")
    data = obj.get("data")
    if not isinstance(metadata, Mapping) or not isinstance(data, Mapping):
        return None
    name = metadata.get("name")
    if not isinstance(name, str) or not name.startswith(PROGRESS_PREFIX):
        return None
    try:
        failed = json.loads(str(data.get("failedChecks") or "[]"))
        completed = str(data.get("completed") or "")
        return ModuleRecord(
            namespace=str(metadata.get("namespace") or ""),
            participant=str(data.get("participant") or ""),
            module=str(data.get("module") or name.removeprefix(PROGRESS_PREFIX)),
            step=int(str(data.get("step") or "1")),
            steps=int(str(data.get("steps") or "0")),
            completed=tuple(int(i) for i in completed.split(",") if i),
            finished=str(data.get("finished")) == "true",
            status=str(data.get("status") or ""),
            failed_checks=tuple(str(item) for item in failed) if isinstance(failed, list) else (),
            updated=str(data.get("updated") or ""),
        )
    except ValueError:
        return None


@dataclass(frozen=True)
class WorkshopRow:
    """One participant's line of the instructor's table."""

    number: int
    participant: str
    namespace: str
    modules: dict[str, ModuleRecord | None]
    """By module id, every module of the table (None: not started)."""
    unreadable: str = ""
    """Why the participant's namespace could not be read (empty when it could)."""


def workshop_rows(
    participants: Sequence[tuple[int, str, str]],
    modules: Sequence[str],
    records: Iterable[ModuleRecord],
    unreadable: Mapping[str, str] | None = None,
) -> list[WorkshopRow]:
    """Participants (``(number, name, namespace)``) x modules, from the records found.

    A record is matched to a participant by namespace, so a ConfigMap written into the wrong
    namespace never shows up as someone else's progress.
    """
    by_key = {(r.namespace, r.module): r for r in records}
    problems = unreadable or {}
    return [
        WorkshopRow(
            number,
            name,
            namespace,
            {module: by_key.get((namespace, module)) for module in modules},
            problems.get(namespace, ""),
        )
        for number, name, namespace in participants
    ]


def cell_text(record: ModuleRecord | None) -> str:
    """One table cell: ``-``, ``done``, ``step 3/7`` and the failed checks, if any."""
    if record is None:
        return "-"
    text = "done" if record.finished else f"step {record.step}/{record.steps}"
    if record.failed_checks:
        text += " ✘ " + ", ".join(record.failed_checks)
    return text


def workshop_json(rows: Sequence[WorkshopRow]) -> list[dict[str, Any]]:
    """The table as plain data (``invoke workshop --format json``)."""
    return [
        {
            "participant": row.number,
            "name": row.participant,
            "namespace": row.namespace,
            "error": row.unreadable or None,
            "modules": {
                module: None if record is None else _record_json(record)
                for module, record in row.modules.items()
            },
        }
        for row in rows
    ]


def _record_json(record: ModuleRecord) -> dict[str, Any]:
    return {
        "step": record.step,
        "steps": record.steps,
        "completed": list(record.completed),
        "finished": record.finished,
        "status": record.status,
        "failed_checks": list(record.failed_checks),
        "updated": record.updated,
    }


def workshop_markdown(rows: Sequence[WorkshopRow], modules: Sequence[str]) -> str:
    """The table as Markdown (``invoke workshop --format md``)."""
    lines = [
        "| participant | " + " | ".join(modules) + " |",
        "|---|" + "---|" * len(modules),
    ]
    for row in rows:
        cells = (
            [f"unreadable: {row.unreadable}"] * len(modules)
            if row.unreadable
            else [cell_text(row.modules.get(m)) for m in modules]
        )
        cells = [cell.replace("|", "\\|") for cell in cells]
        lines.append(f"| {row.number} ({row.namespace}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
