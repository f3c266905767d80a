"""The layer contracts in .importlinter hold for the tree, and each one breaks when broken.

``lint-imports`` runs on a copy of the engine and the components in a temporary folder, with
that folder first on PYTHONPATH, so a violation added on purpose never touches the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(
    not LINT_IMPORTS.exists(), reason="import-linter is not installed (./invoke installs it)"
)


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / ".importlinter"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    ignore = shutil.ignore_patterns("__pycache__")
    for package in ("packetwalk", "components"):
        shutil.copytree(REPO / package, root / package, ignore=ignore)
    shutil.copy(REPO / ".importlinter", root / ".importlinter")
    return root


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("packetwalk/netpol/evaluator.py", "import rich", "The core imports no Pulumi"),
        ("packetwalk/lab/config.py", "import packetwalk.kube.access", "The core imports no Pulumi"),
        (
            "packetwalk/walk/plan.py",
            "import packetwalk.playbook.runner",
            "cli > walk | playbook | render | verify",
        ),
        (
            "packetwalk/kube/specs.py",
            "import packetwalk.walk.plan",
            "cli > walk | playbook | render | verify",
        ),
        ("packetwalk/walk/plan.py", "import packetwalk.kube.kubectl", "Walks and labs reach"),
        ("packetwalk/host/process.py", "import components", "The engine never imports"),
    ],
)
def test_each_contract_breaks_when_broken(
    tree: Path, tmp_path: Path, module: str, line: str, contract: str
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tree, broken)
    path = broken / module
    path.write_text(path.read_text() + f"\n{line}  # broken on purpose\n")
    result = lint(broken)
    assert result.returncode != 0
    report = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in report, result.stdout
