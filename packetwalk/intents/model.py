"""The ClientIntents model: the API versions and target kinds packetwalk reads, and one intent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from packetwalk.cluster.model import NAME_LABEL

GROUP: Final = "k8s.otterize.com"
V2_VERSIONS: Final = ("v2beta1", "v2alpha1")
V1_VERSIONS: Final = ("v1alpha3", "v1beta1")
API_VERSIONS: Final = tuple(f"{GROUP}/{v}" for v in (*V2_VERSIONS, *V1_VERSIONS))
NS_LABEL: Final = NAME_LABEL
MANAGED_BY: Final = {"app.kubernetes.io/managed-by": "packetwalk"}
GENERATED_FROM_LABEL: Final = "packetwalk.dev/generated-from"
SOURCE_ANNOTATION: Final = "packetwalk.dev/intents-file"
INTENTS_ANNOTATION: Final = "packetwalk.dev/intents"
DEFAULT_DENY_NAME: Final = "default-deny"
API_SERVER_NAMESPACE: Final = "default"
API_SERVER_SERVICE: Final = "kubernetes"
"""The API server as an intents target: the Service ``kubernetes.default``
(``svc:kubernetes.default`` in v1). Same constants as upstream ``KubernetesAPIServerName`` and
``KubernetesAPIServerNamespace`` in otterize/intents-operator
``src/operator/api/v2beta1/clientintents_types.go`` (tag v3.0.19)."""

SUPPORTED_TARGETS: Final = ("service", "kubernetes", "internet")
UNSUPPORTED_TARGETS: Final = {
    "sql": "grants database privileges, not a network path (Otterize writes no NetworkPolicy for "
    "it either)",
    "aws": "grants cloud IAM permissions, not a network path",
    "gcp": "grants cloud IAM permissions, not a network path",
    "azure": "grants cloud IAM permissions, not a network path",
    "kafka": "is about topics and operations, which NetworkPolicy cannot express; use a "
    "`service` target for the broker's Service to allow its ports",
}


@dataclass(frozen=True)
class Target:
    """One thing a client calls: a Service, a workload or internet addresses."""

    kind: str
    """``service``, ``kubernetes`` or ``internet``."""
    name: str = ""
    namespace: str | None = None
    """From ``name.namespace``; None means the client's own namespace."""
    workload_kind: str | None = None
    ips: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    where: str = ""
    """Where in the file the target was written, for errors."""

    def describe(self) -> str:
        if self.kind == "internet":
            return f"internet {', '.join(self.ips)}"
        ns = f".{self.namespace}" if self.namespace else ""
        return f"{self.kind} {self.name}{ns}"


@dataclass(frozen=True)
class ClientIntents:
    """One ClientIntents object, normalised from either API shape."""

    name: str
    namespace: str
    workload: str
    workload_kind: str | None
    targets: tuple[Target, ...]
    api_version: str
    source: str
    where: str
    """Where the object starts (``document N, line L``), for errors."""
    workload_where: str = ""
    """Where the client workload is named (``spec.workload.name`` or ``spec.service.name``)."""
