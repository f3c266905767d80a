"""Where modules and stacks are found: ``labs/NN-slug.yaml`` and ``stacks/Pulumi.<stack>.yaml``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from packetwalk.errors import InputError
from packetwalk.lab import config
from packetwalk.playbook.facts import offline_facts

LABS_DIR = config.REPO_ROOT / "labs"
MODULE_FILE = re.compile(r"^\d\d-[a-z0-9][-a-z0-9]*\.yaml$")


def module_paths(labs_dir: Path = LABS_DIR) -> list[Path]:
    """The project's modules in order (``NN-slug.yaml`` files directly in ``labs/``)."""
    if not labs_dir.is_dir():
        return []
    return sorted(p for p in labs_dir.iterdir() if p.is_file() and MODULE_FILE.match(p.name))


def find_module(module_id: str, labs_dir: Path = LABS_DIR) -> Path:
    """The file of a module id (``01-pod-networking``, or just its number ``01`` or ``1``)."""
    paths = module_paths(labs_dir)
    ids = [p.name.removesuffix(".yaml") for p in paths]
    wanted = module_id.removesuffix(".yaml")
    for path, ident in zip(paths, ids, strict=True):
        if wanted == ident or (wanted.isdigit() and int(wanted) == int(ident[:2])):
            return path
    raise InputError(f"no lab module {module_id!r}", source=str(labs_dir), choices=ids)


def all_offline_facts(stacks_dir: Path = config.STACKS_DIR) -> dict[str, dict[str, Any]]:
    """Offline facts of every stack config, by stack name."""
    return {
        stack: offline_facts(config.load_stack_config(stack, stacks_dir))
        for stack in config.stack_names(stacks_dir)
    }
