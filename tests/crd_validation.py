"""Validate custom resources strictly against upstream CRD schemas.

The schemas come from, in order (a later source wins for the same kind):
- the vendored copies in tests/data/crds/ (MetalLB, for machines without the shared charts);
- ../shared/reference/crds/ (Gateway API v1.5.1, standard channel);
- every CRD the pinned charts in ../shared/charts install, as rendered by the real Helm
  (tests/rendering.py): Traefik's, MetalLB's, the tigera operator's and Calico's.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import rendering
import yaml

CRD_DIR = Path(__file__).parent / "data" / "crds"
SHARED_CRDS = rendering.HERE.parents[1] / "shared" / "reference" / "crds"


_LOGIC = ("oneOf", "anyOf", "allOf", "not")


def _closed(schema: Any, *, structural: bool = True) -> Any:
    """Every object schema with ``properties`` rejects unknown keys (the API server prunes them).

    Only the structural part closes: the ``properties`` inside ``oneOf``/``anyOf``/``allOf``/
    ``not`` only constrain values the structure already declares (Kubernetes' structural schema
    rules), so closing them would refuse valid objects (Gateway ``spec.addresses``).
    """
    if isinstance(schema, dict):
        schema = {
            key: _closed(value, structural=structural and key not in _LOGIC)
            for key, value in schema.items()
        }
        if (
            structural
            and "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_closed(item, structural=structural) for item in schema]
    return schema


def chart_crds_available() -> bool:
    """Whether the pinned charts (../shared/charts) and the real Helm are here to give the CRDs
    the charts install (Calico's operator resources have no other source)."""
    return rendering.CHARTS.is_dir() and rendering._helm_available()


def _chart_crds() -> list[dict[str, Any]]:
    if not chart_crds_available():
        return []
    found: list[dict[str, Any]] = []
    for stack in rendering.ALL_STACKS:
        for obj in rendering.objects(stack):
            if obj.get("kind") == "CustomResourceDefinition":
                found.append(obj)
    return found


@cache
def _schemas() -> dict[tuple[str, str], dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in [*sorted(CRD_DIR.glob("*.yaml")), *sorted(SHARED_CRDS.glob("*/*.yaml"))]:
        documents += [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    documents += _chart_crds()
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for doc in documents:
        if doc.get("kind") != "CustomResourceDefinition":
            continue
        group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
        for version in doc["spec"]["versions"]:
            schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
            schemas[(f"{group}/{version['name']}", kind)] = _closed(schema)
    return schemas


def known(api_version: str, kind: str) -> bool:
    return (api_version, kind) in _schemas()


def validate(obj: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` (or KeyError for an unvendored kind)."""
    schema = _schemas()[(obj["apiVersion"], obj["kind"])]
    jsonschema.Draft7Validator(schema).validate(obj)
