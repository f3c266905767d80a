"""Invoke entry points. Every task lives in a module of ``packetwalk.cli``; this file collects them.

Run ``invoke --list`` (or ``./invoke --list`` on a fresh machine) to see them all.
"""

from __future__ import annotations

import importlib

from invoke.collection import Collection
from invoke.tasks import Task

TASK_MODULES = (
    "packetwalk.cli.stack_tasks",
    "packetwalk.cli.matrix_tasks",
    "packetwalk.cli.lab_tasks",
    "packetwalk.cli.walk_tasks",
    "packetwalk.cli.analyze_tasks",
    "packetwalk.cli.render_tasks",
    "packetwalk.cli.map_tasks",
    "packetwalk.cli.verify_tasks",
    "packetwalk.cli.workshop_tasks",
    "packetwalk.cli.dev_tasks",
)

ns = Collection()
for module_name in TASK_MODULES:
    module = importlib.import_module(module_name)
    for task in vars(module).values():
        if isinstance(task, Task):
            ns.add_task(task)
