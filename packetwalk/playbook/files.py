"""The ``template`` task: a lab file rendered with the facts into the participant's folder.

Participants read, apply and edit these copies (module 06 asks them to fix a policy), so a copy
they changed is theirs: packetwalk remembers a digest of what it wrote beside each file
(``.<name>.written``) and replaces the file only while it still holds exactly that. A changed
copy is kept and the task says so; deleting it brings a fresh one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packetwalk.errors import PacketwalkError

Written = Literal["created", "updated", "unchanged", "kept"]


class LabFileError(PacketwalkError):
    """A template file that is missing, unreadable or cannot be written."""


@dataclass(frozen=True)
class LabFile:
    """What a ``template`` task did with one file."""

    src: str
    dest: str
    status: Written

    @property
    def message(self) -> str:
        if self.status == "kept":
            return (
                f"kept {self.dest}: you changed it since packetwalk wrote it"
                f" (delete it to get a fresh copy of {self.src})"
            )
        return f"{self.dest} {self.status} from {self.src}"


def default_dest(lab_dir: str, src: str) -> str:
    """``{{ lab_dir }}/<file name>``: where a template goes unless the task says ``dest``."""
    return f"{lab_dir.rstrip('/')}/{Path(src).name}"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _record(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.written")


def write_lab_file(
    src: str,
    dest: str,
    *,
    project: Path,
    workdir: Path,
    render: Callable[[str, str], str],
) -> LabFile:
    """Render ``project/src`` with ``render(text, src)`` into ``workdir/dest``.

    A ``dest`` that exists and differs from what packetwalk last wrote there is kept untouched.
    """
    source = project / src
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabFileError(f"template {src}: no such file in {project}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise LabFileError(f"template {src}: cannot read it: {error}") from error
    data = render(text, src).encode("utf-8")
    target = workdir / dest
    record = _record(target)
    status: Written = "created"
    if target.exists():
        current = target.read_bytes()
        if current == data:
            record.write_text(_digest(data), encoding="utf-8")
            return LabFile(src, dest, "unchanged")
        written = record.read_text(encoding="utf-8").strip() if record.exists() else None
        if written != _digest(current):
            return LabFile(src, dest, "kept")
        status = "updated"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_bytes(data)
        partial.replace(target)  # never a half-written manifest for kubectl apply
        record.write_text(_digest(data), encoding="utf-8")
    except OSError as error:
        raise LabFileError(f"template {src}: cannot write {dest}: {error}") from error
    return LabFile(src, dest, status)
