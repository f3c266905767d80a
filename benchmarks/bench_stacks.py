"""How long each stack's Pulumi programs take to evaluate under mocks (target: under 2 s a stack).

This is the cost of the Python side of ``pulumi preview``/``up`` (config validation, kind config,
intents -> policies, registering every resource), without the engine or providers. Run:

    .venv/bin/python benchmarks/bench_stacks.py [--repeat N] [STACK ...]

Each program runs once to warm imports, then ``--repeat`` times; the table shows the median and
the slowest run per program, and the number of resources each registers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests")]

from pulumi_mocks import (  # noqa: E402  (after the path setup above)
    CLUSTER_PROGRAM,
    LAB_PROGRAM,
    ProgramRun,
    engine_config,
    run_program,
)

from packetwalk.lab.config import stack_names  # noqa: E402

TARGET_SECONDS = 2.0


def _time(fn: object, repeat: int) -> tuple[list[float], ProgramRun]:
    assert callable(fn)
    fn()  # warm-up: imports, schema caches
    times, run = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        run = fn()
        times.append(time.perf_counter() - start)
    assert run is not None
    return times, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stacks", nargs="*", help="stacks to time (default: every stack)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per program")
    args = parser.parse_args(argv)
    stacks = args.stacks or stack_names()

    print(
        f"{'stack':<16}{'cluster median':>15}{'max':>8}{'lab median':>12}{'max':>8}"
        f"{'total':>8}{'resources':>11}  verdict"
    )
    worst = 0.0
    for stack in stacks:
        config = engine_config(stack)

        def cluster(stack: str = stack, config: dict[str, str] = config) -> ProgramRun:
            return run_program(
                CLUSTER_PROGRAM, project="packetwalk-cluster", stack=stack, config=config
            )

        cluster_times, cluster_run = _time(cluster, args.repeat)

        def lab(
            stack: str = stack,
            config: dict[str, str] = config,
            outputs: dict[str, object] = cluster_run.outputs,
        ) -> ProgramRun:
            return run_program(
                LAB_PROGRAM,
                project="packetwalk-lab",
                stack=stack,
                config=config,
                stack_outputs=outputs,
            )

        lab_times, lab_run = _time(lab, args.repeat)
        c_med, l_med = statistics.median(cluster_times), statistics.median(lab_times)
        total = c_med + l_med
        worst = max(worst, max(cluster_times) + max(lab_times))
        resources = len(cluster_run.registrations) + len(lab_run.registrations)
        verdict = "ok" if total < TARGET_SECONDS else f"SLOW (target {TARGET_SECONDS:.0f} s)"
        print(
            f"{stack:<16}{c_med:>14.3f}s{max(cluster_times):>7.3f}s{l_med:>11.3f}s"
            f"{max(lab_times):>7.3f}s{total:>7.3f}s{resources:>11}  {verdict}"
        )
    print(f"\nslowest stack, slowest runs added: {worst:.3f} s (target < {TARGET_SECONDS:.0f} s)")
    return 0 if worst < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
