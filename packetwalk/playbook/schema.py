"""The JSON Schema of the module format, for editors (YAML language server) and CI.

``labs/schema.json`` is generated from the pydantic models; a test keeps it up to date.
Regenerate with ``.venv/bin/python -m packetwalk.playbook.schema > labs/schema.json``.
The schema describes shapes; rules across keys (exactly one action per task, a pause step needs
a check) are enforced by ``invoke lab-validate``.
"""

from __future__ import annotations

import json
from typing import Any

from packetwalk.playbook.model import Module


def module_schema() -> dict[str, Any]:
    schema = Module.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    return json.dumps(module_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(schema_text(), end="")
