"""One stack's lab settings, validated before any resource is created.

The settings live in ``stacks/Pulumi.<stack>.yaml`` under ``config:``, keys
``packetwalk:<camelCase>`` (both Pulumi projects, ``packetwalk-cluster`` and ``packetwalk-lab``,
read that one folder). Other namespaces (``gcp:``, ``kubernetes:``, ``pulumi:``...) belong to
their providers and pass through; GKE reads ``gcp:project``, ``gcp:region`` and ``gcp:zone``.

Pulumi writes values set with ``pulumi config set`` as strings (``"3"``, ``"true"``), so integers
and booleans are accepted as YAML values or as such strings; anything else (``yes``, ``2.5``) is an
error rather than a guess. Every error names the file, the line, the key, the bad value and the
valid values, because a workshop participant must be able to fix it without reading this code.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from packetwalk.errors import InputError, did_you_mean
from packetwalk.lab.cni import (
    KUBE_PROXY_MODES,
    PLATFORMS,
    PROFILES,
    CniName,
    KubeProxyMode,
    Platform,
    cnis_for,
)
from packetwalk.yamlsource import load_document

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The checkout packetwalk runs from; relative paths in stack configs are relative to it."""

STACKS_DIR = REPO_ROOT / "stacks"
NAMESPACE = "packetwalk"
DEFAULT_STACK = "kind"

KIND_CNIS = cnis_for("kind")
GKE_CNIS = cnis_for("gke")
RELEASE_CHANNELS = ("RAPID", "REGULAR", "STABLE")
INGRESS_MODES = ("gateway", "ingress")
MAX_WORKERS = 10
MAX_PARTICIPANTS = 60
"""A workshop room; also keeps per-participant subnets inside the GKE address plan
(packetwalk/lab/gke.py carves one node, pod and service range per cluster)."""
DEFAULT_INTENTS_FILE = "stacks/intents/voting-app.yaml"

RESERVED_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "traefik", "metallb-system")
"""Namespaces the cluster or charts own; a default-deny there would cut the lab's plumbing."""

_Choice = TypeVar("_Choice", bound=str)

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_CLUSTER_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_CLUSTER_NAME_MAX = 40
"""GKE's limit; it also keeps kind's node names (``<name>-control-plane``) within 63 characters."""


@dataclass(frozen=True)
class GkeSettings:
    """The GKE-only part of a stack (``platform: gke``)."""

    project: str
    region: str | None
    zone: str | None
    machine_type: str = "e2-standard-4"
    node_count: int = 2
    """Nodes per zone: a zonal cluster gets this many, a regional one this many in each of the
    region's zones (usually three times as many, and three times the cost)."""
    release_channel: str = "REGULAR"
    ingress_mode: str = "gateway"
    participants: int = 1
    participant_clusters: bool = False
    domain: str | None = None
    """A DNS zone of the user's with a wildcard record to the ingress address; None: nip.io."""

    @property
    def location(self) -> str:
        """Where the cluster lives: the zone when one is set (a zonal cluster), else the region."""
        location = self.zone or self.region
        assert location is not None  # parse_lab_config guarantees one of them
        return location


@dataclass(frozen=True)
class LabConfig:
    """One stack's validated settings (see the module docstring for where they come from)."""

    stack: str
    platform: Platform = "kind"
    cluster_name: str = "packetwalk"
    cni: CniName = "kindnet"
    kube_proxy_mode: KubeProxyMode = "iptables"
    workers: int = 2
    pod_subnet: str = "10.244.0.0/16"
    service_subnet: str = "10.96.0.0/16"
    app_namespace: str = "vote"
    intents_file: str = DEFAULT_INTENTS_FILE
    kubeconfig: str | None = None
    kube_context: str | None = None
    gke: GkeSettings | None = None
    source: str = "<defaults>"
    """The stack file the settings came from, for error messages of later stages."""

    @property
    def is_kind(self) -> bool:
        return self.platform == "kind"

    @property
    def uses_existing_cluster(self) -> bool:
        """True when the stack points at a cluster made elsewhere (CI's helm/kind-action)."""
        return self.kubeconfig is not None

    @property
    def enforces_network_policy(self) -> bool:
        """Whether the CNI enforces NetworkPolicy (Flannel never does; see
        docs/design/kind-and-cnis.md)."""
        return PROFILES[self.cni].enforces_policy

    @property
    def has_kube_proxy(self) -> bool:
        """False when eBPF replaces kube-proxy: no KUBE-* chains to walk through."""
        return self.kube_proxy_mode != "none"

    @property
    def gke_datapath_provider(self) -> str:
        """GKE's ``datapathProvider``: Dataplane V2 (eBPF, enforces policy) or the legacy one."""
        return "ADVANCED_DATAPATH" if self.cni == "dataplane-v2" else "LEGACY_DATAPATH"

    @property
    def gke_calico_policy(self) -> bool:
        """Whether GKE's Calico network-policy add-on runs (never together with Dataplane V2)."""
        return self.platform == "gke" and self.cni == "calico"

    @property
    def node_count(self) -> int:
        if self.gke is not None:
            return self.gke.node_count
        return 1 + self.workers

    def intents_path(self, repo_root: Path = REPO_ROOT) -> Path:
        path = Path(self.intents_file).expanduser()
        return path if path.is_absolute() else repo_root / path


# --- value readers -------------------------------------------------------------------------------


class _Reader:
    """Reads typed values out of a stack's ``config:`` mapping, raising located InputErrors."""

    def __init__(self, values: Mapping[str, object], source: str, lines: Mapping[str, int]):
        self.values = values
        self.source = source
        self.lines = lines

    def where(self, key: str) -> str | None:
        line = self.lines.get(key)
        return f"line {line}" if line is not None else f"key {key}"

    def fail(self, key: str, message: str, choices: tuple[str, ...] | None = None) -> InputError:
        # With a line, the key goes into the message; without one the location already names it.
        text = f"{key}: {message}" if key in self.lines else message
        return InputError(text, source=self.source, location=self.where(key), choices=choices)

    def has(self, key: str) -> bool:
        return key in self.values

    def string(self, key: str, default: str | None) -> str | None:
        if key not in self.values:
            return default
        value = self.values[key]
        if isinstance(value, bool) or not isinstance(value, str):
            raise self.fail(
                key,
                f"expected a string, got {_show(value)}"
                + (" (quote it)" if isinstance(value, int | float | bool) else ""),
            )
        if not value.strip():
            raise self.fail(key, "must not be empty")
        return value

    def choice(
        self, key: str, default: _Choice, choices: tuple[_Choice, ...], what: str
    ) -> _Choice:
        value = self.string(key, default)
        assert value is not None
        for choice in choices:
            if value == choice:
                return choice
        hint = did_you_mean(value, choices)
        raise self.fail(key, f"{value!r} is not {what}{hint}", choices)

    def integer(self, key: str, default: int, low: int, high: int | None) -> int:
        if key not in self.values:
            return default
        value = self.values[key]
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"[-+]?[0-9]+", value.strip()):
            number = int(value.strip())
        if number is None:
            raise self.fail(key, f"expected a whole number, got {_show(value)}")
        if number < low or (high is not None and number > high):
            span = f"{low}..{high}" if high is not None else f">= {low}"
            raise self.fail(key, f"{number} is out of range (valid: {span})")
        return number

    def boolean(self, key: str, default: bool) -> bool:
        if key not in self.values:
            return default
        value = self.values[key]
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise self.fail(
            key,
            f"expected true or false, got {_show(value)}"
            " (YAML 1.1 words like yes/no/on/off are not booleans here)",
            ("true", "false"),
        )


def _show(value: object) -> str:
    if value is None:
        return "no value"
    kind = {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "list",
        dict: "mapping",
    }.get(type(value), type(value).__name__)
    return f"{kind} {value!r}" if kind not in ("list", "mapping") else kind


# --- keys ----------------------------------------------------------------------------------------

_COMMON_KEYS = (
    "platform",
    "clusterName",
    "cni",
    "kubeProxyMode",
    "workers",
    "podSubnet",
    "serviceSubnet",
    "appNamespace",
    "intents",
    "kubeconfig",
    "kubeContext",
)
_GKE_KEYS = (
    "machineType",
    "nodeCount",
    "releaseChannel",
    "ingressMode",
    "participants",
    "participantClusters",
    "domain",
)
KNOWN_KEYS = tuple(f"{NAMESPACE}:{key}" for key in (*_COMMON_KEYS, *_GKE_KEYS))


def _k(name: str) -> str:
    return f"{NAMESPACE}:{name}"


def _check_keys(reader: _Reader) -> None:
    for key in reader.values:
        if not isinstance(key, str):
            raise InputError(f"config key {key!r} must be a string", source=reader.source)
        if ":" not in key:
            raise reader.fail(
                key, f"config keys need a namespace; did you mean {_k(key)!r}?", KNOWN_KEYS
            )
        if key.startswith(f"{NAMESPACE}:") and key not in KNOWN_KEYS:
            # Case slips (podsubnet) first: difflib's ratio is case-sensitive.
            lowered = {known.lower(): known for known in KNOWN_KEYS}
            if key.lower() in lowered:
                hint = f"; did you mean {lowered[key.lower()]!r}?"
            else:
                hint = did_you_mean(key, KNOWN_KEYS)
            raise reader.fail(key, f"unknown setting{hint}", KNOWN_KEYS)


def _network(reader: _Reader, key: str, default: str) -> ipaddress.IPv4Network:
    text = reader.string(key, default)
    assert text is not None
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as err:
        raise reader.fail(key, f"{text!r} is not a CIDR block like {default!r} ({err})") from err
    if not isinstance(network, ipaddress.IPv4Network):
        raise reader.fail(key, f"{text!r} is IPv6; the lab is IPv4-only for now")
    return network


def parse_lab_config(
    stack: str,
    values: Mapping[str, object],
    *,
    source: str,
    lines: Mapping[str, int] | None = None,
) -> LabConfig:
    """Validate a stack's ``config:`` mapping into a :class:`LabConfig`.

    ``lines`` maps keys to their line in ``source`` (``load_stack_config`` fills it in); without
    it errors name the key instead of the line.
    """
    if not isinstance(values, Mapping):
        raise InputError("`config:` must be a mapping of keys to values", source=source)
    reader = _Reader(values, source, lines or {})
    _check_keys(reader)

    platform = reader.choice(_k("platform"), "kind", PLATFORMS, "a platform")
    cluster_name = reader.string(_k("clusterName"), "packetwalk")
    assert cluster_name is not None
    if not _CLUSTER_NAME.match(cluster_name) or len(cluster_name) > _CLUSTER_NAME_MAX:
        raise reader.fail(
            _k("clusterName"),
            f"{cluster_name!r} is not a valid cluster name: lower-case letters, digits and '-', "
            f"starting with a letter, at most {_CLUSTER_NAME_MAX} characters",
        )

    if platform == "kind":
        cni = reader.choice(_k("cni"), "kindnet", KIND_CNIS, "a CNI for kind")
        mode = reader.choice(_k("kubeProxyMode"), "iptables", KUBE_PROXY_MODES, "a kube-proxy mode")
        if mode == "none" and not PROFILES[cni].replaces_kube_proxy:
            raise reader.fail(
                _k("kubeProxyMode"),
                f"'none' (no kube-proxy) needs a CNI that replaces it, and {cni!r} does not; "
                f"use cni: {' or '.join(c for c in KIND_CNIS if PROFILES[c].replaces_kube_proxy)}"
                ", or a kube-proxy mode",
                ("iptables", "ipvs", "nftables"),
            )
        for gke_key in (*_GKE_KEYS,):
            if reader.has(_k(gke_key)):
                raise reader.fail(_k(gke_key), "is a GKE setting; it needs platform: gke")
    else:
        _refuse_both_policy_engines(reader)
        cni = reader.choice(
            _k("cni"), "dataplane-v2", GKE_CNIS, "a network-policy dataplane for GKE"
        )
        derived = PROFILES[cni].gke_kube_proxy
        assert derived is not None  # every GKE profile says what GKE runs
        mode = reader.choice(_k("kubeProxyMode"), derived, KUBE_PROXY_MODES, "a kube-proxy mode")
        if mode != derived:
            raise reader.fail(
                _k("kubeProxyMode"),
                f"{mode!r} conflicts with cni {cni!r}: GKE runs kube-proxy in {derived!r} mode "
                "there; remove the key",
                (derived,),
            )
        if reader.has(_k("workers")):
            raise reader.fail(_k("workers"), "is a kind setting; on GKE use packetwalk:nodeCount")

    workers = reader.integer(_k("workers"), 2, 0, MAX_WORKERS)
    nodes = 1 + workers if platform == "kind" else 1
    pods = _network(reader, _k("podSubnet"), "10.244.0.0/16")
    services = _network(reader, _k("serviceSubnet"), "10.96.0.0/16")
    # Each node gets a /24 of the pod subnet (kube-controller-manager's default node CIDR size).
    node_bits = max(nodes - 1, 0).bit_length()
    if pods.prefixlen > 24 - node_bits:
        raise reader.fail(
            _k("podSubnet"),
            f"{pods} is too small: {nodes} node(s) need a /24 each, so use a /{24 - node_bits} "
            "or larger",
        )
    if services.prefixlen < 12:
        raise reader.fail(
            _k("serviceSubnet"), f"{services} is too large: the API server accepts /12 or smaller"
        )
    if pods.overlaps(services):
        raise reader.fail(
            _k("serviceSubnet"),
            f"{services} overlaps podSubnet {pods}; Service and pod addresses must be distinct",
        )

    namespace = reader.string(_k("appNamespace"), "vote")
    assert namespace is not None
    if not _DNS_LABEL.match(namespace) or len(namespace) > 63:
        raise reader.fail(
            _k("appNamespace"),
            f"{namespace!r} is not a valid namespace name (lower-case letters, digits and '-')",
        )
    if namespace in RESERVED_NAMESPACES:
        raise reader.fail(
            _k("appNamespace"),
            f"{namespace!r} belongs to the cluster or a chart; "
            "the lab's default-deny would break it",
        )

    intents = reader.string(_k("intents"), DEFAULT_INTENTS_FILE)
    assert intents is not None
    kubeconfig = reader.string(_k("kubeconfig"), None)
    kube_context = reader.string(_k("kubeContext"), None)
    if kube_context is not None and kubeconfig is None:
        raise reader.fail(
            _k("kubeContext"), "needs packetwalk:kubeconfig (the file the context is in)"
        )

    if platform == "gke" and kubeconfig is not None:
        raise reader.fail(
            _k("kubeconfig"),
            "is for kind clusters made elsewhere (CI); a GKE "
            "lab runs on the clusters its cluster stack makes: remove the key",
        )
    gke = _gke_settings(reader) if platform == "gke" else None
    if gke is not None:
        _check_gke_names(reader, cluster_name, namespace, gke)
    return LabConfig(
        stack=stack,
        platform=platform,
        cluster_name=cluster_name,
        cni=cni,
        kube_proxy_mode=mode,
        workers=workers if platform == "kind" else 0,
        pod_subnet=str(pods),
        service_subnet=str(services),
        app_namespace=namespace,
        intents_file=intents,
        kubeconfig=kubeconfig,
        kube_context=kube_context,
        gke=gke,
        source=source,
    )


def _gke_settings(reader: _Reader) -> GkeSettings:
    project = reader.string("gcp:project", None)
    if project is None:
        raise InputError(
            "gcp:project is required for platform gke (the Google Cloud project id)",
            source=reader.source,
            location=reader.where(_k("platform")),
        )
    region = reader.string("gcp:region", None)
    zone = reader.string("gcp:zone", None)
    if region is None and zone is None:
        raise InputError(
            "gcp:region or gcp:zone is required for platform gke (a zone gives a "
            "zonal cluster, a region a regional one)",
            source=reader.source,
            location=reader.where(_k("platform")),
        )
    machine_type = reader.string(_k("machineType"), "e2-standard-4")
    assert machine_type is not None
    return GkeSettings(
        project=project,
        region=region,
        zone=zone,
        machine_type=machine_type,
        node_count=reader.integer(_k("nodeCount"), 2, 1, 100),
        release_channel=reader.choice(
            _k("releaseChannel"), "REGULAR", RELEASE_CHANNELS, "a GKE release channel"
        ),
        ingress_mode=reader.choice(_k("ingressMode"), "gateway", INGRESS_MODES, "an ingress mode"),
        participants=reader.integer(_k("participants"), 1, 1, MAX_PARTICIPANTS),
        participant_clusters=reader.boolean(_k("participantClusters"), False),
        domain=_domain(reader),
    )


_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _domain(reader: _Reader) -> str | None:
    domain = reader.string(_k("domain"), None)
    if domain is None:
        return None
    if not _DOMAIN.match(domain):
        raise reader.fail(
            _k("domain"),
            f"{domain!r} is not a DNS name like 'lab.example.org' "
            "(lower-case labels separated by dots)",
        )
    if reader.boolean(_k("participantClusters"), False):
        raise reader.fail(
            _k("domain"),
            "one wildcard record can point at only one address, "
            "and each participant's cluster has its own: leave the domain out "
            "(hosts then use nip.io) or share one cluster",
        )
    return domain


def _refuse_both_policy_engines(reader: _Reader) -> None:
    """``cni: [dataplane-v2, calico]`` or ``dataplane-v2+calico``: say why it cannot be."""
    raw = reader.values.get(_k("cni"))
    words = (
        [str(item) for item in raw]
        if isinstance(raw, list)
        else re.split(r"[\s,+&/]+", raw)
        if isinstance(raw, str)
        else []
    )
    lowered = {word.strip().lower() for word in words}
    if "calico" in lowered and lowered & {
        "dataplane-v2",
        "dataplanev2",
        "dpv2",
        "advanced_datapath",
        "advanced-datapath",
        "cilium",
    }:
        raise reader.fail(
            _k("cni"),
            "Dataplane V2 and Calico network policy exclude each other on GKE (the API refuses "
            "network_policy with datapathProvider ADVANCED_DATAPATH): pick one; stack `gke` "
            "is Dataplane V2, stack `gke-calico` the Calico one",
            GKE_CNIS,
        )


def _check_gke_names(reader: _Reader, cluster_name: str, namespace: str, gke: GkeSettings) -> None:
    """Names that grow a participant suffix (``-p01``) must still fit their limits."""
    if gke.participants == 1:
        return
    suffix = 2 + max(2, len(str(gke.participants)))  # "-p" + digits
    if gke.participant_clusters and len(cluster_name) + suffix > _CLUSTER_NAME_MAX:
        raise reader.fail(
            _k("clusterName"),
            f"{cluster_name!r} is too long for one cluster per participant: with the suffix "
            f"'-p01' it must stay within {_CLUSTER_NAME_MAX} characters, so use at most "
            f"{_CLUSTER_NAME_MAX - suffix}",
        )
    if not gke.participant_clusters and len(namespace) + suffix > 63:
        raise reader.fail(
            _k("appNamespace"),
            f"{namespace!r} is too long for {gke.participants} participants: each gets "
            f"'{namespace}-p01', and namespace names have at most 63 characters",
        )


PLACEHOLDER_PROJECT = "your-gcp-project"
"""The ``gcp:project`` the repository's GKE stack files ship with."""


def check_deployable(cfg: LabConfig) -> None:
    """Refuse to create cloud resources for the placeholder project (before Pulumi runs)."""
    if cfg.gke is not None and cfg.gke.project == PLACEHOLDER_PROJECT:
        raise InputError(
            f"gcp:project is still the placeholder {PLACEHOLDER_PROJECT!r}: set your Google "
            "Cloud project id there (`gcloud projects list` shows them)",
            source=cfg.source,
            location="key gcp:project",
        )


# --- stack files ---------------------------------------------------------------------------------


STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")
"""What Pulumi keeps in a stack file; anything else is most likely a misspelt ``config:``, which
would otherwise silently give a lab with every default."""


def stack_file(stack: str, stacks_dir: Path = STACKS_DIR) -> Path:
    return stacks_dir / f"Pulumi.{stack}.yaml"


def stack_names(stacks_dir: Path = STACKS_DIR) -> list[str]:
    """The stacks that have a config file, sorted."""
    prefix, suffix = "Pulumi.", ".yaml"
    return sorted(
        path.name[len(prefix) : -len(suffix)]
        for path in stacks_dir.glob("Pulumi.*.yaml")
        if path.is_file()
    )


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_stack_config(stack: str, stacks_dir: Path = STACKS_DIR) -> LabConfig:
    """Read and validate ``<stacks_dir>/Pulumi.<stack>.yaml``; errors carry file and line."""
    path = stack_file(stack, stacks_dir)
    source = _display(path)
    if not path.is_file():
        known = stack_names(stacks_dir)
        hint = did_you_mean(stack, known)
        raise InputError(
            f"no stack {stack!r}: {source} does not exist{hint}", choices=known or None
        )
    document = load_document(path.read_text(encoding="utf-8"), source=source)
    if not isinstance(document.data, dict):
        raise InputError(
            "a stack file must be a mapping with a `config:` key",
            source=source,
            location=f"line {document.start_line}",
        )
    for key in document.data:
        if key not in STACK_FILE_KEYS:
            hint = did_you_mean(str(key), STACK_FILE_KEYS)
            raise InputError(
                f"unknown top-level key {key!r} in a stack file{hint}",
                source=source,
                location=f"line {document.line((str(key),))}",
                choices=STACK_FILE_KEYS,
            )
    values = document.data.get("config") or {}
    if not isinstance(values, dict):
        raise InputError(
            "`config:` must be a mapping of keys to values",
            source=source,
            location=f"line {document.line(('config',))}",
        )
    lines = {
        key: line
        for (top, *rest), line in document.lines.items()
        if top == "config" and len(rest) == 1 and isinstance(key := rest[0], str)
    }
    return parse_lab_config(stack, values, source=source, lines=lines)
