"""Pod Security Standards: would a namespace's ``enforce`` level admit a pod spec?

The rules are those of the Pod Security Admission controller (Kubernetes 1.36, the pinned
version): the ``baseline`` and ``restricted`` checks of k8s.io/pod-security-admission/policy
(``check_*.go``, one file per control) as listed on the "Pod Security Standards" page of the
Kubernetes documentation. ``privileged`` admits everything. A namespace without the
``pod-security.kubernetes.io/enforce`` label gets the cluster's default, which is ``privileged``
unless the API server is given an admission configuration (neither kind nor GKE Standard sets
one), so that is the default here too.

Only the Linux controls are checked: no pod of the lab sets ``spec.os.name: windows``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

Level = Literal["privileged", "baseline", "restricted"]
LEVELS: tuple[Level, ...] = ("privileged", "baseline", "restricted")
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
DEFAULT_LEVEL: Level = "privileged"

BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
"""check_capabilities_baseline.go: the container runtimes' default set may be added again."""

SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
    }
)
"""check_sysctls.go at 1.32 and later."""

SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
RESTRICTED_VOLUMES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
"""check_restrictedVolumes.go: every other volume source is refused."""

_VOLUME_KEYS_IGNORED = frozenset({"name"})
_APPARMOR_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


def namespace_level(labels: Mapping[str, str] | None) -> Level:
    """The enforce level a namespace's labels set.

    No label: the cluster default. A value that is not a level: ``restricted``, as the admission
    controller does (pod-security-admission api/helpers.go ``PolicyToEvaluate``: "If labels
    cannot be parsed correctly, the values of restricted and latest are used").
    """
    value = (labels or {}).get(ENFORCE_LABEL, DEFAULT_LEVEL)
    for level in LEVELS:
        if value == level:
            return level
    return "restricted"


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            yield f"{field}[{container.get('name', '?')}]", container


def _security(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    context = obj.get("securityContext")
    return context if isinstance(context, Mapping) else {}


def _baseline(spec: Mapping[str, Any], annotations: Mapping[str, str]) -> Iterator[str]:
    pod = _security(spec)
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            yield f"{field}: true (host namespaces)"
    if (pod.get("windowsOptions") or {}).get("hostProcess"):
        yield "securityContext.windowsOptions.hostProcess: true"
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            yield f"volume {volume.get('name', '?')} is a hostPath"
    for sysctl in pod.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            yield f"sysctl {sysctl.get('name')} is not in the safe set"
    yield from _profiles("securityContext", pod)
    for key, value in annotations.items():
        if (
            key.startswith(_APPARMOR_PREFIX)
            and value not in ("runtime/default",)
            and not value.startswith("localhost/")
        ):
            yield f"annotation {key}: {value} (AppArmor)"
    for where, container in _containers(spec):
        context = _security(container)
        if context.get("privileged"):
            yield f"{where}: privileged: true"
        added = set((context.get("capabilities") or {}).get("add") or [])
        if extra := sorted(added - BASELINE_CAPABILITIES):
            yield f"{where}: capabilities.add {extra} beyond the baseline set"
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                yield f"{where}: hostPort {port['hostPort']}"
        if context.get("procMount", "Default") != "Default":
            yield f"{where}: procMount {context['procMount']}"
        if (context.get("windowsOptions") or {}).get("hostProcess"):
            yield f"{where}: windowsOptions.hostProcess: true"
        yield from _profiles(f"{where}.securityContext", context)


def _profiles(where: str, context: Mapping[str, Any]) -> Iterator[str]:
    seccomp = (context.get("seccompProfile") or {}).get("type")
    if seccomp == "Unconfined":
        yield f"{where}.seccompProfile: Unconfined"
    apparmor = (context.get("appArmorProfile") or {}).get("type")
    if apparmor == "Unconfined":
        yield f"{where}.appArmorProfile: Unconfined"
    selinux = context.get("seLinuxOptions") or {}
    if selinux.get("type", "") not in SELINUX_TYPES:
        yield f"{where}.seLinuxOptions.type {selinux['type']}"
    for field in ("user", "role"):
        if selinux.get(field):
            yield f"{where}.seLinuxOptions.{field} is set"


def _restricted(spec: Mapping[str, Any]) -> Iterator[str]:
    pod = _security(spec)
    for volume in spec.get("volumes") or []:
        sources = set(volume) - _VOLUME_KEYS_IGNORED
        if bad := sorted(sources - RESTRICTED_VOLUMES):
            yield f"volume {volume.get('name', '?')}: {', '.join(bad)} is not allowed"
    pod_non_root = pod.get("runAsNonRoot")
    pod_seccomp = (pod.get("seccompProfile") or {}).get("type")
    if pod.get("runAsUser") == 0:
        yield "securityContext.runAsUser: 0"
    if pod_non_root is False:
        yield "securityContext.runAsNonRoot: false"
    if pod_seccomp is not None and pod_seccomp not in ("RuntimeDefault", "Localhost"):
        yield f"securityContext.seccompProfile {pod_seccomp}"
    for where, container in _containers(spec):
        context = _security(container)
        if context.get("allowPrivilegeEscalation") is not False:
            yield f"{where}: allowPrivilegeEscalation must be false"
        non_root = context.get("runAsNonRoot", pod_non_root)
        if non_root is not True:
            yield f"{where}: runAsNonRoot must be true (pod or container)"
        if context.get("runAsUser") == 0:
            yield f"{where}: runAsUser: 0"
        seccomp = (context.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            yield f"{where}: seccompProfile must be RuntimeDefault or Localhost (pod or container)"
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            yield f"{where}: capabilities must drop ALL"
        if extra := sorted(set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}):
            yield f"{where}: capabilities.add {extra} (restricted allows NET_BIND_SERVICE only)"


def violations(
    level: Level, pod_spec: Mapping[str, Any], annotations: Mapping[str, str] | None = None
) -> list[str]:
    """Why ``level`` would refuse a pod with ``pod_spec`` (empty: admitted)."""
    if level == "privileged":
        return []
    found = list(_baseline(pod_spec, annotations or {}))
    if level == "restricted":
        found += _restricted(pod_spec)
    return found
