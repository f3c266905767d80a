"""The rendered desired state as YAML files, one per component, numbered in apply order."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import yaml

from packetwalk.errors import InputError
from packetwalk.render.desired import ComponentState


def _describe(obj: dict[str, object]) -> str:
    metadata = obj.get("metadata")
    name = metadata.get("name", "?") if isinstance(metadata, dict) else "?"
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    return f"{obj.get('kind')} {namespace + '/' if namespace else ''}{name}"


def component_files(stack: str, components: list[ComponentState],
                    notes: list[str]) -> dict[str, str]:
    """File name -> YAML text (a header saying what it holds, then one document an object)."""
    files: dict[str, str] = {}
    for number, component in enumerate(components, start=1):
        header = [f"# packetwalk render: stack {stack!r}, component {component.name!r}, "
                  f"{len(component.objects)} objects in apply order"]
        if component.chart is not None:
            spec = component.chart
            header.append(f"# chart {spec.chart} {spec.version} ({spec.repo}) as release "
                          f"{spec.release!r} in namespace {spec.namespace!r}")
        header += [f"# hook dropped (helm.v4.Chart runs no hooks): {_describe(hook)}"
                   for hook in component.hooks]
        header += [f"# note: {note}" for note in notes]
        body = yaml.safe_dump_all(component.objects, sort_keys=False, explicit_start=True)
        files[f"{number:02d}-{component.name}.yaml"] = "\n".join(header) + "\n" + body
    return files


def write_files(out: Path, files: dict[str, str], *, force: bool) -> None:
    """Write ``files`` into ``out`` as a whole: all of them or, on any error, none.

    A folder that holds anything else than an earlier rendering of the same files is refused
    without ``force``; with it, only the named files are replaced.
    """
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder; not touching it", source=str(out))
    if out.is_dir() and not force:
        differing = sorted(p.name for p in out.iterdir()
                           if p.name not in files or p.read_text(encoding="utf-8")
                           != files[p.name])
        if differing:
            raise InputError(f"holds other content ({', '.join(differing[:5])}); not "
                             "overwriting it (use --force, or another --out)", source=str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
        out.mkdir(exist_ok=True)
        for name in files:
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
