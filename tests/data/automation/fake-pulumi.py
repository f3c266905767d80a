"""A stand-in for the `pulumi` CLI, enough for the Automation API calls packetwalk makes.

Used by tests/test_host_stacks.py: it is put on PATH as `pulumi`. Every call is appended to
$FAKE_PULUMI_LOG (argv, working directory, the Pulumi variables it saw); stacks live in the JSON
file $FAKE_PULUMI_STATE keyed by "<project name>/<stack>". Commands it does not know fail loudly.
"""

import json
import os
import sys
from pathlib import Path

argv = [a for a in sys.argv[1:] if a != "--non-interactive"]
log = Path(os.environ["FAKE_PULUMI_LOG"])
state_path = Path(os.environ["FAKE_PULUMI_STATE"])
seen = {k: os.environ.get(k) for k in sorted(os.environ) if k.startswith("PULUMI_")}
with log.open("a") as handle:
    handle.write(json.dumps({"argv": argv, "cwd": os.getcwd(), "env": seen}) + "\n")

if argv[:1] == ["version"]:
    print("v3.272.0")
    sys.exit(0)

project = ""
for line in Path("Pulumi.yaml").read_text().splitlines():
    if line.startswith("name:"):
        project = line.split(":", 1)[1].strip()
stack = argv[argv.index("--stack") + 1] if "--stack" in argv else ""
if argv[:2] == ["stack", "init"]:
    stack = argv[2]
key = f"{project}/{stack}"
state = json.loads(state_path.read_text()) if state_path.exists() else {}


def save():
    state_path.write_text(json.dumps(state))


if argv[:2] == ["stack", "select"]:
    if key not in state:
        print(f"error: no stack named '{stack}' found", file=sys.stderr)
        sys.exit(255)
elif argv[:2] == ["stack", "init"]:
    state[key] = {"deployed": False, "outputs": {}}
    save()
elif argv[:2] == ["stack", "output"]:
    outputs = state[key]["outputs"]
    if "--show-secrets" not in argv:
        outputs = {k: "[secret]" if k == "kubeconfig" else v for k, v in outputs.items()}
    print(json.dumps(outputs))
elif argv[:2] == ["stack", "export"]:
    print(json.dumps({"version": 3, "deployment": {"resources": []}}))
elif argv[:2] == ["stack", "history"]:
    changes = state[key].get("changes", {})
    print(
        json.dumps(
            [
                {
                    "kind": "update",
                    "startTime": "2026-11-26T22:00:00.000Z",
                    "message": "",
                    "environment": {},
                    "config": {},
                    "result": "succeeded",
                    "endTime": "2026-11-26T22:00:05.000Z",
                    "resourceChanges": changes,
                }
            ]
        )
    )
elif argv[:1] == ["up"]:
    first = not state[key]["deployed"]
    state[key]["deployed"] = True
    state[key]["changes"] = {"create": 2} if first else {"same": 2}
    state[key]["outputs"] = json.loads(os.environ.get("FAKE_PULUMI_OUTPUTS", "{}")).get(project, {})
    save()
elif argv[:1] == ["destroy"]:
    state[key]["changes"] = {"delete": 2}
    state[key]["deployed"] = False
    state[key]["outputs"] = {}
    save()
else:
    print(f"fake pulumi: unexpected command {argv}", file=sys.stderr)
    sys.exit(2)
