"""Charts rendered once per test session with the real Helm library (helm-sdkpy).

The packages come from ``../shared/charts`` (``PACKETWALK_CHARTS`` overrides), the pinned
versions; nothing is downloaded. A render is memoised by chart, release, namespace and values,
so the many tests over the desired state of eight stacks cost one render per distinct chart.
"""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from packetwalk.lab.charts import ChartSpec
from packetwalk.lab.config import LabConfig, load_stack_config
from packetwalk.render import helmrender
from packetwalk.render.chartcache import ChartCache
from packetwalk.render.desired import ComponentState, desired_state

HERE = Path(__file__).resolve().parent
STACKS_DIR = HERE.parent / "stacks"
CHARTS = Path(os.environ.get("PACKETWALK_CHARTS", HERE.parents[1] / "shared" / "charts"))
ALL_STACKS = sorted(
    p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACKS_DIR.glob("Pulumi.*.yaml")
)


def _helm_available() -> bool:
    try:
        helmrender._helm()
    except helmrender.RenderError:
        return False
    return True


needs_charts = pytest.mark.skipif(
    not CHARTS.is_dir() or not _helm_available(),
    reason=f"chart packages ({CHARTS}) or helm-sdkpy missing: ./invoke installs helm-sdkpy",
)

CACHE = ChartCache(CHARTS / ".no-cache", source=CHARTS, fetch=None)


@cache
def _render(
    package: str, release: str, namespace: str, values_json: str
) -> helmrender.RenderedChart:
    return helmrender.render_chart(
        CHARTS / package, release=release, namespace=namespace, values=json.loads(values_json)
    )


def render_chart(
    package: Path, *, release: str, namespace: str, values: Any
) -> helmrender.RenderedChart:
    """``helmrender.render_chart``, memoised; each caller gets its own copy of the objects."""
    rendered = _render(package.name, release, namespace, json.dumps(values, sort_keys=True))
    return copy.deepcopy(rendered)


def render_spec(spec: ChartSpec) -> helmrender.RenderedChart:
    return render_chart(
        CACHE.locate(spec), release=spec.release, namespace=spec.namespace, values=spec.values
    )


def stack_config(stack: str) -> LabConfig:
    return load_stack_config(stack, STACKS_DIR)


@cache
def _desired(stack: str) -> list[ComponentState]:
    return desired_state(stack_config(stack), CACHE.locate, render=render_chart)


def desired(stack: str) -> list[ComponentState]:
    """The stack's desired state (a copy: tests may break values on purpose)."""
    return copy.deepcopy(_desired(stack))


def objects(stack: str) -> list[dict[str, Any]]:
    return [obj for component in desired(stack) for obj in component.objects]
