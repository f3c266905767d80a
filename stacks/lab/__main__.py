"""Pulumi program of project ``packetwalk-lab``; the logic is in components/lab_stack.py."""

import sys
from pathlib import Path

# Pulumi runs this file with stacks/lab as the working directory; make the checkout importable
# even when packetwalk is not installed into the interpreter Pulumi uses.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from components.lab_stack import run

run()
