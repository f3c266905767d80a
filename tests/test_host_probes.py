"""The probe adapter: which command each tool is asked, and how failures are read."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from packetwalk.host import prereqs, probes
from packetwalk.host.probes import RunResult, probe_all, probe_tool


class TableRunner:
    """Answers argv[1:] from a table (argv[0] is the resolved path); records every call."""

    def __init__(self, answers: dict[tuple[str, ...], RunResult]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, argv: Sequence[str]) -> RunResult:
        self.calls.append(tuple(argv))
        name = Path(argv[0]).name
        return self.answers[(name, *argv[1:])]


def which_from(present: set[str]) -> probes.Which:
    return lambda name: f"/opt/bin/{name}" if name in present else None


def test_tools_are_asked_with_their_version_commands() -> None:
    runner = TableRunner(
        {
            ("docker", "info", "--format", "{{.ServerVersion}}"): RunResult(0, "27.3.1\n"),
            ("kind", "version"): RunResult(0, "kind v0.32.0 go1.24.4 linux/amd64\n"),
            ("kubectl", "version", "--client", "-o", "json"): RunResult(
                0, '{"clientVersion": {"gitVersion": "v1.36.1"}}'
            ),
            ("pulumi", "version"): RunResult(0, "v3.272.0\n"),
        }
    )
    found = probe_all(
        prereqs.requirements_for("kind"),
        runner,
        which_from({"docker", "kind", "kubectl", "pulumi"}),
        env={},
        home=Path("/nonexistent"),
    )
    results = prereqs.check_all(prereqs.requirements_for("kind"), found, "linux")
    assert all(r.ok for r in results), results
    assert runner.calls[0] == ("/opt/bin/docker", "info", "--format", "{{.ServerVersion}}")


def test_not_on_path_is_not_run() -> None:
    runner = TableRunner({})
    probe = probe_tool("kind", runner, which_from(set()))
    assert not probe.found and runner.calls == []


def test_daemon_down_is_found_but_not_ok() -> None:
    runner = TableRunner(
        {
            ("docker", "info", "--format", "{{.ServerVersion}}"): RunResult(
                1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.\n"
            )
        }
    )
    probe = probe_tool("docker", runner, which_from({"docker"}))
    assert probe.found and not probe.ok
    assert probe.error.startswith("Cannot connect")


def test_empty_answer_counts_as_failure() -> None:
    runner = TableRunner({("docker", "info", "--format", "{{.ServerVersion}}"): RunResult(0, "\n")})
    assert not probe_tool("docker", runner, which_from({"docker"})).ok


def test_vanished_binary_is_missing() -> None:
    def gone(argv: Sequence[str]) -> RunResult:
        raise FileNotFoundError(argv[0])

    probe = probe_tool("pulumi", gone, which_from({"pulumi"}))
    assert not probe.found


def test_subprocess_runner_times_out_instead_of_hanging() -> None:
    run = probes.subprocess_runner(timeout=0.5)
    result = run([sys.executable, "-c", "import time; time.sleep(5)"])
    assert result.returncode == 124 and "did not answer" in result.stderr
    done = run([sys.executable, "-c", "print('v1.2.3')"])
    assert done.returncode == 0 and done.stdout.strip() == "v1.2.3"


def test_adc_lookup_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    default = home / ".config" / "gcloud" / "application_default_credentials.json"
    assert probes.adc_file({}, home) is None
    default.parent.mkdir(parents=True)
    default.write_text("{}")
    assert probes.adc_file({}, home) == default
    explicit = tmp_path / "sa.json"
    assert probes.adc_file({"GOOGLE_APPLICATION_CREDENTIALS": str(explicit)}, home) is None
    explicit.write_text("{}")
    assert probes.adc_file({"GOOGLE_APPLICATION_CREDENTIALS": str(explicit)}, home) == explicit


@pytest.mark.parametrize("present", [True, False])
def test_gke_probes_read_credentials_from_files(tmp_path: Path, present: bool) -> None:
    if present:
        adc = tmp_path / ".config" / "gcloud" / "application_default_credentials.json"
        adc.parent.mkdir(parents=True)
        adc.write_text("{}")
    runner = TableRunner({})
    found = probe_all([prereqs.ADC], runner, which_from(set()), env={}, home=tmp_path)
    assert found[prereqs.ADC.name].ok is present
    assert runner.calls == []  # never calls Google


def test_subprocess_runner_reports_a_vanished_binary_as_missing() -> None:
    probe = probe_tool("pulumi", probes.subprocess_runner(), lambda name: f"/nonexistent/{name}")
    assert not probe.found and "command not found" in probe.error
