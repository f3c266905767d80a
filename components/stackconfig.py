"""The validated lab settings of the stack a Pulumi program runs for.

Both projects read the same ``stacks/Pulumi.<stack>.yaml`` (``stackConfigDir: ..``); the engine
hands its ``config:`` to the program as strings, which
:func:`packetwalk.lab.config.parse_lab_config`
accepts. Validation happens here, before the program creates any resource.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from packetwalk.errors import PacketwalkError
from packetwalk.lab.config import LabConfig, parse_lab_config


def engine_config() -> dict[str, Any]:
    """Every config value the engine passed this run (``PULUMI_CONFIG`` first, then the map)."""
    values: dict[str, Any] = dict(runtime_config.get_config_env())
    values.update(runtime_config.CONFIG.get())
    return values


def lab_config() -> LabConfig:
    """This stack's settings; a bad value stops the program with the error and nothing created."""
    stack = pulumi.get_stack()
    try:
        return parse_lab_config(stack, engine_config(), source=f"stacks/Pulumi.{stack}.yaml")
    except PacketwalkError as err:
        raise pulumi.RunError(str(err)) from err
