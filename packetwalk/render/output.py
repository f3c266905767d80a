"""The rendered desired state as YAML files, one per component, numbered in apply order."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import yaml

from packetwalk.errors import InputError
from packetwalk.render.desired import ComponentState


def _describe(obj: dict[str, object]) -> str:
    metadata = obj.get("metadata")
    name = metadata.get("name", "?") if isinstance(metadata, dict) else "?"
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    return f"{obj.get('kind')} {namespace + '/' if namespace else ''}{name}"


def component_files(
    stack: str, components: list[ComponentState], notes: list[str]
) -> dict[str, str]:
    """File name -> YAML text (a header saying what it holds, then one document an object)."""
    files: dict[str, str] = {}
    for number, component in enumerate(components, start=1):
        header = [
            f"# packetwalk render: stack {stack!r}, component {component.name!r}, "
            f"{len(component.objects)} objects in apply order"
        ]
        if component.chart is not None:
            spec = component.chart
            header.append(
                f"# chart {spec.chart} {spec.version} ({spec.repo}) as release "
                f"{spec.release!r} in namespace {spec.namespace!r}"
            )
        header += [
            f"# hook dropped (helm.v4.Chart runs no hooks): {_describe(hook)}"
            for hook in component.hooks
        ]
        header += [f"# note: {note}" for note in notes]
        body = yaml.safe_dump_all(component.objects, sort_keys=False, explicit_start=True)
        files[f"{number:02d}-{component.name}.yaml"] = "\n".join(header) + "\n" + body
    return files


def write_files(out: Path, files: dict[str, str], *, force: bool) -> None:
    """Write ``files`` into ``out`` as a whole: all of them or, on any error, none.

    A folder that holds anything else than an earlier rendering of the same files is refused
    without ``force``; with it, only the named files are replaced. A new folder appears whole
    (written aside, then renamed); in an existing one each file is replaced whole.
    """
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder; not touching it", source=str(out))
    if out.is_dir() and not force:
        differing = sorted(p.name for p in out.iterdir() if not _holds(p, files.get(p.name)))
        if differing:
            more = f" and {len(differing) - 5} more" if len(differing) > 5 else ""
            raise InputError(
                f"holds other content ({', '.join(differing[:5])}{more}); not "
                "overwriting it (use --force, or another --out)",
                source=str(out),
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkdtemp: its 0700 would stay on the folder once renamed to ``out``.
    staging = out.parent / f".{out.name}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        for name, text in files.items():
            (staging / name).write_bytes(text.encode("utf-8"))
        if not out.exists():
            staging.rename(out)
            return
        for name in files:
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _holds(path: Path, text: str | None) -> bool:
    """Whether ``path`` is a file with exactly ``text`` (bytes compared: a file someone else
    wrote need not be UTF-8, and a folder is never an earlier rendering)."""
    return text is not None and path.is_file() and path.read_bytes() == text.encode("utf-8")
