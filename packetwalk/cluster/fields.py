"""Reading the fields every object has, and the one shape of every reading error.

An error names the object and the field, with the file and line apart (``InputError``'s source
and location): ``Pod vote/x: metadata.labels.app: label values must be strings``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from packetwalk.cluster.model import Origin
from packetwalk.errors import InputError


def describe_origin(origin: Origin | None) -> str:
    if origin is None:
        return "an earlier object"
    return ":".join(x for x in (origin.source, origin.location) if x)


def field_error(
    origin: Origin, obj: str, field: str, message: str, choices: Iterable[str] | None = None
) -> InputError:
    """The one shape of every reading error: object, field, message; file and line apart."""
    return InputError(
        f"{obj}: {field}: {message}",
        source=origin.source,
        location=origin.location,
        choices=choices,
    )


def read_meta(obj: Mapping[str, Any], origin: Origin, kind: str) -> tuple[str, str, dict[str, str]]:
    """Name, namespace (``default`` when not given) and labels of a namespaced object."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise field_error(origin, kind, "metadata", "missing (every object needs metadata.name)")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise field_error(origin, kind, "metadata.name", "missing or not a string")
    namespace = meta.get("namespace") or "default"
    if not isinstance(namespace, str):
        raise field_error(origin, f"{kind} {name}", "metadata.namespace", "must be a string")
    labels = read_labels(
        meta.get("labels"), origin, f"{kind} {namespace}/{name}", "metadata.labels"
    )
    return name, namespace, labels


def read_spec(obj: Mapping[str, Any], origin: Origin, ref: str) -> dict[str, Any]:
    """An object's ``spec``: a mapping, or absent (then empty)."""
    spec = obj.get("spec")
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise field_error(origin, ref, "spec", "must be a mapping")
    return spec


def read_labels(raw: object, origin: Origin, obj: str, field: str) -> dict[str, str]:
    """A label map (labels, selectors): string keys to string values; absent is empty."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise field_error(origin, obj, field, "must be a mapping of label keys to string values")
    labels: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise field_error(
                origin, obj, f"{field}.{key}", f'label values must be strings (quote it: "{value}")'
            )
        labels[key] = value
    return labels


def mapping(value: object) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one (for optional parts such as status)."""
    return value if isinstance(value, Mapping) else {}


def optional_str(value: object) -> str | None:
    """A non-empty string field, else None."""
    return value if isinstance(value, str) and value else None
