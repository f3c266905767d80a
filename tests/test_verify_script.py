"""The probe script: one line per probe, run in the background, and its output read back."""

from __future__ import annotations

import re

import pytest

from packetwalk.kube.fake import PROBE_SCRIPT_LINE
from packetwalk.verify.plan import Endpoint, Probe, SourceSpec
from packetwalk.verify.script import PROBE_LINE, build_script, outcome_of, parse_output

SOURCE = SourceSpec("pod", Endpoint("vote/vote-0", "10.0.0.1", "vote", "vote-0"))


def probe(pid: int, kind: str = "pod", port: int = 80, declared: bool = True) -> Probe:
    target = Endpoint("vote/redis-0", "10.0.0.2", "vote", "redis-0")
    protocol = "UDP" if kind == "dns" else "TCP"
    return Probe(pid, SOURCE, target, kind, port, protocol, declared, True)  # type: ignore[arg-type]


def test_every_probe_runs_in_the_background_then_waits() -> None:
    script = build_script([probe(0), probe(1, port=6379), probe(2, "dns", 53)], timeout=2)
    lines = script.splitlines()
    assert "p 0 10.0.0.2 80 &" in lines
    assert "p 1 10.0.0.2 6379 &" in lines
    assert "d 2 10.0.0.2 &" in lines
    assert lines[-1] == "wait"
    assert "timeout 2 bash" in script and "+time=2" in script


def test_probe_lines_are_the_ones_the_fake_answers() -> None:
    for line in build_script([probe(0), probe(7, "dns", 53)]).splitlines():
        assert bool(PROBE_LINE.match(line)) == bool(PROBE_SCRIPT_LINE.match(line))
    assert PROBE_LINE.pattern == PROBE_SCRIPT_LINE.pattern


def test_an_address_that_could_inject_shell_is_refused() -> None:
    bad = Probe(0, SOURCE, Endpoint("x", "1.2.3.4; rm -rf /"), "external", 80, "TCP", True, True)
    with pytest.raises(ValueError, match="not an address"):
        build_script([bad])


@pytest.mark.parametrize(
    ("kind", "rc", "outcome"),
    [
        ("pod", 0, "open"),
        ("pod", 1, "closed"),
        ("pod", 124, "filtered"),
        ("pod", 143, "filtered"),
        ("pod", 127, "error"),
        ("dns", 0, "open"),
        ("dns", 9, "filtered"),
        ("dns", 1, "error"),
    ],
)
def test_exit_codes_tell_the_outcomes_apart(kind: str, rc: int, outcome: str) -> None:
    assert outcome_of(probe(0, kind), rc) == outcome


def test_output_is_parsed_and_a_missing_line_is_an_error() -> None:
    probes = [probe(0), probe(1), probe(2)]
    out = parse_output(probes, "noise\nPW 1 124\nPW 0 0\nPW 9 0\n")
    assert out == {0: "open", 1: "filtered", 2: "error"}


def test_the_script_is_shell_safe_bash() -> None:
    script = build_script([probe(0)])
    assert re.search(r"exec 3<>/dev/tcp/\$2/\$3", script)
