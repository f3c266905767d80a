"""What a lab needs on the participant's machine, and how to tell them to get what is missing.

Pure: the probes that actually run ``docker info`` or ``kind version`` live in
:mod:`packetwalk.host.probes`; this module turns their raw answers into versions and verdicts, so
every
rule (minimum versions, which tools a platform needs, the fix text per OS) is tested without the
tools. ``invoke up`` refuses to start while any check fails; ``invoke doctor`` prints them all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from packetwalk.lab import versions

Version = tuple[int, ...]

PLATFORMS = ("kind", "gke")
SUPPORTED_OS = ("linux", "darwin")


class Status(StrEnum):
    OK = "ok"
    MISSING = "missing"
    TOO_OLD = "too old"
    NOT_RUNNING = "not running"
    UNKNOWN_VERSION = "unknown version"


@dataclass(frozen=True)
class Requirement:
    """One tool (or credential) a platform needs.

    ``minimum`` is None when any version will do. ``installable`` means ``invoke tools`` can put a
    pinned copy into the project's ``.packetwalk/bin``.
    """

    name: str
    purpose: str
    minimum: Version | None
    why_minimum: str = ""
    installable: bool = False


@dataclass(frozen=True)
class Probe:
    """What a probe saw: ``found`` is False when the command is not on PATH at all.

    ``ok`` False with ``found`` True means the command exists but failed (e.g. ``docker info``
    cannot reach the daemon); ``output`` is its stdout (or the error text) for parsing and display.
    """

    name: str
    found: bool
    ok: bool = False
    output: str = ""
    error: str = ""
    path: str | None = None


@dataclass(frozen=True)
class CheckResult:
    requirement: Requirement
    status: Status
    found_version: str | None
    fix: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    @property
    def required(self) -> str:
        minimum = self.requirement.minimum
        return f">= {format_version(minimum)}" if minimum else "any"


def parse_version(text: str) -> Version | None:
    """Return the first dotted version number in ``text`` (``v0.32.0`` -> ``(0, 32, 0)``)."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if match is None:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


def format_version(version: Version) -> str:
    return ".".join(str(part) for part in version)


def _kubectl_version(output: str) -> Version | None:
    # `kubectl version --client -o json` prints {"clientVersion": {"gitVersion": "v1.36.1", ...}}
    try:
        data = json.loads(output)
    except ValueError:
        return parse_version(output)
    client = data.get("clientVersion", {}) if isinstance(data, dict) else {}
    git_version = client.get("gitVersion", "") if isinstance(client, dict) else ""
    return parse_version(str(git_version))


def _gcloud_version(output: str) -> Version | None:
    # `gcloud version --format=json` prints {"Google Cloud SDK": "502.0.0", "core": ...}
    try:
        data = json.loads(output)
    except ValueError:
        return parse_version(output)
    return parse_version(str(data.get("Google Cloud SDK", ""))) if isinstance(data, dict) else None


def _kind_version(output: str) -> Version | None:
    # `kind version` prints "kind v0.32.0 go1.24.4 linux/amd64": the Go version must not win.
    match = re.search(r"\bv(\d+\.\d+\.\d+)", output)
    return parse_version(match.group(1)) if match else parse_version(output)


def _no_version(_output: str) -> Version | None:
    # Credentials are a file path, not a versioned tool: shown as "present".
    return None


VERSION_PARSERS: Mapping[str, Callable[[str], Version | None]] = {
    "kubectl": _kubectl_version,
    "gcloud": _gcloud_version,
    "kind": _kind_version,
    "application-default-credentials": _no_version,
}


def found_version(probe: Probe) -> Version | None:
    """Parse the version out of a probe's output with the tool's own format."""
    parser = VERSION_PARSERS.get(probe.name, parse_version)
    return parser(probe.output)


def _at_least(version_text: str) -> Version:
    parsed = parse_version(version_text)
    assert parsed is not None, version_text
    return parsed


def _kubectl_minimum() -> Version:
    # kubectl supports one minor of skew either way against the API server.
    major, minor = _at_least(versions.KUBERNETES_VERSION)[:2]
    return (major, minor - 1, 0)


DOCKER = Requirement(
    "docker",
    "runs the kind nodes (the daemon must be reachable)",
    (20, 10, 0),
    "kind needs a Docker Engine 20.10 or newer",
)
KIND = Requirement(
    "kind",
    "creates the local cluster",
    _at_least(versions.KIND_VERSION),
    f"node image {versions.KIND_NODE_IMAGE} is built for kind {versions.KIND_VERSION}",
    installable=True,
)
KUBECTL = Requirement(
    "kubectl",
    "talks to the cluster (lab steps, status)",
    _kubectl_minimum(),
    f"one minor of skew against Kubernetes {versions.KUBERNETES_VERSION}",
    installable=True,
)
PULUMI = Requirement(
    "pulumi",
    "provisions the cluster and the lab",
    _at_least(versions.PULUMI_VERSION),
    f"the Python SDK in .venv is {versions.PULUMI_VERSION}",
    installable=True,
)
GCLOUD = Requirement("gcloud", "creates GKE clusters, provides credentials", None)
GKE_AUTH_PLUGIN = Requirement(
    "gke-gcloud-auth-plugin", "lets kubectl and Pulumi authenticate to GKE", None
)
ADC = Requirement("application-default-credentials", "the Google credentials Pulumi uses", None)

REQUIREMENTS: Mapping[str, tuple[Requirement, ...]] = {
    "kind": (DOCKER, KIND, KUBECTL, PULUMI),
    "gke": (GCLOUD, GKE_AUTH_PLUGIN, ADC, KUBECTL, PULUMI),
}


def requirements_for(platform: str) -> tuple[Requirement, ...]:
    try:
        return REQUIREMENTS[platform]
    except KeyError:
        raise ValueError(f"unknown platform {platform!r} (valid: {', '.join(PLATFORMS)})") from None


TOOLS_NOTE = (
    "`invoke tools` downloads pinned kind, kubectl and pulumi into .packetwalk/bin and checks "
    "each against its published SHA-256; the invoke tasks find them there"
)


def _tools_hint(name: str) -> str:
    return f"`invoke tools` ({name})"


def how_to_get(name: str, os_name: str) -> str:
    """Exactly how to get ``name`` on ``os_name`` ("linux", "darwin", anything else)."""
    if os_name not in SUPPORTED_OS:
        return (
            "packetwalk runs on Linux and macOS; on Windows use WSL2 (Ubuntu) with Docker "
            f"Desktop's WSL integration and install {name} inside WSL"
        )
    mac = os_name == "darwin"
    if name == "docker":
        if mac:
            return (
                "install Docker Desktop "
                "(https://docs.docker.com/desktop/setup/install/mac-install/) and start it"
            )
        return (
            "install Docker Engine (https://docs.docker.com/engine/install/), start it "
            "(`sudo systemctl enable --now docker`) and allow your user "
            "(`sudo usermod -aG docker $USER`, then log in again)"
        )
    if name == "kind":
        alt = (
            "`brew install kind`"
            if mac
            else f"`go install sigs.k8s.io/kind@{versions.KIND_VERSION}`"
        )
        return f"{_tools_hint('kind ' + versions.KIND_VERSION)}, or {alt}"
    if name == "kubectl":
        alt = "`brew install kubectl`" if mac else "https://kubernetes.io/docs/tasks/tools/"
        return f"{_tools_hint('kubectl ' + versions.KUBECTL_VERSION)}, or {alt}"
    if name == "pulumi":
        alt = (
            "`brew install pulumi/tap/pulumi`"
            if mac
            else "`curl -fsSL https://get.pulumi.com | sh -s -- --version "
            f"{versions.PULUMI_VERSION}`"
        )
        return f"{_tools_hint('pulumi ' + versions.PULUMI_VERSION)}, or {alt}"
    if name == "gcloud":
        return (
            "install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install), "
            "then `gcloud init`"
        )
    if name == "gke-gcloud-auth-plugin":
        alt = "" if mac else " (or `sudo apt-get install google-cloud-cli-gke-gcloud-auth-plugin`)"
        return f"`gcloud components install gke-gcloud-auth-plugin`{alt}"
    if name == "application-default-credentials":
        return "run `gcloud auth application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS)"
    return f"install {name}"


def check(requirement: Requirement, probe: Probe, os_name: str) -> CheckResult:
    """Judge one probe against its requirement."""
    fix = how_to_get(requirement.name, os_name)
    if not probe.found:
        return CheckResult(requirement, Status.MISSING, None, fix)
    if requirement.name == "docker" and not probe.ok:
        # The CLI is there but the daemon is not answering: say so rather than "install Docker".
        start = (
            "start Docker Desktop"
            if os_name == "darwin"
            else "start the daemon (`sudo systemctl start docker`) and check your user may use it "
            "(`docker info` must work without sudo)"
        )
        return CheckResult(requirement, Status.NOT_RUNNING, None, start, probe.error)
    if not probe.ok:
        return CheckResult(requirement, Status.MISSING, None, fix, probe.error)
    if requirement.minimum is None:
        version = found_version(probe)
        shown = format_version(version) if version else "present"
        return CheckResult(requirement, Status.OK, shown, "")
    version = found_version(probe)
    if version is None:
        return CheckResult(
            requirement,
            Status.UNKNOWN_VERSION,
            None,
            fix,
            f"could not read a version from {probe.output!r}",
        )
    shown = format_version(version)
    if version < requirement.minimum:
        detail = requirement.why_minimum
        return CheckResult(requirement, Status.TOO_OLD, shown, fix, detail)
    return CheckResult(requirement, Status.OK, shown, "")


def check_all(
    requirements: Iterable[Requirement], probes: Mapping[str, Probe], os_name: str
) -> list[CheckResult]:
    """Check every requirement; a requirement without a probe counts as missing."""
    results = []
    for requirement in requirements:
        probe = probes.get(requirement.name, Probe(requirement.name, found=False))
        results.append(check(requirement, probe, os_name))
    return results


def failures(results: Sequence[CheckResult]) -> list[CheckResult]:
    return [result for result in results if not result.ok]


def missing_message(results: Sequence[CheckResult]) -> str:
    """The text ``invoke up`` stops with: one line per failed check, each saying how to fix it."""
    failed = failures(results)
    lines = [f"{len(failed)} prerequisite(s) missing; nothing was changed:"]
    for result in failed:
        found = (
            f" (found {result.found_version}, need {result.required})"
            if result.found_version
            else ""
        )
        lines.append(f"  - {result.requirement.name}: {result.status.value}{found}: {result.fix}")
    if any(result.requirement.installable for result in failed):
        lines.append(f"({TOOLS_NOTE}.)")
    lines.append("Run `invoke doctor` to re-check.")
    return "\n".join(lines)
