"""What ``kubectl debug`` (1.31 or later) adds to a pod for an argv, to check the lines we show.

A model of kubectl's ``debugByEphemeralContainer`` for the options our lines use (read from
kubernetes/kubectl ``pkg/cmd/debug``): the ephemeral container is built from the flags, the
``--profile`` is applied (only ``netadmin`` is modelled: it appends NET_ADMIN and NET_RAW to
``securityContext.capabilities.add``), then the ``--custom`` file, JSON or YAML, is merged with a
strategic merge patch for ``corev1.Container``; kubectl refuses a custom file that sets
``name``, ``command``, ``image``, ``lifecycle`` or ``volumeDevices``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

FORBIDDEN_CUSTOM = ("name", "command", "image", "lifecycle", "volumeDevices")


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Strategic merge for the fields a securityContext has: maps merge, lists are replaced
    (``capabilities.add`` has no patch strategy), null deletes."""
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_custom(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    try:
        custom = json.loads(text)
    except json.JSONDecodeError:
        custom = yaml.safe_load(text)
    if not isinstance(custom, dict):
        raise ValueError(f"{path} does not contain a valid container spec")
    bad = [key for key in FORBIDDEN_CUSTOM if custom.get(key)]
    if bad:
        raise ValueError(f"{', '.join(bad)} not modifiable via custom profile")
    return custom


def debug_container(argv: Sequence[str], *, cwd: Path) -> tuple[str, str, dict[str, Any]]:
    """``(namespace, pod, ephemeral container)`` that ``argv`` would patch into the pod."""
    args = list(argv)
    if args[:2] != ["kubectl", "debug"]:
        raise ValueError(f"not a kubectl debug line: {args}")
    dash = args.index("--") if "--" in args else len(args)
    options, command = args[2:dash], args[dash + 1 :]
    namespace, name, positional = "default", "", []
    flags: dict[str, str] = {}
    stdin = tty = False
    i = 0
    while i < len(options):
        option = options[i]
        if option in ("-n", "--namespace", "-c", "--container"):
            value = options[i + 1]
            i += 1
            if option in ("-n", "--namespace"):
                namespace = value
            else:
                name = value
        elif option.startswith("--") and "=" in option:
            key, value = option[2:].split("=", 1)
            flags[key] = value
        elif option in ("-i", "--stdin"):
            stdin = True
        elif option in ("-it", "-ti"):
            stdin = tty = True
        elif option in ("-q", "--quiet"):
            pass
        elif option.startswith("-"):
            raise ValueError(f"option {option} is not modelled")
        else:
            positional.append(option)
        i += 1
    if len(positional) != 1 or not name or "image" not in flags:
        raise ValueError(f"expected one pod, -c and --image: {args}")
    container: dict[str, Any] = {
        "name": name,
        "image": flags["image"],
        "command": command,
        "stdin": stdin,
        "tty": tty,
        "terminationMessagePolicy": "File",
    }
    if "target" in flags:
        container["targetContainerName"] = flags["target"]
    profile = flags.get("profile", "legacy")
    if profile != "netadmin":
        raise ValueError(f"profile {profile} is not modelled")
    container["securityContext"] = {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}}
    if "custom" in flags:
        container = _merge(container, load_custom(cwd / flags["custom"]))
    return namespace, positional[0], container
