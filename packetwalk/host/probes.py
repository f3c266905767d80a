"""Run the tool probes (``docker info``, ``kind version``...) that :mod:`packetwalk.host.prereqs`
judges.

The runner is injectable: tests pass a fake that answers from a table, the real one runs
subprocesses with a timeout, so a hung Docker daemon cannot hang ``invoke doctor``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packetwalk.host.prereqs import Probe, Requirement
from packetwalk.host.process import NOT_FOUND_EXIT_CODE, run_process


@dataclass(frozen=True)
class RunResult:
    returncode: int
    stdout: str = ""
    stderr: str = ""


Runner = Callable[[Sequence[str]], RunResult]
"""Run an argv (already resolved to an executable path); a vanished one exits 127 (or raises
FileNotFoundError)."""

Which = Callable[[str], str | None]

PROBE_COMMANDS: Mapping[str, tuple[str, ...]] = {
    # `docker info` needs the daemon, which is the point: the CLI alone cannot run kind.
    "docker": ("docker", "info", "--format", "{{.ServerVersion}}"),
    "kind": ("kind", "version"),
    "kubectl": ("kubectl", "version", "--client", "-o", "json"),
    "pulumi": ("pulumi", "version"),
    "gcloud": ("gcloud", "version", "--format=json"),
    "gke-gcloud-auth-plugin": ("gke-gcloud-auth-plugin", "--version"),
}


def subprocess_runner(timeout: float = 20.0, env: Mapping[str, str] | None = None) -> Runner:
    """A runner over :func:`packetwalk.host.process.run_process`: a timeout is a failed result."""

    def run(argv: Sequence[str]) -> RunResult:
        return RunResult(*run_process(argv, timeout=timeout, env=env))

    return run


def path_which(path: str | None = None) -> Which:
    """``shutil.which`` over an explicit PATH (the tasks put ``.packetwalk/bin`` first)."""
    return lambda name: shutil.which(name, path=path)


def adc_file(env: Mapping[str, str], home: Path) -> Path | None:
    """Where Application Default Credentials are, if anywhere (gcloud's documented lookup order)."""
    explicit = env.get("GOOGLE_APPLICATION_CREDENTIALS")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    config_dir = env.get("CLOUDSDK_CONFIG")
    base = Path(config_dir) if config_dir else home / ".config" / "gcloud"
    candidate = base / "application_default_credentials.json"
    return candidate if candidate.is_file() else None


def probe_tool(name: str, runner: Runner, which: Which) -> Probe:
    argv = PROBE_COMMANDS[name]
    path = which(argv[0])
    if path is None:
        return Probe(name, found=False, error=f"{argv[0]} is not on PATH")
    try:
        result = runner((path, *argv[1:]))
    except (FileNotFoundError, PermissionError) as err:
        return Probe(name, found=False, error=str(err), path=path)
    if result.returncode == NOT_FOUND_EXIT_CODE:  # gone between `which` and the run
        return Probe(name, found=False, error=result.stderr.strip(), path=path)
    # Docker prints "permission denied ... docker.sock" on stderr but may still exit 0 with an
    # empty server version; an empty answer means the daemon is not usable.
    ok = result.returncode == 0 and bool(result.stdout.strip())
    error = (
        ""
        if ok
        else (result.stderr.strip() or result.stdout.strip() or f"exit {result.returncode}")
    )
    return Probe(name, found=True, ok=ok, output=result.stdout.strip(), error=error, path=path)


def probe_all(
    requirements: Iterable[Requirement],
    runner: Runner,
    which: Which,
    *,
    env: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> dict[str, Probe]:
    """Probe every requirement; credentials are looked up as files, never by calling Google."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    probes: dict[str, Probe] = {}
    for requirement in requirements:
        if requirement.name == "application-default-credentials":
            found = adc_file(env, home)
            probes[requirement.name] = Probe(
                requirement.name,
                found=found is not None,
                ok=found is not None,
                output=str(found or ""),
                error="" if found else "no application_default_credentials.json",
            )
        else:
            probes[requirement.name] = probe_tool(requirement.name, runner, which)
    return probes
